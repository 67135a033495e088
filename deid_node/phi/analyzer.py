"""The PHI analyzer: deny-list, pattern recognisers and a small spaCy tagger, merged.

Three recognisers look at every text and their spans are filtered by per-entity
thresholds from the config and merged into non-overlapping spans:

* ``identity``: the instance's own identifiers (deny-list), score ``identity_score``;
* ``pattern:<name>``: regular expressions with validators and per-pattern scores;
* ``model``: a BIO token tagger trained on the project's synthetic corpus; a span's score
  is the mean over its tokens of the softmax probability of its entity (P(B-X) + P(I-X)),
  so it is a model probability, not a constant.
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import yaml

from deid_node.config import ConfigError, Section
from deid_node.identity import Identity

from . import denylist, names, patterns
from .tokens import tokenize, words_and_spaces

ENTITIES: tuple[str, ...] = ("PERSON", "DATE", "AGE", "ID", "PHONE", "EMAIL", "URL", "IP",
                             "ADDRESS", "ORGANIZATION", "DEVICE_ID")
PLACEHOLDER: dict[str, str] = {"PERSON": "[NAME]", "DATE": "[DATE]", "AGE": "[AGE]", "ID": "[ID]",
                               "PHONE": "[PHONE]", "EMAIL": "[EMAIL]", "URL": "[URL]", "IP": "[IP]",
                               "ADDRESS": "[ADDRESS]", "ORGANIZATION": "[ORG]",
                               "DEVICE_ID": "[DEVICE]"}
DEFAULTS_FILE = Path(__file__).resolve().parent / "defaults.yaml"
_KEYS = ("model", "use_model", "model_token_min", "identity_score", "context_window",
         "context_boost", "uncertain_band", "thresholds")


@dataclass(frozen=True)
class Span:
    """One PHI span of a text: [start, end) in characters."""

    start: int
    end: int
    entity: str
    score: float
    recognizer: str
    uncertain: bool = False


@dataclass(frozen=True)
class PhiSettings:
    """Settings of the analyzer (config section ``phi``; defaults in phi/defaults.yaml)."""

    model: str = "ner/phi-tagger"
    use_model: bool = True
    model_token_min: float = 0.3
    identity_score: float = 0.99
    context_window: int = 24
    context_boost: float = 0.3
    uncertain_band: tuple[float, float] = (0.0, 0.75)
    thresholds: Mapping[str, float] = field(default_factory=lambda: {e: 0.5 for e in ENTITIES})

    @classmethod
    def default(cls) -> "PhiSettings":
        data = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8")) or {}
        return cls._parse(Section(data, str(DEFAULTS_FILE), "phi"), None)

    @classmethod
    def from_section(cls, section: Section) -> "PhiSettings":
        """Parse section ``phi``; keys it leaves out take the shipped defaults."""
        return cls._parse(section, cls.default())

    @classmethod
    def _parse(cls, sec: Section, base: "PhiSettings | None") -> "PhiSettings":
        def where(key: str) -> str:
            return f"{sec.prefix}.{key}" if sec.prefix else key

        for key in sec.keys():
            if key not in _KEYS:
                raise ConfigError(f"{sec.source}: '{where(key)}' is not a phi setting; "
                                  f"known keys: {', '.join(_KEYS)}")
        b = base or cls()
        thresholds = dict(b.thresholds)
        tsec = sec.section("thresholds")
        for key in tsec.keys():
            if key not in ENTITIES:
                raise ConfigError(f"{sec.source}: '{where('thresholds.' + str(key))}' is not an "
                                  f"entity; known: {', '.join(ENTITIES)}")
            thresholds[key] = tsec.float(key, minimum=0.0, maximum=1.0)
        missing = [e for e in ENTITIES if e not in thresholds]
        if missing:
            raise ConfigError(f"{sec.source}: '{where('thresholds')}' lacks {', '.join(missing)}")
        band = sec.list("uncertain_band", list(b.uncertain_band))
        if (len(band) != 2 or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in band)
                or not 0 <= band[0] <= band[1] <= 1):
            raise ConfigError(f"{sec.source}: '{where('uncertain_band')}' must be [low, high] "
                              f"with 0 <= low <= high <= 1, got {band!r}")
        return cls(
            model=sec.str("model", b.model),
            use_model=sec.bool("use_model", b.use_model),
            model_token_min=sec.float("model_token_min", b.model_token_min, 0.0, 1.0),
            identity_score=sec.float("identity_score", b.identity_score, 0.0, 1.0),
            context_window=sec.int("context_window", b.context_window, 0, 200),
            context_boost=sec.float("context_boost", b.context_boost, 0.0, 1.0),
            uncertain_band=(float(band[0]), float(band[1])),
            thresholds=thresholds,
        )


_CACHE: dict[PhiSettings | str, "PhiAnalyzer"] = {}
_LOCK = threading.Lock()


def _freeze(settings: PhiSettings) -> str:
    return repr((settings.model, settings.use_model, settings.model_token_min, settings.identity_score,
                 settings.context_window, settings.context_boost, settings.uncertain_band,
                 sorted(settings.thresholds.items())))


class PhiAnalyzer:
    """Finds PHI in text. Build with :meth:`load` (once per worker process)."""

    def __init__(self, settings: PhiSettings, nlp: Any | None) -> None:
        self.settings = settings
        self.nlp = nlp
        self._tagger = nlp.get_pipe("tagger") if nlp is not None else None
        labels = list(self._tagger.labels) if self._tagger is not None else []
        self._labels = labels
        # column groups: entity -> (B column, I column)
        self._ent_cols: dict[str, tuple[int, int]] = {}
        for ent in ENTITIES:
            b, i = f"B-{ent}", f"I-{ent}"
            if b in labels and i in labels:
                self._ent_cols[ent] = (labels.index(b), labels.index(i))
        self._o_col = labels.index("O") if "O" in labels else -1

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, settings: PhiSettings | None = None) -> "PhiAnalyzer":
        """Load (or reuse) the analyzer; the model's hash is checked against the MANIFEST."""
        settings = settings or PhiSettings.default()
        key = _freeze(settings)
        with _LOCK:
            if key in _CACHE:
                return _CACHE[key]
            nlp = None
            if settings.use_model:
                nlp = load_model(settings.model)
            analyzer = cls(settings, nlp)
            names.lexicon()  # built here, not on the first text a worker analyses
            _CACHE[key] = analyzer
            return analyzer

    # ------------------------------------------------------------------ analysis
    def analyze(self, text: str, identity: Identity | None = None,
                language: str | None = None) -> list[Span]:
        """Non-overlapping PHI spans of *text*, sorted by start, after thresholds.

        *language* ("en", "zh") is accepted as a hint; the recognisers handle both scripts
        in any text, since DICOM free text mixes them.
        """
        return self.analyze_batch([text], identity)[0]

    def analyze_batch(self, texts: Sequence[str], identity: Identity | None = None) -> list[list[Span]]:
        """Spans of many texts at once (one model call for the whole batch)."""
        model_spans = self._model_spans(texts)
        return [self._finish(t, ms, identity) for t, ms in zip(texts, model_spans)]

    def candidates(self, text: str, identity: Identity | None = None) -> list[Span]:
        """Every recogniser's raw spans before thresholds and merging (for sweeps and tests)."""
        return self._candidates(text, self._model_spans([text])[0], identity)

    def _candidates(self, text: str, model_spans: list[Span], identity: Identity | None) -> list[Span]:
        st = self.settings
        model_spans = [sp for sp in model_spans
                       if not (sp.entity == "PHONE" and phone_digits(text, sp) < MIN_PHONE_DIGITS
                               or sp.entity == "DATE" and in_ratio(text, sp)
                               or in_fraction(text, sp, model_spans))]
        out = list(model_spans)
        for sp in model_spans:
            boosted = names.boost(text, sp.start, sp.end, sp.score) if sp.entity == "PERSON" else None
            if boosted is not None:
                out.append(Span(sp.start, sp.end, sp.entity, boosted, "lexicon"))
        for s, e, ent, score, name in patterns.find(text, st.context_window, st.context_boost):
            out.append(Span(s, e, ent, score, f"pattern:{name}"))
        for s, e, ent, score, name in names.find(text):
            out.append(Span(s, e, ent, score, f"pattern:{name}"))
        if identity:
            for s, e, ent in denylist.find(text, identity):
                out.append(Span(s, e, ent, st.identity_score, "identity"))
        return out

    def _finish(self, text: str, model_spans: list[Span], identity: Identity | None) -> list[Span]:
        st = self.settings
        kept = [s for s in self._candidates(text, model_spans, identity)
                if s.score >= st.thresholds.get(s.entity, 0.5)]
        return finish(text, kept, st.uncertain_band)

    def _model_spans(self, texts: Sequence[str]) -> list[list[Span]]:
        if self.nlp is None:
            return [[] for _ in texts]
        from spacy.tokens import Doc

        offsets = [tokenize(t) for t in texts]
        docs = []
        for t, offs in zip(texts, offsets):
            words, spaces = words_and_spaces(t, offs)
            docs.append(Doc(self.nlp.vocab, words=words, spaces=spaces))
        nonempty = [i for i, d in enumerate(docs) if len(d)]
        result: list[list[Span]] = [[] for _ in texts]
        if not nonempty:
            return result
        probs = self._tagger.model.predict([docs[i] for i in nonempty])
        for i, p in zip(nonempty, probs):
            result[i] = self._decode(np.asarray(p), offsets[i], texts[i])
        return result

    def _decode(self, probs: np.ndarray, offs: list[tuple[int, int]], text: str) -> list[Span]:
        """BIO token probabilities -> spans scored by mean entity probability. Punctuation
        tokens at a span's edges are dropped: alone they carry no PHI."""
        ents = list(self._ent_cols)
        if not ents:
            return []
        if probs.min() < 0 or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
            probs = np.exp(probs - probs.max(axis=1, keepdims=True))  # logits -> softmax
            probs /= probs.sum(axis=1, keepdims=True)
        b_cols = [self._ent_cols[e][0] for e in ents]
        i_cols = [self._ent_cols[e][1] for e in ents]
        ent_p = probs[:, b_cols] + probs[:, i_cols]           # (tokens, entities)
        best = ent_p.argmax(axis=1)
        best_p = ent_p[np.arange(len(best)), best]
        begin = probs[np.arange(len(best)), np.array(b_cols)[best]] > probs[np.arange(len(best)), np.array(i_cols)[best]]
        spans: list[Span] = []
        cur: list[int] = []

        def close() -> None:
            while cur and not any(c.isalnum() for c in text[offs[cur[-1]][0]:offs[cur[-1]][1]]):
                cur.pop()
            while cur and not any(c.isalnum() for c in text[offs[cur[0]][0]:offs[cur[0]][1]]):
                cur.pop(0)
            if cur:
                ent = ents[best[cur[0]]]
                score = float(np.mean([ent_p[k, best[cur[0]]] for k in cur]))
                spans.append(Span(offs[cur[0]][0], offs[cur[-1]][1], ent, round(score, 4), "model"))
                cur.clear()

        for k in range(len(best)):
            s0, e0 = offs[k]
            if best_p[k] < self.settings.model_token_min or text[s0:e0].upper() in patterns.LABEL_WORDS:
                close()
                continue
            if cur and (best[k] != best[cur[0]] or begin[k]):
                close()
            cur.append(k)
        close()
        return spans

    # ------------------------------------------------------------------ outputs
    def redact(self, text: str, spans: Sequence[Span]) -> str:
        """*text* with every span replaced by its entity placeholder (``[NAME]`` ...)."""
        out, pos = [], 0
        for s in sorted(spans, key=lambda x: x.start):
            if s.start < pos:
                continue
            out.append(text[pos:s.start])
            out.append(PLACEHOLDER.get(s.entity, "[PHI]"))
            pos = s.end
        out.append(text[pos:])
        return "".join(out)

    def uncertainty(self, spans: Iterable[Span]) -> float:
        """How unsure the analyzer is about a text: the largest 1 - |2p - 1| over its
        uncertain spans (1.0 for a coin toss, 0.0 when every span is clear-cut or none)."""
        u = [1.0 - abs(2.0 * s.score - 1.0) for s in spans if s.uncertain]
        return float(min(1.0, max(u))) if u else 0.0


# Short upper-case letter runs that OCR splits off a name ("A NGELA", "ME RC ER^KIMBERLY",
# "MORA LES") join the name span next to them, unless they are a marker, label or unit.
_FRAGMENT_LEFT = re.compile(r"(?<![A-Za-z0-9])([A-Z]{1,2}) $")
_FRAGMENT_RIGHT = re.compile(r"^ ([A-Z]{1,3})(?![A-Za-z0-9])")
_NOT_FRAGMENT = frozenset({
    "L", "R", "M", "F", "Y", "H", "S", "I", "LT", "RT", "CT", "MR", "US", "DX", "CR", "XA",
    "NM", "PT", "AP", "PA", "LAT", "AX", "COR", "SAG", "TRV", "YO", "YRS", "DOB", "SEX", "AGE", "ID",
    "MRN", "ACC", "NO", "AND", "OF", "THE", "FOR", "TO", "IN", "ON", "AT", "BY", "DR", "MS", "MRS",
    "OR", "IS", "AS", "BE", "WAS", "HAS", "SN", "TEL", "PID", "SE", "IM", "IMG", "SER", "EX", "CM",
    "MM", "HZ", "DB", "OB", "GYN", "ABD", "CF", "PW", "CW", "PD", "2D", "MI", "TI", "TIS", "TIB",
    "FR", "GN", "DR", "W", "C", "G", "D", "E", "T", "V"}) | patterns.LABEL_WORDS


# The fewest digits a telephone number has (a local number without its area code). The
# model tags short numbers as PHONE now and then ("255" of the colour "(255,0,0)" in an
# ImageComments, at 0.55): such a span, counted with the digits and phone punctuation
# around it, is no number anyone can be called on.
MIN_PHONE_DIGITS = 7
_PHONE_CHARS = frozenset("0123456789０１２３４５６７８９ ()（）+-－./")


def phone_digits(text: str, sp: Span) -> int:
    """Digits of the span grown over the digits and phone punctuation around it. Letters
    inside the span count as digits: OCR reads "555-1234" as "555-I234"."""
    s, e = sp.start, sp.end
    while s > 0 and text[s - 1] in _PHONE_CHARS:
        s -= 1
    while e < len(text) and text[e] in _PHONE_CHARS:
        e += 1
    return (sum(ch.isalnum() for ch in text[sp.start:sp.end])
            + sum(ch.isdigit() for ch in text[s:sp.start] + text[sp.end:e]))


# A ratio ("compression ratio 10:1", "JPEG lossy 76:1" in DerivationDescription): the model
# takes its parts for a time or a year, surely or not, but a time has two-digit minutes.
_RATIO = re.compile(r"(?<![\d:.])\d+(?:\.\d+)?:\d(?![\d:])")


def in_ratio(text: str, sp: Span) -> bool:
    """The span lies within a ratio such as "10:1" or "2097:1"."""
    return any(m.start() <= sp.start and sp.end <= m.end() for m in _RATIO.finditer(text))


# A decimal number with one point ("compression ratio 2.1113", as dcmtk writes it in
# DerivationDescription): the model takes the digits after the point for an ID or a date,
# which held dcmtk's RLE copies of NEMA's WG04 CT and MR images in quarantine.
_DECIMAL = re.compile(r"(?<![\d.])(\d{1,4})\.(\d+)(?![\d.])")
_MONTH_YEAR = re.compile(r"(?:0?[1-9]|1[0-2])\.(?:19|20)\d\d")


def in_fraction(text: str, sp: Span, model_spans: Sequence[Span] = ()) -> bool:
    """A date or ID span lies within the digits after the point of a decimal number: a
    measurement ("Pixel spacing 0.3125" was an ID at 0.97), unless the number reads as a
    month and year ("03.2011") or the model found a date or ID in the digits before the
    point too ("Acc 123.4567": the whole is an ID)."""
    if sp.entity not in ("DATE", "ID"):
        return False
    for m in _DECIMAL.finditer(text):
        if m.start(2) <= sp.start and sp.end <= m.end(2):
            whole = (sp.entity == "DATE" and _MONTH_YEAR.fullmatch(m.group(0))
                     or any(o.entity in ("DATE", "ID") and o.start < m.end(1)
                            and m.start(1) < o.end for o in model_spans))
            return not whole
    return False


# A name label OCR glued to the front of a name ("PATIENTBROWN, M") is not part of the name.
_GLUED_LABEL = re.compile(r"(?:PATIENT|NAME)(?=[A-Za-z]{3})", re.IGNORECASE)


def _absorb_name_fragments(text: str, spans: list[Span]) -> list[Span]:
    out = list(spans)
    for k, sp in enumerate(out):
        if sp.entity != "PERSON" or sp.recognizer == "identity":
            continue
        start, end = sp.start, sp.end
        glued = _GLUED_LABEL.match(text, start)
        if glued and glued.end() < end:
            start = glued.end()
        lo = out[k - 1].end if k > 0 else 0
        hi = out[k + 1].start if k + 1 < len(out) else len(text)
        for _ in range(2):
            m = _FRAGMENT_LEFT.search(text[lo:start])
            if not m or m.group(1) in _NOT_FRAGMENT:
                break
            start = lo + m.start(1)
        m = _FRAGMENT_RIGHT.match(text[end:hi])
        if m and m.group(1) not in _NOT_FRAGMENT and text[sp.start:sp.end].isupper():
            end = end + m.end(1)
        if (start, end) != (sp.start, sp.end):
            out[k] = Span(start, end, sp.entity, sp.score, sp.recognizer, sp.uncertain)
    return out


def finish(text: str | None, kept: Sequence[Span], band: tuple[float, float]) -> list[Span]:
    """Spans that passed their thresholds -> the analyzer's answer: merged, OCR-split name
    fragments joined to their name (when *text* is given), uncertainty flags set."""
    spans = merge([s for s in kept if s.end > s.start], (0.0, 0.0))
    if text is not None:
        spans = merge(_absorb_name_fragments(text, spans), (0.0, 0.0))
    return merge(spans, band)


def merge(spans: Sequence[Span], band: tuple[float, float]) -> list[Span]:
    """Union overlapping spans; the merged span keeps the entity, score and recogniser of its
    highest-scoring part (ties: the longer one), so redaction covers every part."""
    out: list[Span] = []
    for s in sorted(spans, key=lambda x: (x.start, -x.end)):
        if out and s.start < out[-1].end:
            last = out[-1]
            top = max((last, s), key=lambda x: (x.score, x.end - x.start))
            out[-1] = Span(last.start, max(last.end, s.end), top.entity, top.score, top.recognizer)
        else:
            out.append(s)
    lo, hi = band
    return [Span(s.start, s.end, s.entity, s.score, s.recognizer, lo <= s.score < hi) for s in out]


def load_model(rel_path: str, weights_dir: Path | None = None) -> Any:
    """Load the spaCy pipeline at ``weights/<rel_path>`` after checking its MANIFEST hashes
    (raises ``WeightsError`` naming the file when they differ: no unverified model runs)."""
    from deid_node import weights

    path = weights.verified(rel_path, weights_dir or weights.WEIGHTS_DIR)
    import spacy

    # Short texts gain nothing from BLAS threads; workers are separate processes already.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return spacy.load(path, exclude=[])
