"""Tier 2 (free text through the PHI analyzer) and structured content at any depth."""
from __future__ import annotations

import copy
from datetime import datetime

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from deid_node import identity as identity_mod
from deid_node.tags import ProfileSettings, TagEngine
from deid_node.tags.leakcheck import find_leaks

from .helpers import KEY, DenyListAnalyzer, read, real_analyzer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _code(value: str, meaning: str, scheme: str = "DCM") -> Dataset:
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c


def _item(value_type: str, code: Dataset, **values) -> Dataset:
    it = Dataset()
    it.RelationshipType = "CONTAINS" if value_type != "PNAME" else "HAS OBS CONTEXT"
    it.ValueType = value_type
    it.ConceptNameCodeSequence = Sequence([code])
    for k, v in values.items():
        setattr(it, k, v)
    return it


def sr_with_phi() -> Dataset:
    ds = copy.deepcopy(read("test-SR.dcm"))
    ds.PatientName = "DOE^JOHN"
    ds.PatientID = "PID77123"
    # test-SR's own observers are called "Observer^Verifying": a leak in every code meaning
    for item, name in zip(ds.VerifyingObserverSequence, ("CHASE^ROBERT", "FOREMAN^ERIC")):
        item.VerifyingObserverName = name
    observer = _item("PNAME", _code("121008", "Person Observer Name"), PersonName="HOUSE^GREGORY")
    org = _item("TEXT", _code("121009", "Person Observer's Organization Name"),
                TextValue="Princeton Plainsboro")
    org.RelationshipType = "HAS OBS CONTEXT"
    finding = _item("TEXT", _code("121071", "Finding"),
                    TextValue="Nodule 4 mm, discussed with JOHN DOE (PID77123)")
    when = _item("DATETIME", _code("111526", "DateTime Started"), DateTime="20200315101500")
    uid = _item("UIDREF", _code("121232", "Source series"), UID="1.2.3.4.5.6.7")
    deep = _item("CONTAINER", _code("111001", "Algorithm"))
    deep.ContinuityOfContent = "SEPARATE"
    deep.ContentSequence = Sequence([copy.deepcopy(finding)])
    ds.ContentSequence = Sequence([observer, org, finding, when, uid, deep] + list(ds.ContentSequence))
    return ds


def test_sr_content_is_cleaned_at_any_depth():
    ds = sr_with_phi()
    before = copy.deepcopy(ds)
    ident = identity_mod.collect(ds)
    engine = TagEngine(ProfileSettings.default(), KEY, DenyListAnalyzer())
    report = engine.apply(ds, ident)
    cs = ds.ContentSequence
    assert str(cs[0].PersonName) == "REMOVED"                       # observer name
    assert cs[1].TextValue == "REMOVED"                              # observer organisation
    assert cs[2].TextValue == "Nodule 4 mm, discussed with [NAME] [NAME] ([ID])"
    assert cs[5].ContentSequence[0].TextValue == cs[2].TextValue     # depth 2
    assert cs[4].UID == engine.pseudo.uid("1.2.3.4.5.6.7")
    offset = engine.pseudo.date_offset_days("id:PID77123")
    delta = datetime.strptime("20200315101500", "%Y%m%d%H%M%S") - \
        datetime.strptime(cs[3].DateTime, "%Y%m%d%H%M%S")
    assert delta.days == offset and delta.seconds == 0
    # codes (concept names) are vocabulary and stay
    assert cs[2].ConceptNameCodeSequence[0].CodeMeaning == "Finding"
    assert find_leaks(ds, ident) == []
    assert report.tier2_spans.get("PERSON", 0) >= 4 and "113104" in report.codes
    assert len(ds.ContentSequence) == len(before.ContentSequence)


def test_sr_text_fails_closed_without_analyzer():
    ds = sr_with_phi()
    ident = identity_mod.collect(ds)
    TagEngine(ProfileSettings.default(), KEY).apply(ds, ident)
    assert ds.ContentSequence[2].TextValue == "REMOVED"
    assert find_leaks(ds, ident) == []


def test_observer_context_kept_with_its_option():
    ds = sr_with_phi()
    settings = ProfileSettings.default().__class__(
        options=ProfileSettings.default().options + ("retain_institution_identity",))
    TagEngine(settings, KEY, DenyListAnalyzer()).apply(ds, identity_mod.collect(ds))
    assert ds.ContentSequence[1].TextValue == "Princeton Plainsboro"
    assert str(ds.ContentSequence[0].PersonName) == "REMOVED"


def test_analyzer_errors_are_not_swallowed():
    class Broken(DenyListAnalyzer):
        def analyze(self, text, identity=None):
            raise RuntimeError("model crashed")

    ds = sr_with_phi()
    with pytest.raises(RuntimeError, match="model crashed"):
        TagEngine(ProfileSettings.default(), KEY, Broken()).apply(ds, identity_mod.collect(ds))


def test_analyzer_is_called_once_per_instance_when_it_batches():
    class Batching(DenyListAnalyzer):
        batches = 0

        def analyze_batch(self, texts, identity=None):
            Batching.batches += 1
            return [self.analyze(t, identity) for t in texts]

    ds = sr_with_phi()
    a = Batching()
    TagEngine(ProfileSettings.default(), KEY, a).apply(ds, identity_mod.collect(ds))
    assert Batching.batches == 1 and a.calls >= 3


REAL = real_analyzer()


@pytest.mark.skipif(REAL is None, reason="deid_node.phi.PhiAnalyzer is not available")
def test_real_analyzer_replaces_only_the_phi_spans():
    ds = copy.deepcopy(read("CT_small.dcm"))
    ds.PatientName = "DOE^JOHN"
    ds.PatientID = "12345"
    ds.StudyDescription = "CT CHEST for DOE JOHN MRN 12345"
    ds.SeriesDescription = "AXIAL 5mm STANDARD"
    ident = identity_mod.collect(ds)
    report = TagEngine(ProfileSettings.default(), KEY, REAL).apply(ds, ident)
    assert ds.StudyDescription.startswith("CT CHEST for [NAME]")
    assert "[ID]" in ds.StudyDescription
    for phi in ("DOE", "JOHN", "12345"):
        assert phi not in ds.StudyDescription
    assert ds.SeriesDescription == "AXIAL 5mm STANDARD"
    assert report.tier2_spans.get("PERSON", 0) >= 1 and report.tier2_spans.get("ID", 0) >= 1
    assert find_leaks(ds, ident) == []


@pytest.mark.skipif(REAL is None, reason="deid_node.phi.PhiAnalyzer is not available")
def test_real_analyzer_on_sr_and_han_names():
    ds = sr_with_phi()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Wang^XiaoDong=王^小東"
    ds.ContentSequence[2].TextValue = "胸部CT 王小東 复查"
    ident = identity_mod.collect(ds)
    TagEngine(ProfileSettings.default(), KEY, REAL).apply(ds, ident)
    assert "王小東" not in ds.ContentSequence[2].TextValue
    assert ds.ContentSequence[2].TextValue.startswith("胸部CT")
    assert find_leaks(ds, ident) == []
