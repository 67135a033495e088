"""Pattern recognisers and checksums, without the model."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from deid_node.phi.analyzer import PhiAnalyzer, PhiSettings
from deid_node.phi.patterns import cn_resident_id_ok, luhn_ok

PATTERNS_ONLY = PhiAnalyzer(PhiSettings.default(), None)


def found(text: str) -> list[tuple[str, str]]:
    return [(text[s.start:s.end], s.entity) for s in PATTERNS_ONLY.analyze(text)]


def _cn_id(body17: str) -> str:
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body17 + "10X98765432"[sum(int(c) * k for c, k in zip(body17, w)) % 11]


@pytest.mark.parametrize("date", ["24-MAY-02", "2024/05/24", "05.24.2024", "20240524", "2024-05-24 10:30",
                                  "May 24, 2024", "24 May 2024", "2024年5月24日", "24/05/2024",
                                  "5/24/24", "20240524103000", "2024-05", "05/2024"])
def test_date_forms_seen_on_images(date: str) -> None:
    assert (date, "DATE") in found(f"US ABD {date} 5.0MHz")


def test_compact_date_must_be_a_real_date() -> None:
    assert all(ent != "DATE" for _, ent in found("CODE 20241399"))
    assert all(ent != "DATE" for _, ent in found("TR 2024-13 FR 25/2100"))


def test_resident_id_checksum() -> None:
    good = _cn_id("11010519491231002")
    assert cn_resident_id_ok(good)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert not cn_resident_id_ok(bad)
    spans = {s.recognizer: s.score for s in PATTERNS_ONLY.candidates(good)}
    assert spans["pattern:cn_resident_id"] > 0.9
    worse = {s.recognizer for s in PATTERNS_ONLY.candidates(bad)}
    assert "pattern:cn_resident_id" not in worse  # the checksum cuts it; only a weaker guess remains


@settings(max_examples=200, deadline=None)
@given(st.integers(1930, 2020), st.integers(1, 12), st.integers(1, 28), st.integers(0, 999),
       st.sampled_from(["110105", "310101", "440305", "510107"]))
def test_any_valid_resident_id_is_found(y: int, m: int, d: int, seq: int, area: str) -> None:
    rid = _cn_id(f"{area}{y}{m:02d}{d:02d}{seq:03d}")
    text = f"身份证号{rid}，"
    assert (rid, "ID") in found(text)


def test_luhn() -> None:
    assert luhn_ok("4539 1488 0343 6467")
    assert not luhn_ok("4539 1488 0343 6468")


@pytest.mark.parametrize("text,value,entity", [
    ("手机13812345678", "13812345678", "PHONE"),
    ("电话 +86 138 1234 5678", "+86 138 1234 5678", "PHONE"),
    ("Tel: (010)87654321", "(010)87654321", "PHONE"),
    ("0755-26543210 转", "0755-26543210", "PHONE"),
    ("call (415) 555-2671", "(415) 555-2671", "PHONE"),
    ("SSN 123-45-6789", "123-45-6789", "ID"),
    ("MRN 1234567", "1234567", "ID"),
    ("住院号：ZY2024001", "ZY2024001", "ID"),
    ("病历号 00012345", "00012345", "ID"),
    ("医保卡号:YB3301234567", "YB3301234567", "ID"),
    ("Passport E12345678", "E12345678", "ID"),
    ("mail jane.roe@example.org now", "jane.roe@example.org", "EMAIL"),
    ("see https://pacs.example.org/v/123", "https://pacs.example.org/v/123", "URL"),
    ("host 10.20.30.40", "10.20.30.40", "IP"),
    ("S/N: US12345A", "US12345A", "DEVICE_ID"),
    ("AGE 93", "93", "AGE"),
    ("a 97 y/o man", "97 y/o", "AGE"),
    ("患者 95岁", "95岁", "AGE"),
    ("PatientAge 092Y", "092Y", "AGE"),
    ("家住北京市朝阳区建国路88号", "北京市朝阳区建国路88号", "ADDRESS"),
    ("Seen at Mercy General Hospital", "Mercy General Hospital", "ORGANIZATION"),
    ("于北京协和医院检查", "北京协和医院", "ORGANIZATION"),
])
def test_patterns(text: str, value: str, entity: str) -> None:
    assert any(value in v and e == entity for v, e in found(text))


@pytest.mark.parametrize("text", ["a 45 y/o woman", "AGE 89", "IMG 23/120", "SE 3 IM 45", "TIS 0.4 MI 1.1",
                                  "kVp 120 mAs 250", "WW 400 WL 40", "C5-1", "DLP 450 mGy*cm",
                                  "Matrix 256x256", "FR 25Hz DEPTH 16cm", "version 5.0.1"])
def test_numbers_in_clinical_settings_are_not_phi(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize("text,name", [
    ("NAME:DOEJOHN 45Y", "DOEJOHN"),                      # OCR glued the label to the name
    ("PtJOHN SMITH", "JOHN SMITH"),
    ("PATIENTLAURA HUGHES 91-YEAR-OLD", "LAURA HUGHES"),
    ("PAT1ENT MICHAEL DAWSON 102 Y/O", "MICHAEL DAWSON"),  # OCR-damaged label
    ("Patient Name: MURPHY^BRANDY", "MURPHY^BRANDY"),
    ("Pt: DOE, J  DOB 1945", "DOE, J"),
    ("PATIENT ERICAINGRAM 104Y/O", "ERICAINGRAM"),
    ("姓名：张三丰 住院号", "张三丰"),
    ("US ABD DOE^JOHN^A^^ 5.0MHZ", "DOE^JOHN^A"),          # DICOM PN shape anywhere
])
def test_names_after_a_name_label_and_dicom_pn(text: str, name: str) -> None:
    assert (name, "PERSON") in found(text)


@pytest.mark.parametrize("text", ["Patient tolerated well", "PATIENT TRANSFERRED TO SURGERY",
                                  "PATIENT POSITION HFS", "Patient Orientation", "PT INR 1.2",
                                  "PATIENTS", "NAMED", "NM BONE SCAN", "SPIPERONE F^18^", "ATSM Cu^64^",
                                  "BSA = 0.007184*WT^0.425*HT^0.725", "Name of the procedure"])
def test_name_labels_without_a_name_flag_nothing(text: str) -> None:
    assert [e for _, e in found(text) if e == "PERSON"] == []
