"""Text in a script the recogniser cannot read (Han, kana, Hangul, Hebrew, Arabic) is blanked,
never kept on a Latin reading."""
from __future__ import annotations

import copy
import dataclasses
import re

import numpy as np
import pytest
import torch

from deid_node.phi.patterns import cn_resident_id_ok
from deid_node.pixels import PixelRedactor, script
from deid_node.synth import burned
from deid_node.train.script import batch_at

from .conftest import draw_text

ZENHEI = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"   # held-out CJK fonts
UMING = "/usr/share/fonts/truetype/arphic/uming.ttc"
SANS = "/usr/share/fonts/truetype/freefont/FreeSans.ttf"   # a held-out Latin family
SERIF = "/usr/share/fonts/truetype/freefont/FreeSerif.ttf"  # held out for Hebrew and Arabic too


def _crop(text: str, font: str, size: int) -> np.ndarray:
    img = np.full((60, 400), 20, np.uint8)
    x0, y0, x1, y1 = draw_text(img, text, (10, 10), size, font=font)
    return img[max(0, y0 - 3):y1 + 3, max(0, x0 - 3):x1 + 3]


def test_script_check_tells_han_from_latin(redactor) -> None:
    """Held-out fonts: Han names and labelled Han lines score high, Latin settings, names
    and IDs low (also rendered in a CJK font, whose Latin glyphs differ)."""
    han = [_crop("张伟", ZENHEI, 20), _crop("姓名：李秀英", UMING, 16),
           _crop("住院号 12345678", ZENHEI, 14), _crop("北京协和医院", UMING, 22)]
    latin = [_crop("Gain 45 dB", SANS, 16), _crop("DOE^JOHN", SANS, 20),
             _crop("ID: 4471923", ZENHEI, 14), _crop("Depth 14 cm", UMING, 18)]
    p_han = redactor.script_check.other_script(han)
    p_latin = redactor.script_check.other_script(latin)
    t = redactor.settings.other_script_threshold
    assert min(p_han) >= t > max(p_latin), (t, p_han, p_latin)


def test_script_check_finds_most_hebrew_and_arabic_names(redactor) -> None:
    """Held-out fonts: names the recogniser reads as "272" or "TIS 1072". The check finds
    about four in five of all held-out Hebrew and Arabic crops (lines of a label and
    digits least, which are blanked for their digits); of these names most score high,
    where the network trained without these scripts scored every one near 0."""
    names = [_crop("לוי שרה", SANS, 18), _crop("איכילוב", SERIF, 24), _crop("כהן דוד", SERIF, 16),
             _crop("محمد أحمد", SERIF, 20), _crop("الاسم: فاطمة علي", SERIF, 16),
             _crop("خالد حسن", SERIF, 24)]
    p = redactor.script_check.other_script(names)
    assert sum(x >= redactor.settings.other_script_threshold for x in p) >= 4, p


def test_han_names_are_blanked_and_latin_settings_kept(redactor) -> None:
    """The recogniser reads a Chinese name as short confident Latin that nothing can call
    PHI; the script check blanks it as ``other-script``."""
    img = burned.generate(3, "heldout", 480, 640, n_text=(0, 0), background="us").image.copy()
    names = [draw_text(img, "张伟", (30, 20), 22, font=ZENHEI),
             draw_text(img, "王秀英", (430, 24), 18, font=UMING),
             draw_text(img, "刘洋", (24, 430), 16, font=ZENHEI)]
    setting = draw_text(img, "Gain 45 dB", (480, 440), 18, font=SANS)
    boxes, _ = redactor.find({0: img}, None)

    def over(ink):
        return [b for b in boxes if b.x0 < ink[2] and ink[0] < b.x1 and b.y0 < ink[3]
                and ink[1] < b.y1]

    for ink in names:
        found = over(ink)
        assert found and all(b.decision in ("phi", "uncertain") for b in found), (
            ink, [(b.text, b.decision, b.why) for b in found])
    assert any(b.why == "other-script" for ink in names for b in over(ink))
    kept = over(setting)
    assert [b.decision for b in kept] == ["kept"]
    t = redactor.settings.other_script_threshold
    # and so it is by the check's own score, where the reading alone would not keep it
    strict = copy.copy(redactor)
    strict.settings = dataclasses.replace(redactor.settings, latin_term_letters=0)
    boxes, _ = strict.find({0: img}, None)
    kept = over(setting)
    assert [b.decision for b in kept] == ["kept"]
    assert kept[0].other_script < t and kept[0].log_dict([0], (0, 0, 1, 1))["other_script"] < t


class _SaysForeign:
    """A script check that takes every crop for another script."""

    @staticmethod
    def other_script(crops):
        return [0.99] * len(crops)


def test_a_sure_reading_of_device_words_outweighs_the_script_check(redactor) -> None:
    """Latin settings the check mistook for another script ("Frq 3.5 MHz" at 0.94) stay
    when the recogniser is sure and a device word is among them; what Han, Hangul or Hebrew
    names are read as (digits, a letter or two, unsure readings) is still blanked."""
    from deid_node.pixels.redactor import Box
    if redactor.analyzer is None:
        pytest.skip("kept boxes exist with the PHI analyzer only")
    red = copy.copy(redactor)
    red.script_check = _SaysForeign()
    img = np.zeros((200, 400, 3), np.uint8)

    def box(i, text, conf):
        return Box(10, 10 + 20 * i, 90, 26 + 20 * i, score=0.99, spread=0.0, frame=0,
                   text=text, ocr_conf=conf, decision="kept", why="safe-words")
    latin = [box(0, "Frq 3.5 MHz", 0.94), box(1, "Obstetric", 0.999), box(2, "HR 72 bpm", 0.95)]
    foreign = [box(3, "204", 0.97), box(4, "E4:4", 0.79), box(5, "RA", 0.98),
               box(6, "MHz", 0.6), box(7, "se9", 0.9)]
    red._check_script({0: img}, latin + foreign)
    assert [b.decision for b in latin] == ["kept"] * 3
    assert [b.why for b in foreign] == ["other-script"] * 5


def test_a_reading_barely_made_must_look_clearly_latin(redactor) -> None:
    """A Japanese name read "SAx x3" at 0.031 scored 0.53 with the check: device terms read
    that unsurely are kept only when the check is clearly for Latin (under
    ``unsure_script_threshold``); at 0.4 such a box is blanked, a sure reading is not."""
    from deid_node.pixels.redactor import Box

    class _Says:
        @staticmethod
        def other_script(crops):
            return [0.4] * len(crops)
    red = copy.copy(redactor)
    red.script_check = _Says()
    img = np.zeros((100, 200, 3), np.uint8)
    unsure = Box(10, 10, 90, 26, score=0.99, spread=0.0, frame=0, text="SAx x3",
                 ocr_conf=0.031, decision="kept", why="safe-words")
    sure = Box(10, 40, 90, 56, score=0.99, spread=0.0, frame=0, text="W 400 L 40",
               ocr_conf=0.6, decision="kept", why="safe-words")
    red._check_script({0: img}, [unsure, sure])
    assert (unsure.decision, unsure.why) == ("uncertain", "other-script")
    assert sure.decision == "kept"
    assert redactor.settings.unsure_script_threshold < redactor.settings.other_script_threshold


def test_no_script_check_when_switched_off(redactor) -> None:
    off = dataclasses.replace(redactor.settings, script_check="")
    assert PixelRedactor.load(off, redactor.analyzer).script_check is None


@pytest.mark.parametrize("text,other", [("张伟", True), ("Gain 45 dB", False),
                                        ("ID：123", True), ("DOE^JOHN", False),
                                        ("ヤマダ タロウ", True), ("김민준", True),
                                        ("ת.ז. 225719434", True), ("محمد أحمد", True),
                                        ("Müller, José", False), ("Иванов", False)])
def test_labels_say_other_script_for_any_cjk_or_rtl_character(text: str, other: bool) -> None:
    assert any(script.is_other_script(ch) for ch in text) is other


def test_chinese_screens_carry_valid_resident_ids_and_han_names() -> None:
    samples = [burned.generate(s, "heldout", locale="zh") for s in range(40)]
    ids = [i for s in samples for i in s.identity.ids if len(i) == 18]
    assert ids and all(cn_resident_id_ok(i) for i in ids)
    assert any(any(script.is_other_script(ch) for ch in b["text"])
               for s in samples for b in s.boxes if b["phi"])
    with pytest.raises(ValueError, match="locale"):
        burned.generate(1, "heldout", locale="fr")


@pytest.mark.parametrize("locale,first,last", [("ja", 0x30A0, 0x30FF), ("ko", 0xAC00, 0xD7A3)])
def test_japanese_and_korean_screens_carry_names_in_their_scripts(locale, first, last) -> None:
    """Katakana names on Japanese screens, Hangul on Korean ones (held-out fonts that have
    the glyphs: AR PL UMing has no Hangul)."""
    samples = [burned.generate(s, "heldout", locale=locale) for s in range(30)]
    names = [b["text"] for s in samples for b in s.boxes if b["kind"] == "name"]
    assert names and any(any(first <= ord(ch) <= last for ch in n) for n in names)
    if locale == "ko":
        assert all("uming" not in f for f in burned.font_files("heldout", 1, "ko"))
        assert all(re.fullmatch(r"\d{6}-[1-4]\d{6}", s.identity.ids[0]) for s in samples)


def test_a_training_step_draws_both_classes_the_same_whenever_it_runs() -> None:
    x, widths, y = batch_at(7, 24, 3)
    x2, _, y2 = batch_at(7, 24, 3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert 0 < float(y.mean()) < 1 and len(widths) == 24


def test_detector_crops_are_labelled_by_the_text_under_them() -> None:
    """The crops cut from the detector's boxes on a Chinese screen: a box over a Han name
    is "other script", a box over Latin settings is not, and a training step mixing them
    in is drawn the same whenever it runs."""
    from deid_node.train.script import detected
    sample = burned.generate(11, "train", variety=2, locale="zh")
    items = detected(sample)
    assert {y for _, y in items} == {0.0, 1.0}
    x, _, y = batch_at(7, 24, 3, share_detected=1.0)
    x2, _, y2 = batch_at(7, 24, 3, share_detected=1.0)
    assert torch.equal(x, x2) and torch.equal(y, y2)


def _il_id_ok(number: str) -> bool:
    total = sum(sum(divmod(int(ch) * (1 + i % 2), 10)) for i, ch in enumerate(number))
    return len(number) == 9 and total % 10 == 0


@pytest.mark.parametrize("locale,first,last", [("he", 0x05D0, 0x05EA), ("ar", 0x0621, 0x064A)])
def test_hebrew_and_arabic_screens_carry_names_and_ids_in_held_out_fonts(locale, first, last
                                                                          ) -> None:
    samples = [burned.generate(s, "heldout", locale=locale) for s in range(30)]
    names = [b["text"] for s in samples for b in s.boxes if b["kind"] == "name"]
    assert names and all(any(first <= ord(ch) <= last for ch in n) for n in names)
    assert all("DejaVu" not in f for f in burned.font_files("heldout", 1, locale))
    nat = [s.identity.ids[0] for s in samples]
    if locale == "he":
        assert all(_il_id_ok(i) for i in nat)
    else:
        assert all(re.fullmatch(r"[23]\d{13}", i) for i in nat)


def test_a_box_the_check_blanks_is_followed_along_its_ink(redactor) -> None:
    """The detector often stops a line short ("검" of "검사일: 2025.06.08" over speckle). A
    box the script check blanks is followed along its ink like any other blanked box, so
    the check runs before the ink is followed: run after it, the box would stay as short
    as it was detected and the rest of the line would be forwarded."""
    from deid_node.pixels.redactor import Box
    red = copy.copy(redactor)
    red.script_check = _SaysForeign()
    img = np.zeros((80, 400, 3), np.uint8)
    ink = draw_text(img, "Gain 45 dB", (10, 30), 18, font=SANS)
    short = Box(ink[0] - 1, ink[1] - 2, ink[0] + 30, ink[3] + 2, score=0.99, spread=0.0,
                frame=0, text="Ga", ocr_conf=0.99, decision="kept", why="safe-words", read=True)

    def decided(frames_rgb, boxes, identity):
        return {}
    red.detect = lambda rgb, frame=0: [dataclasses.replace(short)]
    red._carve_settings = lambda frames_rgb, boxes, identity: boxes
    red.read_and_decide = decided
    boxes, _ = red.find({0: img}, None)
    assert [b.why for b in boxes] == ["other-script"]
    assert boxes[0].x1 >= ink[2] - 1, (boxes[0].x1, ink)


def test_the_recipe_records_what_it_started_from_and_the_detector_that_cut_its_crops(
        tmp_path, monkeypatch) -> None:
    """A run trained further (--init) and on the detector's crops (--detected) is only
    reproducible with the weights it started from and the detector it cut with: both are
    recorded in its MANIFEST entry, as the detector's and the recogniser's recipes do."""
    import argparse
    from deid_node import weights
    from deid_node.pixels import PixelSettings
    from deid_node.train import script as recipe
    recorded: dict = {}
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(weights, "record", lambda rel, **kw: recorded.update(kw, rel=rel))
    parser = argparse.ArgumentParser()
    recipe.add_arguments(parser)
    args = parser.parse_args(["--init", "script/script_net.pt", "--detected", "0.5",
                              "--steps", "1", "--batch", "8", "--eval-images", "1",
                              "--width", "48", "--out", "script/trial.pt",
                              "--checkpoint", str(tmp_path / "trial.ckpt")])
    assert recipe.run(args) == 0
    assert (tmp_path / "script" / "trial.pt").is_file()
    m = recorded["metrics"]
    assert m["init"] == "script/script_net.pt"
    assert m["init_sha256"] == weights.sha256_file(weights.verified("script/script_net.pt"))
    assert m["init_command"] == weights.load_manifest()["entries"]["script/script_net.pt"]["command"]
    assert m["detector_sha256"] == weights.sha256_file(
        weights.verified(PixelSettings().detector))
    assert "--init=script/script_net.pt" in recorded["command"]
