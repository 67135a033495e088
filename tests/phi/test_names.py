"""Name-lexicon recognisers: glued and split names, the lexicon boost of model name spans."""
from __future__ import annotations

import pytest

from deid_node.phi import PhiAnalyzer, names
from deid_node.synth import phi_text


def _covered(text: str, spans, part: str) -> bool:
    s = text.index(part)
    return all(any(sp.start <= i < sp.end and sp.entity == "PERSON" for sp in spans)
               for i in range(s, s + len(part)) if text[i].isalnum())


def test_lexicon_keeps_ordinary_words_out() -> None:
    lex = names.lexicon()
    assert lex.is_name("SMITH") and lex.is_name("NANCY") and lex.is_name("XIUYING")
    for word in ("WHITE", "LONG", "MARK", "YOUNG", "BROWN"):  # surnames that are also words
        assert not lex.is_name(word), word


@pytest.mark.parametrize("word,parts", [
    ("NANCYTHOMAS", ("NANCY", "THOMAS")),
    ("5ARAHDENNIS", ("SARAH", "DENNIS")),      # OCR read S as 5
    ("XIUYINGXIA", ("XIUYING", "XIA")),
    ("WILLIAMSH", ("WILLIAMS", "H")),           # LAST F glued
    ("CHRISTOPHERMCCULLOUGH", ("CHRISTOPHER", "MCCULLOUGH")),
    ("WANGWEI", ("WANG", "WEI")),              # romanised LAST FIRST
])
def test_split_glued_names(word: str, parts: tuple[str, ...]) -> None:
    assert names.split_glued(word) == parts


@pytest.mark.parametrize("word", ["TEMPORAL", "KIDNEYS", "HEPATIC", "BROWNS", "MORAL", "SMITH",
                                  "GALLSTONES", "ANGIOGRAPHY", "LEFTKIDNEY", "PATIENT", "HORNED",
                                  "HUNTERIAN"])
def test_split_glued_leaves_words_and_single_names(word: str) -> None:
    assert names.split_glued(word) is None


@pytest.mark.parametrize("text,name", [
    ("SM ITH    18-SEP-67  SCOUT", "SM ITH"),
    ("BEDDING MASS  CATHE RINE HALE  MR837370253", "CATHE RINE"),
    ("EMERGENCY  ABIGAI L  COLE   676995018", "ABIGAI L"),
    ("MO NTGOMERYB   2010/01/09   PELVIS", "MO NTGOMERYB"),   # split and glued at once
    ("LUNG  ANDR EW SANCHEZ   MR3473633149", "ANDR EW"),
    ("L  NANCYTHOMAS  19950627", "NANCYTHOMAS"),
])
def test_find_glued_and_split(text: str, name: str) -> None:
    found = {text[s:e] for s, e, ent, _, _ in names.find(text) if ent == "PERSON"}
    assert name in found


@pytest.mark.parametrize("text", ["AND RESELLERS", "MIA ROSE", "AX T2 FLAIR", "HE ART RATE",
                                  "TR 2500 TE 90", "MA Y 2020", "nancythomas lower case"])
def test_find_ignores_words(text: str) -> None:
    assert list(names.find(text)) == []


@pytest.mark.parametrize("text,found", [
    ("VLW 7:9 CM/S  DALE FRANCIS  3I5-632", "DALE FRANCIS"),
    ("LINK  TRAVI5 CO0K  335-92618", "TRAVI5 CO0K"),      # OCR digits folded back
    ("Clinical note: Darius Holland presents", "Darius Holland"),
    ("Dale francis", None),                                  # not the same case
    ("MAX GRAY 5 CM", None),                                 # ordinary words
])
def test_name_pairs(text: str, found: str | None) -> None:
    pairs = [text[s:e] for s, e, _, _, name in names.find(text) if name == "name_pair"]
    assert pairs == ([found] if found else [])


def test_boost_only_for_known_names() -> None:
    assert names.boost("KRAUSE  3/20/88", 0, 6, 0.2) == pytest.approx(0.2 + names.LEXICON_BOOST)
    assert names.boost("WHITE  3/20/88", 0, 5, 0.2) is None     # ordinary word
    assert names.boost("HU 26/01/1934", 0, 2, 0.2) is None      # too short alone (Hounsfield units)
    assert names.boost("DON'T USE", 0, 5, 0.2) is None          # contraction
    assert names.boost("KRAUSE LIVER", 0, 12, 0.2) is None      # not all names


def test_no_clinical_vocabulary_matches() -> None:
    """Nothing the synthetic corpus uses as clinical filler is a glued or split name."""
    hits = [v for v in phi_text.training_vocabulary() if list(names.find(v.upper()))]
    assert hits == []


@pytest.mark.parametrize("text,name", [
    ("TIMOTHYROBERTS   1951/11/20    MIP", "TIMOTHYROBERTS"),
    ("SM ITH    18-SEP-67  SCOUT", "SM ITH"),
    ("BARNESJ   06-APR-22   STAIN", "BARNESJ"),
])
def test_analyzer_redacts_glued_and_split(analyzer: PhiAnalyzer, text: str, name: str) -> None:
    assert _covered(text, analyzer.analyze(text), name)


def test_analyzer_adds_nothing_to_glued_clinical_words(analyzer: PhiAnalyzer) -> None:
    spans = analyzer.candidates("LEFTKIDNEY  RIGHTLOBE  HUNTERIAN  HORNED  AXT2FLAIR")
    new = ("lexicon", "pattern:glued_name", "pattern:split_name", "pattern:name_pair")
    assert [s for s in spans if s.recognizer in new] == []
