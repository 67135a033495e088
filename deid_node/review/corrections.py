"""Box-level corrections of the pixel redactor's work, and the re-rendered candidate.

An admin marks a box to blank or to keep, or draws a box the detector missed. The
corrections live beside the instance (``quarantine/<id>/corrections.json``: coordinates
and labels, no text) and are exported as labelled data for retraining the detector.

Re-rendering never edits the candidate's pixels: it blanks the *original* pixels again with
every box that must be blank (the redactor's phi/uncertain/region boxes unless marked keep,
every box marked blank, every drawn box) and puts them under the candidate's header, which
is the tag stage's output. A rule region can not be kept: it is site policy.
"""
from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from deid_node.node.spool import durable_write
from deid_node.quarantine import Quarantine, QuarantineError

BLANKED_BY_REDACTOR = ("phi", "uncertain", "region")
ACTIONS = ("blank", "keep")
FILE = "corrections.json"
_PIXEL_KEYWORDS = ("PixelData", "PhotometricInterpretation", "PlanarConfiguration",
                   "ExtendedOffsetTable", "ExtendedOffsetTableLengths", "LossyImageCompression",
                   "LossyImageCompressionRatio", "LossyImageCompressionMethod")
CLEAN_PIXEL_DATA = "113101"


class CorrectionError(ValueError):
    """Corrections cannot be stored or applied; the message says what to do."""


@dataclass(frozen=True)
class Geometry:
    rows: int
    columns: int
    frames: int


def boxes_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    return list(((report or {}).get("pixels") or {}).get("boxes") or [])


def load(q: Quarantine, entry_id: str) -> dict[str, Any]:
    path = q.folder(entry_id) / FILE
    if not path.exists():
        return {"boxes": {}, "added": []}
    return json.loads(path.read_text(encoding="utf-8"))


def has_any(corr: dict[str, Any]) -> bool:
    return bool(corr.get("boxes") or corr.get("added"))


def validate(raw: dict[str, Any], report: dict[str, Any], geo: Geometry) -> dict[str, Any]:
    """Check corrections sent by the console: indexes exist, rectangles lie on the image."""
    boxes = boxes_of(report)
    out_boxes: dict[str, str] = {}
    for key, action in (raw.get("boxes") or {}).items():
        try:
            i = int(key)
        except (TypeError, ValueError):
            raise CorrectionError(f"box index {key!r} is not a number") from None
        if not 0 <= i < len(boxes):
            raise CorrectionError(f"box {i} does not exist (the report has {len(boxes)} boxes)")
        if action not in ACTIONS:
            raise CorrectionError(f"box {i}: action must be one of {', '.join(ACTIONS)}")
        if action == "keep" and boxes[i].get("decision") == "region":
            raise CorrectionError(f"box {i} is a rule region (site policy) and is always blanked")
        out_boxes[str(i)] = action
    added = []
    for j, b in enumerate(raw.get("added") or []):
        try:
            x0, y0, x1, y1 = (int(round(float(b[k]))) for k in ("x0", "y0", "x1", "y1"))
        except (KeyError, TypeError, ValueError):
            raise CorrectionError(f"drawn box {j}: needs numeric x0, y0, x1, y1") from None
        x0, x1 = sorted((max(0, min(geo.columns, x0)), max(0, min(geo.columns, x1))))
        y0, y1 = sorted((max(0, min(geo.rows, y0)), max(0, min(geo.rows, y1))))
        if x1 - x0 < 2 or y1 - y0 < 2:
            raise CorrectionError(f"drawn box {j} is smaller than 2×2 pixels on the image")
        frames = b.get("frames", "all")
        if frames != "all":
            if not isinstance(frames, list) or not all(isinstance(f, int) and 0 <= f < geo.frames
                                                       for f in frames):
                raise CorrectionError(f"drawn box {j}: frames must be 'all' or frame numbers "
                                      f"0-{geo.frames - 1}")
        added.append({"x0": x0, "y0": y0, "x1": x1, "y1": y1, "frames": frames})
    return {"boxes": out_boxes, "added": added}


def save(q: Quarantine, entry_id: str, corr: dict[str, Any], actor: str) -> dict[str, Any]:
    data = {"version": 1, "by": actor, "at": time.time(), "boxes": corr.get("boxes") or {},
            "added": corr.get("added") or []}
    durable_write(q.folder(entry_id), FILE, json.dumps(data, indent=2, sort_keys=True).encode())
    return data


def final_decisions(report: dict[str, Any], corr: dict[str, Any]) -> list[dict[str, Any]]:
    """Every box with what will happen to it: ``blank`` True/False and where that came from."""
    out = []
    for i, b in enumerate(boxes_of(report)):
        model_blank = b.get("decision") in BLANKED_BY_REDACTOR
        action = (corr.get("boxes") or {}).get(str(i))
        blank = model_blank if action is None else action == "blank"
        if b.get("decision") == "region":
            blank = True
        out.append({**b, "index": i, "blank": blank, "admin": action, "source": "detector"})
    for j, b in enumerate(corr.get("added") or []):
        out.append({"score": None, "spread": None, "ocr_confidence": None, "uncertainty": None,
                    **b, "index": f"a{j}", "blank": True, "admin": "blank", "decision": "drawn",
                    "source": "admin-drawn"})
    return out


def _frames(spec: Any, n: int) -> Iterable[int]:
    if spec == "all" or spec is None:
        return range(n)
    return [f for f in spec if isinstance(f, int) and 0 <= f < n]


def geometry(ds: Dataset) -> Geometry:
    return Geometry(int(ds.Rows), int(ds.Columns), int(ds.get("NumberOfFrames", 1) or 1))


def re_render(original: bytes, candidate: bytes, report: dict[str, Any],
              corr: dict[str, Any]) -> bytes:
    """The candidate's header over the original pixels blanked with the corrected boxes."""
    from deid_node.pixels import codec
    orig = pydicom.dcmread(io.BytesIO(original))
    cand = pydicom.dcmread(io.BytesIO(candidate))
    go, gc = geometry(orig), geometry(cand)
    if go != gc or int(orig.get("SamplesPerPixel", 1)) != int(cand.get("SamplesPerPixel", 1)):
        raise CorrectionError("the candidate's image does not have the original's size; "
                              "reprocess the instance instead of correcting it")
    rects = [(int(b["x0"]), int(b["y0"]), int(b["x1"]), int(b["y1"]), _frames(b.get("frames"), go.frames))
             for b in final_decisions(report, corr) if b["blank"]]
    try:
        dec = codec.decode(orig)
        if rects:
            codec.blank(orig, dec, rects)
            codec.encode(orig, dec)
    except codec.CodecError as exc:
        raise CorrectionError(f"the original's pixels could not be re-redacted: {exc}; "
                              "reject the instance or reprocess it") from exc
    for kw in _PIXEL_KEYWORDS:
        if kw in cand:
            del cand[kw]
        if kw in orig:
            cand[kw] = orig[kw]
    cand.file_meta.TransferSyntaxUID = orig.file_meta.TransferSyntaxUID
    _mark_clean_pixels(cand)
    buf = io.BytesIO()
    cand.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _mark_clean_pixels(ds: Dataset) -> None:
    """Add the Clean Pixel Data option code (PS3.16 CID 7050) the tag stage left out."""
    seq = ds.get("DeidentificationMethodCodeSequence")
    if seq is None:
        return
    if any(str(item.get("CodeValue", "")) == CLEAN_PIXEL_DATA for item in seq):
        return
    item = Dataset()
    item.CodeValue = CLEAN_PIXEL_DATA
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = "Clean Pixel Data Option"
    ds.DeidentificationMethodCodeSequence = DicomSequence([*seq, item])


def leaks(data: bytes, original: bytes, ours: Iterable[str] = ()) -> list[str]:
    """Where the released bytes would still hold the instance's own identifiers (no values);
    ``ours``: the values the tag stage writes (find_leaks)."""
    from deid_node import identity
    from deid_node.tags.leakcheck import find_leaks
    ident = identity.collect(pydicom.dcmread(io.BytesIO(original), stop_before_pixels=True))
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    return [f"{leak.path} ({leak.kind})" for leak in find_leaks(ds, ident, ours=ours)]


def export(q: Quarantine, out: Path, images: bool = False) -> tuple[int, int]:
    """Write ``corrections.jsonl`` (labels, no text, no PHI) and, with ``images``, the
    original frames as PNG (PHI: for training on the site only). Returns (entries, boxes)."""
    from deid_node.pixels.render import frame_rgb
    from PIL import Image
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)
    n_entries = n_boxes = 0
    lines = []
    for entry in q.list(None):
        corr = load(q, entry.id)
        if not has_any(corr):
            continue
        report = q.report(entry.id)
        rows = []
        for b in final_decisions(report, corr):
            rows.append({"x0": b["x0"], "y0": b["y0"], "x1": b["x1"], "y1": b["y1"],
                         "frames": b.get("frames", "all"), "source": b["source"],
                         "model_decision": b.get("decision"), "score": b.get("score"),
                         "spread": b.get("spread"), "admin": b.get("admin"),
                         "label": "phi" if b["blank"] else "not-phi"})
        record = {"qid": entry.id, "state": entry.state, "modality": entry.modality,
                  "sop_class": entry.sop_class, "new_sop_uid": entry.sop_uid,
                  "corrected_by": corr.get("by"), "corrected_at": corr.get("at"), "boxes": rows}
        if images:
            try:
                ds = pydicom.dcmread(io.BytesIO(q.original(entry.id)))
                frame = next((int(f[0]) for b in rows if isinstance(f := b["frames"], list) and f), 0)
                name = f"{entry.id}-f{frame}.png"
                buf = io.BytesIO()
                Image.fromarray(frame_rgb(ds, frame)).save(buf, format="PNG")
                durable_write(out, name, buf.getvalue())
                record["image"], record["image_frame"] = name, frame
            except (QuarantineError, Exception) as exc:  # noqa: BLE001 - labels still useful
                record["image_error"] = type(exc).__name__
        lines.append(json.dumps(record, sort_keys=True))
        n_entries += 1
        n_boxes += len(rows)
    durable_write(out, "corrections.jsonl", ("\n".join(lines) + ("\n" if lines else "")).encode())
    return n_entries, n_boxes
