"""Quarantine entries for the review tests, built from a real ultrasound file of pydicom's
test data: the original, a de-identified candidate and a report whose ``pixels.boxes``
follow the pixel redactor's format (padded rectangles, decision, score, spread, ...)."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

from deid_node.pipeline import quarantine_id
from deid_node.pixels import codec
from deid_node.quarantine import Entry, Quarantine
from deid_node.sitekey import keyed_hash

# Text burned into US1_UNCR.dcm (640×480 RGB): boxes as the redactor reports them.
US_BOXES: list[dict[str, Any]] = [
    {"x0": 14, "y0": 20, "x1": 174, "y1": 44, "score": 0.94, "spread": 0.03, "ocr_confidence": 0.91,
     "decision": "phi", "why": "analyzer", "entities": ["ORGANIZATION"], "uncertainty": 0.0},
    {"x0": 274, "y0": 36, "x1": 364, "y1": 60, "score": 0.9, "spread": 0.04, "ocr_confidence": 0.88,
     "decision": "kept", "why": "no-phi-found", "entities": [], "uncertainty": 0.2},
    {"x0": 14, "y0": 40, "x1": 102, "y1": 60, "score": 0.71, "spread": 0.19, "ocr_confidence": 0.62,
     "decision": "kept", "why": "no-phi-found", "entities": [], "uncertainty": 0.72},
    {"x0": 394, "y0": 452, "x1": 624, "y1": 476, "score": 0.92, "spread": 0.02, "ocr_confidence": 0.9,
     "decision": "kept", "why": "no-phi-found", "entities": [], "uncertainty": 0.1},
    {"x0": 524, "y0": 52, "x1": 628, "y1": 76, "score": 0.42, "spread": 0.2, "ocr_confidence": 0.2,
     "decision": "uncertain", "why": "ambiguous-unreadable", "entities": [], "uncertainty": 0.0},
]
US_TEXTS = ["BAPTIST MED CTR", "+2:09:04", "630P630", "TIS<0.4 MI=0.8 AO=100%", "CINE 0118"]
KEPT_UNSURE = 2          # the box the admin should blank ("630P630", kept with uncertainty 0.72)
DRAWN = {"x0": 16, "y0": 76, "x1": 100, "y1": 108}   # "44CG43" / "IM#2": missed by the detector


def _deidentify_header(ds: Dataset) -> None:
    """A stand-in for the tag stage: new UIDs, identifying values removed."""
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientName, ds.PatientID, ds.StudyID = "ANON^REVIEW", "PSEUDO0001", ""
    for kw in ("InstitutionName", "StationName", "DeviceSerialNumber", "InstanceCreatorUID",
               "StudyDate", "StudyTime", "InstanceCreationDate", "InstanceCreationTime",
               "ImageComments", "TimezoneOffsetFromUTC"):
        if kw in ds:
            del ds[kw]
    ds.PatientIdentityRemoved = "YES"
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "113100", "DCM", \
        "Basic Application Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = DicomSequence([item])


def us_entry(q: Quarantine, key: bytes, boxes: list[dict[str, Any]] | None = None,
             path: str = "US1_UNCR.dcm", texts: list[str] | None = None) -> Entry:
    """File an instance held by the pixel stage ('pixels-uncertain'); by default the
    ultrasound image with the boxes above."""
    raw = Path(get_testdata_file(path)).read_bytes()
    boxes = [dict(b, frames=b.get("frames", [0]), seen_in=[0]) for b in
             (US_BOXES if boxes is None else boxes)]
    texts = US_TEXTS if texts is None else texts
    ds = pydicom.dcmread(io.BytesIO(raw))
    dec = codec.decode(ds)
    n = dec.n_frames
    codec.blank(ds, dec, [(b["x0"], b["y0"], b["x1"], b["y1"],
                           range(n) if b["frames"] == "all" else b["frames"]) for b in boxes
                          if b["decision"] in ("phi", "uncertain", "region")])
    codec.encode(ds, dec)
    _deidentify_header(ds)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    report = {"stage": "pixels", "reason": "pixels-uncertain", "holds": [["pixels", "pixels-uncertain"]],
              "pixels": {"action": "scan", "scanned": True, "boxes": boxes, "uncertainty": 0.72,
                         "quarantine_reason": "pixels-uncertain", "frames": n, "frames_scanned": [0],
                         "method_codes": [], "rule": "modality-us",
                         "box_texts": texts[:len(boxes)]},
              "tags": {"uncertainty": 0.0}}
    orig = pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True)
    meta = {"modality": str(ds.get("Modality", "")) or None, "sop_class": str(ds.SOPClassUID), "study_uid": str(ds.StudyInstanceUID),
            "series_uid": str(ds.SeriesInstanceUID), "sop_uid": str(ds.SOPInstanceUID),
            "uncertainty": 0.0,
            "original_ref": keyed_hash(key, str(orig.SOPInstanceUID), purpose="audit")}
    return q.add(quarantine_id(key, raw), original=raw, candidate=buf.getvalue(), report=report,
                 stage="pixels", reason="pixels-uncertain", meta=meta)
