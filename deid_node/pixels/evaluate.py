"""Held-out quality of the whole pixel decision (detector + OCR + analyzer + gate).

Runs the redactor's own ``find`` on held-out synthetic images (other seed, font families
and layouts than training) and measures, per ground-truth text box: was a PHI box blanked
(≥ 95% of its area under blanked rectangles), was a non-PHI box kept (< 50% blanked).
Then for each uncertainty threshold: quarantine rate and PHI boxes leaked among the
instances that would be forwarded. Output: JSON with the per-image rows and the table.

    python -m deid_node.pixels.evaluate --n 300 --seed 9000 --out var/eval/pixels.json
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from deid_node.pixels.redactor import blanked_mask
from deid_node.synth import burned

THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


def _coverage(gt: dict[str, Any], mask: np.ndarray) -> float:
    sub = mask[gt["y0"]:gt["y1"], gt["x0"]:gt["x1"]]
    return float(sub.mean()) if sub.size else 1.0


def off_text(mask: np.ndarray, gts: list[dict[str, Any]], margin: int) -> float:
    """Share of the image blanked farther than ``margin`` px from any text drawn on it:
    anatomy, speckle or a trace taken for unreadable text, which no text measure counts."""
    text = np.zeros(mask.shape, bool)
    for g in gts:
        text[max(0, g["y0"] - margin):g["y1"] + margin,
             max(0, g["x0"] - margin):g["x1"] + margin] = True
    return round(float((mask & ~text).mean()), 5)


def load_analyzer(use: bool = True) -> tuple[Any, str]:
    """The PHI analyzer with its model; if the model is not recorded yet, its pattern and
    deny-list recognisers only; ``(None, ...)`` when asked for none (fail closed)."""
    if not use:
        return None, "none (fail closed: all readable text is PHI)"
    import dataclasses

    from deid_node.phi import PhiAnalyzer, PhiSettings
    try:
        return PhiAnalyzer.load(), "PhiAnalyzer (model + patterns + deny-list)"
    except Exception:  # noqa: BLE001 - model not available: patterns only, said in the output
        return (PhiAnalyzer.load(dataclasses.replace(PhiSettings.default(), use_model=False)),
                "PhiAnalyzer without its model (patterns + deny-list only)")


def evaluate_image(redactor: Any, sample: burned.Sample) -> dict[str, Any]:
    h, w = sample.image.shape[:2]
    t0 = time.perf_counter()
    boxes, times = redactor.find({0: sample.image}, sample.identity.to_identity())
    ms = (time.perf_counter() - t0) * 1000
    mask = blanked_mask(boxes, redactor.settings.pad, w, h)
    phi = [g for g in sample.boxes if g["phi"]]
    non = [g for g in sample.boxes if not g["phi"]]
    phi_caught = sum(_coverage(g, mask) >= 0.95 for g in phi)
    non_kept = sum(_coverage(g, mask) < 0.5 for g in non)
    return {"n_phi": len(phi), "phi_caught": int(phi_caught), "n_non": len(non),
            "non_kept": int(non_kept), "uncertainty": redactor.image_uncertainty(boxes),
            "blanked_off_text": off_text(mask, sample.boxes, redactor.settings.pad + 4),
            "ms": round(ms, 1), "n_text": len(sample.boxes), "background": sample.background,
            "layout": sample.layout, "timings": {k: round(v, 1) for k, v in times.items()},
            "boxes": [{"score": round(b.score, 3), "spread": round(b.spread, 3),
                       "conf": round(b.ocr_conf, 3), "decision": b.decision, "why": b.why,
                       "u": round(b.uncertainty, 3),
                       "gt": _gt_of(b, sample.boxes)} for b in boxes
                      if b.decision != "ignored" or b.uncertainty >= 0.2]}


def _gt_of(b: Any, gts: list[dict[str, Any]]) -> str:
    """'phi' / 'non' / 'none': the ground truth a detection mostly lies on (no text kept)."""
    best, kind = 0.0, "none"
    area = max(1e-6, b.w * b.h)
    for g in gts:
        ix = max(0.0, min(g["x1"], b.x1) - max(g["x0"], b.x0))
        iy = max(0.0, min(g["y1"], b.y1) - max(g["y0"], b.y0))
        if ix * iy / area > best:
            best, kind = ix * iy / area, ("phi" if g["phi"] else "non")
    return kind if best >= 0.2 else "none"


def table(rows: list[dict[str, Any]], thresholds: tuple[float, ...] = THRESHOLDS
          ) -> list[dict[str, Any]]:
    out = []
    n = len(rows)
    for t in thresholds:
        fwd = [r for r in rows if r["uncertainty"] <= t]
        leaked = sum(r["n_phi"] - r["phi_caught"] for r in fwd)
        phi_fwd = sum(r["n_phi"] for r in fwd)
        leaked_inst = sum(1 for r in fwd if r["n_phi"] > r["phi_caught"])
        out.append({"threshold": t, "quarantine_rate": round(1 - len(fwd) / max(1, n), 4),
                    "forwarded": len(fwd), "phi_boxes_leaked": leaked,
                    "phi_boxes_forwarded": phi_fwd, "instances_leaking": leaked_inst})
    return out


def summary(rows: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    n_phi = sum(r["n_phi"] for r in rows)
    n_non = sum(r["n_non"] for r in rows)
    fwd = [r for r in rows if r["uncertainty"] <= threshold]
    ms_text = [r["ms"] for r in rows if r["n_text"] >= 8]
    ms_none = [r["ms"] for r in rows if r["n_text"] == 0]
    return {
        "images": len(rows), "phi_boxes": n_phi, "non_phi_boxes": n_non,
        "phi_box_recall_before_gate": round(sum(r["phi_caught"] for r in rows) / max(1, n_phi), 5),
        "non_phi_kept": round(sum(r["non_kept"] for r in rows) / max(1, n_non), 4),
        "threshold": threshold,
        "quarantine_rate": round(1 - len(fwd) / max(1, len(rows)), 4),
        "phi_boxes_leaked_after_gate": sum(r["n_phi"] - r["phi_caught"] for r in fwd),
        # image blanked where no text is (anatomy, speckle): the mean share, and the share
        # of images with more than 0.1% of their pixels (a 17×17 square on 640×480) so
        "image_blanked_off_text": round(float(np.mean([r["blanked_off_text"] for r in rows]))
                                        if rows else 0.0, 5),
        "images_blanked_off_text": round(sum(r["blanked_off_text"] > 0.001 for r in rows)
                                         / max(1, len(rows)), 4),
        "median_ms_image_8plus_boxes": round(float(np.median(ms_text)), 1) if ms_text else None,
        "median_ms_image_no_text": round(float(np.median(ms_none)), 1) if ms_none else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=9000)
    ap.add_argument("--threshold", type=float, default=None,
                    help="gate threshold for the summary (default: the settings' value)")
    ap.add_argument("--no-analyzer", action="store_true", help="fail-closed mode (no PHI analyzer)")
    ap.add_argument("--locale", choices=burned.LOCALES, default="en",
                    help="zh, ja, ko: Chinese, Japanese, Korean screens (names, national IDs, "
                         "phones) in held-out CJK fonts")
    ap.add_argument("--out", type=Path, default=Path("var/eval/pixels.json"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a pixels setting (YAML value), e.g. --set ocr_confidence_floor=0.5")
    args = ap.parse_args(argv)
    from deid_node.pixels import PixelRedactor, PixelSettings
    analyzer, analyzer_desc = load_analyzer(not args.no_analyzer)
    import yaml

    from deid_node.config import Section
    overrides = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.set)}
    settings = PixelSettings.from_section(Section(overrides, "--set", "pixels"))
    red = PixelRedactor.load(settings, analyzer)
    rows = []
    t0 = time.time()
    for i in range(args.n):
        s = burned.generate(args.seed + i, "heldout", locale=args.locale)
        rows.append(evaluate_image(red, s))
        if (i + 1) % 25 == 0:
            print(f"{i + 1}/{args.n} {time.time() - t0:.0f}s", flush=True)
    thr = red.settings.uncertainty_threshold if args.threshold is None else args.threshold
    result = {"seed": args.seed, "locale": args.locale, "analyzer": analyzer_desc, "overrides": overrides,
              "summary": summary(rows, thr), "table": table(rows), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result["summary"], indent=1))
    for r in result["table"]:
        print(r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
