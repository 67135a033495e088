"""Tier 2: free text kept under Clean Descriptors / Clean Structured Content.

Only the PHI spans the analyzer finds are replaced ("CT CHEST for DOE JOHN" -> "CT CHEST for
[NAME]"), so clinical meaning survives. Without an analyzer nothing is cleaned: the caller
falls back to the Basic Profile action (fail closed).
"""
from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..identity import Identity

# Maximum value lengths (characters) per text VR, PS3.5 Table 6.2-1.
MAX_LEN = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "ST": 1024, "LT": 10240, "UC": None,
           "UT": None}
_BAND = (0.25, 0.75)     # a span scored inside this band counts as uncertain
# The instances of a series repeat the same descriptions with the same identifiers, so a
# worker remembers the analyzer's answer for the last few (texts, identity) pairs.
_RECENT: OrderedDict[tuple, list] = OrderedDict()
_RECENT_SIZE = 64
_RECENT_LOCK = threading.Lock()


@dataclass
class Tier2Stats:
    """Counts only (no text): spans per entity, uncertainty of the analyzer's decisions."""

    spans: Counter = field(default_factory=Counter)
    elements: int = 0
    uncertainty: float = 0.0
    uncertain_spans: int = 0


def _span_uncertainty(span: Any) -> float:
    return 1.0 - abs(2.0 * float(span.score) - 1.0)


def _is_uncertain(span: Any) -> bool:
    flag = getattr(span, "uncertain", None)
    if flag is not None:
        return bool(flag)
    return _BAND[0] <= float(span.score) <= _BAND[1]


def clean_texts(analyzer: Any, texts: Sequence[str], identity: Identity | None,
                stats: Tier2Stats) -> list[str]:
    """Redacted copies of *texts*; raises whatever the analyzer raises (the caller quarantines)."""
    if not texts:
        return []
    all_spans = _analyze(analyzer, texts, identity)
    out = []
    for text, spans in zip(texts, all_spans):
        spans = list(spans)
        for s in spans:
            stats.spans[str(s.entity)] += 1
            if _is_uncertain(s):
                stats.uncertain_spans += 1
                stats.uncertainty = max(stats.uncertainty, _span_uncertainty(s))
        out.append(analyzer.redact(text, spans) if spans else text)
    return out


def _analyze(analyzer: Any, texts: Sequence[str], identity: Identity | None) -> list:
    key = (analyzer, tuple(texts), identity)
    with _RECENT_LOCK:
        spans = _RECENT.get(key)
        if spans is not None:
            _RECENT.move_to_end(key)
            return spans
    batch = getattr(analyzer, "analyze_batch", None)
    if callable(batch):
        spans = [list(s) for s in batch(list(texts), identity)]
    else:
        spans = [list(analyzer.analyze(t, identity)) for t in texts]
    with _RECENT_LOCK:
        _RECENT[key] = spans
        if len(_RECENT) > _RECENT_SIZE:
            _RECENT.popitem(last=False)
    return spans


def fit(vr: str, text: str) -> str:
    """Cut a redacted value to its VR's length (placeholders can be longer than a name)."""
    limit = MAX_LEN.get(vr)
    text = text.replace("\\", "/") if vr not in ("LT", "ST", "UT", "UC") else text
    return text if limit is None else text[:limit].rstrip()
