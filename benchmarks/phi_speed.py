"""Speed of the PHI analyzer on short texts (<= 64 characters), one core.

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python benchmarks/phi_speed.py

Reports the median and p95 of single analyze() calls and the per-text cost of
analyze_batch() on the same texts (OCR strings from the held-out split + clinical phrases).
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deid_node.identity import Identity  # noqa: E402
from deid_node.phi import PhiAnalyzer  # noqa: E402
from deid_node.synth import phi_text  # noqa: E402


def main() -> int:
    analyzer = PhiAnalyzer.load()
    texts = [s.text for s in phi_text.generate("test", 4000) if len(s.text) <= 64][:1500]
    texts += [ln.strip() for ln in (ROOT / "tests/phi/clinical_phrases.txt").read_text(encoding="utf-8").splitlines()
              if ln.strip() and not ln.startswith("#")]
    ident = Identity(person_names=("DOE^JOHN",), name_parts=("DOE", "JOHN"), ids=("1234567",),
                     birth_dates=("19450315",), event_dates=("20240524",))
    for t in texts[:50]:
        analyzer.analyze(t)
    for label, idt in (("no identity", None), ("with identity", ident)):
        times = []
        for t in texts:
            t0 = time.perf_counter()
            analyzer.analyze(t, idt)
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        t0 = time.perf_counter()
        for i in range(0, len(texts), 256):
            analyzer.analyze_batch(texts[i:i + 256], idt)
        batch_ms = (time.perf_counter() - t0) * 1000 / len(texts)
        print(f"{label}: {len(texts)} texts (mean {statistics.mean(map(len, texts)):.0f} chars): "
              f"analyze() median {statistics.median(times):.2f} ms, p95 {times[int(0.95 * len(times))]:.2f} ms; "
              f"analyze_batch() {batch_ms:.2f} ms/text")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
