"""Decode pixel data of every image kind, blank rectangles, write it back losslessly.

Rules (the issue's §5):
* Pixels outside the blanked rectangles stay bit-identical to the decoded input.
* Lossless compressed input goes back in its own transfer syntax where an encoder exists
  (RLE, JPEG 2000 lossless); otherwise (JPEG lossless process 14, JPEG-LS without pyjpegls)
  RLE Lossless. Lossy input (JPEG baseline/extended, JPEG 2000, JPEG-LS near-lossless) is
  never lossy-compressed again: it goes out RLE Lossless and keeps LossyImageCompression=01.
* Colour that a JPEG decoder converts (YBR_FULL_422/YBR_FULL JPEG, YBR_RCT/YBR_ICT
  JPEG 2000) is written back as RGB, because those are the values the decoder gave.
* Big-endian input is written as Explicit VR Little Endian (other OW/OF/OL/OD values are
  byte-swapped so the LUTs stay right).
Anything outside this (float pixel data, unknown photometric) raises :class:`CodecError`
with a message the quarantine report can show.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import (UID, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian,
                         ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEG2000Lossless,
                         RLELossless)

NATIVE = {ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian,
          ExplicitVRBigEndian}
SUPPORTED_PHOTOMETRIC = ("MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422",
                         "PALETTE COLOR", "YBR_RCT", "YBR_ICT")
# JPEG baseline/extended, JPEG-LS near-lossless, JPEG 2000 (lossy allowed), HTJ2K lossy,
# MPEG/HEVC video: decoding them is fine, compressing them again lossy is not.
LOSSY_SYNTAXES = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81",
                  "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.203", "1.2.840.10008.1.2.4.93",
                  "1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.101", "1.2.840.10008.1.2.4.102",
                  "1.2.840.10008.1.2.4.103", "1.2.840.10008.1.2.4.104", "1.2.840.10008.1.2.4.105",
                  "1.2.840.10008.1.2.4.106", "1.2.840.10008.1.2.4.107", "1.2.840.10008.1.2.4.108"}
_LOSSLESS_REENCODE = {RLELossless: RLELossless, JPEG2000Lossless: JPEG2000Lossless}
# JPEG processes dcmtk's dcmdjpeg (the IJG library, 8, 12 and 16 bits) decodes when
# pydicom's plugins refuse the stream (see _decode_with_dcmtk)
DCMTK_JPEG = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.53",
              "1.2.840.10008.1.2.4.55", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"}
DCMTK_TIMEOUT_S = 300


class CodecError(RuntimeError):
    """The pixel data cannot be decoded, blanked or written back safely."""


@dataclass
class Decoded:
    """Frames as an array (F, H, W) or (F, H, W, 3), plus how to write them back."""

    frames: np.ndarray
    photometric: str           # photometric of ``frames`` (RGB after a colour-converting decode)
    source_syntax: UID
    lossy_source: bool
    # pixel words whose bits above Bits Stored held something other than the value's sign
    # (an overlay drawn into the high bits); ``frames`` holds them cleared (_clear_unused_bits)
    unused_bits: int = 0

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def is_colour(self) -> bool:
        return self.frames.ndim == 4


def transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        raise CodecError("no TransferSyntaxUID in the file meta; the instance cannot be decoded")
    return UID(meta.TransferSyntaxUID)


def is_lossy(ds: Dataset, ts: UID) -> bool:
    if str(ds.get("LossyImageCompression", "")).strip() == "01":
        return True
    return ts in LOSSY_SYNTAXES


def check_supported(ds: Dataset) -> None:
    """Header-only check of what :func:`decode` will refuse; raises :class:`CodecError`."""
    if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        raise CodecError("float pixel data is not supported by the pixel redactor")
    if "PixelData" not in ds:
        raise CodecError("no PixelData element")
    pi = str(ds.get("PhotometricInterpretation", "")).strip()
    if pi not in SUPPORTED_PHOTOMETRIC:
        raise CodecError(f"photometric interpretation {pi or '(missing)'!r} is not supported; "
                         "supported: " + ", ".join(SUPPORTED_PHOTOMETRIC))
    if int(ds.get("BitsAllocated", 0)) not in (1, 8, 16, 32):
        raise CodecError(f"BitsAllocated {ds.get('BitsAllocated')} is not supported")
    if int(ds.get("BitsAllocated", 0)) == 1:
        raise CodecError("1-bit pixel data is not supported by the pixel redactor")


def decode(ds: Dataset) -> Decoded:
    """Decode all frames. Native YBR stays YBR (no colour conversion, so nothing else moves)."""
    check_supported(ds)
    ts = transfer_syntax(ds)
    pi = str(ds.PhotometricInterpretation).strip()
    fast = _decode_jpeg_pil(ds, ts, pi)
    try:
        if fast is not None:
            arr, out_pi = fast
        elif ts.is_compressed:
            # JPEG decoders hand back RGB for YBR JPEG; JPEG 2000 applies its inverse MCT.
            # The words as stored: _clear_unused_bits counts what the high bits held.
            ds.pixel_array_options(correct_unused_bits=False)
            arr = ds.pixel_array
            out_pi = "RGB" if pi in ("YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT") else pi
        else:
            ds.pixel_array_options(as_rgb=False, correct_unused_bits=False)
            arr = ds.pixel_array
            out_pi = "YBR_FULL" if pi == "YBR_FULL_422" else pi
    except Exception as exc:  # noqa: BLE001 - any decoder failure → quarantine
        if ts not in DCMTK_JPEG:
            raise CodecError(f"pixel data could not be decoded ({ts.name}): {exc}") from exc
        arr, out_pi = _decode_with_dcmtk(ds, ts, exc)
    finally:
        try:
            ds.pixel_array_options(as_rgb=True)
        except Exception:  # noqa: BLE001
            pass
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    spp = int(ds.get("SamplesPerPixel", 1))
    if frames == 1:
        arr = arr[None]
    if spp == 3 and arr.ndim != 4 or spp == 1 and arr.ndim != 3:
        raise CodecError(f"decoded array shape {arr.shape} does not match SamplesPerPixel={spp}"
                         f" and NumberOfFrames={frames}")
    arr = np.ascontiguousarray(arr)
    if not arr.flags.writeable:
        # Pillow's and some decoders' arrays are read-only views (a single JPEG frame):
        # blanking writes into the frames
        arr = arr.copy()
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("="))
    arr, unused = _clear_unused_bits(arr, int(ds.get("BitsStored", 0) or 0))
    return Decoded(arr, out_pi, ts, is_lossy(ds, ts), unused)


def _clear_unused_bits(arr: np.ndarray, stored: int) -> tuple[np.ndarray, int]:
    """Each word set to its value as Bits Stored defines it (sign-extended when signed), and
    how many words held more than that. Bits above Bits Stored are no part of a pixel's
    value (PS3.5 8.1.1), but old equipment drew overlays there (the retired Overlay Bit
    Position 60xx,0102): GDCM's XA_GE_JPEG_02_with_Overlays holds the patient's name, an
    exam number, the date and the hospital in bit 13. The tag stage removes the 60xx
    attributes that describe such a plane; a viewer or a script that reads the stored
    words whole would still show it, so the bits go too (``encode`` writes them cleared)."""
    dirty = unused_bits_held(arr, stored)
    if dirty is None:
        return arr, 0
    shift = arr.dtype.itemsize * 8 - stored
    clean = np.right_shift(np.left_shift(arr, shift), shift)   # arithmetic when signed
    return clean, int(np.count_nonzero(dirty))


def unused_bits_held(words: np.ndarray, stored: int) -> np.ndarray | None:
    """Where the words' bits above ``stored`` hold something other than the value's sign
    (a signed value's high bits may repeat its sign: all ones); None when there are no
    such bits."""
    bits = words.dtype.itemsize * 8
    if not 0 < stored < bits or words.dtype.kind not in "iu":
        return None
    high = words.view(f"u{words.dtype.itemsize}") >> stored
    if words.dtype.kind == "u":
        return high != 0
    return (high != 0) & (high != (1 << (bits - stored)) - 1)


def clear_unused_bits(ds: Dataset) -> int:
    """For an instance the pixel stage does not scan: decode it when its words have unused
    high bits, and write it back (``encode``) when any of them held something; returns how
    many words were cleared. Raises :class:`CodecError` when it cannot be decoded (the
    bits cannot be checked: the instance is held, never passed unchecked)."""
    stored, allocated = int(ds.get("BitsStored", 0) or 0), int(ds.get("BitsAllocated", 0) or 0)
    if "PixelData" not in ds or not 0 < stored < allocated:
        return 0
    if transfer_syntax(ds).is_compressed and (_codestream_precision(ds) or allocated) <= stored:
        return 0   # the JPEG / JPEG-LS / JPEG 2000 samples have no bits above Bits Stored
    dec = decode(ds)
    if dec.unused_bits:
        encode(ds, dec)
    return dec.unused_bits


def _codestream_precision(ds: Dataset) -> int | None:
    """The largest sample precision the frames' JPEG, JPEG-LS or JPEG 2000 headers declare,
    read without decoding: an original CT or MR slice (12 bits stored) the rules do not
    scan costs 10-400 ms more on the tag path when decoded to find nothing. None when a
    frame's header does not say (RLE's segments carry whole words)."""
    from pydicom.encaps import generate_frames
    from pydicom.pixels.utils import _get_jpg_parameters, get_j2k_parameters
    most = 0
    try:
        for frame in generate_frames(ds.PixelData,
                                     number_of_frames=int(ds.get("NumberOfFrames", 1) or 1)):
            p = get_j2k_parameters(frame).get("precision") or \
                _get_jpg_parameters(frame).get("precision")
            if not p:
                return None
            most = max(most, int(p))
    except Exception:  # noqa: BLE001 - unreadable headers: decode and look
        return None
    return most or None


def _decode_with_dcmtk(ds: Dataset, ts: UID, first: Exception) -> tuple[np.ndarray, str]:
    """JPEG that pydicom's decoders refuse, decoded by dcmtk's ``dcmdjpeg``.

    pylibjpeg's libjpeg stops at "a misplaced marker" on scan headers whose spectral and
    approximation fields a sequential JPEG should leave at zero; the IJG decoder in dcmtk
    reads them with a warning. All ten 12-bit "JPEG lossy" files of NEMA's WG04 set and
    pydicom's JPEG-lossy.dcm are such streams; their decoded values lie within JPEG's loss
    of WG04's uncompressed references. dcmtk converts YCbCr to RGB, as pydicom's decoders
    do. Without dcmtk, or if it fails too, the instance stays undecodable (quarantine)."""
    exe = shutil.which("dcmdjpeg")
    if exe is None:
        raise CodecError(f"pixel data could not be decoded ({ts.name}): {first}; install "
                         "dcmtk (its dcmdjpeg decodes JPEG streams pydicom refuses)") from first
    # a private folder (mode 0700) that is removed with the PHI it briefly holds
    with tempfile.TemporaryDirectory(prefix="deid-dcmdjpeg-") as tmp:
        src, dst = Path(tmp) / "in.dcm", Path(tmp) / "out.dcm"
        try:
            ds.save_as(src, enforce_file_format=False)
            run = subprocess.run([exe, str(src), str(dst)], capture_output=True, text=True,
                                 timeout=DCMTK_TIMEOUT_S, check=False)
            if run.returncode != 0:
                raise RuntimeError(f"dcmdjpeg exited {run.returncode}: "
                                   f"{run.stderr.strip()[-300:]}")
            out = pydicom.dcmread(dst)
            out.pixel_array_options(as_rgb=False, correct_unused_bits=False)
            return out.pixel_array, str(out.PhotometricInterpretation).strip()
        except Exception as exc:  # noqa: BLE001 - both decoders failed → quarantine
            raise CodecError(f"pixel data could not be decoded ({ts.name}): {first}; "
                             f"dcmtk's dcmdjpeg: {exc}") from exc


_PIL_JPEG = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"}


def _decode_jpeg_pil(ds: Dataset, ts: UID, pi: str) -> tuple[np.ndarray, str] | None:
    """8-bit JPEG baseline via Pillow (libjpeg-turbo): ~25× faster than the generic path on
    a 120-frame cine. Used only for YBR colour and MONOCHROME2, and only when frame 0 agrees
    with pydicom's own decoder within JPEG's decoder tolerance; otherwise None."""
    if ts not in _PIL_JPEG or int(ds.get("BitsAllocated", 0)) != 8 or \
            pi not in ("YBR_FULL_422", "YBR_FULL", "MONOCHROME2"):
        return None
    try:
        import io

        from PIL import Image
        from pydicom.encaps import generate_frames
        from pydicom.pixels.decoders.base import get_decoder
        n = int(ds.get("NumberOfFrames", 1) or 1)
        mode = "L" if pi == "MONOCHROME2" else "RGB"
        frames = []
        for raw in generate_frames(ds.PixelData, number_of_frames=n):
            with Image.open(io.BytesIO(raw)) as im:
                if im.mode != ("L" if mode == "L" else "YCbCr") and im.mode != mode:
                    return None
                frames.append(np.asarray(im.convert(mode)))
        arr = np.stack(frames) if n > 1 else frames[0]
        ref, _ = get_decoder(ts).as_array(ds, index=0, as_rgb=True)
        first = arr[0] if n > 1 else arr
        if ref.shape != first.shape or np.abs(ref.astype(np.int16) - first).max() > 8:
            return None
        return arr, ("RGB" if mode == "RGB" else pi)
    except Exception:  # noqa: BLE001 - any doubt: the generic decoder decides
        return None


def blank_value(ds: Dataset, dec: Decoded, frame: np.ndarray) -> np.ndarray | int:
    """The value that shows as black for this photometric (palette: darkest LUT entry)."""
    pi = dec.photometric
    if pi == "MONOCHROME1":
        return int(frame.max()) if frame.size else 0
    if pi == "MONOCHROME2":
        return int(frame.min()) if frame.size else 0
    if pi == "PALETTE COLOR":
        return _darkest_palette_index(ds, frame)
    if pi == "YBR_FULL":
        half = 1 << (int(ds.BitsStored) - 1)
        return np.array([0, half, half], dtype=frame.dtype)
    return np.zeros(3, dtype=frame.dtype)


def _darkest_palette_index(ds: Dataset, frame: np.ndarray) -> int:
    from pydicom.pixels import apply_color_lut
    lo = int(frame.min()) if frame.size else 0
    hi = int(frame.max()) if frame.size else 0
    first = int(ds.RedPaletteColorLookupTableDescriptor[1])
    n = int(ds.RedPaletteColorLookupTableDescriptor[0]) or 65536
    cand = np.arange(min(lo, first), max(hi, first + n - 1) + 1, dtype=np.int64)
    cand = cand[(cand >= 0) & (cand <= np.iinfo(frame.dtype).max)].astype(frame.dtype)
    try:
        rgb = apply_color_lut(cand, ds).astype(np.float64)
    except Exception as exc:  # noqa: BLE001
        raise CodecError(f"palette colour lookup tables could not be read: {exc}") from exc
    return int(cand[int(np.argmin(rgb.sum(-1)))])


def blank(ds: Dataset, dec: Decoded, rects: Iterable[tuple[int, int, int, int, Iterable[int]]]
          ) -> int:
    """Set ``[y0:y1, x0:x1]`` to the blank value in the listed frames; returns pixels changed."""
    changed = 0
    for x0, y0, x1, y1, frames in rects:
        for f in frames:
            fr = dec.frames[f]
            h, w = fr.shape[:2]
            xa, ya, xb, yb = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
            if xb <= xa or yb <= ya:
                continue
            fr[ya:yb, xa:xb] = blank_value(ds, dec, fr)
            changed += (yb - ya) * (xb - xa)
    return changed


def _swap_other_words(ds: Dataset) -> None:
    """After big → little endian: swap raw OW/OF/OL/OD values (LUT data etc.)."""
    sizes = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}
    for elem in ds.iterall():
        if elem.tag == 0x7FE00010:
            continue
        n = sizes.get(elem.VR)
        if n and isinstance(elem.value, (bytes, bytearray)) and len(elem.value) % n == 0:
            elem.value = np.frombuffer(elem.value, dtype=f">u{n}").astype(f"<u{n}").tobytes()


def _set_native(ds: Dataset, arr: np.ndarray, photometric: str) -> None:
    """Native little-endian pixel data; every other pixel attribute stays as it was."""
    bits = int(ds.BitsAllocated)
    if arr.dtype.itemsize * 8 != bits:
        raise CodecError(f"decoded {arr.dtype} does not match BitsAllocated={bits}")
    ds.PhotometricInterpretation = photometric
    if arr.ndim == (4 if int(ds.get("NumberOfFrames", 1) or 1) > 1 else 3):
        ds.PlanarConfiguration = 0
    data = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
    if len(data) % 2:
        data += b"\0"
    ds.PixelData = data
    elem = ds["PixelData"]
    elem.VR = "OW" if bits > 8 else "OB"
    elem.is_undefined_length = False
    if ds.file_meta.TransferSyntaxUID not in NATIVE or ds.file_meta.TransferSyntaxUID == \
            ExplicitVRBigEndian:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian


def _compressed_exactly(ds: Dataset, arr: np.ndarray, target: UID) -> bool:
    """Compress ``ds``'s pixel data to ``target`` and decode it again: True when the frames
    come back exactly. An encoder may take frames it then writes wrong: pydicom's RLE
    encoder writes 16-bit words with Bits Stored 8 as segments no decoder reads back."""
    try:
        ds.compress(target, arr, generate_instance_uid=False)
        ds.pixel_array_options(as_rgb=False, correct_unused_bits=False)
        back = ds.pixel_array
    except Exception:  # noqa: BLE001 - no encoder or decoder takes it: the next candidate
        return False
    finally:
        ds.pixel_array_options(as_rgb=True)
    return back.shape == arr.shape and np.array_equal(back, arr)


def encode(ds: Dataset, dec: Decoded) -> UID:
    """Write ``dec.frames`` back into ``ds`` losslessly; returns the new transfer syntax."""
    src = dec.source_syntax
    arr = dec.frames if dec.n_frames > 1 else dec.frames[0]
    if src == ExplicitVRBigEndian:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        _swap_other_words(ds)
        # pydicom must not think the dataset is still big endian when writing
        ds.set_original_encoding(False, True)
    if dec.lossy_source and "LossyImageCompression" not in ds:
        ds.LossyImageCompression = "01"
    if src.is_compressed:
        target = _LOSSLESS_REENCODE.get(src, RLELossless)
        if dec.lossy_source:
            target = RLELossless
    elif src == ExplicitVRBigEndian:
        target = ExplicitVRLittleEndian
    else:
        target = src
    try:
        _set_native(ds, arr, dec.photometric)
        if target.is_compressed:
            # the source's lossless syntax, else RLE Lossless, else native: the first whose
            # encoder takes the frames and gives them back exactly
            for candidate in dict.fromkeys((target, RLELossless)):
                if _compressed_exactly(ds, arr, candidate):
                    target = candidate
                    break
                _set_native(ds, arr, dec.photometric)
            else:
                target = ExplicitVRLittleEndian
        ds.file_meta.TransferSyntaxUID = target
    except Exception as exc:  # noqa: BLE001
        raise CodecError(f"the redacted pixel data could not be written as {target.name}: "
                         f"{exc}") from exc
    if "PlanarConfiguration" in ds and int(ds.SamplesPerPixel) == 3:
        ds.PlanarConfiguration = 0
    return target
