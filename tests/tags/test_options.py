"""Golden behaviour of the Basic Profile and of each option, on a CT with PHI at every depth."""
from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from pydicom.tag import Tag

from deid_node import identity as identity_mod
from deid_node.tags import ProfileSettings, TagEngine
from deid_node.tags.leakcheck import find_leaks

from .helpers import KEY, PHI_ID, DenyListAnalyzer, rich_ct

ALL = ("clean_graphics", "clean_structured_content", "clean_descriptors",
       "retain_longitudinal_modified_dates", "retain_patient_characteristics",
       "retain_device_identity", "retain_uids", "retain_safe_private",
       "retain_institution_identity")


def run(options, analyzer=None):
    ds = rich_ct()
    original = rich_ct()
    ident = identity_mod.collect(ds)
    engine = TagEngine(dataclasses.replace(ProfileSettings.default(), options=tuple(options)),
                       KEY, analyzer)
    report = engine.apply(ds, ident)
    return original, ds, report, engine, ident


def _days(a: str, b: str) -> int:
    d = lambda s: date(int(s[:4]), int(s[4:6]), int(s[6:8]))  # noqa: E731
    return (d(b) - d(a)).days


def test_basic_profile_only():
    orig, ds, report, engine, ident = run(())
    assert str(ds.PatientName) == ds.PatientID != PHI_ID
    assert ds.PatientID.startswith("DEID-")
    assert ds.PatientBirthDate == ""                      # Z
    for kw in ("PatientAge", "PatientWeight", "OtherPatientIDs", "PatientAddress",
               "PatientTelephoneNumbers", "InstitutionName", "InstitutionAddress",
               "StudyDescription", "SeriesDescription", "ImageComments",
               "TimezoneOffsetFromUTC"):
        assert kw not in ds, kw
    assert ds.PatientSex == ""                            # Z
    assert ds.ReferringPhysicianName == ""
    assert str(ds.OperatorsName) == ""                    # X/Z/D, Type 2 at most -> Z
    assert ds.StudyDate == "" and ds.AccessionNumber == ""
    assert ds.AcquisitionDateTime == "19000101000000"     # X/Z/D, present -> D
    assert ds.DeviceSerialNumber == "REMOVED"             # X/Z/D, present -> D
    assert ds.StationName == "REMOVED"
    assert ds.SOPInstanceUID != orig.SOPInstanceUID and ds.SOPInstanceUID.startswith("2.25.")
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert not [e for e in ds if e.tag.is_private]
    assert not [e for e in ds if e.tag.group in (0x5000, 0x6000)]
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == ["113100"]
    assert ds.PatientIdentityRemoved == "YES"
    assert find_leaks(ds, ident) == []


def test_retain_patient_characteristics_caps_age():
    _, ds, *_ = run(("retain_patient_characteristics",))
    assert ds.PatientAge == "090Y" and ds.PatientSex == "M" and ds.PatientWeight == "80"


def test_modified_dates_shift_per_patient_and_keep_intervals():
    orig, ds, report, engine, _ = run(("retain_longitudinal_modified_dates",))
    offset = engine.pseudo.date_offset_days("id:" + PHI_ID)
    assert 1 <= offset <= 3652
    assert _days(ds.StudyDate, orig.StudyDate) == offset
    assert _days(ds.ContentDate, ds.StudyDate) == _days(orig.ContentDate, orig.StudyDate)
    assert ds.StudyTime == orig.StudyTime                  # whole days: time of day kept
    assert ds.AcquisitionDateTime[8:] == "101530.123456"      # time kept, UTC offset dropped
    assert _days(ds.AcquisitionDateTime[:8], orig.AcquisitionDateTime[:8]) == offset
    assert "TimezoneOffsetFromUTC" not in ds               # not a date: Basic action
    assert ds.PatientBirthDate == ""                       # Z in every profile
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert report.dates_shifted >= 4


def test_full_dates_keep_dates():
    orig, ds, *_ = run(("retain_longitudinal_full_dates",))
    assert ds.StudyDate == orig.StudyDate and ds.AcquisitionDateTime == orig.AcquisitionDateTime
    assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED"


def test_retain_device_identity():
    orig, ds, *_ = run(("retain_device_identity",))
    assert ds.StationName == orig.StationName and ds.DeviceSerialNumber == orig.DeviceSerialNumber
    assert ds.StationAETitle != orig.StationAETitle and ds.StationAETitle.startswith("AE")
    assert len(ds.StationAETitle) <= 16


def test_retain_institution_identity():
    orig, ds, *_ = run(("retain_institution_identity",))
    assert ds.InstitutionName == orig.InstitutionName
    _, basic, *_ = run(())
    assert "InstitutionName" not in basic


def test_retain_uids():
    orig, ds, *_ = run(("retain_uids",))
    assert ds.SOPInstanceUID == orig.SOPInstanceUID
    assert ds.StudyInstanceUID == orig.StudyInstanceUID
    assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == "1.2.3.4.5.6.7.8.9"


def test_retain_safe_private():
    orig, ds, report, *_ = run(("retain_safe_private",))
    kept = {(e.tag.group, e.tag.element) for e in ds if e.tag.is_private}
    assert (0x0019, 0x1023) in kept and (0x0043, 0x1027) in kept      # on the safe list
    assert (0x0019, 0x0010) in kept                                    # its creator
    assert not any(g == 0x0029 for g, _ in kept)                       # unsafe block: all gone
    assert (0x0009, 0x0010) not in kept
    assert report.private_kept == len([k for k in kept if k[1] >= 0x1000])
    assert report.private_removed > 100


def test_safe_private_requires_matching_vr_and_value():
    ds = rich_ct()
    ds[0x00191023].VR = "LO"                        # wrong VR for the listed element
    ds[0x00431027].value = "DOE JOHN"               # not a pitch ratio
    engine = TagEngine(dataclasses.replace(ProfileSettings.default(),
                                           options=("retain_safe_private",)), KEY)
    engine.apply(ds, identity_mod.collect(ds))
    assert Tag(0x00191023) not in ds and Tag(0x00431027) not in ds


def test_clean_descriptors_with_analyzer_keeps_meaning():
    _, ds, report, *_ = run(("clean_descriptors",), DenyListAnalyzer())
    assert ds.StudyDescription == "CT CHEST for [NAME] [NAME] [ID]"
    assert ds.SeriesDescription == "AXIAL 5mm"
    assert ds.ImageComments == "called [NAME] at [ID]"
    item = ds.RequestAttributesSequence[0]
    assert item.RequestedProcedureDescription == "CT chest [NAME] [NAME]"
    assert item.ScheduledProcedureStepSequence[0].ScheduledProcedureStepDescription \
        == "protocol for [NAME]"
    assert report.tier2_spans["PERSON"] >= 6 and report.tier2_elements >= 5
    assert "113105" in report.codes


def test_clean_descriptors_without_analyzer_fails_closed():
    _, ds, report, *_ = run(("clean_descriptors",), None)
    assert ds.StudyDescription == "REMOVED" and ds.SeriesDescription == "REMOVED"
    assert report.tier2_fail_closed >= 4 and report.tier2_spans == {}


def test_clean_graphics_removes_overlay_and_curve_groups():
    _, ds, report, *_ = run(("clean_graphics",))
    assert not [e for e in ds if e.tag.group in (0x5000, 0x6000)]
    assert "113103" in report.codes


def test_all_options_and_extra_codes():
    orig, ds, report, engine, ident = run(ALL, DenyListAnalyzer())
    codes = [i.CodeValue for i in engine.apply(rich_ct(), ident, ("113101",)) and
             ds.DeidentificationMethodCodeSequence]
    assert codes[0] == "113100" and len(codes) == len(ALL) + 1
    ds2 = rich_ct()
    rep2 = engine.apply(ds2, identity_mod.collect(ds2), extra_codes=("113101",))
    assert rep2.codes[-1] == "113101"
    assert [i.CodeValue for i in ds2.DeidentificationMethodCodeSequence][-1] == "113101"
    assert all(i.CodingSchemeDesignator == "DCM" and i.CodeMeaning
               for i in ds2.DeidentificationMethodCodeSequence)
    with pytest.raises(ValueError, match="CID 7050"):
        engine.apply(rich_ct(), ident, extra_codes=("999999",))


def test_report_holds_no_phi():
    _, ds, report, _, ident = run(ALL, DenyListAnalyzer(score=0.5))
    text = repr(report.to_dict()).lower()
    for _, value in ident.items():
        if len(value) >= 3:
            assert value.lower() not in text
    assert report.uncertain_spans > 0 and report.uncertainty == pytest.approx(1.0)
    assert 0.0 <= report.uncertainty <= 1.0


def test_confident_spans_are_not_uncertain():
    *_, report, _, _ = run(("clean_descriptors",), DenyListAnalyzer(score=0.99))
    assert report.uncertain_spans == 0 and report.uncertainty < 0.05


def test_clean_graphics_cleans_graphic_annotation_text():
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = rich_ct()
    text = Dataset()
    text.UnformattedTextValue = "pt DOE JOHN lesion"
    text.BoundingBoxAnnotationUnits = "PIXEL"
    ann = Dataset()
    ann.GraphicLayer = "LAYER1"
    ann.TextObjectSequence = Sequence([text])
    ds.GraphicAnnotationSequence = Sequence([ann])
    ident = identity_mod.collect(ds)
    TagEngine(ProfileSettings.default(), KEY, DenyListAnalyzer()).apply(ds, ident)
    out = ds.GraphicAnnotationSequence[0]
    assert out.TextObjectSequence[0].UnformattedTextValue == "pt [NAME] [NAME] lesion"
    assert out.GraphicLayer == "LAYER1"
    assert find_leaks(ds, ident) == []
