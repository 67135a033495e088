"""Markdown tables for docs/pixels.md from the JSON written by deid_node.pixels.evaluate.

    .venv/bin/python benchmarks/pixel_tables.py var/eval/calib.json var/eval/heldout.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deid_node.pixels.evaluate import summary, table  # noqa: E402
from deid_node.pixels.settings import PixelSettings  # noqa: E402

THRESHOLD = PixelSettings.default().uncertainty_threshold  # the shipped gate


def main() -> int:
    for path in sys.argv[1:]:
        data = json.loads(Path(path).read_text())
        rows = data["rows"]
        n_phi = sum(r["n_phi"] for r in rows)
        print(f"\n### {path}: seed {data['seed']}, {len(rows)} images, {n_phi} PHI boxes, "
              f"analyzer: {data['analyzer']}, overrides: {data.get('overrides') or '-'}\n")
        print("| threshold | quarantine rate | forwarded | PHI boxes forwarded | PHI boxes leaked | instances leaking |")
        print("|---|---|---|---|---|---|")
        for r in table(rows):
            print(f"| {r['threshold']} | {r['quarantine_rate']:.1%} | {r['forwarded']} | "
                  f"{r['phi_boxes_forwarded']} | {r['phi_boxes_leaked']} | {r['instances_leaking']} |")
        print("\n" + json.dumps(summary(rows, THRESHOLD)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
