"""Speed of the pixel stage on this machine: 640×480 frames with and without text, a
120-frame ultrasound cine (pydicom's color3d_jpeg_baseline) and 2140×1760 12-bit
radiographs with ten text boxes (no budget in the issue; a chest CR's size), through
PixelRedactor.process (decode + detect with MC dropout + OCR + analyzer + blank + lossless
encode).

    .venv/bin/python benchmarks/pixel_speed.py [--repeat 15] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.simplefilter("ignore")

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, generate_uid  # noqa: E402

from deid_node.identity import collect  # noqa: E402
from deid_node.synth import burned  # noqa: E402


def us_dataset(img: np.ndarray) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "US"
    ds.PatientName, ds.PatientID = "DOE^JOHN", "PID4471923"
    ds.Rows, ds.Columns = img.shape[:2]
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.PhotometricInterpretation = "RGB"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = img.tobytes()
    return ds


def cr_dataset(img: np.ndarray) -> Dataset:
    """A 12-bit MONOCHROME2 computed radiograph of an RGB image's luminance."""
    ds = us_dataset(img)
    ds.SOPClassUID, ds.Modality = "1.2.840.10008.5.1.4.1.1.1", "CR"
    grey = (img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)) * (4095 / 255)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    del ds.PlanarConfiguration
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelData = np.round(grey).astype(np.uint16).tobytes()
    return ds


def cpu_model() -> str:
    """The processor's model name and the cores this process may use."""
    name = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {len(os.sched_getaffinity(0))} cores"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cine-repeat", type=int, default=3)
    ap.add_argument("--radiographs", type=int, default=3)
    args = ap.parse_args()
    import dataclasses

    from deid_node.pixels.evaluate import load_analyzer
    from deid_node.pixels import PixelRedactor, PixelSettings
    settings = dataclasses.replace(PixelSettings.default(), threads=args.threads)
    analyzer, desc = load_analyzer()
    print('analyzer:', desc, file=sys.stderr)
    red = PixelRedactor.load(settings, analyzer)
    # the host's processor: the same script gave figures ~2.7x apart on two hosts
    out: dict[str, object] = {"threads": args.threads, "cpu": cpu_model()}
    for label, n_text in (("no_text", (0, 0)), ("ten_boxes", (10, 10))):
        times, stages, nboxes = [], [], []
        for i in range(args.repeat + 1):
            s = burned.generate(4242 + i, "heldout", 480, 640, n_text=n_text, background="us")
            ds = us_dataset(s.image)
            t0 = time.perf_counter()
            res = red.process(ds, collect(ds))
            dt = (time.perf_counter() - t0) * 1000
            if i == 0:
                continue  # warm-up
            times.append(dt)
            stages.append(res.timings_ms)
            nboxes.append(len(s.boxes))
        out[label] = {"median_ms": round(statistics.median(times), 1),
                      "p90_ms": round(sorted(times)[int(0.9 * (len(times) - 1))], 1),
                      "text_boxes_drawn_mean": round(float(np.mean(nboxes)), 1),
                      "median_stage_ms": {k: round(statistics.median(st.get(k, 0) for st in stages), 1)
                                          for k in stages[0]}}
    from pydicom.data import get_testdata_file
    path = get_testdata_file("color3d_jpeg_baseline.dcm")
    cine = []
    for _ in range(args.cine_repeat):
        ds = pydicom.dcmread(path)
        t0 = time.perf_counter()
        res = red.process(ds, collect(ds))
        cine.append((time.perf_counter() - t0) * 1000)
    out["cine_120_frames"] = {"median_ms": round(statistics.median(cine), 1),
                              "stage_ms": res.timings_ms, "boxes": len(res.boxes),
                              "frames_scanned": res.frames_scanned,
                              "transfer_syntax_out": res.transfer_syntax}
    large = []
    for i in range(args.radiographs):
        s = burned.generate(4300 + i, "heldout", 1760, 2140, n_text=(10, 10), background="xray")
        ds = cr_dataset(s.image)
        t0 = time.perf_counter()
        res = red.process(ds, collect(ds))
        large.append({"ms": round((time.perf_counter() - t0) * 1000), "stage_ms": res.timings_ms,
                      "boxes": len(res.boxes)})
    if large:
        out["radiograph_2140x1760"] = {
            "median_ms": round(statistics.median(r["ms"] for r in large), 1), "runs": large}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
