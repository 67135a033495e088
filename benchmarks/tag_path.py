"""Tag path latency on a 512x512 CT instance, one core.

    nice -n 10 .venv/bin/python benchmarks/tag_path.py [--runs 300] [--analyzer none|phi]

Times each step of one instance, the pixel data never decoded: dcmread from bytes,
identity.collect, TagEngine.apply, leakcheck.find_leaks, save_as to bytes. The tag path is
identity + apply + leak check (parsing and writing belong to the pipeline and are shown
apart). Prints a Markdown table (median, p95, max in ms) for docs/tags.md.
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from deid_node import identity as identity_mod  # noqa: E402
from deid_node.tags import ProfileSettings, TagEngine  # noqa: E402
from deid_node.tags.leakcheck import find_leaks  # noqa: E402

warnings.simplefilter("ignore")
KEY = bytes(range(32))


def ct_512() -> bytes:
    """CT_small (a real GE CT header, 200 elements, 160 private) with a 512x512 image."""
    path = Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm"
    ds = pydicom.dcmread(path)
    ds.Rows = ds.Columns = 512
    ds.PixelData = bytes(range(256)) * (512 * 512 * 2 // 256)
    ds.PatientName = "DOE^JOHN"
    ds.StudyDescription = "CT CHEST for DOE JOHN MRN 12345"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def load_analyzer(kind: str):
    if kind == "none":
        return None
    import dataclasses

    from deid_node.phi import PhiAnalyzer, PhiSettings
    try:
        return PhiAnalyzer.load(PhiSettings.default())
    except Exception:
        return PhiAnalyzer.load(dataclasses.replace(PhiSettings.default(), use_model=False))


def stats(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    return f"{statistics.median(ms):.2f} | {p95:.2f} | {ms[-1]:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--analyzer", choices=("none", "phi"), default="none")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})   # one core
    raw = ct_512()
    engine = TagEngine(ProfileSettings.default(), KEY, load_analyzer(args.analyzer))
    steps = ("parse", "identity", "apply", "leak check", "write")
    times: dict[str, list[float]] = {k: [] for k in steps + ("tag path", "whole path")}
    for i in range(args.runs + 20):
        t0 = time.perf_counter()
        ds = pydicom.dcmread(io.BytesIO(raw))
        t1 = time.perf_counter()
        ident = identity_mod.collect(ds)
        t2 = time.perf_counter()
        engine.apply(ds, ident)
        t3 = time.perf_counter()
        leaks = find_leaks(ds, ident)
        t4 = time.perf_counter()
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        t5 = time.perf_counter()
        assert not leaks and "PixelData" in ds
        if i >= 20:                                   # warm-up excluded
            for k, v in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                times[k].append(v)
            times["tag path"].append(t4 - t1)
            times["whole path"].append(t5 - t0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"512x512 CT, {len(raw)} bytes, {args.runs} runs, analyzer={args.analyzer}, "
          f"Python {platform.python_version()}, pydicom {pydicom.__version__}, 1 core, "
          f"load average {load:.1f} on {os.cpu_count()} CPUs")
    print("| step | median ms | p95 ms | max ms |\n|---|---|---|---|")
    names = {"identity": "identity.collect", "apply": "TagEngine.apply",
             "leak check": "leakcheck.find_leaks", "parse": "dcmread (bytes)",
             "write": "save_as (bytes)",
             "tag path": "**tag path: identity + apply + leak check**",
             "whole path": "parse + tag path + write"}
    for k, v in times.items():
        print(f"| {names[k]} | {stats(v)} |")


if __name__ == "__main__":
    main()
