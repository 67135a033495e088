"""Scan policy (rules/pixels.yaml), settings parsing, identifier matching: no models needed."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest

from deid_node.config import ConfigError, Section
from deid_node.identity import Identity
from deid_node.pixels import PixelSettings
from deid_node.pixels.match import date_variants, identity_hits, unread_ends
from deid_node.pixels.policy import ScanPolicy
from deid_node.pixels.rules import ScanRules

from .conftest import make_dataset, data_file

CT = "1.2.840.10008.5.1.4.1.1.2"
US = "1.2.840.10008.5.1.4.1.1.6.1"
SC = "1.2.840.10008.5.1.4.1.1.7"


@pytest.fixture(scope="module")
def policy() -> ScanPolicy:
    return ScanPolicy.load(PixelSettings.default())


def _ds(**kw):
    return make_dataset(np.zeros((8, 8), np.uint8), **kw)


@pytest.mark.parametrize("kw, expected", [
    ({"modality": "CT", "sop_class": CT, "image_type": "ORIGINAL\\PRIMARY\\AXIAL"}, "skip"),
    ({"modality": "MR", "sop_class": "1.2.840.10008.5.1.4.1.1.4"}, "skip"),
    ({"modality": "CT", "sop_class": CT, "image_type": "DERIVED\\SECONDARY\\SCREEN"}, "scan"),
    ({"modality": "CT", "sop_class": CT, "image_type": "ORIGINAL\\PRIMARY\\LOCALIZER"}, "scan"),
    ({"modality": "MR", "sop_class": "1.2.840.10008.5.1.4.1.1.4",
      "image_type": "ORIGINAL\\PRIMARY\\LOCALIZER"}, "scan"),
    ({"modality": "CT", "sop_class": CT, "burned_in": "YES"}, "scan"),
    ({"modality": "CT", "sop_class": CT, "burned_in": "NO"}, "skip"),
    ({"modality": "US", "sop_class": US}, "scan"),               # BurnedInAnnotation missing
    ({"modality": "US", "sop_class": US, "burned_in": "NO"}, "scan"),
    ({"modality": "CT", "sop_class": SC}, "scan"),               # secondary capture of a CT
    ({"modality": "DX", "sop_class": "1.2.840.10008.5.1.4.1.1.1.1"}, "scan"),
    ({"modality": "XA", "sop_class": "1.2.840.10008.5.1.4.1.1.12.1"}, "scan"),
    ({"modality": "ZZ", "sop_class": "1.2.3.4"}, "scan"),        # unknown: fail closed
    ({"modality": "SEG", "sop_class": "1.2.840.10008.5.1.4.1.1.66.4"}, "skip"),  # a mask
    ({"modality": "RTDOSE", "sop_class": "1.2.840.10008.5.1.4.1.1.481.2"}, "skip"),
    ({"modality": "SEG", "sop_class": SC}, "scan"),              # a capture, whatever it says
])
def test_scan_decision(policy, kw, expected):
    assert policy.decide(_ds(**kw)).action == expected


def test_no_pixel_data_is_skipped(policy):
    ds = _ds(modality="US")
    del ds.PixelData
    d = policy.decide(ds)
    assert d.action == "skip" and not d


def test_decision_reads_no_pixels(policy, tmp_path):
    """CT originals skip from a header read without pixels (the pipeline's cheap path)."""
    ds = pydicom.dcmread(data_file("CT_small.dcm"), stop_before_pixels=True)
    ds.PixelData = b"not decodable at all"  # decision must not touch it
    assert policy.decide(ds).action == "skip"
    us = pydicom.dcmread(data_file("US1_UNCR.dcm"), stop_before_pixels=True)
    us.PixelData = b"garbage"
    assert policy.decide(us).action == "scan"


def test_region_rules(tmp_path):
    rules = ScanRules.from_mapping({
        "scan_rules": [{"name": "ct", "when": {"modality": "CT"}, "action": "skip"},
                       {"name": "rest", "when": {}, "action": "scan"}],
        "regions": [{"name": "acme-band", "when": {"manufacturer": "acme", "rows": 8},
                     "boxes": [[0, 0, 8, 2]]}]}, "test")
    d = rules.decide(_ds(modality="CT", sop_class=CT))
    assert d.action == "regions" and d.regions[0].boxes == ((0, 0, 8, 2),)
    assert rules.decide(_ds(modality="US")).action == "scan+regions"
    assert rules.decide(_ds(modality="US", manufacturer="Other")).action == "scan"


@pytest.mark.parametrize("data, needle", [
    ({"scan_rules": [{"name": "x", "when": {"modalty": "CT"}, "action": "scan"}]}, "modalty"),
    ({"scan_rules": [{"name": "x", "when": {}, "action": "maybe"}]}, "action"),
    ({"scan_rules": []}, "empty"),
    ({"scan_rules": [{"when": {}, "action": "scan"}],
      "regions": [{"name": "r", "when": {}, "boxes": [[5, 5, 1, 1]]}]}, "boxes[0]"),
    ({"scan_rule": []}, "scan_rule"),
])
def test_bad_rules_name_the_problem(data, needle):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        ScanRules.from_mapping(data, "rules.yaml")


def test_settings_from_section():
    s = PixelSettings.from_section(Section({"policy": "all-text", "mc_passes": 4}, "f.yaml",
                                           "pixels"))
    assert s.policy == "all-text" and s.mc_passes == 4
    assert PixelSettings.default().policy == "phi"
    with pytest.raises(ConfigError, match="pixels.polcy"):
        PixelSettings.from_section(Section({"polcy": "phi"}, "f.yaml", "pixels"))
    with pytest.raises(ConfigError, match="pixels.policy"):
        PixelSettings.from_section(Section({"policy": "some"}, "f.yaml", "pixels"))
    with pytest.raises(ConfigError, match="uncertainty_threshold"):
        PixelSettings.from_section(Section({"uncertainty_threshold": 3}, "f.yaml", "pixels"))
    s = PixelSettings.from_section(Section({"detect_views": []}, "f.yaml", "pixels"))
    assert s.detect_views == () and PixelSettings().detect_views == ("shift",)
    with pytest.raises(ConfigError, match="detect_views.*blur.*known: shift"):
        PixelSettings.from_section(Section({"detect_views": ["blur"]}, "f.yaml", "pixels"))


IDN = Identity(("DOE^JOHN",), ("DOE", "JOHN"), ("12345678", "A998877"), ("19800315",),
               ("20240102",), (), (), ("St. Mary's Hospital",))


@pytest.mark.parametrize("text, kind", [
    ("Patient: J0HN D0E", "name"), ("ID 1234S678", "id"), ("DOB 15/03/1980", "birth_date"),
    ("15-Mar-1980", "birth_date"), ("03/15/1980", "birth_date"),
    ("2024-01-02 10:11", "event_date"), ("ST MARYS HOSPITAL", "institution"),
    ("A998B77", "id"), ("12346678", "id"),  # one misread digit
])
def test_identity_hits_tolerate_ocr(text, kind):
    assert kind in identity_hits(text, IDN)


@pytest.mark.parametrize("text", ["Gain 45 dB", "LIVER", "TIS 0.3", "Depth 14 cm", "C5-1"])
def test_identity_no_false_hits(text):
    assert identity_hits(text, IDN) == []


@pytest.mark.parametrize("text, ends", [
    ("MEDICAL CENTER", (11, 0)),             # the head of the name left unread
    ("UNIVERS1TY", (0, 15)),                  # its tail (one edit)
    ("Rue de la", (3, 12)),                   # short words count together
    ("UNIVERSITY MEDICAL CENTER", (0, 0)),   # read whole
    ("ST", (0, 0)), ("de la", (0, 0)),       # too little of it to say where the rest is
    ("Gain 45 dB", (0, 0)),
])
def test_unread_ends_of_an_institution_read_in_part(text, ends):
    ident = Identity(institutions=("UNIVERSITY MEDICAL CENTER",),
                     addresses=("12 Rue de la Paix, Paris",))
    assert unread_ends(text, ident) == ends
    assert unread_ends(text, None) == (0, 0)


def test_date_variants():
    v = date_variants("20110525")
    assert "25052011" in v and "05252011" in v and "2011052" + "5" in v


def test_render_png_draws_boxes(tmp_path):
    from PIL import Image

    from deid_node.pixels.render import COLOURS, render_png
    ds = make_dataset(np.zeros((60, 80), np.uint16))
    boxes = [{"frames": [0], "x0": 5, "y0": 5, "x1": 30, "y1": 20, "decision": "phi"},
             {"frames": "all", "x0": 40, "y0": 30, "x1": 70, "y1": 50, "decision": "kept"}]
    out = render_png(ds, boxes, tmp_path / "a.png")
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (60, 80, 3)
    assert tuple(img[5, 10]) == COLOURS["phi"] and tuple(img[30, 50]) == COLOURS["kept"]
    assert tuple(img[40, 10]) == (0, 0, 0)


@pytest.mark.parametrize("text, label", [
    ("Openator: Novak", "operator"), ("Ref: Dr Miiller", "ref"), ("Acc: 21368115", "acc"),
    ("Oper ator: DOE", "operator"), ("Pati ent Lee", "patient"),   # a space read inside
    ("DR 60", None), ("Gain 45 dB", None), ("ID", None), ("PW Obstetric", None),
    ("Oper ator", None),
])
def test_phi_labels(policy, text, label):
    from deid_node.pixels.match import label_hit
    assert label_hit(text, policy.rules.phi_labels) == label


@pytest.mark.parametrize("text, safe", [
    ("TIS 0.3", True), ("Tis 03", True), ("FR 25 Hz Ph 0", True), ("Persist Med", True),
    ("Map G", True), ("Frame 34/120", True), ("C5-1", True), ("x1.2", True), ("Ml 1.2", True),
    ("P 100%", True), ("TR 500 TE 15 FR 25 Hz", True),   # a term between the numbers
    # identifiers and anything shaped like one stay out ("1234 567 Hz": 7 digits side by side)
    ("1234 567 Hz", False), ("Gain 45 1234 567", False),
    ("12/01/1950", False), ("16:09:19", False), ("DOB 11 JAN 55", False),
    ("01/16/2", False), ("12.03.", False),   # a date cut short after its second separator
    ("860 920 8759", False), ("2797867743", False), ("Li", False), ("JOHN DOE", False),
    ("Garcia", False), ("LVE LAT", False), ("", False),
])
def test_safe_reading(policy, text, safe):
    from deid_node.pixels.match import safe_reading
    assert safe_reading(text, policy.rules.safe_words) is safe


@pytest.mark.parametrize("text, head", [
    ("", True), ("Ga", True), ("Gain 45 d", True), ("Gain 45 dB", True), ("TR 500 T", True),
    ("12.5%", True), ("C5-", True), ("Rossi", False), ("Gein 45", False),
    ("Gain ')", False), ("MRN 12", False),
])
def test_setting_head(policy, text, head):
    """What a search constrained to device terms may still grow: every finished token a
    safe one, the last the start of a term, a number or a probe name."""
    from deid_node.pixels.match import safe_reading, setting_head
    words = policy.rules.safe_words
    assert setting_head(text, words) is head
    if text and safe_reading(text, words) and "'" not in text:
        assert head   # a whole device-term reading is its own head


@pytest.mark.parametrize("text, hit", [
    ("Dr. DOE", True), ("Dr: DOE", True), ("Dr DOE", True), ("Dr", True), ("Dr.", True),
    ("Ref: Dr Smith", True), ("Dr O'Brien", True), ("DR 60", False), ("DR60", False),
    ("Gain 45 dB", False),
    # a year cut off with its date separator; numbers and frame counts are not
    ("1979/", True), ("2024-", True), ("/1968", True), (" .2011", True),
    ("-1968", True),
    ("34/120", False), ("1/2", False), ("1.2000/", False),
    ("Frame 20/2012 Gain", False),
    # a number of four or more digits alone (a case or exam number), not a short one, a
    # decimal or one with its term
    ("3155", True), ("0721", True), ("2000", True), ("(12345)", True),
    ("100", False), ("-40", False), ("75%", False), ("0.3125", False), ("1540 m/s", False),
    ("PRF 4000", False),
])
def test_phi_patterns(policy, text, hit):
    assert any(p.search(text) for p in policy.rules.phi_patterns) is hit


@pytest.mark.parametrize("text, word", [
    ("Children's Hospital", "hospital"), ("Chilrenis Hospifal", "hospital"),
    ("CITY CLINIC", "clinic"), ("Klinikum Nord", "klinikum"), ("Hopital Saint-Louis", "hopital"),
    ("University Medical Cemter", "medical center"), ("北京协和医院 超声科", "医院"),
    ("Cine 34/120", None), ("Clin", None), ("Medical", None), ("Gain 45 dB", None),
    ("Hosp", None),
])
def test_institution_words_anywhere(policy, text, word):
    """A reading holding a word that names a place of care is an institution's name, even
    misread by a letter and wherever the word stands."""
    from deid_node.pixels.match import word_hit
    assert word_hit(text, policy.rules.phi_words) == word


@pytest.mark.parametrize("data, needle", [
    ({"scan_rules": [{"when": {}, "action": "scan"}], "phi_patterns": ["(unclosed"]},
     "phi_patterns[0]"),
    ({"scan_rules": [{"when": {}, "action": "scan"}], "safe_words": "TIS"}, "safe_words"),
    ({"scan_rules": [{"when": {}, "action": "scan"}], "phi_words": [""]}, "phi_words"),
])
def test_bad_pattern_and_safe_words_rules(data, needle):
    from deid_node.pixels.rules import ScanRules
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        ScanRules.from_mapping(data, "r.yaml")


@pytest.mark.parametrize("text, label", [
    ("Pt:", "pt"), ("NAME", "name"), ("ACC#", "acc"), ("Acc:", "acc"), ("ID:", "id"),
    ("lD", "id"), ("DOB", "dob"), ("Patlent:", "patient"), ("Patient Name:", "patient name"),
    ("姓名", "姓名"), ("病历号:", "病历号"),
    # a value after the label is phi_labels' business; numbers and settings are no label
    ("ID 95", None), ("10", None), ("Gain", None), ("2D", None), ("Exam", None),
    ("Dr", None), ("", None), ("RT", None),
])
def test_phi_context_labels(policy, text, label):
    from deid_node.pixels.match import label_alone
    assert label_alone(text, policy.rules.phi_context_labels) == label


@pytest.mark.parametrize("text, label", [
    ("FOV 350 D0B:", "dob"), ("Gn 62 Pt:", "pt"), ("kVp 80 Patient Name", "patient name"),
    ("FOV 350", None), ("DOB:", None), ("RT KIDNEY", None), ("Pt: DOE", None),
])
def test_label_at_the_end_of_a_reading(policy, text, label):
    """The detector stopped at a label after other text: its value lies beyond the box.
    (A reading that is only a label is label_alone's; one with a value, label_hit's.)"""
    from deid_node.pixels.match import label_at_end
    assert label_at_end(text, policy.rules.phi_context_labels) == label


@pytest.mark.parametrize("text, frag", [
    ("266", True), ("4066", True), ("-07", True), ("1/07", True), ("x1.2", True),
    ("Gain", False), ("ABC1", False), ("TIS 0.3", False), ("123456789", False), ("", False),
    ("C5-1", False), ("L12-5", False), ("12-5", True), ("A12", True),
])
def test_digit_fragment(text, frag):
    from deid_node.pixels.match import digit_fragment
    assert digit_fragment(text) is frag


@pytest.mark.parametrize("text, head", [
    ("Rej:", True), ("CD:", True), ("St.", True), ("ACC#", True), ("Dr.", True),
    ("OB", False), ("Gain", False), ("x1.2", False), ("Pt: DOE", False), ("Ref Dr:", False),
    ("Sector:", False), ("12:", False), ("", False),
])
def test_head_fragment(text, head):
    from deid_node.pixels.match import head_fragment
    assert head_fragment(text) is head


@pytest.mark.parametrize("text, label", [
    ("OB", "dob"), ("RN:", "mrn"), ("cc#", "acc"), ("ame:", "name"), ("perator", "operator"),
    ("DO", "dob"), ("MR:", "mrn"), ("Operat", "operator"), ("Accessi", "accession"),
    ("D:", None), ("DOB", None), ("Ob 09", None), ("Gain", None), ("B", None),
    ("PA", None), ("Oper", None), ("PI", "pid"),
])
def test_label_piece(policy, text, label):
    """A one-word PHI label whose first glyph or last one or two the detector cut off; a
    device term is no label's head ("PA" of "PAT")."""
    from deid_node.pixels.match import label_piece
    rules = policy.rules
    assert label_piece(text, rules.phi_context_labels, rules.safe_words) == label


def test_bad_context_labels_rule():
    from deid_node.pixels.rules import ScanRules
    with pytest.raises(ConfigError, match="phi_context_labels"):
        ScanRules.from_mapping({"scan_rules": [{"when": {}, "action": "scan"}],
                                "phi_context_labels": "Pt"}, "r.yaml")


@pytest.mark.parametrize("text, bad", [
    ("E {AO,{?", True), ("[~]", True), ("TIS 0.3", False), ("BROWN^MARY", False),
    ("Ref: Dr Rossi", False), ("P 100%", False), ("ACC#2136811", False),
])
def test_garbled_reading(text, bad):
    from deid_node.pixels.match import garbled
    assert garbled(text) is bad


@pytest.mark.parametrize("text, strict, lenient", [
    # a number glued to its unit, a term glued to its number
    ("16cm", False, True), ("60dB", False, True), ("LA 5cm", False, True),
    ("DR 60Gn62", False, True),
    # long terms one edit away; short ones never ("Stone" is not "Store")
    ("Pegsist Med", False, True), ("Kidnay", False, True),
    ("Stone", False, False), ("Oliver", False, False), ("Persist Xed", False, False),
    # identifiers stay out whatever the shape
    ("AB12345", False, False), ("ID12345678", False, False), ("12/01/1950", False, False),
    ("5cm 1980 0315", False, False), ("Smithson", False, False), ("B2C4", False, False),
    ("M3P5L7", False, False),
])
def test_lenient_setting_shapes(policy, text, strict, lenient):
    from deid_node.pixels.match import safe_reading
    assert safe_reading(text, policy.rules.safe_words) is strict
    assert safe_reading(text, policy.rules.safe_words,
                        fuzzy_min_letters=PixelSettings().fuzzy_min_letters) is lenient


def test_fuzzy_term_length_is_a_setting(policy):
    from deid_node.pixels.match import safe_reading
    words = policy.rules.safe_words
    assert safe_reading("Kidnay", words, fuzzy_min_letters=6)
    assert not safe_reading("Kidnay", words, fuzzy_min_letters=7)
    settings = PixelSettings.from_section(Section({"fuzzy_min_letters": 7, "line_gap_ink": 0.05,
                                                   "retry_min_fill": 0.5, "min_fill": 0.1,
                                                   "spare_gap": 0.5}, "test", "pixels"))
    assert (settings.fuzzy_min_letters, settings.line_gap_ink, settings.retry_min_fill,
            settings.min_fill, settings.spare_gap) == (7, 0.05, 0.5, 0.1, 0.5)
    with pytest.raises(ConfigError, match="fuzzy_min_letters"):
        PixelSettings.from_section(Section({"fuzzy_min_letters": 1}, "test", "pixels"))


@pytest.mark.parametrize("text, hit", [
    ("DOEARAJ", True), ("DOE^RAJ", True), ("RAJ DOE", True), ("DOERAJ", True),
    ("Dose Ratio", False), ("DR 60", False),
])
def test_short_name_parts_run_together_are_found(text, hit):
    """Parts of three letters match only as whole tokens; a name read with its separator
    as a letter ("DOE^RAJ" → "DOEARAJ") is found as the whole name, one edit away."""
    ident = Identity(("DOE^RAJ",), ("DOE", "RAJ"), (), (), (), (), (), ())
    assert bool(identity_hits(text, ident)) is hit
