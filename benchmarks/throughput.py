"""Throughput: the same CT series sent by storescu to Orthanc directly, and through the node.

    .venv/bin/python benchmarks/throughput.py [--n 500] [--workers 2]

Both runs use one association and TCP_NODELAY=1 and happen in the same invocation, so the
ratio compares like with like on this machine. 'Through the node' is measured from the
start of storescu until the last instance is stored at the second Orthanc (receive,
de-identify on the tag path, forward). Prints instances/s for both and the ratio.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deid_node.synth.dicom import ct_series, write  # noqa: E402
from tests.peers import NodeProcess, Orthanc, storescu, wait_for  # noqa: E402


def _timeline(lines: list[dict]) -> dict[str, list[float]]:
    """First and last time (s after the first event) of each stage, from the audit log."""
    from datetime import datetime

    def ts(line: dict) -> float:
        return datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()

    t0 = ts(lines[0])
    out = {}
    for event in ("received", "processed", "forwarded"):
        times = [ts(x) - t0 for x in lines if x["event"] == event]
        if times:
            out[event] = [round(times[0], 2), round(times[-1], 2)]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print(f"generating {args.n} CT instances (512x512, 16-bit) ...", file=sys.stderr)
        files = []
        for start in range(0, args.n, 50):
            datasets, _ = ct_series(min(50, args.n - start), seed=1000 + start)
            files += write(datasets, tmp / "ct" / f"{start:05d}")

        direct = Orthanc(tmp / "direct").start()
        t0 = time.perf_counter()
        storescu(direct.dicom_port, files, called="ORTHANC")
        wait_for(lambda: len(direct.instances()) >= args.n, timeout=600)
        t_direct = time.perf_counter() - t0
        direct.stop()

        pacs = Orthanc(tmp / "via-node").start()
        node = NodeProcess(tmp / "node", {
            "node": {"workers": args.workers},
            "destination": {"type": "dicom", "host": "127.0.0.1", "port": pacs.dicom_port,
                            "ae_title": "ORTHANC"},
            "audit": {"stderr": False},
        }).start()
        # warm the workers (model and rule loading is start-up cost, not throughput)
        storescu(node.port, files[:1])
        wait_for(lambda: len(pacs.instances()) >= 1, timeout=300)
        t0 = time.perf_counter()
        storescu(node.port, files[1:])
        t_recv = time.perf_counter() - t0
        wait_for(lambda: len(pacs.instances()) >= args.n, timeout=1800, interval=0.1)
        t_node = time.perf_counter() - t0
        node.stop()
        pacs.stop()
        timeline = _timeline(node.audit_lines())

    m = args.n - 1
    figures = {
        "instances": args.n, "workers": args.workers,
        "direct_per_s": round(args.n / t_direct, 1),
        "node_receive_per_s": round(m / t_recv, 1),
        "node_end_to_end_per_s": round(m / t_node, 1),
    }
    figures["ratio"] = round(figures["node_end_to_end_per_s"] / figures["direct_per_s"], 3)
    figures["timeline_s"] = timeline
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
