"""Presidio's DicomImageRedactorEngine (Tesseract) on the same images as our pixel stage.

Runs in its own virtual environment, because Presidio is not a dependency of the node:

    apt-get install -y tesseract-ocr
    python3 -m venv var/presidio-venv && var/presidio-venv/bin/pip install presidio-image-redactor
    var/presidio-venv/bin/python benchmarks/pixel_presidio.py --n 40 --seed 9000 --out var/eval/presidio.json
    .venv/bin/python benchmarks/pixel_compare.py --n 40 --seed 9000 --out var/eval/ours_same.json

Presidio's analyzer normally uses spaCy's en_core_web_lg, which cannot be downloaded here:
it runs with a blank English spaCy pipeline (no NER), plus its pattern recognisers and
``use_metadata=True`` (the instance's own header values as a deny-list), the same identity
our stage gets. Its person-name recall is therefore limited to names in the header.
Images: the held-out synthetic set (same seeds as pixel_compare.py), wrapped as RGB US
instances whose header carries the sample's identity. A PHI box counts as caught when
Presidio's boxes cover ≥ 95% of its area.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.simplefilter("ignore")

import numpy as np  # noqa: E402
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, generate_uid  # noqa: E402

from deid_node.synth import burned  # noqa: E402  (numpy + PIL only)


def as_dicom(s: burned.Sample) -> FileDataset:
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = FileDataset("synthetic.dcm", Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ident = s.identity
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.PatientName = ident.names[0]
    ds.PatientID, ds.AccessionNumber = ident.ids[0], ident.ids[1]
    ds.PatientBirthDate, ds.StudyDate = ident.birth_dates[0], ident.event_dates[0]
    ds.InstitutionName = ident.institutions[0]
    img = s.image
    ds.Rows, ds.Columns = img.shape[:2]
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.PhotometricInterpretation = "RGB"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.ascontiguousarray(img).tobytes()
    return ds


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=9000)
    ap.add_argument("--out", type=Path, default=ROOT / "var/eval/presidio.json")
    args = ap.parse_args()
    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_image_redactor import DicomImageRedactorEngine, ImageAnalyzerEngine

    model_dir = Path(tempfile.mkdtemp()) / "blank_en"
    spacy.blank("en").to_disk(model_dir)
    nlp = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": str(model_dir)}]
    }).create_engine()
    engine = DicomImageRedactorEngine(image_analyzer_engine=ImageAnalyzerEngine(
        analyzer_engine=AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])))
    rows = []
    for i in range(args.n):
        s = burned.generate(args.seed + i, "heldout")
        ds = as_dicom(s)
        t0 = time.perf_counter()
        _, bboxes = engine.redact_and_return_bbox(ds, use_metadata=True)
        ms = (time.perf_counter() - t0) * 1000
        h, w = s.image.shape[:2]
        mask = np.zeros((h, w), bool)
        for b in bboxes:
            x0, y0 = max(0, int(b["left"])), max(0, int(b["top"]))
            mask[y0:y0 + int(b["height"]), x0:x0 + int(b["width"])] = True
        phi = [g for g in s.boxes if g["phi"]]
        non = [g for g in s.boxes if not g["phi"]]
        cov = lambda g: float(mask[g["y0"]:g["y1"], g["x0"]:g["x1"]].mean())  # noqa: E731
        rows.append({"ms": round(ms, 1), "n_phi": len(phi),
                     "phi_caught": sum(cov(g) >= 0.95 for g in phi),
                     "n_non": len(non), "non_kept": sum(cov(g) < 0.5 for g in non)})
        print(i, rows[-1], flush=True)
    n_phi = sum(r["n_phi"] for r in rows)
    n_non = sum(r["n_non"] for r in rows)
    summary = {"tool": "presidio-image-redactor DicomImageRedactorEngine + Tesseract 5.3.0 "
                       "(blank spaCy en, use_metadata=True)",
               "images": len(rows), "phi_boxes": n_phi,
               "phi_box_recall": round(sum(r["phi_caught"] for r in rows) / max(1, n_phi), 4),
               "non_phi_kept": round(sum(r["non_kept"] for r in rows) / max(1, n_non), 4),
               "median_ms_per_image": round(statistics.median(r["ms"] for r in rows), 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
