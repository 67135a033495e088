"""Decode → blank → write back losslessly, on pydicom's real files of every image kind."""
from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import (ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEG2000Lossless,
                         RLELossless)

from deid_node.pixels import codec

from .conftest import make_dataset, read

BOX = (10, 12, 70, 40)  # x0, y0, x1, y1

CASES = [
    # file, expected transfer syntax after writing, photometric after
    ("gdcm-US-ALOKA-16.dcm", ImplicitVRLittleEndian, "PALETTE COLOR"),     # 16-bit palette LUT
    ("gdcm-US-ALOKA-16_big.dcm", ExplicitVRLittleEndian, "PALETTE COLOR"),  # big endian
    ("US1_UNCR.dcm", ExplicitVRLittleEndian, "RGB"),
    ("US1_J2KR.dcm", JPEG2000Lossless, "RGB"),                             # YBR_RCT J2K lossless
    ("US1_J2KI.dcm", RLELossless, "RGB"),                                  # lossy J2K: never again lossy
    ("OBXXXX1A_2frame.dcm", ExplicitVRLittleEndian, "PALETTE COLOR"),
    ("OBXXXX1A_rle_2frame.dcm", RLELossless, "PALETTE COLOR"),
    ("examples_palette.dcm", ExplicitVRLittleEndian, "PALETTE COLOR"),
    ("examples_ybr_color.dcm", RLELossless, "RGB"),                        # YBR_FULL_422 JPEG, 30 frames
    ("SC_rgb_jpeg_dcmtk.dcm", RLELossless, "RGB"),                         # YBR_FULL JPEG, 1 frame
    ("SC_rgb_dcmtk_+eb+cy+np.dcm", RLELossless, "RGB"),                    # YBR_FULL_422 JPEG, 1 frame
    ("JPGLosslessP14SV1_1s_1f_8b.dcm", RLELossless, "MONOCHROME2"),        # no JPEG lossless encoder
    ("SC_ybr_full_uncompressed.dcm", ExplicitVRLittleEndian, "YBR_FULL"),
    ("SC_ybr_full_422_uncompressed.dcm", ExplicitVRLittleEndian, "YBR_FULL"),
    ("SC_rgb_rle_16bit_2frame.dcm", RLELossless, "RGB"),
    ("SC_rgb_32bit.dcm", ExplicitVRLittleEndian, "RGB"),
    ("MR_small.dcm", ExplicitVRLittleEndian, "MONOCHROME2"),               # signed 16-bit
    ("MR_small_jp2klossless.dcm", JPEG2000Lossless, "MONOCHROME2"),
    ("image_dfl.dcm", "1.2.840.10008.1.2.1.99", "MONOCHROME2"),            # deflated stays deflated
    ("JPEG-lossy.dcm", RLELossless, "MONOCHROME2"),                        # 12-bit, dcmtk decodes it
]


@pytest.mark.parametrize("name, ts, pi", CASES)
def test_roundtrip_bit_identical_outside_box(name, ts, pi):
    ref = codec.decode(read(name)).frames.copy()
    ds = read(name)
    was_lossy = codec.is_lossy(ds, codec.transfer_syntax(ds))
    dec = codec.decode(ds)
    x0, y0, x1, y1 = BOX
    codec.blank(ds, dec, [(x0, y0, x1, y1, range(dec.n_frames))])
    assert codec.encode(ds, dec) == ts
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    out_ds = pydicom.dcmread(io.BytesIO(buf.getvalue()))
    assert out_ds.file_meta.TransferSyntaxUID == ts
    assert out_ds.PhotometricInterpretation == pi
    out = codec.decode(out_ds).frames
    assert out.shape == ref.shape
    outside = np.ones(out.shape[:3], bool)
    outside[:, y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], ref[outside]), "pixels outside the box changed"
    inside = out[:, y0:y1, x0:x1]
    assert (inside == inside.reshape(-1, *inside.shape[3:])[0]).all(), "box not uniformly blanked"
    if was_lossy:
        assert out_ds.LossyImageCompression == "01"


def test_palette_blank_is_the_darkest_colour():
    ds = read("gdcm-US-ALOKA-16.dcm")
    dec = codec.decode(ds)
    codec.blank(ds, dec, [(0, 0, 40, 20, [0])])
    from pydicom.pixels import apply_color_lut
    rgb = apply_color_lut(dec.frames[0][:20, :40], ds)
    full = apply_color_lut(codec.decode(read("gdcm-US-ALOKA-16.dcm")).frames[0], ds)
    assert rgb.reshape(-1, 3).sum(1).max() == full.reshape(-1, 3).sum(1).min()


@pytest.mark.parametrize("signed, pi", [(True, "MONOCHROME2"), (False, "MONOCHROME1")])
def test_grey_blank_values(signed, pi):
    px = (np.arange(64 * 64).reshape(64, 64) - 1000).astype(np.int16 if signed else np.uint16)
    if not signed:
        px = px.astype(np.uint16)
    ds = make_dataset(px, modality="OT", photometric=pi, signed=signed)
    dec = codec.decode(ds)
    codec.blank(ds, dec, [(0, 0, 8, 8, [0])])
    expect = px.min() if pi == "MONOCHROME2" else px.max()
    assert (dec.frames[0][:8, :8] == expect).all()


def test_unsupported_photometric_is_refused():
    ds = make_dataset(np.zeros((8, 8, 3), np.uint8), photometric="HSV")
    with pytest.raises(codec.CodecError, match="HSV"):
        codec.decode(ds)


def test_corrupt_compressed_data_is_refused():
    ds = read("US1_J2KR.dcm")
    from pydicom.encaps import encapsulate
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\0" * 40])
    with pytest.raises(codec.CodecError, match="decoded"):
        codec.decode(ds)


def test_jpeg_pydicom_refuses_is_decoded_by_dcmtk_as_its_fixed_twin():
    """JPEG-lossy.dcm's scan header is non-conformant (pylibjpeg: "a misplaced marker");
    JPGExtended.dcm is the same image with the header fixed, which pydicom decodes."""
    lossy = read("JPEG-lossy.dcm")
    with pytest.raises(Exception, match="misplaced marker"):
        lossy.pixel_array
    ours = codec.decode(read("JPEG-lossy.dcm")).frames[0].astype(int)
    fixed = read("JPGExtended.dcm").pixel_array.astype(int)
    assert ours.shape == fixed.shape and ours.std() > 10
    assert np.abs(ours - fixed).max() <= 1  # IJG's and libjpeg's inverse DCT round apart


def test_without_dcmtk_a_stream_pydicom_refuses_stays_undecodable(monkeypatch):
    monkeypatch.setattr(codec.shutil, "which", lambda name: None)
    with pytest.raises(codec.CodecError, match="install dcmtk"):
        codec.decode(read("JPEG-lossy.dcm"))


def test_a_jpeg_neither_decoder_reads_is_refused_with_both_reasons():
    ds = read("JPEG-lossy.dcm")
    from pydicom.encaps import encapsulate
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xc1" + b"\0" * 40 + b"\xff\xd9"])
    with pytest.raises(codec.CodecError, match="dcmdjpeg"):
        codec.decode(ds)


def _with_overlay_bit(px: np.ndarray, stored: int, bit: int) -> tuple[Dataset, np.ndarray]:
    """A CT slice whose words hold ``px`` in their low ``stored`` bits and a block of
    "overlay text" in bit ``bit``, as old equipment drew it (Overlay Bit Position)."""
    ds = make_dataset(px, modality="CT", sop_class="1.2.840.10008.5.1.4.1.1.2")
    ds.BitsStored, ds.HighBit = stored, stored - 1
    ink = np.zeros(px.shape, bool)
    ink[20:30, 10:50] = True
    words = px.view(np.uint16) | (ink.astype(np.uint16) << bit)
    ds.PixelData = words.astype("<u2").tobytes()
    return ds, ink


def test_an_overlay_drawn_in_the_unused_high_bits_is_cleared():
    """GDCM's XA_GE_JPEG_02_with_Overlays holds the patient's name, an exam number and the
    date in bit 13 of words whose value is their low 8 bits: decoded, the words are their
    values alone, the overlay counted, and written back without it."""
    px = (np.arange(64 * 64).reshape(64, 64) % 4096).astype(np.uint16)
    ds, ink = _with_overlay_bit(px, 12, 13)
    dec = codec.decode(ds)
    assert dec.unused_bits == int(ink.sum())
    assert np.array_equal(dec.frames[0], px)
    assert codec.encode(ds, dec) == ExplicitVRLittleEndian
    assert not (np.frombuffer(ds.PixelData, "<u2") >> 12).any()


def test_a_signed_value_s_sign_in_the_high_bits_is_no_overlay():
    """Signed 12-bit values are stored sign-extended (high bits all ones) or not at all
    (zeros): neither is an overlay, and both decode to the same values."""
    px = np.array([[-2048, -5, 0, 7, 2047]] * 4, np.int16)
    for words in (px, px & 0x0FFF):
        ds = make_dataset(px, modality="CT", sop_class="1.2.840.10008.5.1.4.1.1.2", signed=True)
        ds.BitsStored, ds.HighBit = 12, 11
        ds.PixelData = words.astype("<i2").tobytes()
        dec = codec.decode(ds)
        assert dec.unused_bits == 0 and np.array_equal(dec.frames[0], px)
    ds.PixelData = (px | np.int16(1 << 13)).astype("<i2").tobytes()   # over -5 it is the sign
    assert codec.decode(ds).unused_bits == 3 * 4


def test_an_unscanned_instance_is_written_back_only_when_its_high_bits_held_something():
    px = (np.arange(64 * 64).reshape(64, 64) % 4096).astype(np.uint16)
    clean = make_dataset(px, modality="CT", sop_class="1.2.840.10008.5.1.4.1.1.2")
    clean.BitsStored, clean.HighBit = 12, 11
    before = clean.PixelData
    assert codec.clear_unused_bits(clean) == 0 and clean.PixelData is before
    ds, ink = _with_overlay_bit(px, 12, 15)
    assert codec.clear_unused_bits(ds) == int(ink.sum())
    assert np.array_equal(np.frombuffer(ds.PixelData, "<u2").reshape(px.shape), px)


def test_an_encoder_that_writes_what_it_cannot_read_back_is_not_trusted():
    """pydicom's RLE encoder takes 16-bit words with Bits Stored 8 and writes segments no
    decoder reads back: the frames go out native instead, exactly as decoded."""
    px = (np.arange(64 * 64).reshape(64, 64) % 256).astype(np.uint16)
    ds = make_dataset(px, modality="XA", sop_class="1.2.840.10008.5.1.4.1.1.12.1")
    ds.BitsStored, ds.HighBit = 8, 7
    ds.compress(RLELossless, px, generate_instance_uid=False, encoding_plugin="pydicom")
    # what the encoder wrote does not decode
    with pytest.raises(Exception):
        ds.pixel_array
    ds = make_dataset(px, modality="XA", sop_class="1.2.840.10008.5.1.4.1.1.12.1")
    ds.BitsStored, ds.HighBit = 8, 7
    dec = codec.decode(ds)
    dec.source_syntax = RLELossless        # as if it had come RLE-compressed
    assert codec.encode(ds, dec) == ExplicitVRLittleEndian
    assert np.array_equal(codec.decode(ds).frames, dec.frames)


@pytest.mark.parametrize("name, decoded", [
    ("MR2_J2KI.dcm", False),                      # 12-bit JPEG 2000 samples: nothing above
    ("RG3_J2KR.dcm", False),                      # 10-bit JPEG 2000 samples
    ("JPGExtended.dcm", False),                   # 12-bit JPEG samples
    ("emri_small_jpeg_2k_lossless.dcm", True),    # 16-bit JPEG 2000 samples, 12 bits stored
    ("emri_small_jpeg_ls_lossless.dcm", True),    # 16-bit JPEG-LS samples, 12 bits stored
    ("emri_small_RLE.dcm", True),                 # RLE segments carry whole 16-bit words
])
def test_an_unscanned_codestream_is_decoded_only_when_it_can_hold_high_bits(
        name, decoded, monkeypatch):
    """The tag path of an original slice pays for a decode only when the codestream's
    samples are wider than Bits Stored (or their header does not say)."""
    calls = []
    real = codec.decode
    monkeypatch.setattr(codec, "decode", lambda ds: calls.append(1) or real(ds))
    assert codec.clear_unused_bits(read(name)) == 0
    assert bool(calls) == decoded
