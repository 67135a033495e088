"""Held-out quality of the PHI analyzer (patterns + model, shipped thresholds).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/phi_quality.py [--model DIR] [--write]

Test split: TEST_TEMPLATES (wording training never saw), seed 90210. Also the false-positive
rate on tests/phi/clinical_phrases.txt. --write puts the tables into docs/phi.md.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from deid_node.phi import evaluate  # noqa: E402
from deid_node.phi.analyzer import PhiAnalyzer, PhiSettings  # noqa: E402
from deid_node.synth import phi_text  # noqa: E402

PHRASES = ROOT / "tests" / "phi" / "clinical_phrases.txt"


def clinical_phrases() -> list[str]:
    return [ln.strip() for ln in PHRASES.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.startswith("#")]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--json", help="also write the metrics as JSON to this file")
    args = ap.parse_args()
    settings = PhiSettings.default()
    if args.model:
        import spacy
        analyzer = PhiAnalyzer(settings, spacy.load(args.model))
    else:
        analyzer = PhiAnalyzer.load(settings)
    test = phi_text.generate("test", args.n)
    preds = analyzer.analyze_batch([s.text for s in test])
    metrics = evaluate.report(evaluate.score(test, preds))
    ocr = [i for i, s in enumerate(test) if s.kind == "ocr"]
    ocr_metrics = evaluate.report(evaluate.score([test[i] for i in ocr], [preds[i] for i in ocr]))
    phrases = clinical_phrases()
    flagged = [p for p, sp in zip(phrases, analyzer.analyze_batch(phrases)) if sp]
    fp_rate = len(flagged) / len(phrases)
    known = {v.upper() for v in phi_text.training_vocabulary()}
    unseen = [p for p in phrases if p.upper() not in known]
    unseen_flagged = [p for p in flagged if p.upper() not in known]
    body = (f"Held-out test split: {len(test)} texts from TEST_TEMPLATES, seed {phi_text.SEEDS['test']}; "
            f"{len(ocr)} of them image-annotation (OCR-noised) texts.\n\n"
            + evaluate.markdown_table(metrics)
            + "\n\nOCR-noised subset only:\n\n" + evaluate.markdown_table(ocr_metrics)
            + f"\n\nClinical phrases (tests/phi/clinical_phrases.txt) flagged: {len(flagged)} / {len(phrases)} "
            f"= {fp_rate:.2%}" + (f" ({', '.join(flagged)})" if flagged else "")
            + f"; of the {len(unseen)} phrases that are not literally in any training vocabulary list, "
            f"{len(unseen_flagged)} flagged = {len(unseen_flagged) / max(1, len(unseen)):.2%}.")
    print(body)
    if args.json:
        Path(args.json).write_text(json.dumps({"heldout_test": metrics, "clinical_fp_rate": fp_rate,
                                               "clinical_fp_rate_unseen": len(unseen_flagged) / max(1, len(unseen))},
                                              indent=2), encoding="utf-8")
    if args.write:
        from phi_sweep import replace_block
        replace_block(ROOT / "docs" / "phi.md", "quality", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
