"""Values are decoded and re-encoded for the declared character set, and names written in
any script (Han, kana, hangul, Greek, Arabic...) are removed like any other."""
from __future__ import annotations

import copy

import pydicom
import pytest

from deid_node import identity as identity_mod
from deid_node.tags import ProfileSettings, TagEngine
from deid_node.tags.leakcheck import find_leaks

from .helpers import KEY, TEST_FILE_DIRS, DenyListAnalyzer, read, to_bytes

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
CHARSET_FILES = sorted(p.name for p in TEST_FILE_DIRS[1].glob("chr*.dcm"))


@pytest.fixture(scope="module")
def tier2_engine() -> TagEngine:
    return TagEngine(ProfileSettings.default(), KEY, DenyListAnalyzer())


def _roundtrip(ds: pydicom.Dataset) -> pydicom.Dataset:
    import io
    again = pydicom.dcmread(io.BytesIO(to_bytes(ds)))
    for elem in again.iterall():                     # every value decodes
        str(elem.value)
    return again


@pytest.mark.parametrize("name", CHARSET_FILES)
def test_charset_file_roundtrips_without_its_names(name, tier2_engine):
    ds = read(name)
    charset = ds.get("SpecificCharacterSet")
    ident = identity_mod.collect(ds)
    tier2_engine.apply(ds, ident)
    again = _roundtrip(ds)
    assert again.get("SpecificCharacterSet") == charset
    assert find_leaks(again, ident) == []
    if "PatientName" in again:
        assert str(again.PatientName).startswith("DEID-")


def test_charset_corpus_covers_the_issue_list():
    assert {"chrX1.dcm", "chrX2.dcm", "chrH31.dcm", "chrI2.dcm", "chrFren.dcm"} <= set(CHARSET_FILES)


SYNTHETIC = [
    # (SpecificCharacterSet, patient name, free text with the name, clinical words kept)
    ("ISO_IR 100", "Müller^Jürgen", "Thorax für Müller Jürgen", "Thorax für"),
    ("ISO_IR 192", "Wang^XiaoDong=王^小東", "胸部CT 王小東 复查", "胸部CT"),
    ("GB18030", "Wang^XiaoDong=王^小东", "胸部CT 王小东 复查", "胸部CT"),
    ("GBK", "Wang^XiaoDong=王^小东", "胸部CT王小东复查", "胸部CT"),
    (["", "ISO 2022 IR 58"], "Wang^XiaoDong=王^小东", "胸部 王小东 复查", "胸部"),
    (["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎=やまだ^たろう", "胸部 山田太郎 やまだたろう",
     "胸部"),
    (["", "ISO 2022 IR 149"], "Hong^Gildong=洪^吉洞=홍^길동", "흉부 홍길동 洪吉洞", "흉부"),
    ("ISO_IR 126", "Διονυσιος^Ανδρεας", "Θώρακας Διονυσιος", "Θώρακας"),
    ("ISO_IR 144", "Люксембург^Иван", "Грудь Люксембург", "Грудь"),
]


@pytest.mark.parametrize("charset,name,text,kept", SYNTHETIC)
def test_names_in_any_script_are_removed(charset, name, text, kept, tier2_engine):
    ds = copy.deepcopy(read("CT_small.dcm"))
    ds.SpecificCharacterSet = charset
    ds.PatientName = name
    ds.StudyDescription = text
    ds.ReferringPhysicianName = name
    ident = identity_mod.collect(ds)
    tier2_engine.apply(ds, ident)
    again = _roundtrip(ds)
    assert find_leaks(again, ident) == []
    assert again.StudyDescription.startswith(kept)
    assert "[NAME]" in again.StudyDescription
    for group in name.split("="):
        for part in group.split("^"):
            if len(part) >= 2:
                assert part not in again.StudyDescription
                assert part not in str(again.PatientName)


def test_without_analyzer_the_free_text_is_replaced(engine):
    ds = copy.deepcopy(read("chrX1.dcm"))
    ds.StudyDescription = "胸部CT 王小東"
    ident = identity_mod.collect(ds)
    engine.apply(ds, ident)
    assert _roundtrip(ds).StudyDescription == "REMOVED"


def test_iso_ir_58_is_escaped_on_write():
    from deid_node.tags import charsets
    assert charsets.iso_ir_58_roundtrips()
