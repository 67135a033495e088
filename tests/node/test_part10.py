"""Part 10 file meta as the receiver writes it and the forwarder reads it."""
from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.filereader import read_preamble
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, JPEGBaseline8Bit
from pynetdicom.dsutils import create_file_meta, encode_file_meta

from deid_node.node.part10 import Part10, file_meta
from deid_node.synth.dicom import ct_series


@pytest.fixture(scope="module")
def instances() -> list[bytes]:
    out = []
    for ds in ct_series(2, seed=7, size=64)[0]:
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append(buf.getvalue())
    return out


@pytest.mark.parametrize("sop_instance, syntax", [
    ("1.2.3.4", ExplicitVRLittleEndian),        # even UIDs
    ("1.2.3.45", JPEGBaseline8Bit),             # odd UID: padded with NUL
])
def test_file_meta_is_what_pynetdicom_writes(sop_instance: str, syntax: str) -> None:
    expected = encode_file_meta(create_file_meta(sop_class_uid=CTImageStorage, sop_instance_uid=sop_instance,
                                                 transfer_syntax=syntax))
    assert file_meta(CTImageStorage, sop_instance, syntax) == b"\0" * 128 + b"DICM" + expected


def test_file_meta_reads_back(instances: list[bytes]) -> None:
    body = bytes(Part10.parse(instances[0]).dataset)
    raw = file_meta(CTImageStorage, "1.2.3.45", ExplicitVRLittleEndian) + body
    ds = pydicom.dcmread(io.BytesIO(raw))
    assert ds.file_meta.MediaStorageSOPInstanceUID == "1.2.3.45"
    assert ds.PatientName == pydicom.dcmread(io.BytesIO(instances[0])).PatientName
    item = Part10.parse(raw)
    assert (item.sop_class, item.sop_instance, item.transfer_syntax) == (CTImageStorage, "1.2.3.45",
                                                                         ExplicitVRLittleEndian)


def test_split_matches_pydicom(instances: list[bytes]) -> None:
    raw = instances[0]
    item = Part10.parse(raw)
    ds = pydicom.dcmread(io.BytesIO(raw))
    assert (item.sop_class, item.sop_instance) == (ds.SOPClassUID, ds.SOPInstanceUID)
    assert item.transfer_syntax == ds.file_meta.TransferSyntaxUID
    fp = io.BytesIO(raw)
    read_preamble(fp, False)
    pydicom.filereader._read_file_meta_info(fp)
    assert bytes(item.dataset) == raw[fp.tell():]


@pytest.mark.parametrize("raw, message", [
    (b"\0" * 200, "not a DICOM Part 10 file"),
    (b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x14\x001.2.840.10008.1.2.1\0", "MediaStorageSOPClassUID"),
])
def test_parse_rejects_what_cannot_be_sent(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Part10.parse(raw)
