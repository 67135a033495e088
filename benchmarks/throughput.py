"""Throughput: the same CT series sent by storescu to Orthanc directly, and through the node.

    .venv/bin/python benchmarks/throughput.py [--n 500] [--workers 2] [--rounds 3]

Both runs use one association and TCP_NODELAY=1 and happen in the same invocation, so the
ratio compares like with like on this machine; with --rounds the pair is repeated and
the median round (by ratio) is reported with all rounds beside it. 'Through the node' is
measured from the start of storescu until the last instance is stored at the second
Orthanc (receive, de-identify on the tag path, forward). Prints instances/s for both,
the ratio, CPU milliseconds per instance of each process (from /proc) and the machine's
CPU use during the node run, so that a busy machine shows in the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
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


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # the process has ended
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    """CPU seconds of this process's waited-for children (the storescu runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tree(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid] + [int(x) for x in out]


def _settle() -> None:
    """Start each run on a quiet disk: the previous run left gigabytes of dirty pages and
    deleted files whose write-back and discards otherwise land in the next run (the
    second direct run of a pair measured 20-30% slower than the first without this)."""
    os.sync()
    time.sleep(3.0)


def _machine() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--associations", type=int, default=2, help="forwarding associations")
    ap.add_argument("--worker-nice", type=int, default=10, help="node.worker_nice")
    ap.add_argument("--pacs-max-pdu", type=int, default=16384,
                    help="Orthanc's MaximumPduLength for both runs (Orthanc's default: 16384)")
    ap.add_argument("--rounds", type=int, default=1, help="repeat the pair; report the median round")
    ap.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print(f"generating {args.n} CT instances (512x512, 16-bit) ...", file=sys.stderr)
        files = []
        for start in range(0, args.n, 50):
            datasets, _ = ct_series(min(50, args.n - start), seed=1000 + start)
            files += write(datasets, tmp / "ct" / f"{start:05d}")
        rounds = [_round(args, files, tmp / f"round{i}") for i in range(args.rounds)]
    rounds.sort(key=lambda r: r["ratio"])
    figures = dict(rounds[len(rounds) // 2])
    if len(rounds) > 1:
        figures["rounds"] = [{k: r[k] for k in ("direct_per_s", "node_receive_per_s",
                                                "node_end_to_end_per_s", "ratio")} for r in rounds]
        figures["ratio_median"] = statistics.median(r["ratio"] for r in rounds)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def _round(args: argparse.Namespace, files: list[Path], tmp: Path) -> dict:
    """One pair of runs: storescu to Orthanc directly, then through the node."""
    pdu = {"MaximumPduLength": args.pacs_max_pdu}
    _settle()
    direct = Orthanc(tmp / "direct", **pdu).start()
    assert direct.proc is not None
    orthanc0, scu0 = _cpu_seconds(direct.proc.pid), _children_cpu()
    t0 = time.perf_counter()
    storescu(direct.dicom_port, files, called="ORTHANC")
    wait_for(lambda: len(direct.instances()) >= args.n, timeout=600)
    t_direct = time.perf_counter() - t0
    direct_cpu = {"storescu": round((_children_cpu() - scu0) * 1000 / args.n, 2),
                  "orthanc": round((_cpu_seconds(direct.proc.pid) - orthanc0) * 1000 / args.n, 2)}
    direct.stop()

    _settle()
    pacs = Orthanc(tmp / "via-node", **pdu).start()
    node = NodeProcess(tmp / "node", {
        "node": {"workers": args.workers, "worker_nice": args.worker_nice},
        "destination": {"type": "dicom", "host": "127.0.0.1", "port": pacs.dicom_port,
                        "ae_title": "ORTHANC", "associations": args.associations},
        "audit": {"stderr": False},
    }).start()
    # warm the workers (model and rule loading is start-up cost, not throughput)
    storescu(node.port, files[:1])
    wait_for(lambda: len(pacs.instances()) >= 1, timeout=300)
    time.sleep(2.0)  # let start-up work (worker model loading) finish
    assert node.proc is not None and pacs.proc is not None
    node_pids = _tree(node.proc.pid)
    cpu0 = {pid: _cpu_seconds(pid) for pid in node_pids + [pacs.proc.pid]}
    busy0, all0 = _machine()
    scu0 = _children_cpu()
    t0 = time.perf_counter()
    storescu(node.port, files[1:])
    t_recv = time.perf_counter() - t0
    scu_cpu = _children_cpu() - scu0
    wait_for(lambda: len(pacs.instances()) >= args.n, timeout=1800, interval=0.05)
    t_node = time.perf_counter() - t0
    busy1, all1 = _machine()
    cpu1 = {pid: _cpu_seconds(pid) for pid in cpu0}
    node.stop()
    pacs.stop()
    lines = node.audit_lines()
    timeline = _timeline(lines)
    forwarders = {e["pid"] for e in lines if e["event"] == "forwarder_started"}

    m = args.n - 1
    per = {pid: round((cpu1[pid] - cpu0[pid]) * 1000 / m, 2) for pid in cpu0}
    figures = {
        "instances": args.n, "workers": args.workers, "associations": args.associations,
        "pacs_max_pdu": args.pacs_max_pdu,
        "direct_per_s": round(args.n / t_direct, 1),
        "node_receive_per_s": round(m / t_recv, 1),
        "node_end_to_end_per_s": round(m / t_node, 1),
        "cpu_ms_per_instance_direct": direct_cpu,
        "cpu_ms_per_instance": {
            "storescu": round(scu_cpu * 1000 / m, 2),
            "node_main": per[node_pids[0]],
            "forwarder": round(sum(per.get(p, 0.0) for p in forwarders), 2),
            "workers_and_helpers": round(sum(per[p] for p in node_pids[1:] if p not in forwarders), 2),
            "orthanc": per[pacs.proc.pid],
        },
        "machine_busy_during_node_run": round((busy1 - busy0) / max(1, all1 - all0), 3),
    }
    figures["ratio"] = round(figures["node_end_to_end_per_s"] / figures["direct_per_s"], 3)
    figures["timeline_s"] = timeline
    return figures


if __name__ == "__main__":
    sys.exit(main())
