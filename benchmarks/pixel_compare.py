"""Our pixel stage on the same held-out images as benchmarks/pixel_presidio.py (same seeds,
same DICOM wrapping with the identity in the header), through PixelRedactor.process.

    .venv/bin/python benchmarks/pixel_compare.py --n 40 --seed 9000 --out var/eval/ours_same.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
warnings.simplefilter("ignore")

import numpy as np  # noqa: E402

from deid_node.identity import collect  # noqa: E402
from deid_node.synth import burned  # noqa: E402
from pixel_presidio import as_dicom  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=9000)
    ap.add_argument("--out", type=Path, default=ROOT / "var/eval/ours_same.json")
    args = ap.parse_args()
    from deid_node.pixels.evaluate import load_analyzer
    from deid_node.pixels import PixelRedactor, PixelSettings
    red = PixelRedactor.load(PixelSettings.default(), load_analyzer()[0])
    rows = []
    for i in range(args.n):
        s = burned.generate(args.seed + i, "heldout")
        ds = as_dicom(s)
        t0 = time.perf_counter()
        res = red.process(ds, collect(ds))
        ms = (time.perf_counter() - t0) * 1000
        h, w = s.image.shape[:2]
        mask = np.zeros((h, w), bool)
        for b in res.boxes:
            if b["decision"] in ("phi", "uncertain", "region"):
                mask[b["y0"]:b["y1"], b["x0"]:b["x1"]] = True
        phi = [g for g in s.boxes if g["phi"]]
        non = [g for g in s.boxes if not g["phi"]]
        cov = lambda g: float(mask[g["y0"]:g["y1"], g["x0"]:g["x1"]].mean())  # noqa: E731
        rows.append({"ms": round(ms, 1), "n_phi": len(phi),
                     "phi_caught": sum(cov(g) >= 0.95 for g in phi), "n_non": len(non),
                     "non_kept": sum(cov(g) < 0.5 for g in non),
                     "quarantined": res.quarantine_reason is not None})
    n_phi = sum(r["n_phi"] for r in rows)
    n_non = sum(r["n_non"] for r in rows)
    summary = {"tool": "deid-node pixel stage", "images": len(rows), "phi_boxes": n_phi,
               "phi_box_recall": round(sum(r["phi_caught"] for r in rows) / max(1, n_phi), 4),
               "non_phi_kept": round(sum(r["non_kept"] for r in rows) / max(1, n_non), 4),
               "quarantined": sum(r["quarantined"] for r in rows),
               "median_ms_per_image": round(statistics.median(r["ms"] for r in rows), 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
