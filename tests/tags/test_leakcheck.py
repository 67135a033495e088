"""The leak check finds the instance's own identifiers in their common written forms, at any
depth, and does not fire on clean output."""
from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from deid_node import identity as identity_mod
from deid_node.identity import Identity
from deid_node.tags.leakcheck import Leak, find_leaks

from .helpers import read, rich_ct

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
IDENT = Identity(person_names=("DOE^JOHN",), name_parts=("DOE", "JOHN", "LI", "ID", "NAME"),
                 ids=("MRN-12345",), birth_dates=("19700102",),
                 addresses=("12 Elm Street^Springfield^MA",), phones=("+1 (555) 123-4567",))


def leaks_in(text: str, vr: str = "LO", ident: Identity = IDENT) -> list[Leak]:
    ds = Dataset()
    ds.add_new(0x00081030, vr, text)
    return find_leaks(ds, ident)


@pytest.mark.parametrize("text,kind", [
    ("follow-up for John Doe", "name"),
    ("DOE^JOHN", "name"),
    ("doe, john", "name"),
    ("pt DOE_JOHN", "name"),
    ("Dr Li reviewed", "name"),
    ("ID card", "name"),                     # a name part "ID" outside a placeholder
    ("[DOE]", "name"),                       # brackets are not a placeholder
    ("id mrn12345", "id"),
    ("MRN 12345", "id"),
    ("mrn.123.45", "id"),
    ("pt 12345 seen", "id"),
    ("born 1970-01-02", "birth_date"),
    ("born 02/01/1970", "birth_date"),
    ("born 01/02/1970", "birth_date"),
    ("19700102", "birth_date"),
    ("born 2 Jan 1970", "birth_date"),
    ("born January 2nd, 1970", "birth_date"),
    ("born 02-JAN-1970", "birth_date"),
    ("lives at 12 elm street", "address"),
    ("from springfield", "address"),
    ("call 555-123-4567", "phone"),
    ("call 15551234567", "phone"),
])
def test_finds_identifiers_in_common_forms(text, kind):
    assert kind in {leak.kind for leak in leaks_in(text)}


@pytest.mark.parametrize("text", [
    "JOHNSON protocol",           # a name part inside a longer word
    "CT CHEST LIVER",             # "LI" inside a word
    "DOES NOT APPLY",
    "series 12345678",            # the ID's digits inside a longer number
    "1970 cohort",                # a year alone
    "19700103",                   # another date
    "springfieldia",
    "555-123-456",
    "[NAME] [ID]",
    "ref [ID] seen by [NAME]",
])
def test_does_not_fire_on_near_misses(text):
    assert leaks_in(text) == []


def test_path_of_a_nested_leak_names_the_place_not_the_value():
    ds = Dataset()
    item, inner = Dataset(), Dataset()
    inner.TextValue = "Seen with John DOE"
    item.ContentSequence = Sequence([Dataset(), inner])
    ds.ContentSequence = Sequence([item])
    leaks = find_leaks(ds, IDENT)
    assert leaks == [Leak("(0040,A730)[0].(0040,A730)[1].(0040,A160)", "name")]
    assert "john" not in repr(leaks).lower()


def test_private_elements_and_cjk_names_are_searched():
    ident = identity_mod.collect(_han_named())
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    block = ds.private_block(0x0011, "ACME", create=True)
    block.add_new(0x01, "LO", "患者王小東复查")
    block.add_new(0x02, "UN", "note: 王小东".encode("utf-8"))
    kinds = {(leak.path, leak.kind) for leak in find_leaks(ds, ident)}
    assert ("(0011,1001)", "name") in kinds


def _han_named() -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Wang^XiaoDong=王小東"
    return ds


def test_clean_output_has_no_leaks(engine):
    for name in ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "chrX1.dcm", "waveform_ecg.dcm"):
        ds = read(name)
        ident = identity_mod.collect(ds)
        engine.apply(ds, ident)
        assert find_leaks(ds, ident) == [], name


def test_unprocessed_input_is_a_leak():
    ds = rich_ct()
    kinds = {leak.kind for leak in find_leaks(ds, identity_mod.collect(ds))}
    assert {"name", "id", "birth_date", "address", "phone"} <= kinds


def test_every_kept_private_value_is_checked(engine):
    ds = rich_ct()
    ds[0x00431027].value = "/1.0:1"
    ident = identity_mod.collect(ds)
    engine.apply(ds, ident)
    ds[0x00191023].value = ds.get(0x00191023).value   # kept on the safe list
    assert find_leaks(ds, ident) == []
    ds[0x00431027].value = "DOE"                       # a kept element that now holds a name
    assert find_leaks(ds, ident) == [Leak("(0043,1027)", "name")]


def test_a_dummy_the_engine_wrote_is_not_the_value_it_replaced(tmp_path):
    """A dataset de-identified before ("Removed by CTP" in every name) gives the name part
    "Removed"; the dummy "REMOVED" that action D writes over it is policy, not a leak, while
    the old value left anywhere still is. Through the pipeline such a file is forwarded."""
    from deid_node.pipeline import Pipeline
    from deid_node.settings import Settings

    from .helpers import KEY, to_bytes
    ident = Identity(name_parts=("Removed", "by", "CTP"))
    ds = Dataset()
    ds.VerifyingObserverName = "REMOVED"
    assert [lk.kind for lk in find_leaks(ds, ident)] == ["name"]
    assert find_leaks(ds, ident, ours={"REMOVED"}) == []
    ds.PersonName = "Removed by CTP"
    assert [lk.path for lk in find_leaks(ds, ident, ours={"REMOVED"})] == ["(0040,A123)"]

    pipeline = Pipeline(Settings.load(None, var=tmp_path), KEY)
    assert "REMOVED" in pipeline.written_values
    src = rich_ct()
    src.VerifyingObserverName = src.PersonName = "Removed by CTP"
    src.ReferringPhysicianName = "Removed by CTP"
    verdict = pipeline.run(to_bytes(src))
    assert verdict.reason != "leak-check", verdict.report.get("leaks")


def test_a_release_knows_the_dummies_without_loading_the_pipeline(tmp_path):
    """The leak check of a re-rendered release skips the same dummies as the pipeline's,
    from the rules alone: no PHI model is loaded for a release."""
    from deid_node.pipeline import Pipeline
    from deid_node.review.actions import Context
    from deid_node.settings import Settings

    from .helpers import KEY
    settings = Settings.load(None, var=tmp_path)
    ctx = Context(settings, KEY, quarantine=None, spool=None)
    assert "REMOVED" in ctx.written_values()
    assert ctx._pipeline is None
    assert ctx.written_values() == Pipeline(settings, KEY).written_values
