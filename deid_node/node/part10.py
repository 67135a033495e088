"""DICOM Part 10 files (PS3.10 7.1) as the node receives and sends them: the file meta
group written and read without building pydicom datasets.

Receiving and forwarding never look inside the dataset, only at the three UIDs of the meta
group. pydicom's file meta path (a FileMetaDataset, its validation and writer) cost about
0.2 ms per instance on the receiver's thread, where a modality waits for every answer.
"""
from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass

from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

PREAMBLE = b"\0" * 128 + b"DICM"
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}


def file_meta(sop_class: str, sop_instance: str, transfer_syntax: str) -> bytes:
    """Preamble, prefix and file meta group for a dataset received or sent as-is; the same
    elements pynetdicom writes for a received C-STORE (its implementation UID and name)."""
    body = b"".join((
        _long(0x0001, b"OB", b"\0\1"),
        _short(0x0002, b"UI", _padded(sop_class, b"\0")),
        _short(0x0003, b"UI", _padded(sop_instance, b"\0")),
        _short(0x0010, b"UI", _padded(transfer_syntax, b"\0")),
        _short(0x0012, b"UI", _padded(PYNETDICOM_IMPLEMENTATION_UID, b"\0")),
        _short(0x0013, b"SH", _padded(PYNETDICOM_IMPLEMENTATION_VERSION, b" ")),
    ))
    return PREAMBLE + _short(0x0000, b"UL", struct.pack("<I", len(body))) + body


def _short(element: int, vr: bytes, value: bytes) -> bytes:
    return struct.pack("<HH2sH", 0x0002, element, vr, len(value)) + value


def _long(element: int, vr: bytes, value: bytes) -> bytes:
    return struct.pack("<HH2sHI", 0x0002, element, vr, 0, len(value)) + value


def _padded(text: str, pad: bytes) -> bytes:
    raw = text.encode("ascii")
    return raw + pad if len(raw) % 2 else raw


@dataclass(frozen=True)
class Part10:
    """A DICOM file split into what C-STORE needs: its identity and its encoded dataset."""

    sop_class: str
    sop_instance: str
    transfer_syntax: str
    dataset: memoryview

    @classmethod
    def parse(cls, data: bytes | mmap.mmap) -> "Part10":
        """Read the file meta group (PS3.10 7.1) of a file held in memory or mapped; the
        dataset is a view of *data*, not a copy."""
        if data[128:132] != b"DICM":
            raise ValueError("not a DICOM Part 10 file (no 'DICM' after the preamble)")
        meta: dict[int, str] = {}
        pos = 132
        while pos + 8 <= len(data):
            group, element = struct.unpack_from("<HH", data, pos)
            if group != 0x0002:
                break
            vr = bytes(data[pos + 4:pos + 6])
            if vr in _LONG_VRS:
                (length,) = struct.unpack_from("<I", data, pos + 8)
                start = pos + 12
            else:
                (length,) = struct.unpack_from("<H", data, pos + 6)
                start = pos + 8
            if vr == b"UI":
                meta[element] = bytes(data[start:start + length]).rstrip(b"\0 ").decode("ascii")
            pos = start + length
        missing = [name for name, el in (("MediaStorageSOPClassUID", 0x0002), ("MediaStorageSOPInstanceUID", 0x0003),
                                         ("TransferSyntaxUID", 0x0010)) if not meta.get(el)]
        if missing or pos > len(data):
            raise ValueError(f"DICOM file meta is incomplete (missing {', '.join(missing) or 'its end'})")
        return cls(meta[0x0002], meta[0x0003], meta[0x0010], memoryview(data)[pos:])


