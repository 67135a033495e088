"""Helpers of the tag engine tests: pydicom's test files found on disk, dciodvfy, a stub
analyzer and a CT with PHI at every depth."""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pydicom
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian


SITE = Path(pydicom.__file__).resolve().parent.parent
# Globbed, never fetched: get_testdata_files("*") tries the network for a few files.
TEST_FILE_DIRS = (SITE / "pydicom" / "data" / "test_files", SITE / "pydicom" / "data" / "charset_files",
                  SITE / "data_store" / "data")
KEY = bytes(range(32))
DCIODVFY = shutil.which("dciodvfy") or str(Path(sys.executable).parent / "dciodvfy")


def all_test_files() -> list[Path]:
    files: set[Path] = set()
    for d in TEST_FILE_DIRS:
        files.update(p for p in d.rglob("*.dcm") if p.is_file())
    return sorted(files, key=lambda p: p.name)


def find_test_file(name: str) -> Path:
    for d in TEST_FILE_DIRS:
        hits = list(d.rglob(name))
        if hits:
            return hits[0]
    raise FileNotFoundError(f"{name} not in pydicom's or pydicom-data's test files")


def read(name: str | Path) -> pydicom.Dataset:
    path = name if isinstance(name, Path) else find_test_file(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, force=True)


def to_bytes(ds: pydicom.Dataset) -> bytes:
    """Write as the lead's pipeline will: a file with meta and the declared transfer syntax."""
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        ds.file_meta = meta = pydicom.dataset.FileMetaDataset()
    ts = meta.get("TransferSyntaxUID")
    if ts is None:
        implicit, little = ds.original_encoding
        ts = ImplicitVRLittleEndian if implicit else (
            ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
        meta.TransferSyntaxUID = ts
    if "MediaStorageSOPClassUID" not in meta and "SOPClassUID" in ds:
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if "MediaStorageSOPInstanceUID" not in meta and "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ts.is_compressed or not ts.is_transfer_syntax:
            ds.save_as(buf, enforce_file_format=True)
        else:
            ds.save_as(buf, implicit_vr=ts.is_implicit_VR, little_endian=ts.is_little_endian,
                       enforce_file_format=True)
    return buf.getvalue()


_VALUE = re.compile(r"=\s*<[^>]*>|\[\d+\]")


def dciodvfy_errors(path: Path) -> set[str]:
    """dciodvfy's Error lines with values and item numbers taken out, so that a changed
    value (a mapped UID) does not count as a new error but a new kind of error does."""
    out = subprocess.run([DCIODVFY, "-new", str(path)], capture_output=True, text=True,
                         errors="replace", timeout=60)
    return {_VALUE.sub("", line).strip() for line in (out.stderr + out.stdout).splitlines()
            if line.startswith("Error")}


# ---------------------------------------------------------------------------- analyzers
class DenyListAnalyzer:
    """A test double of the PHI analyzer: finds the identity's own names and IDs, and runs of
    5+ digits, with fixed scores. Tests of the engine's mechanics use it so that they do not
    depend on the other engineer's model."""

    PLACEHOLDER = {"PERSON": "[NAME]", "ID": "[ID]", "DATE": "[DATE]"}

    def __init__(self, score: float = 0.99) -> None:
        self.score = score
        self.calls = 0

    def analyze(self, text: str, identity=None) -> list:
        from types import SimpleNamespace as Span
        self.calls += 1
        spans = []
        low = text.lower()
        terms = []
        if identity is not None:
            terms += [("PERSON", p) for p in identity.name_parts]
            terms += [("ID", i) for i in identity.ids]
        for entity, term in terms:
            start = low.find(term.lower())
            while start >= 0:
                spans.append(Span(start=start, end=start + len(term), entity=entity,
                                  score=self.score, recognizer="test"))
                start = low.find(term.lower(), start + 1)
        for m in re.finditer(r"\d{5,}", text):
            spans.append(Span(start=m.start(), end=m.end(), entity="ID", score=self.score,
                              recognizer="test"))
        return spans

    def redact(self, text: str, spans) -> str:
        out, pos = [], 0
        for s in sorted(spans, key=lambda s: (s.start, -s.end)):
            if s.start < pos:
                continue
            out += [text[pos:s.start], self.PLACEHOLDER.get(s.entity, "[PHI]")]
            pos = s.end
        out.append(text[pos:])
        return "".join(out)


def real_analyzer():
    """The PHI analyzer of deid_node/phi when it exists: with its model when the weights are
    there, else its deny-list and pattern recognisers only. None when not importable."""
    try:
        import dataclasses

        from deid_node.phi import PhiAnalyzer, PhiSettings
    except Exception:
        return None
    try:
        return PhiAnalyzer.load(PhiSettings.default())
    except Exception:
        try:
            return PhiAnalyzer.load(dataclasses.replace(PhiSettings.default(), use_model=False))
        except Exception:
            return None


# ---------------------------------------------------------------------------- datasets
PHI_NAME = "DOE^JOHN"
PHI_ID = "MRN998877"


def rich_ct() -> pydicom.Dataset:
    """CT_small plus the identifying attributes the options act on, at several depths."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = read("CT_small.dcm")
    ds.PatientName = PHI_NAME
    ds.PatientID = PHI_ID
    ds.PatientBirthDate = "19500102"
    ds.PatientAge = "095Y"
    ds.PatientSex = "M"
    ds.PatientWeight = "80"
    ds.OtherPatientIDs = "OTHER4455"
    ds.PatientAddress = "12 Elm Street^Springfield"
    ds.PatientTelephoneNumbers = "+1 555 123 4567"
    ds.ReferringPhysicianName = "HOUSE^GREGORY"
    ds.OperatorsName = "SMITH^ANNA"
    ds.InstitutionName = "St Elsewhere Hospital"
    ds.InstitutionAddress = "1 Hospital Road"
    ds.StationName = "CT01_OC0"
    ds.StationAETitle = "CTSCANNER7"
    ds.DeviceSerialNumber = "SN-42-77"
    ds.StudyDescription = "CT CHEST for DOE JOHN MRN998877"
    ds.SeriesDescription = "AXIAL 5mm"
    ds.ImageComments = "called JOHN at 5551234"
    ds.AccessionNumber = "ACC123456"
    ds.StudyDate, ds.SeriesDate, ds.ContentDate = "20200315", "20200315", "20200316"
    ds.StudyTime = "101500"
    ds.AcquisitionDateTime = "20200315101530.123456+0100"
    ds.TimezoneOffsetFromUTC = "+0100"
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = "1.2.3.4.5.6.7.8.9"
    ds.ReferencedImageSequence = Sequence([ref])
    req = Dataset()
    req.RequestedProcedureDescription = "CT chest JOHN DOE"
    req.RequestingPhysician = "WILSON^JAMES"
    req.StudyInstanceUID = ds.StudyInstanceUID
    inner = Dataset()
    inner.ScheduledPerformingPhysicianName = "CUDDY^LISA"
    inner.ScheduledProcedureStepDescription = "protocol for DOE"
    req.ScheduledProcedureStepSequence = Sequence([inner])
    ds.RequestAttributesSequence = Sequence([req])
    ds.add_new(0x60000010, "US", 4)
    ds.add_new(0x60000011, "US", 4)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60003000, "OW", b"\x00\x00")
    ds.add_new(0x60004000, "LT", "overlay by DOE")
    ds.add_new(0x50000005, "US", 1)
    block = ds.private_block(0x0029, "ACME PRIVATE 1", create=True)
    block.add_new(0x01, "LO", "DOE JOHN")
    return ds
