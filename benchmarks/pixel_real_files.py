"""Before/after PNGs of pydicom's real ultrasound files through the pixel stage.

Before: the original frame with the boxes the stage found (red: PHI, orange: unreadable or
ambiguous → blanked, green: kept). After: the written-back instance, re-read from bytes.
In both, cyan marks words whose unused high bits hold something (an overlay drawn there).
PNGs go to docs/img/pixels/ (or ``--png-dir``); a JSON summary (no OCR text) is printed.
``--extra`` adds other files (PNGs for each, at most 768 px on the long side): the
DICOM test files of Microsoft Presidio's image redactor, with pseudo-PHI burned into a
chest radiograph, a CT localizer and a PET/CT fusion, are not shipped here (docs/pixels.md,
*Real files*).

    .venv/bin/python benchmarks/pixel_real_files.py
    .venv/bin/python benchmarks/pixel_real_files.py --png-dir var/eval/png   # a trial run
    .venv/bin/python benchmarks/pixel_real_files.py --png-dir var/eval/png --extra F.dcm ...
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.simplefilter("ignore")

import pydicom  # noqa: E402

from deid_node.identity import collect  # noqa: E402

FILES = [("gdcm-US-ALOKA-16.dcm", 0), ("gdcm-US-ALOKA-16_big.dcm", 0), ("US1_UNCR.dcm", 0),
         ("US1_J2KR.dcm", 0), ("OBXXXX1A.dcm", 0), ("OBXXXX1A_2frame.dcm", 0),
         ("examples_palette.dcm", 0), ("color3d_jpeg_baseline.dcm", 0),
         ("examples_ybr_color.dcm", 0), ("JPGLosslessP14SV1_1s_1f_8b.dcm", 0),
         ("examples_rgb_color.dcm", 0)]
PNG_FILES = {"gdcm-US-ALOKA-16.dcm", "US1_UNCR.dcm", "OBXXXX1A.dcm", "examples_palette.dcm",
             "color3d_jpeg_baseline.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--png-dir", type=Path, default=ROOT / "docs" / "img" / "pixels")
    ap.add_argument("--extra", type=Path, nargs="*", default=[],
                    help="more DICOM files to run (a PNG pair for each)")
    ap.add_argument("--only-extra", action="store_true", help="skip pydicom's files")
    args = ap.parse_args(argv)
    from pydicom.data import get_testdata_file

    from deid_node.pixels.evaluate import load_analyzer
    from deid_node.pixels import PixelRedactor, PixelSettings
    from deid_node.pixels.render import render_png
    red = PixelRedactor.load(PixelSettings.default(), load_analyzer()[0])
    outdir = args.png_dir
    outdir.mkdir(parents=True, exist_ok=True)
    summary = []
    runs = [] if args.only_extra else [(Path(get_testdata_file(n)), f, n in PNG_FILES, False)
                                       for n, f in FILES]
    runs += [(p, 0, True, True) for p in args.extra]
    for path, frame, png, shrink in runs:
        name = path.name
        original = pydicom.dcmread(path)
        ds = pydicom.dcmread(path)
        t0 = time.perf_counter()
        res = red.process(ds, collect(ds))
        ms = (time.perf_counter() - t0) * 1000
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        after = pydicom.dcmread(io.BytesIO(buf.getvalue()))
        stem = name.removesuffix(".dcm")
        if png:
            for png_path in (render_png(original, res.boxes, outdir / f"{stem}_before.png",
                                        frame, show_unused_bits=True),
                             render_png(after, [], outdir / f"{stem}_after.png", frame,
                                        show_unused_bits=True)):
                if shrink:
                    _fit(png_path, 768)
        summary.append({"file": name, "frames": res.frames, "ms": round(ms),
                        "decisions": dict(Counter(b["decision"] for b in res.boxes)),
                        "uncertainty": res.uncertainty, "quarantine": res.quarantine_reason,
                        "transfer_syntax_in": str(original.file_meta.TransferSyntaxUID.name),
                        "transfer_syntax_out": str(after.file_meta.TransferSyntaxUID.name),
                        "photometric_out": str(after.PhotometricInterpretation),
                        "burned_in_annotation": str(after.get("BurnedInAnnotation", "")),
                        "method_codes": res.method_codes})
        print(json.dumps(summary[-1]), flush=True)
    return 0


def _fit(path: Path, side: int) -> None:
    """Shrink a PNG to at most ``side`` pixels on its long side (a radiograph's full size
    is megabytes of PNG)."""
    from PIL import Image
    with Image.open(path) as im:
        if max(im.size) <= side:
            return
        im.thumbnail((side, side), Image.LANCZOS)
        im.save(path)


if __name__ == "__main__":
    raise SystemExit(main())
