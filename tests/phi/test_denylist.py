"""Deny-list matching of the instance's own identifiers (no model needed)."""
from __future__ import annotations

import pytest

from deid_node.identity import Identity
from deid_node.phi.analyzer import PhiAnalyzer, PhiSettings

PATTERNS_ONLY = PhiAnalyzer(PhiSettings.default(), None)
DOE = Identity(person_names=("DOE^JOHN",), name_parts=("DOE", "JOHN"), ids=("PX1234567",),
               birth_dates=("19450315",), event_dates=("20240524",), phones=("555-867-5309",),
               institutions=("ST MARY HOSPITAL",))
ZHANG = Identity(person_names=("张三丰", "ZHANG^SANFENG"), name_parts=("张三丰", "ZHANG", "SANFENG"),
                 ids=("ZY20240017",))


def identity_hits(text: str, ident: Identity) -> set[str]:
    return {text[s.start:s.end] for s in PATTERNS_ONLY.candidates(text, ident) if s.recognizer == "identity"}


def covered(text: str, value: str, ident: Identity) -> bool:
    start = text.index(value)
    spans = PATTERNS_ONLY.analyze(text, ident)
    return all(any(s.start <= i < s.end for s in spans) for i in range(start, start + len(value))
               if text[i].isalnum())


@pytest.mark.parametrize("text,value", [
    ("Patient John Doe seen", "John Doe"),
    ("DOE^JOHN", "DOE^JOHN"),
    ("DOE, J  CHEST", "DOE, J"),
    ("J. DOE  CHEST", "J. DOE"),
    ("D0E J0HN 5.0MHZ", "D0E J0HN"),     # O read as 0
    ("JOHNDOE ABD", "JOHNDOE"),          # dropped space
    ("J OHN DOE", "J OHN DOE"),          # extra space
    ("ID PX 1234567", "PX 1234567"),
    ("PX123456 7", "PX123456 7"),
    ("P X1Z34S67", "P X1Z34S67"),        # 2/Z and 5/S confusions, split
    ("DOB 15-MAR-45", "15-MAR-45"),
    ("DOB 03/15/1945", "03/15/1945"),
    ("born MAR 1945", "MAR 1945"),
    ("1945年3月15日出生", "1945年3月15日"),
    ("exam 2024.05.24", "2024.05.24"),
    ("call 5558675309", "5558675309"),
    ("at St Mary Hospital", "St Mary Hospital"),
])
def test_identity_variants_are_covered(text: str, value: str) -> None:
    assert covered(text, value, DOE)
    assert identity_hits(text, DOE)


@pytest.mark.parametrize("text,value", [
    ("患者张三丰，男", "张三丰"),
    ("三丰 复查", "三丰"),
    ("ZHANG SANFENG", "ZHANG SANFENG"),
    ("住院号ZY2024OO17", "ZY2024OO17"),
])
def test_chinese_identity(text: str, value: str) -> None:
    assert covered(text, value, ZHANG)


@pytest.mark.parametrize("text", ["CLINICAL HISTORY", "DOES NOT", "JOHNSON CLINIC REPORT", "IMG 1945",
                                  "SE 3 IM 15"])
def test_no_identity_match_inside_other_words(text: str) -> None:
    li = Identity(person_names=("LI^NA",), name_parts=("LI", "NA"))
    assert identity_hits(text, DOE) == set()
    assert identity_hits(text, li) == set()


def test_identity_score_is_high() -> None:
    spans = PATTERNS_ONLY.analyze("DOE^JOHN", DOE)
    assert spans and spans[0].recognizer == "identity" and spans[0].score >= 0.95
