"""The analyzer contract, the shipped model and its quality on held-out data."""
from __future__ import annotations

import json
import shutil
import statistics
import time
from pathlib import Path

import pytest

from deid_node import weights
from deid_node.config import ConfigError, Section
from deid_node.identity import Identity
from deid_node.phi import ENTITIES, PhiAnalyzer, PhiSettings, Span
from deid_node.phi import evaluate
from deid_node.phi.analyzer import load_model, phone_digits
from deid_node.synth import phi_text
from deid_node.weights import WeightsError

OCR = "JOHN DOE 24-MAY-02 MRN 1234567  5.0MHz DEPTH 16cm"


# ------------------------------------------------------------------ settings
def test_settings_defaults_and_overrides() -> None:
    d = PhiSettings.default()
    assert set(d.thresholds) == set(ENTITIES)
    s = PhiSettings.from_section(Section({"thresholds": {"PERSON": 0.9}, "uncertain_band": [0.5, 0.8]},
                                         "conf.yaml", "phi"))
    assert s.thresholds["PERSON"] == 0.9 and s.thresholds["DATE"] == d.thresholds["DATE"]
    assert s.uncertain_band == (0.5, 0.8)


@pytest.mark.parametrize("data,key", [({"treshold": 1}, "phi.treshold"),
                                      ({"thresholds": {"NAME": 0.5}}, "phi.thresholds.NAME"),
                                      ({"thresholds": {"PERSON": 1.5}}, "phi.thresholds.PERSON"),
                                      ({"uncertain_band": [0.9, 0.1]}, "phi.uncertain_band")])
def test_settings_errors_name_the_key(data: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        PhiSettings.from_section(Section(data, "conf.yaml", "phi"))


# ------------------------------------------------------------------ weights
def test_model_hash_mismatch_refuses_to_load(tmp_path: Path) -> None:
    rel = PhiSettings.default().model
    shutil.copytree(weights.WEIGHTS_DIR / rel, tmp_path / rel)
    manifest = weights.load_manifest()
    (tmp_path / "MANIFEST.json").write_text(json.dumps(manifest), encoding="utf-8")
    load_model(rel, tmp_path)  # the untouched copy verifies
    victim = next(p for p in sorted((tmp_path / rel).rglob("*")) if p.is_file() and p.stat().st_size > 1000)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256 differs"):
        load_model(rel, tmp_path)


def test_model_is_small() -> None:
    rel = PhiSettings.default().model
    size = sum(p.stat().st_size for p in (weights.WEIGHTS_DIR / rel).rglob("*") if p.is_file())
    assert size <= 30 * 1024 * 1024


# ------------------------------------------------------------------ contract
def test_load_is_cached(analyzer: PhiAnalyzer) -> None:
    assert PhiAnalyzer.load() is analyzer


def test_ocr_annotation(analyzer: PhiAnalyzer) -> None:
    spans = analyzer.analyze(OCR)
    got = {OCR[s.start:s.end]: s.entity for s in spans}
    assert got.get("JOHN DOE") == "PERSON"
    assert got.get("24-MAY-02") == "DATE"
    assert got.get("1234567") == "ID"
    assert "5.0MHz" not in "".join(got) and "16cm" not in "".join(got)
    assert analyzer.redact(OCR, spans) == "[NAME] [DATE] MRN [ID]  5.0MHz DEPTH 16cm"


def test_spans_are_well_formed(analyzer: PhiAnalyzer) -> None:
    texts = [s.text for s in phi_text.generate("test", 300, seed=7)]
    for text, spans in zip(texts, analyzer.analyze_batch(texts)):
        assert spans == sorted(spans, key=lambda s: s.start)
        for a, b in zip(spans, spans[1:]):
            assert a.end <= b.start
        for s in spans:
            assert isinstance(s, Span) and s.entity in ENTITIES and 0.0 <= s.score <= 1.0
            assert 0 <= s.start < s.end <= len(text)
            lo, hi = analyzer.settings.uncertain_band
            assert s.uncertain == (lo <= s.score < hi)
        u = analyzer.uncertainty(spans)
        assert 0.0 <= u <= 1.0
    with pytest.raises(Exception):
        spans[0].score = 1.0  # type: ignore[misc]  # frozen


def test_batch_equals_single(analyzer: PhiAnalyzer) -> None:
    texts = [s.text for s in phi_text.generate("test", 60, seed=11)] + ["", "   ", OCR]
    assert analyzer.analyze_batch(texts) == [analyzer.analyze(t) for t in texts]


def test_model_scores_are_probabilities_not_constants(analyzer: PhiAnalyzer) -> None:
    texts = [s.text for s in phi_text.generate("test", 400, seed=3)]
    scores = {round(s.score, 3) for t in texts for s in analyzer.candidates(t) if s.recognizer == "model"}
    assert len(scores) > 20 and all(0.0 <= x <= 1.0 for x in scores)


def test_identity_catches_what_the_model_cannot(analyzer: PhiAnalyzer) -> None:
    ident = Identity(person_names=("QWXZ^VRYNT",), name_parts=("QWXZ", "VRYNT"))
    text = "US ABD QWXZ VRYNT 5.0MHZ"
    spans = analyzer.analyze(text, ident)
    assert any(text[s.start:s.end] == "QWXZ VRYNT" and s.entity == "PERSON" for s in spans)


def test_uncertainty_reflects_ambiguous_spans(analyzer: PhiAnalyzer) -> None:
    assert analyzer.uncertainty([]) == 0.0
    assert analyzer.uncertainty([Span(0, 3, "PERSON", 0.99, "identity", False)]) == 0.0
    assert analyzer.uncertainty([Span(0, 3, "PERSON", 0.5, "model", True)]) == 1.0


def test_a_short_number_is_no_phone(analyzer: PhiAnalyzer) -> None:
    """The model tags "255" of a colour triple as PHONE (pydicom's SC test images describe
    their rows so), which held them as uncertain; a number counted with the digits and
    phone punctuation around it needs 7 digits to be a phone. Real phones stay."""
    text = "Test Image with 10 rows of (255,0,0), 10 rows of (255,128,128)"
    assert any(s.entity == "PHONE" for s in analyzer._model_spans([text])[0])
    assert not analyzer.analyze(text)
    assert phone_digits("call 555-I234", Span(5, 13, "PHONE", 0.8, "model")) == 7
    for phone in ("call 555-1234 today", "Tel (617) 555-0199", "手机 13812345678"):
        assert any(s.entity == "PHONE" for s in analyzer.analyze(phone)), phone


def test_a_compression_ratio_is_no_date(analyzer: PhiAnalyzer) -> None:
    """DerivationDescription says "compression ratio 10:1": the model took the "1" for a
    date at 0.98, and "2097" of "2097:1" for an unsure one, which held GE's NM captures.
    A time has two-digit minutes; times and dates stay."""
    for text in ("Lossy compression ratio 10:1", "JPEG 2000 irreversible (lossy) 2097:1"):
        assert any(s.entity == "DATE" for s in analyzer._model_spans([text])[0]), text
        assert not [s for s in analyzer.analyze(text) if s.entity == "DATE"], text
    for text in ("Scanned 10:15 on 2024-03-15", "seen 03/15/2024 at 9:45"):
        assert any(s.entity == "DATE" for s in analyzer.analyze(text)), text


def test_the_digits_after_a_decimal_point_are_no_id_or_date(analyzer: PhiAnalyzer) -> None:
    """dcmtk writes "compression ratio 2.1113" into DerivationDescription; the model took
    "1113" for an unsure date (the tag stage held the instance) and "3125" of a pixel
    spacing for an ID. A number that reads as a month and year stays a date, and digits
    after the point of a number whose first part is an ID stay an ID."""
    for text in ("Lossless RLE compression, compression ratio 2.1113", "Pixel spacing 0.3125",
                 "Lossy compression with JPEG extended sequential 8 bit, IJG quality factor "
                 "90, compression ratio 12.8712"):
        assert any(s.entity in ("DATE", "ID") for s in analyzer._model_spans([text])[0]), text
        assert not analyzer.analyze(text), text
    got = {"seen 03.2011": "03.2011", "DOB 12.03.1975": "12.03.1975", "Acc 123.4567": "4567"}
    for text, phi in got.items():
        assert any(text[s.start:s.end].endswith(phi) for s in analyzer.analyze(text)), text


def test_chinese_text(analyzer: PhiAnalyzer) -> None:
    text = "患者王小明，身份证号11010519491231002X，手机13912345678，住院号ZY123456"
    got = {text[s.start:s.end]: s.entity for s in analyzer.analyze(text, language="zh")}
    assert got.get("王小明") == "PERSON"
    assert got.get("11010519491231002X") == "ID"
    assert got.get("13912345678") == "PHONE"
    assert got.get("ZY123456") == "ID"


# ------------------------------------------------------------------ measured quality
def test_clinical_phrases_survive(analyzer: PhiAnalyzer, clinical_phrases: list[str]) -> None:
    assert len(clinical_phrases) >= 300
    assert sum(any("\u4e00" <= c <= "\u9fff" for c in p) for p in clinical_phrases) >= 100
    flagged = [p for p, s in zip(clinical_phrases, analyzer.analyze_batch(clinical_phrases)) if s]
    assert len(flagged) / len(clinical_phrases) <= 0.02, flagged


def test_heldout_sample_quality(analyzer: PhiAnalyzer) -> None:
    """A small held-out sample (unseen templates, own seed); full figures in docs/phi.md."""
    test = phi_text.generate("test", 1200, seed=31337)
    m = evaluate.report(evaluate.score(test, analyzer.analyze_batch([s.text for s in test])))
    for ent in ("PERSON", "ID", "DATE", "PHONE"):
        assert m[ent]["recall"] >= 0.95, (ent, m[ent])
        assert m[ent]["precision"] >= 0.85, (ent, m[ent])
    for grp in ("zh:PERSON_HAN", "zh:RESIDENT_ID", "zh:MOBILE"):
        assert m[grp]["recall"] >= 0.93, (grp, m[grp])


def test_short_text_speed(analyzer: PhiAnalyzer) -> None:
    texts = [s.text for s in phi_text.generate("test", 600, seed=5) if len(s.text) <= 64][:200]
    for t in texts[:20]:
        analyzer.analyze(t)
    times = []
    for t in texts:
        t0 = time.perf_counter()
        analyzer.analyze(t)
        times.append(time.perf_counter() - t0)
    # 2 ms is the target on an idle core (benchmarks/phi_speed.py); shared CI cores get slack.
    assert statistics.median(times) < 0.008
