"""Every element is decided: private, UN, unknown, overlays, group lengths, file meta, marks;
and pixel data is never decoded on the tag path."""
from __future__ import annotations

import copy
import statistics
import time

import pydicom
import pytest
from pydicom.tag import Tag

from deid_node import identity as identity_mod
from deid_node.tags.leakcheck import find_leaks

from .helpers import read, rich_ct

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _apply(engine, ds):
    ident = identity_mod.collect(ds)
    report = engine.apply(ds, ident)
    return ident, report


def test_pixel_data_is_never_decoded(engine, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("pixel data decoded on the tag path")

    monkeypatch.setattr(pydicom.Dataset, "pixel_array", property(boom))
    monkeypatch.setattr(pydicom.Dataset, "convert_pixel_data", boom)
    monkeypatch.setattr(pydicom.Dataset, "decompress", boom)
    for name in ("CT_small.dcm", "JPEG2000.dcm", "emri_small_RLE.dcm", "color3d_jpeg_baseline.dcm"):
        ds = read(name)
        pixels = ds.get(0x7FE00010)
        raw = pixels.value if pixels is not None else None
        _apply(engine, ds)
        assert ds[0x7FE00010].value is raw or ds[0x7FE00010].value == raw


def test_pixel_data_element_is_not_even_converted(engine):
    ds = read("CT_small.dcm")
    raw_before = ds._dict[Tag(0x7FE00010)]
    _apply(engine, ds)
    assert ds._dict[Tag(0x7FE00010)] is raw_before       # still the raw element, untouched


def test_unknown_even_group_elements_are_removed(engine):
    ds = read("CT_small.dcm")
    ds.add_new(0x00167777, "LO", "DOE JOHN")
    ds.add_new(0x00200099, "UN", b"DOE JOHN")
    ds.add_new(0x00080000, "UL", 1234)                  # a group length
    _apply(engine, ds)
    for t in (0x00167777, 0x00200099, 0x00080000):
        assert Tag(t) not in ds


def test_un_elements_are_decided(engine):
    ds = read("explicit_VR-UN.dcm")                   # every element written as UN
    ident, report = _apply(engine, ds)
    assert ident.name_parts and ident.ids                # read through the UN
    assert str(ds.PatientName).startswith("DEID-")
    assert not [e for e in ds.iterall() if e.VR == "UN" and not e.tag.is_private]
    assert find_leaks(ds, ident) == []


@pytest.mark.parametrize("name", ["priv_SQ.dcm", "nested_priv_SQ.dcm", "CT_small.dcm"])
def test_private_sequences_and_unsafe_private_are_removed(engine, name):
    ds = read(name)
    _apply(engine, ds)
    for elem in ds.iterall():
        if elem.tag.is_private and not elem.tag.is_private_creator:
            block = ds.private_creators(elem.tag.group) if elem.tag.group else []
            assert elem.VR != "SQ"
            assert any(c.startswith("GEMS_") for c in block)    # only the safe GE entries


def test_private_inside_standard_sequences_is_removed(engine):
    ds = rich_ct()
    item = ds.RequestAttributesSequence[0]
    block = item.private_block(0x0033, "HOSPITAL X", create=True)
    block.add_new(0x01, "LO", "DOE JOHN")
    ident, _ = _apply(engine, ds)
    assert not [e for e in ds.RequestAttributesSequence[0] if e.tag.is_private]
    assert find_leaks(ds, ident) == []


def test_overlays_and_curves_are_removed(engine):
    ds = read("MR-SIEMENS-DICOM-WithOverlays.dcm")
    assert [e for e in ds if 0x6000 <= e.tag.group <= 0x601E]
    _apply(engine, ds)
    assert not [e for e in ds if 0x5000 <= e.tag.group <= 0x601E]


def test_file_meta_follows_and_loses_the_sender(engine):
    ds = read("CT_small.dcm")
    ds.file_meta.SourceApplicationEntityTitle = "HOSPITAL_CT"
    old = ds.SOPInstanceUID
    _apply(engine, ds)
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID != old
    assert "SourceApplicationEntityTitle" not in ds.file_meta
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"


def test_burned_in_annotation_is_left_to_the_pixel_stage(engine):
    ds = read("US1_UNCR.dcm")
    ds.BurnedInAnnotation = "YES"
    _apply(engine, ds)
    assert ds.BurnedInAnnotation == "YES"
    ds = read("CT_small.dcm")
    _apply(engine, ds)
    assert "BurnedInAnnotation" not in ds


def test_marks(engine):
    ds = read("CT_small.dcm")
    _, report = _apply(engine, ds)
    assert ds.PatientIdentityRemoved == "YES"
    assert len(ds.DeidentificationMethod) <= 64 and "PS3.15" in ds.DeidentificationMethod
    codes = [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]
    assert codes == list(report.codes)
    assert set(codes) == {"113100", "113103", "113104", "113105", "113107", "113108",
                          "113109", "113111"}
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"


def test_applying_twice_is_stable(engine):
    ds = read("CT_small.dcm")
    _apply(engine, ds)
    once = copy.deepcopy(ds)
    _apply(engine, ds)
    # UIDs are mapped again (a second de-identification), everything else is unchanged
    for elem in once:
        if elem.VR not in ("UI", "DA", "DT", "SQ") and elem.tag not in (0x00100010, 0x00100020):
            assert ds[elem.tag].value == elem.value, elem.keyword


def test_tag_path_is_fast_on_a_512_ct(engine):
    """The real figure is in docs/tags.md (benchmarks/tag_path.py); this guards against a
    gross regression on a busy shared machine."""
    ds0 = read("CT_small.dcm")
    ds0.Rows = ds0.Columns = 512
    ds0.PixelData = bytes(512 * 512 * 2)
    times = []
    for _ in range(15):
        ds = copy.deepcopy(ds0)
        ident = identity_mod.collect(ds)
        t = time.perf_counter()
        engine.apply(ds, ident)
        find_leaks(ds, ident)
        times.append(time.perf_counter() - t)
    assert statistics.median(times) < 0.025
