"""Keyed pseudonyms: deterministic across runs and processes, coherent across a study."""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import stat
import subprocess
import sys

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from deid_node import identity as identity_mod
from deid_node.config import PROJECT_ROOT
from deid_node.tags import ProfileSettings, TagEngine
from deid_node.tags import dates
from deid_node.tags.pseudonym import Pseudonymizer

from .helpers import KEY, read, rich_ct, to_bytes

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def deid_bytes(engine: TagEngine, name: str) -> bytes:
    ds = read(name)
    engine.apply(ds, identity_mod.collect(ds))
    return to_bytes(ds)


def test_uid_format_and_key_dependence():
    p, q = Pseudonymizer(KEY), Pseudonymizer(b"another key of 32 bytes........")
    uid = "1.2.840.113619.2.1.1.322987881.621.736170080.681"
    new = p.uid(uid)
    assert new.startswith("2.25.") and len(new) <= 64 and new[5:].isdigit()
    assert new == Pseudonymizer(KEY).uid(uid) != q.uid(uid)
    assert p.uid(uid + " ") == new                       # padding does not change the mapping
    assert p.uid("1.2.840.10008.5.1.4.1.1.2") == "1.2.840.10008.5.1.4.1.1.2"  # registered


def test_two_runs_give_identical_bytes():
    a = deid_bytes(TagEngine(ProfileSettings.default(), KEY), "CT_small.dcm")
    b = deid_bytes(TagEngine(ProfileSettings.default(), KEY), "CT_small.dcm")
    c = deid_bytes(TagEngine(ProfileSettings.default(), KEY[::-1]), "CT_small.dcm")
    assert a == b and a != c


def test_two_processes_give_identical_bytes(tmp_path):
    script = (
        "import sys, hashlib, warnings; warnings.simplefilter('ignore');"
        "sys.path.insert(0, sys.argv[1]);"
        "from tests.tags.test_pseudonym import deid_bytes;"
        "from deid_node.tags import TagEngine, ProfileSettings;"
        "from tests.tags.helpers import KEY;"
        "e = TagEngine(ProfileSettings.default(), KEY);"
        "print(hashlib.sha256(b''.join(deid_bytes(e, n) for n in sys.argv[2:])).hexdigest())"
    )
    names = ["CT_small.dcm", "test-SR.dcm", "chrX1.dcm", "rtplan.dcm"]
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    outs = {subprocess.run([sys.executable, "-c", script, str(PROJECT_ROOT), *names],
                           capture_output=True, text=True, check=True, env=env).stdout.strip()
            for _ in range(2)}
    here = TagEngine(ProfileSettings.default(), KEY)
    local = hashlib.sha256(b"".join(deid_bytes(here, n) for n in names)).hexdigest()
    assert outs == {local}


def _study(n: int = 3) -> list[Dataset]:
    """A CT series plus an SR that references every image and a second series."""
    base = read("CT_small.dcm")
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    images = []
    for i in range(n):
        ds = copy.deepcopy(base)
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        images.append(ds)
    sr = read("test-SR.dcm")
    sr.PatientID, sr.PatientName = base.PatientID, base.PatientName
    sr.StudyInstanceUID = study
    refs = []
    for img in images:
        r = Dataset()
        r.ReferencedSOPClassUID = img.SOPClassUID
        r.ReferencedSOPInstanceUID = img.SOPInstanceUID
        refs.append(r)
    series_item = Dataset()
    series_item.SeriesInstanceUID = series
    series_item.ReferencedSOPSequence = Sequence(refs)
    study_item = Dataset()
    study_item.StudyInstanceUID = study
    study_item.ReferencedSeriesSequence = Sequence([series_item])
    sr.CurrentRequestedProcedureEvidenceSequence = Sequence([study_item])
    images[1].ReferencedImageSequence = Sequence([copy.deepcopy(refs[0])])
    return images + [sr]


def test_uids_stay_coherent_across_a_study():
    engine = TagEngine(ProfileSettings.default(), KEY)
    out = []
    for ds in _study():
        engine.apply(ds, identity_mod.collect(ds))
        out.append(ds)
    images, sr = out[:-1], out[-1]
    assert len({d.StudyInstanceUID for d in out}) == 1
    assert len({d.SeriesInstanceUID for d in images}) == 1
    assert len({d.FrameOfReferenceUID for d in images}) == 1
    assert len({d.PatientID for d in out}) == 1
    sops = {d.SOPInstanceUID for d in images}
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == images[0].StudyInstanceUID
    series = evidence.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == images[0].SeriesInstanceUID
    assert {r.ReferencedSOPInstanceUID for r in series.ReferencedSOPSequence} == sops
    assert images[1].ReferencedImageSequence[0].ReferencedSOPInstanceUID == images[0].SOPInstanceUID
    assert all(d.file_meta.MediaStorageSOPInstanceUID == d.SOPInstanceUID for d in out)


def test_same_patient_same_offset_across_studies():
    engine = TagEngine(ProfileSettings.default(), KEY)
    a, b = rich_ct(), rich_ct()
    b.StudyInstanceUID = generate_uid()
    b.StudyDate = "20210101"
    for ds in (a, b):
        engine.apply(ds, identity_mod.collect(ds))
    assert a.PatientID == b.PatientID
    from datetime import date
    d = lambda s: date(int(s[:4]), int(s[4:6]), int(s[6:]))  # noqa: E731
    assert (d(b.StudyDate) - d(a.StudyDate)).days == (date(2021, 1, 1) - date(2020, 3, 15)).days


@pytest.mark.parametrize("vr,value,days,expected", [
    ("DA", "20200315", 10, "20200305"),
    ("DA", "2020.03.15", 15, "20200229"),
    ("DA", "20200101-20200131", 1, "20191231-20200130"),
    ("DA", "-20200131", 31, "-20191231"),
    ("DA", "2020", 200, "2019"),
    ("DA", "20201350", 1, None),
    ("DA", "garbage", 1, None),
    ("DT", "20200315101530.123456+0100", 1, "20200314101530.123456"),
    ("DT", "202003", 31, "202002"),
    ("DT", "2020", 1, "2020"),
    ("DT", "20200301-20200302", 1, "20200229-20200301"),
    ("TM", "101530.123", 5, "101530.123"),
    ("TM", "1015", 5, "1015"),
    ("TM", "10:15:30", 5, "10:15:30"),
    ("TM", "25h", 5, None),
])
def test_date_shift_values(vr, value, days, expected):
    assert dates.shift(vr, value, days) == expected


@pytest.mark.parametrize("age,expected", [("095Y", "090Y"), ("089Y", "089Y"), ("090Y", "090Y"),
                                          ("1100M", None), ("999M", "999M"), ("100Y", "090Y"), ("012W", "012W"),
                                          ("40Y", None)])
def test_age_cap(age, expected):
    assert dates.cap_age(age, 89, "090Y") == expected


def test_crosswalk_off_by_default_and_0600_when_on(tmp_path):
    assert ProfileSettings.default().crosswalk_enabled is False
    path = tmp_path / "cw" / "crosswalk.jsonl"
    settings = dataclasses.replace(ProfileSettings.default(), crosswalk_enabled=True,
                                   crosswalk_path=path, pseudonym_prefix="STUDY7")
    engine = TagEngine(settings, KEY)
    ds = rich_ct()
    original_study = ds.StudyInstanceUID
    engine.apply(ds, identity_mod.collect(ds))
    engine.apply(rich_ct(), identity_mod.collect(rich_ct()))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 2                                   # duplicates written once
    patient = next(x for x in lines if x["kind"] == "patient")
    assert patient["pseudonym"] == ds.PatientID and ds.PatientID.startswith("STUDY7-")
    assert "MRN998877" in patient["original"]
    study = next(x for x in lines if x["kind"] == "study")
    assert study == {"kind": "study", "original": original_study,
                     "pseudonym": ds.StudyInstanceUID}


def test_crosswalk_refuses_a_readable_file(tmp_path):
    path = tmp_path / "cw.jsonl"
    path.write_text("")
    path.chmod(0o644)
    settings = dataclasses.replace(ProfileSettings.default(), crosswalk_enabled=True,
                                   crosswalk_path=path)
    with pytest.raises(PermissionError, match="chmod 600"):
        TagEngine(settings, KEY)


def test_from_settings_creates_a_0600_key_with_a_warning(tmp_path, capsys):
    key_file = tmp_path / "var" / "site.key"
    settings = dataclasses.replace(ProfileSettings.default(), key_file=key_file)
    first = TagEngine.from_settings(settings)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "WARNING" in capsys.readouterr().err
    second = TagEngine.from_settings(settings)
    a, b = rich_ct(), rich_ct()
    first.apply(a, identity_mod.collect(a))
    second.apply(b, identity_mod.collect(b))
    assert a.SOPInstanceUID == b.SOPInstanceUID
    assert "WARNING" not in capsys.readouterr().err
