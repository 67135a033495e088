"""Span-level quality measures for the analyzer, shared by training, benchmarks and tests.

Definitions (character based, because redaction is about characters):

* a gold span is **caught** when every letter/digit of it lies inside predicted spans of
  any entity (a half-redacted name is a leak); ``typed`` recall also asks for the entity;
* a predicted span is **correct** when at least half of its letters/digits lie inside gold
  spans (any entity); precision per entity is over the predicted spans of that entity.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

from deid_node.synth.phi_text import Sample

from .analyzer import Span
from .tokens import HAN_RE, tokenize

_CN_ID = re.compile(r"\d{17}[\dXx]")
_CN_MOBILE = re.compile(r"(?:\+?86)?1[3-9]\d{9}")


def subgroup(value: str, entity: str) -> str | None:
    """Chinese-setting subgroups reported on their own: Han names, resident IDs, mobiles."""
    if entity == "PERSON" and HAN_RE.search(value):
        return "zh:PERSON_HAN"
    digits = re.sub(r"[\s-]", "", value)
    if entity == "ID" and _CN_ID.fullmatch(digits):
        return "zh:RESIDENT_ID"
    if entity == "PHONE" and _CN_MOBILE.fullmatch(digits):
        return "zh:MOBILE"
    return None


def _word_positions(text: str, s: int, e: int) -> list[int]:
    return [i for i in range(s, e) if text[i].isalnum()]


@dataclass
class Counts:
    gold: int = 0
    caught: int = 0
    caught_typed: int = 0
    pred: int = 0
    pred_ok: int = 0
    neg_tokens: int = 0   # non-PHI word tokens in the texts (same for every entity)
    fp_tokens: int = 0    # of those, tokens inside a predicted span of this entity

    def as_dict(self) -> dict[str, float]:
        r = self.caught / self.gold if self.gold else float("nan")
        rt = self.caught_typed / self.gold if self.gold else float("nan")
        p = self.pred_ok / self.pred if self.pred else float("nan")
        f1 = 2 * p * r / (p + r) if self.gold and self.pred and (p + r) else float("nan")
        return {"precision": round(p, 4), "recall": round(r, 4), "recall_typed": round(rt, 4),
                "f1": round(f1, 4), "support": self.gold, "predicted": self.pred}


def score(samples: Sequence[Sample], predictions: Sequence[Sequence[Span]],
          subset: Iterable[str] | None = None) -> dict[str, Counts]:
    """Per-entity counts; key ``ALL`` sums over entities."""
    counts: dict[str, Counts] = defaultdict(Counts)
    for sample, spans in zip(samples, predictions):
        text = sample.text
        covered: dict[int, set[str]] = defaultdict(set)
        for sp in spans:
            for i in range(sp.start, sp.end):
                covered[i].add(sp.entity)
        gold_chars: set[int] = set()
        for s, e, ent in sample.spans:
            pos = _word_positions(text, s, e)
            gold_chars.update(range(s, e))
            keys = [ent, "ALL"] + ([g] if (g := subgroup(text[s:e], ent)) else [])
            for key in keys:
                c = counts[key]
                c.gold += 1
                if all(i in covered for i in pos):
                    c.caught += 1
                    if all(ent in covered[i] for i in pos):
                        c.caught_typed += 1
        negatives = [(a, b) for a, b in tokenize(text)
                     if any(text[i].isalnum() for i in range(a, b)) and not any(i in gold_chars for i in range(a, b))]
        for key in set(counts) | {"ALL"} | {sp.entity for sp in spans}:
            counts[key].neg_tokens += len(negatives)
        for a, b in negatives:
            for ent in {e for i in range(a, b) for e in covered.get(i, ())}:
                counts[ent].fp_tokens += 1
                counts["ALL"].fp_tokens += 1
        for sp in spans:
            pos = _word_positions(text, sp.start, sp.end)
            ok = bool(pos) and sum(i in gold_chars for i in pos) * 2 >= len(pos)
            for key in (sp.entity, "ALL"):
                counts[key].pred += 1
                counts[key].pred_ok += int(ok)
    return dict(counts)


def report(counts: dict[str, Counts]) -> dict[str, dict[str, float]]:
    return {k: counts[k].as_dict() for k in sorted(counts)}


def markdown_table(metrics: dict[str, dict[str, float]]) -> str:
    lines = ["| entity | precision | recall | recall (typed) | F1 | gold spans | predicted |",
             "|---|---|---|---|---|---|---|"]
    for ent, m in metrics.items():
        lines.append(f"| {ent} | {m['precision']:.3f} | {m['recall']:.3f} | {m['recall_typed']:.3f} | "
                     f"{m['f1']:.3f} | {m['support']} | {m['predicted']} |")
    return "\n".join(lines)


class Candidates(list):
    """Raw spans of one text, with the text (the analyzer's last step looks at it)."""

    def __init__(self, spans: Iterable[Span], text: str) -> None:
        super().__init__(spans)
        self.text = text


def candidates_batch(analyzer, texts: Sequence[str], batch: int = 256) -> list[Candidates]:
    """Every recogniser's raw spans (no identity) for many texts; model run in batches."""
    out: list[Candidates] = []
    for i in range(0, len(texts), batch):
        chunk = texts[i:i + batch]
        model = analyzer._model_spans(chunk)
        out.extend(Candidates(analyzer._candidates(t, m, None), t) for t, m in zip(chunk, model))
    return out


def apply_thresholds(cands: Sequence[Sequence[Span]], thresholds: dict[str, float],
                     band: tuple[float, float] = (0.0, 0.0)) -> list[list[Span]]:
    """What ``PhiAnalyzer.analyze`` would return with these *thresholds* (the text-dependent
    last step only where the candidates carry their text, see :class:`Candidates`)."""
    from .analyzer import finish

    return [finish(getattr(c, "text", None), [s for s in c if s.score >= thresholds.get(s.entity, 0.5)], band)
            for c in cands]


def sweep(samples: Sequence[Sample], cands: Sequence[Sequence[Span]], base: dict[str, float],
          entities: Sequence[str], grid: Sequence[float], max_fpr: float = 0.05, max_fdr: float = 0.10,
          clinical: Sequence[Sequence[Span]] = (), max_clinical: float = 0.02
          ) -> tuple[dict[str, float], list[tuple[str, float, float, float, float, float, int, int]]]:
    """Per entity, vary its threshold (others at *base*) and pick the one with the lowest miss
    rate whose false-positive rate (non-PHI word tokens flagged as the entity / all non-PHI
    word tokens) <= *max_fpr* and whose false-discovery rate (wrong predicted spans /
    predicted spans) <= *max_fdr* and with which at most *max_clinical* of the *clinical*
    phrases (candidates of texts with no PHI at all) are flagged (by any entity, the others at
    *base*); ties go to the lower
    threshold (*grid* ascending), because a missed identifier costs more than a redacted
    clinical word. Returns (chosen, rows of entity, t, miss, fpr, fdr, clinical, gold, pred)."""
    chosen: dict[str, float] = {}
    rows = []
    for ent in entities:
        best: tuple[float, float] | None = None
        fallback: tuple[float, float] | None = None
        for t in grid:
            th = dict(base)
            th[ent] = t
            c = score(samples, apply_thresholds(cands, th)).get(ent, Counts())
            miss = 1 - c.caught / c.gold if c.gold else 0.0
            fdr = 1 - c.pred_ok / c.pred if c.pred else 0.0
            fpr = c.fp_tokens / c.neg_tokens if c.neg_tokens else 0.0
            clin = (sum(bool(spans) for spans in apply_thresholds(clinical, th))
                    / len(clinical)) if clinical else 0.0
            rows.append((ent, t, miss, fpr, fdr, clin, c.gold, c.pred))
            if fpr <= max_fpr and fdr <= max_fdr and clin <= max_clinical and (best is None or miss < best[0]):
                best = (miss, t)
            if fallback is None or fdr < fallback[0] or (fdr == fallback[0] and miss <= fallback[1]):
                fallback = (fdr, t)
        chosen[ent] = best[1] if best else (fallback[1] if fallback else base.get(ent, 0.5))
    return chosen, rows
