"""Where the pixel stage's errors come from, per ground-truth text box (synthetic images).

For every PHI box that is not blanked: detector miss (nothing proposed / only below the
floor), geometry (blanked boxes cover part of it), OCR misread (a kept box whose text is
far from the truth) or analyzer miss (read about right, judged harmless). For every
non-PHI box that is blanked: unreadable (OCR confidence below the floor), analyzer /
identity / label false positive, merged with PHI (the detection also covers a PHI box) or
the padding of a neighbouring blanked box. For every image above the gate: what drives
its uncertainty (a kept box's OCR confidence, the analyzer's near miss, an ignored
detection). The texts are synthetic; the report quotes them.

    .venv/bin/python benchmarks/pixel_diagnose.py --n 300 --seed 5000 --out var/eval/diag.json

Robustness screens (pixel_screens.py): ``--fonts unseen``, ``--style outline`` (shadow,
plate, mixed).
"""
from __future__ import annotations

import argparse
import collections
import difflib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deid_node.pixels import match  # noqa: E402
from deid_node.pixels.evaluate import load_analyzer, off_text, summary, table  # noqa: E402
from deid_node.pixels.redactor import blank_rect  # noqa: E402
from deid_node.synth import burned  # noqa: E402

import pixel_screens  # noqa: E402  (next to this file)


def _inter(a: tuple[float, float, float, float], g: dict[str, Any]) -> float:
    ix = max(0.0, min(a[2], g["x1"]) - max(a[0], g["x0"]))
    iy = max(0.0, min(a[3], g["y1"]) - max(a[1], g["y0"]))
    return ix * iy


def _sim(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, match.fold(a), match.fold(b)).ratio()


def diagnose(red: Any, sample: burned.Sample) -> dict[str, Any]:
    s = red.settings
    h, w = sample.image.shape[:2]
    ident = sample.identity.to_identity()
    boxes, _ = red.find({0: sample.image}, ident)
    mask = np.zeros((h, w), bool)
    rects = []
    for b in boxes:
        if b.decision in ("phi", "uncertain"):
            r = blank_rect(b, boxes, s.pad, w, h)
            rects.append((b, r))
            mask[r[1]:r[3], r[0]:r[2]] = True
    out: dict[str, Any] = {"misses": [], "lost": [], "driver": None, "layout": sample.layout,
                           "background": sample.background}
    gts = sample.boxes
    for g in gts:
        area = max(1, (g["x1"] - g["x0"]) * (g["y1"] - g["y0"]))
        cov = float(mask[g["y0"]:g["y1"], g["x0"]:g["x1"]].mean())
        ov = [b for b in boxes if _inter((b.x0, b.y0, b.x1, b.y1), g) / area >= 0.1]
        info = {"text": g["text"], "kind": g["kind"], "size": g["size"], "rot": g["rot"],
                "cov": round(cov, 3), "layout": sample.layout, "bg": sample.background}
        if g["phi"] and cov < 0.95:
            if not ov:
                cat = "detector:none"
            elif all(b.decision == "ignored" for b in ov):
                cat = "detector:below-floor"
                info["scores"] = [round(b.score, 3) for b in ov]
            else:
                kept = [b for b in ov if b.decision == "kept"]
                if kept:
                    k = max(kept, key=lambda b: _inter((b.x0, b.y0, b.x1, b.y1), g))
                    info.update(ocr=k.text, conf=round(k.ocr_conf, 3), u=round(k.uncertainty, 3))
                    # does the gt text (ideal reading) trigger the decision?
                    sim = max(_sim(k.text, g["text"]),
                              max((_sim(k.text, t) for t in g["text"].split()), default=0))
                    info["sim"] = round(sim, 3)
                    cat = "analyzer-miss" if sim >= 0.8 else "ocr-misread"
                    # would the truth itself be caught?
                    spans = red.analyzer.analyze_batch([g["text"]], ident)[0] if red.analyzer else []
                    info["truth_caught"] = bool(spans or match.identity_hits(g["text"], ident)
                                                or match.label_hit(g["text"],
                                                                   red.policy.rules.phi_labels))
                else:
                    cat = "geometry:partial"
                    info["dets"] = [(round(b.x0), round(b.y0), round(b.x1), round(b.y1), b.decision)
                                    for b in ov]
                    info["gt_box"] = (g["x0"], g["y0"], g["x1"], g["y1"])
            info["cat"] = cat
            out["misses"].append(info)
        elif not g["phi"] and cov >= 0.5:
            blankers = [(b, r) for b, r in rects if _inter(r, g) > 0]
            own = [(b, r) for b, r in blankers if _inter((b.x0, b.y0, b.x1, b.y1), g) / area >= 0.1]
            if not own:
                cat = "padding-of-neighbour"
            else:
                b, _ = max(own, key=lambda br: _inter((br[0].x0, br[0].y0, br[0].x1, br[0].y1), g))
                others = [o for o in gts if o is not g and _inter((b.x0, b.y0, b.x1, b.y1), o)
                          / max(1, (o["x1"] - o["x0"]) * (o["y1"] - o["y0"])) >= 0.3]
                info.update(ocr=b.text, conf=round(b.ocr_conf, 3), why=b.why,
                            score=round(b.score, 3))
                if any(o["phi"] for o in others):
                    cat = "merged-with-phi"
                elif b.decision == "uncertain":
                    cat = "unreadable"
                elif b.why == "analyzer":
                    cat = "analyzer-fp"
                    info["entities"] = b.entities
                elif b.why == "identity":
                    cat = "identity-fp"
                elif b.why.startswith("label"):
                    cat = "label-fp"
                else:
                    cat = b.why
                if others:
                    info["merged_with"] = [o["text"] for o in others]
            info["cat"] = cat
            out["lost"].append(info)
    u = red.image_uncertainty(boxes)
    out["u"] = u
    phi = [g for g in gts if g["phi"]]
    non = [g for g in gts if not g["phi"]]
    out["row"] = {"n_phi": len(phi), "n_non": len(non), "uncertainty": u, "n_text": len(gts),
                  "ms": 0.0, "blanked_off_text": off_text(mask, gts, red.settings.pad + 4),
                  "phi_caught": sum(float(mask[g["y0"]:g["y1"], g["x0"]:g["x1"]].mean()) >= 0.95
                                    for g in phi),
                  "non_kept": sum(float(mask[g["y0"]:g["y1"], g["x0"]:g["x1"]].mean()) < 0.5
                                  for g in non)}
    if u > 0:
        b = max((b for b in boxes if b.decision in ("kept", "ignored")), key=lambda b: b.uncertainty)
        if b.decision == "ignored":
            drv = "ignored-detection"
        else:
            u_ocr = (s.ocr_confident - b.ocr_conf) / max(1e-6, s.ocr_confident - s.ocr_confidence_floor)
            n_alnum = sum(ch.isalnum() for ch in b.text)
            u_ocr = min(1.0, max(0.0, u_ocr)) * min(1.0, max(0.0, (n_alnum - 2) / 6.0))
            drv = "kept:ocr-confidence" if u_ocr >= b.uncertainty - 1e-6 else "kept:analyzer-near-miss"
        gt = [g for g in gts if _inter((b.x0, b.y0, b.x1, b.y1), g) / max(1e-6, b.w * b.h) >= 0.2]
        out["driver"] = {"cat": drv, "u": round(u, 3), "text": b.text, "conf": round(b.ocr_conf, 3),
                         "score": round(b.score, 3),
                         "gt": [(g["text"], g["phi"]) for g in gt]}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=5000)
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--locale", choices=burned.LOCALES, default="en",
                    help="zh, ja, ko: Chinese, Japanese, Korean screens (names, national IDs, "
                         "phones) in held-out CJK fonts")
    ap.add_argument("--size", default=None, metavar="HxW",
                    help="image size (default: the generator's, about 640x480); large "
                         "ones (1760x2140, a chest radiograph) are also read in tiles")
    ap.add_argument("--background", default=None, help="one background kind (e.g. xray)")
    ap.add_argument("--fonts", choices=("heldout", "unseen"), default="heldout",
                    help="unseen: English screens in Latin faces neither split draws "
                         "(pixel_screens.py)")
    ap.add_argument("--style", choices=pixel_screens.STYLES, default=None,
                    help="every line redrawn with an outline, a shadow or on a plate "
                         "(pixel_screens.py)")
    ap.add_argument("--out", type=Path, default=Path("var/eval/diag.json"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    import yaml

    from deid_node.config import Section
    from deid_node.pixels import PixelRedactor, PixelSettings
    overrides = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.set)}
    settings = PixelSettings.from_section(Section(overrides, "--set", "pixels"))
    analyzer, _ = load_analyzer(True)
    red = PixelRedactor.load(settings, analyzer)
    thr = settings.uncertainty_threshold if args.threshold is None else args.threshold
    h, w = (int(v) for v in args.size.lower().split("x")) if args.size else (None, None)
    if args.fonts == "unseen":
        pixel_screens.use_unseen_fonts()
    draw = pixel_screens.generator(args.style)
    rows = []
    t0 = time.time()
    for i in range(args.n):
        row = diagnose(red, draw(args.seed + i, "heldout", h, w, locale=args.locale,
                                 background=args.background))
        for m in row["misses"] + row["lost"]:
            m["image_seed"] = args.seed + i   # to look at the image again
        rows.append(row)
        if (i + 1) % (50 if h is None else 5) == 0:
            print(f"{i + 1}/{args.n} {time.time() - t0:.0f}s", flush=True)
    misses = [m for r in rows for m in r["misses"]]
    lost = [m for r in rows for m in r["lost"]]
    drivers = [r["driver"] for r in rows if r["u"] > thr]
    summ = {
        "phi_missed": dict(collections.Counter(m["cat"] for m in misses)),
        "non_phi_lost": dict(collections.Counter(m["cat"] for m in lost)),
        "quarantine_drivers": dict(collections.Counter(d["cat"] for d in drivers)),
        "quarantined": len(drivers), "images": len(rows),
        "measures": summary([r["row"] for r in rows], thr),
        "table": {t["threshold"]: (t["quarantine_rate"], t["phi_boxes_leaked"])
                  for t in table([r["row"] for r in rows])},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summ, "misses": misses, "lost": lost,
                                    "drivers": drivers}, indent=1, ensure_ascii=False))
    print(json.dumps(summ, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
