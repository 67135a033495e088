"""End to end through the trained detector, the EasyOCR recogniser and the PHI analyzer."""
from __future__ import annotations

import copy
import dataclasses
import io
import json
import shutil

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate

from deid_node.identity import collect
from deid_node.pixels import CLEAN_PIXEL_DATA, PixelRedactor, PixelSettings, codec
from deid_node.pixels.ocr import OcrError, Reading, Recogniser, models_dir
from deid_node.synth import burned

from .conftest import draw_text, make_dataset, read

GAP = PixelSettings().line_gap_ink

FONT = "/usr/share/fonts/truetype/freefont/FreeSans.ttf"  # a held-out family


def _us_image(seed: int = 3) -> np.ndarray:
    s = burned.generate(seed, "heldout", 480, 640, n_text=(0, 0), background="us")
    return s.image.copy()


@pytest.fixture()
def burned_us():
    """A 640×480 RGB ultrasound with the patient's name, ID and birth date burned in, plus a
    harmless setting; returns (dataset, {label: ink box})."""
    img = _us_image()
    boxes = {
        "name": draw_text(img, "DOE, JOHN", (20, 12), 20, font=FONT),
        "id": draw_text(img, "ID: PID4471923", (20, 40), 18, font=FONT),
        "dob": draw_text(img, "DOB 15/03/1980", (430, 12), 18, font=FONT),
        "setting": draw_text(img, "Gain 45 dB", (500, 440), 18, font=FONT),
    }
    return make_dataset(img), boxes


def _blanked(ds, box, frame=0) -> bool:
    fr = codec.decode(ds).frames[frame]
    x0, y0, x1, y1 = box
    sub = fr[y0:y1, x0:x1]
    return bool((sub == sub.reshape(-1, *sub.shape[2:])[0]).all())


def test_phi_blanked_setting_kept_rest_identical(redactor, burned_us):
    ds, boxes = burned_us
    before = codec.decode(ds).frames.copy()
    res = redactor.process(ds, collect(ds))
    assert res.scanned and res.action == "scan"
    assert res.quarantine_reason is None, res.as_log()
    for label in ("name", "id", "dob"):
        assert _blanked(ds, boxes[label]), f"{label} still visible"
    if redactor.analyzer is not None:
        assert not _blanked(ds, boxes["setting"]), "harmless setting text was blanked"
    after = codec.decode(ds).frames
    blank = np.zeros(after.shape[1:3], bool)
    for b in res.boxes:
        if b["decision"] in ("phi", "uncertain", "region"):
            blank[b["y0"]:b["y1"], b["x0"]:b["x1"]] = True
    assert np.array_equal(after[0][~blank], before[0][~blank])
    assert ds.BurnedInAnnotation == "NO" and res.method_codes == [CLEAN_PIXEL_DATA]
    assert res.box_texts == []                       # forwarded: no OCR text anywhere
    log = json.dumps(res.as_log())
    assert "DOE" not in log and "4471923" not in log


def test_all_text_policy_blanks_settings_too(redactor, burned_us):
    ds, boxes = burned_us
    red = PixelRedactor(dataclasses.replace(redactor.settings, policy="all-text"),
                        redactor.analyzer, redactor.model, redactor.recogniser, redactor.policy)
    res = red.process(ds, collect(ds))
    assert res.quarantine_reason is None
    for label in boxes:
        assert _blanked(ds, boxes[label]), label


def test_gate_quarantines_with_texts(redactor, burned_us):
    ds, _ = burned_us
    ds.BurnedInAnnotation = "YES"
    red = PixelRedactor(dataclasses.replace(redactor.settings, uncertainty_threshold=-1.0),
                        redactor.analyzer, redactor.model, redactor.recogniser, redactor.policy)
    res = red.process(ds, collect(ds))
    assert res.quarantine_reason == "pixels-uncertain"
    assert len(res.box_texts) == len(res.boxes) and any(t for t in res.box_texts)
    assert ds.BurnedInAnnotation == "YES" and res.method_codes == []


def test_ct_original_skipped_without_decoding(redactor):
    ds = read("CT_small.dcm")
    ds.PixelData = b"\x00garbage"
    res = redactor.process(ds, collect(ds))
    assert res.action == "skip" and not res.scanned and res.quarantine_reason is None
    assert ds.PixelData == b"\x00garbage"


def test_undecodable_pixels_fail_closed(redactor):
    ds = read("US1_J2KR.dcm")
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\0" * 40])
    res = redactor.process(ds, collect(ds))
    assert res.quarantine_reason == "pixels-undecodable" and "decoded" in res.error
    assert not res.scanned and res.method_codes == []


def test_multiframe_text_in_one_frame_blanked_in_all(redactor):
    frames = np.stack([_us_image(5)[..., 0]] * 4)
    box = draw_text(frames[2], "DOE^JOHN 1980-03-15", (200, 8), 20, font=FONT)
    ds = make_dataset(frames, sop_class="1.2.840.10008.5.1.4.1.1.3.1")
    res = redactor.process(ds, collect(ds))
    assert res.quarantine_reason is None
    for f in range(4):
        assert _blanked(ds, box, f), f"frame {f}"


def _cine(n: int = 40) -> np.ndarray:
    """An ultrasound loop: one picture whose sector speckle changes every frame."""
    base = _us_image(3)[..., 0].astype(np.int16)
    rng = np.random.default_rng(0)
    return np.stack([np.clip(base + (base > 20) * rng.integers(-60, 60, base.shape), 0, 255)
                     .astype(np.uint8) for _ in range(n)])


def test_a_label_shown_between_the_sampled_frames_is_found(redactor):
    """A name written on frames 13-15 of a 40-frame loop lies between the sampled frames
    (0, 6, 11, 17, ...) and is static in none: the frames showing something where all the
    samples agree are looked at too, and the name is blanked in every frame."""
    frames = _cine()
    for f in (13, 14, 15):
        box = draw_text(frames[f], "DOE^JOHN 1980-03-15", (200, 8), 20, font=FONT)
    ds = make_dataset(frames, sop_class="1.2.840.10008.5.1.4.1.1.3.1")
    res = redactor.process(ds, collect(ds))
    assert res.quarantine_reason is None, res.as_log()
    assert 13 in res.frames_scanned and len(res.frames_scanned) == 9
    for f in (0, 13, 14, 15, 39):
        assert _blanked(ds, box, f), f"frame {f}"
    # past the budget of frames looked at besides the samples: quarantine, not a guess
    frames = _cine()
    draw_text(frames[13], "DOE^JOHN", (200, 8), 20, font=FONT)
    ds = make_dataset(frames, sop_class="1.2.840.10008.5.1.4.1.1.3.1")
    red = copy.copy(redactor)
    red.settings = dataclasses.replace(redactor.settings, max_extra_frames=0)
    res = red.process(ds, collect(ds))
    assert res.quarantine_reason == "pixels-frames-unscanned" and "max_extra_frames" in res.error
    assert res.frames_unscanned == [13] and 13 not in res.frames_scanned


def test_frames_agreeing_with_the_samples_add_nothing():
    """Speckle moving in the sector, a 16-bit loop whose values wander within the
    tolerance: no frame is added; a label in 16-bit frames is found at its scale."""
    from deid_node.pixels import frames as F
    loop = _cine(30)
    assert F.unseen_frames(loop, F.sample_frames(30, 8), 24, 8) == ([], [])
    deep = (loop.astype(np.uint16) * 16)
    deep[5, 100:120, 100:140] += 24 * 16 - 1            # under the tolerance at 12 bits
    sampled = F.sample_frames(30, 8)
    assert F.unseen_frames(deep, sampled, 24, 8, F.level_scale(deep, 12, False)) == ([], [])
    deep[5, 0:20, 100:140] = 4000                        # drawn on the black round the sector
    assert F.unseen_frames(deep, sampled, 24, 8, F.level_scale(deep, 12, False)) == ([5], [])
    # palette indices: a label one index from the background's is another colour
    indices = np.zeros((30, 64, 64), np.uint8)
    indices[7, 8:24, 8:40] = 1
    assert F.unseen_frames(indices, sampled, 24, 8) == ([], [])
    assert F.unseen_frames(indices, sampled, 24, 8, palette=True) == ([7], [])


def test_ocr_md5_is_checked(tmp_path):
    src = models_dir() / "english_g2.pth"
    bad = tmp_path / "english_g2.pth"
    shutil.copyfile(src, bad)
    with open(bad, "r+b") as fh:
        fh.seek(1000)
        b = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(OcrError, match="md5"):
        Recogniser(tmp_path)


def test_detector_weights_are_verified(monkeypatch, tmp_path):
    from deid_node import weights
    with pytest.raises(weights.WeightsError):
        PixelRedactor.load(dataclasses.replace(PixelSettings.default(),
                                               detector="detector/not-there.pt"))


# Real ultrasound files: (name, frame, [(label, ink box x0, y0, x1, y1)]) of PHI burned in
# (boxes measured on the originals: pixels 60 grey levels above the local background).
REAL = [
    ("gdcm-US-ALOKA-16.dcm", 0, [("institution", 81, 1, 248, 11), ("date", 551, 1, 638, 11)]),
    ("US1_UNCR.dcm", 0, [("institution", 20, 26, 168, 38)]),
    ("OBXXXX1A.dcm", 0, [("id", 97, 37, 263, 49), ("date", 670, 9, 772, 25),
                         ("institution", 328, 36, 509, 52)]),
    ("examples_palette.dcm", 0, [("id", 97, 37, 263, 49), ("date", 670, 9, 772, 25),
                                 ("institution", 328, 36, 509, 52)]),
]


def _ink_left(ds, box, frame) -> int:
    from deid_node.pixels.render import frame_rgb
    lum = frame_rgb(ds, frame).astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    x0, y0, x1, y1 = box
    sub = lum[y0:y1, x0:x1]
    return int((sub > np.median(lum[max(0, y0 - 4):y1 + 4, x0:x1]) + 60).sum())


@pytest.mark.parametrize("name, frame, phi", REAL, ids=[r[0] for r in REAL])
def test_real_ultrasound_phi_is_gone(redactor, name, frame, phi):
    ds = read(name)
    for label, *box in phi:
        assert _ink_left(ds, tuple(box), frame) > 20, "test data changed: no text at " + label
    res = redactor.process(ds, collect(ds))
    # Forwarded or held by the gate (the quarantine keeps this same redacted candidate):
    # either way the PHI must be gone from the pixels written back.
    assert res.scanned and res.quarantine_reason in (None, "pixels-uncertain"), res.as_log()
    assert (ds.get("BurnedInAnnotation") == "NO") == (res.quarantine_reason is None)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    out = pydicom.dcmread(io.BytesIO(buf.getvalue()))
    for label, *box in phi:
        assert _ink_left(out, tuple(box), frame) == 0, f"{name}: {label} at {box} still visible"


def test_tile_seams_of_a_large_radiograph(redactor):
    """A 1760×2140 radiograph is also read in overlapping native tiles. The detector
    proposes boxes along a tile's edges where the image goes on; left in, they blanked a
    row of the image at every seam. Text on a seam is seen whole by the neighbouring tile
    and blanked; the image's plain background is not blanked in rows along the seams."""
    from deid_node.pixels.redactor import _OVERLAP, _TILE, tile_starts
    s = burned.generate(4300, "heldout", 1760, 2140, n_text=(0, 0), background="xray",
                        clutter=False)
    grey = (s.image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
    img = (grey * 16).astype(np.uint16)
    ink = np.zeros(img.shape, np.uint8)
    seam_y = _TILE[0] - 6                     # across the first row of tiles' lower edge
    seam_x = _TILE[1] - 60                    # across the first column's right edge
    name = draw_text(ink, "DOE, JOHN", (900, seam_y), 16, font=FONT)
    pid = draw_text(ink, "PID4471923", (seam_x, 1000), 16, font=FONT)
    # about as long as the band two tiles share, from its one end to the other: each tile
    # sees it touch an edge of the band, and neither may leave it to the other
    band = draw_text(ink, "PID 4471923587", (_TILE[1] - _OVERLAP + 8, 1300), 11, font=FONT)
    img[ink > 0] = 4095
    ds = make_dataset(img, modality="CR", sop_class="1.2.840.10008.5.1.4.1.1.1")
    ds.BitsStored, ds.HighBit = 12, 11
    res = redactor.process(ds, collect(ds))
    assert _blanked(ds, name) and _blanked(ds, pid) and _blanked(ds, band), band
    starts = tile_starts(1760, _TILE[0])
    seams = [*starts[1:], *(y + _TILE[0] for y in starts[:-1])]

    def near(b, box, m=24):
        return not (b["x1"] < box[0] - m or b["x0"] > box[2] + m
                    or b["y1"] < box[1] - m or b["y0"] > box[3] + m)

    # the tiling's failure is a row of boxes along a seam (20-40 per seam without the
    # rule); a box of grain the detector doubts (score 0.1-0.3) may lie near one as it may
    # anywhere on the film
    on_seam = {y: [b for b in res.boxes if b["decision"] != "kept"
                   and not near(b, name) and not near(b, pid) and not near(b, band)
                   and b["y0"] - 8 <= y <= b["y1"] + 8] for y in seams}
    assert max(len(v) for v in on_seam.values()) <= 1, on_seam


def test_a_tile_leaves_to_its_neighbour_only_what_the_neighbour_sees_whole():
    """Tile A's right edge is at 640; its neighbour B starts 96 px before it. A box in A
    along that edge, inside the shared band, is left to B; a box that fills the band from
    end to end touches an edge in A and in B, and is kept in both (dropped in both, it
    would be read by neither)."""
    from deid_node.pixels.redactor import _OVERLAP, _seen_whole_by_neighbour
    sides = {"below": False, "above": False, "left": False}
    a_right = dict(sides, right=True)
    b_left = dict(sides, right=False, left=True)
    assert _seen_whole_by_neighbour((600, 50, 637, 60), 480, 640, **a_right)
    assert _seen_whole_by_neighbour((2, 50, 40, 60), 480, 640, **b_left)
    assert not _seen_whole_by_neighbour((500, 50, 637, 60), 480, 640, **a_right)  # reaches out
    assert not _seen_whole_by_neighbour((600, 50, 637, 60), 480, 640, **sides, right=False)
    filling = (640 - _OVERLAP + 3, 50, 637, 60)          # the band, end to end, in A
    in_b = (filling[0] - (640 - _OVERLAP), 50, filling[2] - (640 - _OVERLAP), 60)
    assert not _seen_whole_by_neighbour(filling, 480, 640, **a_right)
    assert not _seen_whole_by_neighbour(in_b, 480, 640, **b_left)


@pytest.mark.parametrize("length, tile", [(2140, 640), (1760, 480), (1101, 640), (700, 640),
                                          (640, 640), (300, 480)])
def test_native_tiles_are_whole_and_cover_the_image(length, tile):
    """Every tile is a whole detector working size (one cut short by the image's edge was
    padded with zeros, and the detector took that edge for text); together they cover the
    image, each sharing at least the band the neighbour rule expects."""
    from deid_node.pixels.redactor import _OVERLAP, tile_starts
    starts = tile_starts(length, tile)
    assert starts[0] == 0 and starts == sorted(set(starts))
    assert all(x + tile <= length for x in starts) or starts == [0]
    assert min(length, starts[-1] + tile) == length
    assert all(b - a <= tile - _OVERLAP for a, b in zip(starts, starts[1:]))


def test_small_text_on_large_radiograph_is_found(redactor):
    """2000×1600 DX: 16 px text would be ~5 px at the detector's working size; the native
    tiles must find it."""
    yy, xx = np.mgrid[0:1600, 0:2000]
    img = (60 + 80 * np.exp(-((xx - 1000) / 500.0) ** 2)).astype(np.uint16) * 16
    ink = np.zeros((1600, 2000), np.uint8)
    box = draw_text(ink, "DOE, JOHN 1980-03-15", (1300, 1500), 16, font=FONT)
    img[ink > 0] = 4095
    ds = make_dataset(img, modality="DX", sop_class="1.2.840.10008.5.1.4.1.1.1.1")
    ds.BitsStored, ds.HighBit = 12, 11
    res = redactor.process(ds, collect(ds))
    assert res.scanned and res.quarantine_reason is None, res.as_log()
    assert _blanked(ds, box)


def _bare(redactor, **changes) -> PixelRedactor:
    return PixelRedactor(dataclasses.replace(redactor.settings, **changes), redactor.analyzer,
                         redactor.model, redactor.recogniser, redactor.policy,
                         redactor.base_recogniser, redactor.script_check,
                         redactor.retry_recogniser)


class _FlagWords:
    """A PHI analyzer stand-in that calls the given words names."""

    def __init__(self, *words: str) -> None:
        self.words = words

    def analyze_batch(self, texts, identity=None):
        from types import SimpleNamespace
        return [[SimpleNamespace(entity="PERSON", start=0, end=len(t), score=0.9)]
                if any(w in t for w in self.words) else [] for t in texts]


def test_blanked_line_follows_its_ink(redactor):
    """A detection that stops short of its line is extended along the text's ink, but not
    over a neighbouring box that is kept, and not across a wide gap."""
    from deid_node.pixels.redactor import Box
    img = np.zeros((60, 640, 3), np.uint8)
    ink = draw_text(img, "ID 8609208759 0042", (20, 20), 16, font=FONT)
    far = draw_text(img, "TIS 0.3", (560, 20), 16, font=FONT)
    b = Box(ink[0] + 30, ink[1], ink[2] - 30, ink[3], score=0.9, spread=0.0, frame=0,
            decision="phi")
    kept = Box(far[0], far[1], far[2], far[3], score=0.9, spread=0.0, frame=0,
               decision="kept")
    _bare(redactor, extend_ink=4)._extend_along_ink(img, b, [b, kept])
    assert b.x0 <= ink[0] and b.x1 >= ink[2] - 1, (b.x0, b.x1, ink)
    assert b.x1 < far[0]
    # rotated text on a side edge is followed along y
    img2 = np.ascontiguousarray(np.rot90(img)).copy()        # the line now runs upwards
    h = img2.shape[0]
    v = Box(ink[1], h - ink[2] + 30, ink[3], h - ink[0] - 30, score=0.9, spread=0.0,
            frame=0, decision="phi")
    _bare(redactor, extend_ink=4)._extend_along_ink(img2, v, [v])
    assert v.y0 <= h - ink[2] + 1 and v.y1 >= h - ink[0] - 1, (v.y0, v.y1)


def test_an_institution_read_in_part_is_followed_to_its_head(redactor):
    """A detection of "UNIVERSITY MEDICAL CENTER" that holds only "MEDICAL CENTER" (on
    JPEG speckle, the screens' last leak of the twenty-sixth round) is followed along its
    ink for 4 line heights, not to the start of "UNIVERSITY": the institution's unread
    head sets the reach that way."""
    from deid_node.pixels.redactor import Box
    img = np.zeros((60, 640, 3), np.uint8)
    ink = draw_text(img, "UNIVERSITY MEDICAL CENTER", (40, 20), 16, font=FONT)
    tail = draw_text(np.zeros_like(img), "UNIVERSITY ", (40, 20), 16, font=FONT)

    def followed(unread: tuple[int, int]) -> float:
        b = Box(tail[2] + 2, ink[1], ink[2], ink[3], score=0.9, spread=0.0, frame=0,
                decision="phi", text="MEDICAL CENTER", unread=unread)
        _bare(redactor, extend_ink=4)._extend_along_ink(img, b, [b])
        return b.x0

    assert followed((0, 0)) > ink[0] + 10
    assert followed((11, 0)) <= ink[0]


def test_a_line_boxed_by_its_core_grows_to_its_letters(redactor):
    """Arabic is boxed by the core of its letters only: the blanked box grows across the
    line to the letters whose ink enters it, not into a line above that no ink joins, not
    into a kept box, and not where the background beyond the box is speckle, whose grains
    touch the letters and cannot be told from them."""
    from deid_node.pixels.redactor import Box
    arabic = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    img = np.zeros((90, 400, 3), np.uint8)
    above = draw_text(img, "Gain 45 dB", (20, 4), 12, font=FONT)
    ink = draw_text(img, "الخطيب يوسف", (20, 34), 27, font=arabic)
    core = ink[1] + 0.35 * (ink[3] - ink[1]), ink[1] + 0.8 * (ink[3] - ink[1])

    def grown(image, boxes=()):
        b = Box(ink[0], core[0], ink[2], core[1], score=0.9, spread=0.0, frame=0,
                decision="uncertain")
        _bare(redactor, extend_across=1.0)._extend_across_ink(image, b, [b, *boxes])
        return b
    b = grown(img)
    assert b.y0 <= ink[1] and b.y1 >= ink[3] - 1, ((b.y0, b.y1), ink)
    assert b.y0 >= above[3], "grew into the line above, which no ink joins"
    kept = Box(ink[0], ink[1] - 2, ink[2], ink[1] + 3, score=0.9, spread=0.0, frame=0,
               decision="kept")
    assert grown(img, [kept]).y0 >= kept.y1
    assert grown(img, [kept]).y1 >= ink[3] - 1
    # the same over speckle: the box stays as found
    for seed in range(3):
        noise = np.random.default_rng(seed).integers(0, 200, (90, 400))[..., None]
        b = grown(np.maximum(noise.repeat(3, 2), img).astype(np.uint8))
        assert (b.y0, b.y1) == core, (b.y0, b.y1)


@pytest.mark.parametrize("font", ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                                  "/usr/share/fonts/opentype/fonts-hosny-amiri/Amiri-Regular.ttf"])
def test_an_arabic_name_is_blanked_to_the_tips_of_its_letters(redactor, font):
    """The detector, trained on Latin lines, boxes Arabic by the core of its letters; the
    blanked rectangles must still cover every pixel of the name's ink."""
    from deid_node.pixels.redactor import blanked_mask
    img = np.full((480, 640, 3), 40, np.uint8)
    draw_text(img, "د. الأحمد محمد", (30, 200), 24, colour=230, font=font)
    ink = img[..., 0] > 135
    boxes, _ = redactor.find({0: img}, None)
    left = np.argwhere(ink & ~blanked_mask(boxes, redactor.settings.pad, 640, 480))
    assert not left.size, f"{len(left)} ink pixels left, rows {left[:, 0].min()}-{left[:, 0].max()}"


@pytest.mark.parametrize("size", [90, 110])
def test_a_name_far_taller_than_the_training_text_is_blanked_whole(redactor, size):
    """The detector was trained on text 8-28 px high at its working size; a name 90 px
    high on a 640×480 capture was found as scattered pieces and half its ink went to
    research. The look at half the working size finds it as one line."""

    from deid_node.pixels import PixelRedactor
    from deid_node.pixels.redactor import blanked_mask
    img = np.full((480, 640, 3), 30, np.uint8)
    draw_text(img, "SMITH^JOHN", (20, 120), size, colour=220,
              font="/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    ink = img[..., 0] > 125

    def left_over(red: PixelRedactor) -> int:
        boxes, _ = red.find({0: img}, None)
        return int((ink & ~blanked_mask(boxes, red.settings.pad, 640, 480)).sum())

    assert left_over(redactor) == 0
    plain = copy.copy(redactor)
    plain.settings = dataclasses.replace(redactor.settings, large_text_size=0.0)
    assert left_over(plain) > 0.2 * ink.sum(), "the plain look alone finds this name now"


def _phi_uncovered(redactor, seed: int, h: int, w: int) -> list[str]:
    """PHI lines of a tuning image of h×w that the stage leaves under 95% blanked."""
    from deid_node.pixels.redactor import blanked_mask
    from deid_node.synth import burned
    s = burned.generate(seed, "heldout", h, w)
    phi = [g for g in s.boxes if g["phi"]]
    assert phi
    boxes, _ = redactor.find({0: s.image}, s.identity.to_identity())
    mask = blanked_mask(boxes, redactor.settings.pad, w, h)
    return [g["text"] for g in phi if mask[g["y0"]:g["y1"], g["x0"]:g["x1"]].mean() < 0.95]


def test_small_text_on_a_1024_square_frame_is_read_in_native_tiles(redactor, monkeypatch):
    """A 1024×1024 frame (angiography, fluoroscopy) is looked at 480×480: text 10-14 px
    high shrinks to under 5 working pixels and was not proposed (7 of 218 PHI boxes on 60
    tuning images; here a date and time over film). Under a working scale of 0.625 the
    frame is also read in native tiles."""
    from deid_node.pixels import redactor as R
    assert _phi_uncovered(redactor, 5038, 1024, 1024) == []
    monkeypatch.setattr(R, "_TILE_BELOW_SCALE", 0.0)
    assert _phi_uncovered(redactor, 5038, 1024, 1024), \
        "the whole-frame look alone finds every PHI line now"


def test_a_small_frame_is_also_looked_at_as_little_enlarged_as_the_training(redactor,
                                                                            monkeypatch):
    """A 240×320 frame (an old ultrasound, a thumbnail screen) is enlarged twice to the
    detector's working size, its 28 px date to 56 px, past the 8-28 px the training drew
    (at scales up to 1.25): the date was boxed by the top of its letters and half of it
    stayed in view. Such a frame is also looked at enlarged 1.25 times."""
    from deid_node.pixels import redactor as R
    assert _phi_uncovered(redactor, 5036, 240, 320) == []
    monkeypatch.setattr(R, "_MOST_UPSCALE", 10.0)
    assert _phi_uncovered(redactor, 5036, 240, 320), \
        "the look at the frame enlarged twice finds every PHI line whole now"


def test_colour_flow_is_no_line_of_large_text(redactor):
    """At half its working size the detector takes the colour flow of pydicom's US1_UNCR
    for a line of text (98% sure); a line of burned-in text is drawn in one colour, flow
    runs from red to yellow: no box of that look is added there (merged with the plain
    look's boxes it swallowed the kept "PWR" beside the flow)."""
    import pydicom
    from pydicom.data import get_testdata_file
    ds = pydicom.dcmread(get_testdata_file("US1_UNCR.dcm"))
    assert redactor._large_text(np.ascontiguousarray(ds.pixel_array), 0) == []


def test_short_numbers_are_no_identifiers_on_screen(redactor):
    """ALOKA's probe line "9123 5.0 R15 G66 C6" and a frame counter are kept: the analyzer's
    model calls "9123" an ID, but a number of four digits or fewer identifies no one.
    Labelled, long or the instance's own numbers are still blanked."""
    from deid_node.identity import Identity
    from deid_node.pixels.redactor import Box
    ident = Identity(("DOE^JOHN",), ("DOE", "JOHN"), ("4471",), (), (), (), (), ())

    def box(text):  # as wide as the text at 16 px
        return Box(10, 10, 10 + 9 * len(text), 26, score=0.95, spread=0.0, frame=0, text=text,
                   ocr_conf=0.95)
    boxes = [box("9123 5.0 R15 G66 C6"), box("127/1280"), box("ID 9123"), box("9123456"),
             box("4471"), box("110/1112"), box("5:45")]
    redactor._decide(boxes, ident)
    # "45" of the clock time "5:45" (the end of a date line cut short) is no lone number
    assert [b.decision for b in boxes] == ["kept", "kept", "phi", "phi", "phi", "kept", "phi"], \
        [(b.decision, b.why) for b in boxes]
    # nor is it a near miss that sends the instance to quarantine (the model's sub-threshold
    # DATE on "1112" held ALOKA at 0.97)
    assert boxes[-1].uncertainty == 0.0


def test_a_reading_far_shorter_than_its_box_is_unreadable(redactor):
    """"mm" (a unit, kept wherever it stands alone) read at 0.9 from a box the size of
    "Birth 04/22/1973" is a piece of that line at best: the box is blanked as unreadable.
    The same unit in a box its own size is kept, and so is "R" whose ink is short in a
    long box."""
    from deid_node.pixels.redactor import Box
    wide = Box(10, 10, 150, 26, score=0.95, spread=0.0, frame=0, text="mm", ocr_conf=0.9)
    own = Box(10, 10, 30, 26, score=0.95, spread=0.0, frame=0, text="mm", ocr_conf=0.9)
    # a line split off a wide detection keeps its width: the ink's length counts
    split_off = Box(10, 10, 150, 26, score=0.95, spread=0.0, frame=0, text="R", ocr_conf=1.0,
                    ink_len=11.0)
    redactor._decide([wide, own, split_off], None)
    assert (wide.decision, wide.why) == ("uncertain", "unreadable")
    assert own.decision == "kept", own.why
    assert split_off.decision == "kept", split_off.why


def test_one_or_two_characters_read_as_nothing_are_kept_when_alone(redactor):
    """A side marker "L" or a scale's "12" the recogniser cannot read holds no name, ID or
    date: an unreadable box whose ink holds at most ``too_short_chars`` characters is kept.
    Not so beside a blanked box on its line (it may be a piece of that line), over one, two
    such boxes side by side, or a longer unreadable box."""
    from deid_node.pixels.redactor import Box

    def unreadable(x0, x1, ink, y0=100):
        return Box(x0, y0, x1, y0 + 16, score=0.9, spread=0.0, frame=0, text="T",
                   ocr_conf=0.05, decision="uncertain", why="unreadable", ink_len=ink)

    def phi(x0, x1, y0=100):
        return Box(x0, y0, x1, y0 + 16, score=0.99, spread=0.0, frame=0, text="DOE, JOHN",
                   ocr_conf=0.95, decision="phi", why="analyzer")

    alone = unreadable(20, 34, 9)
    beside = unreadable(300, 314, 9)
    name = phi(320, 420)
    over = unreadable(500, 514, 9)
    under = phi(490, 560)
    pair = [unreadable(20, 34, 9, y0=300), unreadable(40, 54, 9, y0=300)]
    long = unreadable(20, 120, 80, y0=200)
    boxes = [alone, beside, name, over, under, *pair, long]
    _bare(redactor, too_short_chars=2.0)._keep_too_short(boxes)
    assert (alone.decision, alone.why, alone.uncertainty) == ("kept", "too-short", 0.0)
    assert [b.decision for b in (beside, over, *pair, long)] == ["uncertain"] * 5
    assert redactor.settings.too_short_chars == 2.0   # shipped on (tuning splits)


def test_short_terms_read_surely_beside_an_unsure_digit_are_a_setting(redactor):
    """"TR 500 TE 15" read "TR 300 TE 15" at 0.36 (the digit unsure): below the OCR floor a
    setting needs a term of three letters, or two terms of two letters each read at
    ``ocr_confident`` on their own characters. A reading unsure of those very letters,
    with one such term only, or with the rule off is not a setting."""
    from deid_node.pixels.redactor import Box

    def reading(text, probs):
        return Box(10, 10, 10 + 0.55 * 16 * len(text), 26, score=0.99, spread=0.0, frame=0,
                   text=text, ocr_conf=0.36, char_p=tuple(probs))
    text = "TR 300 TE 15"
    sure = [0.99, 0.99, 0.99, 0.3, 0.9, 0.9, 0.99, 0.98, 0.97, 0.99, 0.9, 0.9]
    unsure = list(sure)
    unsure[1] = 0.5          # the "R" of "TR"
    red = _bare(redactor, floor_sure_terms=2)
    assert red._safe(reading(text, sure))
    assert not red._safe(reading(text, unsure))
    assert not red._safe(reading("TR 300 15", sure[:3] + sure[3:7] + sure[10:]))
    assert not _bare(redactor, floor_sure_terms=0)._safe(reading(text, sure))
    assert redactor.settings.floor_sure_terms == 2


def test_a_kept_piece_of_a_longer_line_is_read_again_whole(redactor):
    """The detector stopped short of both ends of "DOB 19970128" and the piece was read as
    device-term shapes ("OB 199/0", tuning image 6253): the kept box is followed along
    its ink, read again longer, and the longer reading's PHI blanks the longer box. A
    setting with nothing beyond its box stays kept, and so does one whose line goes on
    into another box (that box is judged on its own)."""
    from deid_node.pixels.redactor import Box
    img = np.full((120, 480, 3), 30, np.uint8)
    line = draw_text(img, "DOB 19970128", (40, 20), 20, font=FONT)
    alone = draw_text(img, "Gain 45 dB", (40, 70), 20, font=FONT)
    piece_w = (line[2] - line[0]) * 0.5
    piece = Box(line[0] + piece_w * 0.4, line[1] - 2, line[0] + piece_w * 1.2, line[3] + 2,
                score=0.99, spread=0.0, frame=0, text="OB 199/0", ocr_conf=0.7)
    setting = Box(alone[0] - 2, alone[1] - 2, alone[2] + 2, alone[3] + 2, score=0.99,
                  spread=0.0, frame=0, text="Gain 45 dB", ocr_conf=0.95)
    for b in (piece, setting):
        b.decision, b.why, b.read = "kept", "safe-words", True
    redactor._recheck_cut_short({0: img}, [piece, setting], None)
    assert piece.decision == "phi" and piece.why.startswith("cut-short:"), piece
    # longer than the piece; blanked, it is then followed along its ink like any other
    assert piece.x1 - piece.x0 > piece_w * 0.8 + 10, piece
    redactor._extend_along_ink(img, piece, [setting])
    assert piece.x0 <= line[0] and piece.x1 >= line[2], (piece, line)
    assert setting.decision == "kept" and setting.x1 == alone[2] + 2
    # the setting's line goes on into a name the detector boxed apart
    img2 = np.full((60, 480, 3), 30, np.uint8)
    gain = draw_text(img2, "Gain 45 dB", (40, 20), 20, font=FONT)
    name = draw_text(img2, "DOE, JOHN", (gain[2] + 8, 20), 20, font=FONT)
    kept = Box(gain[0] - 2, gain[1] - 2, gain[2] + 2, gain[3] + 2, score=0.99, spread=0.0,
               frame=0, text="Gain 45 dB", ocr_conf=0.95)
    kept.decision, kept.why, kept.read = "kept", "safe-words", True
    blanked = Box(name[0] - 2, name[1] - 2, name[2] + 2, name[3] + 2, score=0.99, spread=0.0,
                  frame=0, text="DOE, JOHN", ocr_conf=0.95)
    blanked.decision, blanked.why = "phi", "analyzer"
    redactor._recheck_cut_short({0: img2}, [kept, blanked], None)
    assert kept.decision == "kept", kept


def test_a_label_ending_a_settings_reading_is_phi(redactor):
    """"FOV 350 D0B:" is all device-term shapes ("D0B" looks like a probe name) but ends
    with a PHI label: the value was cut off beyond the box, which is blanked and followed
    as a lone label is; cutting a read line never keeps such a label."""
    from deid_node.pixels.redactor import Box
    b = Box(10, 10, 120, 26, score=0.95, spread=0.0, frame=0, text="FOV 350 D0B:",
            ocr_conf=0.8)
    redactor._decide([b], None)
    assert (b.decision, b.why) == ("phi", "label:alone")
    line = "FOV 350 D0B: 03-Apr-1961"
    u = Box(10, 10, 250, 26, score=0.95, spread=0.0, frame=0, text=line, ocr_conf=0.3,
            char_at=tuple(12.0 + 9.5 * i for i in range(len(line))),
            char_p=(0.99,) * len(line))
    redactor._decide([u], None)
    pieces = redactor._cut_safe_ends([u], None)
    kept = [p.text for p in pieces if p.decision == "kept"]
    assert kept == ["FOV 350"], [(p.text, p.decision) for p in pieces]


def test_an_analyzer_span_over_a_whole_line_does_not_hold_its_settings_end(redactor):
    """The analyzer took "LT BREAST City Clinic" for one organisation: the span runs over
    the settings end into the rest, so the end is kept and the rest blanked; a span over
    part of an end ("Ra" of "TIS 0.3 Ra Patel") still counts, so only "TIS 0.3" is kept."""
    from deid_node.pixels.redactor import Box

    def read(line, spans):
        b = Box(10, 10, 12 + 9.5 * len(line), 26, score=0.95, spread=0.0, frame=0, text=line,
                ocr_conf=0.95, char_at=tuple(12.0 + 9.5 * i for i in range(len(line))),
                char_p=(0.99,) * len(line), decision="phi", why="analyzer")
        b.phi_chars = spans
        return [(p.text, p.decision) for p in redactor._cut_safe_ends([b], None)]
    line = "LT BREAST City Clinic"
    assert ("LT BREAST", "kept") in read(line, [(0, len(line))])
    assert ("City Clinic", "phi") in read(line, [(0, len(line))])
    line = "TIS 0.3 Ra Patel"
    assert [t for t, d in read(line, [(8, len(line))]) if d == "kept"] == ["TIS 0.3"]


def test_a_short_end_beside_the_instance_identifier_is_kept(redactor):
    """One detection over an institution or an ID and a setting ("Klinikum Nord AP"):
    with the identifier placed in the rest of the reading, one 2-letter term is kept. Not
    a number without a term, not a piece of a name ("Ra" of "Raj"), not without the
    identity."""
    from deid_node.identity import Identity
    from deid_node.pixels.redactor import Box
    ident = Identity(("LOPEZ^YUKI", "PATEL^RAJ"), ("LOPEZ", "YUKI", "PATEL", "RAJ"),
                     ("A676114",), (), (), (), (), ("Klinikum Nord",))

    def kept(line, identity=ident):
        b = Box(10, 10, 12 + 9.5 * len(line), 26, score=0.95, spread=0.0, frame=0, text=line,
                ocr_conf=0.95, char_at=tuple(12.0 + 9.5 * i for i in range(len(line))),
                char_p=(0.99,) * len(line), decision="phi", why="identity")
        return [p.text for p in redactor._cut_safe_ends([b], identity) if p.decision == "kept"]
    assert kept("Klinikum Nord AP") == ["AP"]
    assert kept("A676114 AP") == ["AP"]
    assert kept("LOPEZ, YUKI RT") == ["RT"]
    assert kept("Klinikum Nord AP", None) == []
    assert kept("LOPEZ, YUKI +40") == []
    assert kept("Patel Ra") == []
    assert kept("Klinikum Nord AP", dataclasses.replace(ident, institutions=())) == []


@pytest.mark.parametrize("turns", [1, 3])
def test_settings_before_a_name_on_a_side_edge_are_kept(redactor, turns):
    """"kVp 80 2D Ref: Dr Fischer" rotated on a side edge (either way) is one tall
    detection: it is cut at the space read after "2D" along y, in the direction the crop was
    read, the settings end kept and the rest, the name, blanked."""
    from deid_node.pixels.redactor import Box
    line = np.zeros((40, 400, 3), np.uint8)
    a = draw_text(line, "kVp 80 2D Ref: Dr Fischer", (10, 10), 16, font=FONT)
    settings = draw_text(np.zeros_like(line), "kVp 80 2D", (10, 10), 16, font=FONT)
    img = np.ascontiguousarray(np.rot90(line, turns))
    h, w = line.shape[:2]

    def rotated(x0, y0, x1, y1):   # a rectangle of `line` in `img`
        if turns == 1:
            return y0, w - x1, y1, w - x0
        return h - y1, x0, h - y0, x1

    b = Box(*rotated(a[0] - 2, a[1] - 2, a[2] + 2, a[3] + 2), score=0.95, spread=0.0,
            frame=0)
    red = _bare(redactor, split_gap=0.0, split_lines=False)
    red.read_and_decide({0: img}, [b], None)
    assert b.decision == "phi" and b.turn == (1 if turns == 3 else 3), b
    pieces = red._cut_safe_ends([b], None)
    kept = [p for p in pieces if p.decision == "kept"]
    assert [p.text for p in kept] == ["kVp 80 2D"], [(p.text, p.decision) for p in pieces]
    sx0, sy0, sx1, sy1 = rotated(*settings)
    k = kept[0]
    assert k.y0 <= sy0 + 2 and k.y1 >= sy1 - 2           # the settings' ink is in the piece
    name = [p for p in pieces if p.decision == "phi"][0]
    assert name.y1 <= sy0 + 4 or name.y0 >= sy1 - 4      # and the name's piece beside it


def test_settings_read_unsurely_are_kept_names_are_not(redactor):
    """Device terms (rules/pixels.yaml safe_words) survive a low OCR confidence; anything
    else below the floor is blanked, and the instance's identifiers always win."""
    from deid_node.identity import Identity
    from deid_node.pixels.redactor import Box
    red = _bare(redactor, safe_word_floor=0.05)
    ident = Identity(("DOE^JOHN",), ("DOE", "JOHN"), ("12345678",), (), (), (), (), ())

    def box(text, conf, w=110, h=16):
        return Box(10, 10, 10 + w, 10 + h, score=0.95, spread=0.0, frame=0, text=text,
                   ocr_conf=conf)
    boxes = [box("Zoom 1.5 FR 25", 0.3), box("Persist Med", 0.9), box("Jhn Dce", 0.3),
             box("R", 0.1, w=150), box("Gain 45 dB", 0.02), box("DOE", 0.9, w=40),
             box("FR 25 Hz Ph 0", 0.3), box("Ur: /im", 0.06, w=70), box("euge:", 0.11, w=60),
             box("Edge", 0.11, w=50)]
    red._decide(boxes, ident)
    got = [(b.decision, b.uncertainty) for b in boxes]
    assert got[0] == ("kept", 0.0) and got[1] == ("kept", 0.0)
    assert got[2][0] == "uncertain"            # unreadable and not a device term
    assert got[3][0] == "uncertain"            # one letter read from a wide box: garbled
    assert got[4][0] == "uncertain"            # below safe_word_floor
    assert got[5][0] == "phi"
    # below the floor two-letter terms alone do not vouch (floor_term_letters):
    # "Dr. Kim" was read "Ur: /im"
    assert got[6][0] == "uncertain" and got[7][0] == "uncertain"
    # ...and a term only "folded" into a device term does not either: "Fatima" on a side
    # edge read "euge:" at 0.11 passed as "Edge"; "Edge" spelled out still does
    assert got[8][0] == "uncertain" and got[9] == ("kept", 0.0)


def test_two_lines_in_one_box_are_not_kept_as_one_setting(redactor):
    """A box over a setting and a sliver of a name beside it (a dimmer and a brighter line)
    counts two lines: its reading cannot vouch for the whole box."""
    from deid_node.pixels.redactor import Box, _count_lines
    img = np.zeros((60, 400, 3), np.uint8)
    a = draw_text(img, "Zoom 1.5", (10, 10), 16, colour=(126, 126, 126), font=FONT)
    b = draw_text(img, "Carlos O'Brien", (10, a[3] + 4), 16, font=FONT)
    one = Box(a[0] - 1, a[1] - 1, a[2] + 1, a[3] + 1, score=0.9, spread=0.0, frame=0)
    both = Box(a[0] - 1, a[1] - 1, a[2] + 1, b[1] + 4, score=0.9, spread=0.0, frame=0)
    assert _count_lines(img, one, GAP) == 1 and _count_lines(img, both, GAP) == 2
    red = _bare(redactor, safe_word_floor=0.05)
    both.text, both.ocr_conf, both.lines = "Zoom 1.5", 0.3, 2
    red._decide([both], None)
    assert both.decision == "uncertain"


def test_large_single_line_settings_count_one_line():
    """The rows of "5" or "Thyroid" at 28 px crossed only by thin strokes are not gaps
    between lines (at a 5% row threshold they were, and the setting was blanked)."""
    from deid_node.pixels.redactor import Box, _count_lines
    for text in ("5 cm", "Thyroid"):
        img = np.zeros((60, 300, 3), np.uint8)
        a = draw_text(img, text, (10, 10), 28, font=FONT)
        box = Box(a[0] - 1, a[1] - 1, a[2] + 1, a[3] + 1, score=0.9, spread=0.0, frame=0)
        assert _count_lines(img, box, GAP) == 1, text


def test_split_at_gaps_cuts_between_fields_not_words():
    """A detection over "Gain 45 dB", a wide gap and "DOE, JOHN" becomes one box per field,
    on its ink; the word spaces of "Depth 14 cm" never split; a field line on a side edge
    splits along its length."""
    from deid_node.pixels.redactor import Box, split_at_gaps
    split = PixelSettings().split_gap
    img = np.zeros((60, 400, 3), np.uint8)
    a = draw_text(img, "Gain 45 dB", (10, 20), 16, font=FONT)
    b = draw_text(img, "DOE, JOHN", (a[2] + 30, 20), 16, font=FONT)
    line = Box(a[0] - 2, a[1] - 2, b[2] + 2, b[3] + 2, score=0.9, spread=0.1, frame=0)
    pieces = split_at_gaps(img, line, split)
    assert len(pieces) == 2
    for piece, ink in zip(pieces, (a, b)):
        assert piece.x0 <= ink[0] and piece.x1 >= ink[2] and piece.x1 - piece.x0 < ink[2] - ink[0] + 8
        assert (piece.y0, piece.y1, piece.score, piece.spread) == (line.y0, line.y1, 0.9, 0.1)
    words = np.zeros((60, 400, 3), np.uint8)
    c = draw_text(words, "Depth 14 cm", (10, 20), 16, font=FONT)
    assert len(split_at_gaps(words, Box(c[0] - 2, c[1] - 2, c[2] + 2, c[3] + 2, score=0.9,
                                        spread=0.0, frame=0), split)) == 1
    side = np.ascontiguousarray(np.rot90(img))   # the line now runs up the image
    h = img.shape[1]
    tall = Box(line.y0, h - line.x1, line.y1, h - line.x0, score=0.9, spread=0.0, frame=0)
    assert len(split_at_gaps(side, tall, split)) == 2
    assert split_at_gaps(img, line, 0.0) == [line]


def test_a_kept_field_inside_a_blanked_detection_is_left(redactor):
    """"Birth 05/09/1968  LAT" boxed whole (PHI: the analyzer's date) and "LAT" boxed alone
    and kept: the blanked box is cut around the field where the ink parts on both sides,
    each piece blanked as the whole; every pixel of the date stays under a piece. Not
    spared: a field whose ink runs on into the PHI ("1968LAT"), one where the analyzer's
    PHI was read, one in a box blanked for PHI whose place in the line is not known, and
    one whose gap from the PHI is speckle rather than flat background."""
    from deid_node.pixels.redactor import Box
    img = np.full((80, 640, 3), 220, np.uint8)
    date = draw_text(img, "Birth 05/09/1968", (20, 10), 20, font=FONT, colour=(20, 20, 20))
    lat = draw_text(img, "LAT", (date[2] + 14, 10), 20, font=FONT, colour=(20, 20, 20))
    glued = draw_text(img, "Birth 05/09/1968LAT", (20, 45), 20, font=FONT, colour=(20, 20, 20))

    def boxes(line, field, phi_chars=((6, 16),), located=True):
        text = "Birth 05/09/1968 LAT"
        # where each character was read: the date's over its ink, the field's over its own
        end = field[0] - 14
        at = [line[0] + (i + 0.5) * (end - line[0]) / 16 for i in range(16)] + [end + 7]
        at += [field[0] + (i + 0.5) * (field[2] - field[0]) / 3 for i in range(3)]
        whole = Box(line[0] - 2, line[1] - 2, field[2] + 30, line[3] + 2, score=0.99,
                    spread=0.0, frame=0, text=text, ocr_conf=0.9, phi_chars=list(phi_chars),
                    char_at=tuple(at) if located else ())
        whole.decision, whole.why = "phi", "analyzer"
        kept = Box(field[0], field[1] - 2, field[2] + 2, field[3] + 2, score=0.9, spread=0.0,
                   frame=0, text="LAT", ocr_conf=1.0)
        kept.decision, kept.why = "kept", "safe-words"
        return [whole, kept]

    out = redactor._spare_kept_fields({0: img}, boxes(date, lat))
    pieces = [b for b in out if b.decision == "phi"]
    # the box's stretch after the field holds no ink: the field ends the line, no piece
    # is left there
    assert len(pieces) == 1, pieces
    assert all(p.x1 <= lat[0] or p.x0 >= lat[2] for p in pieces), (pieces, lat)
    assert any(p.x0 <= date[0] and p.x1 >= date[2] for p in pieces), (pieces, date)
    lat_glued = (glued[2] - (lat[2] - lat[0]), glued[1], glued[2], glued[3])
    for kept_whole in (boxes(glued, lat_glued), boxes(date, lat, phi_chars=((6, 20),)),
                       boxes(date, lat, located=False)):
        out = redactor._spare_kept_fields({0: img}, kept_whole)
        assert [b.decision for b in out] == ["phi", "kept"], out
        assert out[0].x1 == kept_whole[1].x1 + 28
    # a gap over speckle (no ink, but no flat background either) may hide faint letters
    speckled = img.copy()
    rows = slice(date[1] - 2, date[3] + 3)
    noise = np.random.default_rng(0).integers(180, 256, (rows.stop - rows.start, 12, 3))
    speckled[rows, date[2] + 1:date[2] + 13] = noise.astype(np.uint8)
    out = redactor._spare_kept_fields({0: speckled}, boxes(date, lat))
    assert [b.decision for b in out] == ["phi", "kept"], out


def test_a_kept_field_at_the_head_of_a_blanked_detection_is_left(redactor):
    """"MI 1.2 ECG   NAME DOE, JOHN" boxed whole (unreadable) from a few pixels before the
    setting, and the setting boxed alone and kept: no ink lies between the box's start and
    the field, so the field is at the head of the line and the box is cut after it. Ink
    before the field inside the box (another word there) keeps the box whole."""
    from deid_node.pixels.redactor import Box
    img = np.full((80, 640, 3), 220, np.uint8)
    ink = dict(font=FONT, colour=(20, 20, 20))
    field = draw_text(img, "MI 1.2 ECG", (40, 10), 20, **ink)
    name = draw_text(img, "NAME DOE, JOHN", (field[2] + 18, 10), 20, **ink)
    word = draw_text(img, "Ax", (14, 45), 20, **ink)
    field2 = draw_text(img, "MI 1.2 ECG", (word[2] + 4, 45), 20, **ink)

    def boxes(line_start, f, end):
        whole = Box(line_start, f[1] - 2, end + 3, f[3] + 2, score=0.99, spread=0.0, frame=0,
                    text="MI 1.2 ECG NAME DOF JOHN", ocr_conf=0.15)
        whole.decision, whole.why = "uncertain", "unreadable"
        kept = Box(f[0] - 1, f[1] - 1, f[2] + 1, f[3] + 1, score=0.6, spread=0.0, frame=0,
                   text="MI 1.2 ECG", ocr_conf=0.8)
        kept.decision, kept.why = "kept", "safe-words"
        return [whole, kept]

    out = redactor._spare_kept_fields({0: img}, boxes(field[0] - 6, field, name[2]))
    assert [b.decision for b in out] == ["uncertain", "kept"], out
    assert field[2] < out[0].x0 <= name[0] and out[0].x1 >= name[2], (out[0], field, name)
    out = redactor._spare_kept_fields({0: img}, boxes(word[0] - 2, field2, name[2]))
    assert [b.decision for b in out] == ["uncertain", "kept"] and out[0].x0 == word[0] - 2


def test_setting_beside_a_name_on_one_line_is_kept(redactor):
    """The detector may read "Gain 45 dB   DOE, JOHN" at 16 px as one box (the detection
    is also given here, so the test does not lean on how the shipped weights box it):
    without splitting it the setting was blanked with the name (merged with PHI)."""
    from deid_node.pixels.redactor import Box
    img = _us_image()
    a = draw_text(img, "Gain 45 dB", (20, 440), 16, font=FONT)
    b = draw_text(img, "DOE, JOHN", (a[2] + 30, 440), 16, font=FONT)

    def decision_at(red, ink):
        boxes, _ = red.find({0: img}, None)
        cx, cy = (ink[0] + ink[2]) / 2, (ink[1] + ink[3]) / 2
        return {x.decision for x in boxes if x.x0 <= cx <= x.x1 and x.y0 <= cy <= x.y1}

    assert decision_at(redactor, a) == {"kept"}
    assert decision_at(redactor, b) == {"phi"}

    def merged(red):
        def detect(rgb, frame=0):
            return [Box(a[0] - 2, min(a[1], b[1]) - 2, b[2] + 2, max(a[3], b[3]) + 2,
                        score=0.99, spread=0.0, frame=frame, seen_in=[frame])]
        red.detect = detect
        return red
    assert decision_at(merged(_bare(redactor)), a) == {"kept"}
    assert decision_at(merged(_bare(redactor)), b) == {"phi"}
    assert "kept" not in decision_at(merged(_bare(redactor, split_gap=0.0)), a)


def test_split_lines_gives_one_box_per_line():
    """A detection over "Vel 45 cm/s" and "CARLOS O'BRIEN" below it becomes two boxes, each
    holding one line's ink and none of the other's; a one-line box stays as it is; a side
    edge's two columns split across x."""
    from deid_node.pixels.redactor import Box, split_lines
    img = np.zeros((80, 400, 3), np.uint8)
    a = draw_text(img, "Vel 45 cm/s", (10, 10), 16, font=FONT)
    b = draw_text(img, "CARLOS O'BRIEN", (10, a[3] + 6), 16, font=FONT)
    both = Box(a[0] - 2, a[1] - 2, b[2] + 2, b[3] + 2, score=0.9, spread=0.1, frame=0)
    pieces = split_lines(img, both, GAP)
    assert len(pieces) == 2
    for piece, ink, other in zip(pieces, (a, b), (b, a)):
        assert piece.y0 <= ink[1] and piece.y1 >= ink[3]
        assert piece.y1 <= other[1] or piece.y0 >= other[3]
        assert (piece.x0, piece.x1, piece.score, piece.spread) == (both.x0, both.x1, 0.9, 0.1)
    one = Box(a[0] - 2, a[1] - 2, a[2] + 2, a[3] + 2, score=0.9, spread=0.0, frame=0)
    assert split_lines(img, one, GAP) == [one]
    side = np.ascontiguousarray(np.rot90(img))
    w = img.shape[1]
    tall = Box(both.y0, w - both.x1, both.y1, w - both.x0, score=0.9, spread=0.0, frame=0)
    assert len(split_lines(side, tall, GAP)) == 2


def test_an_edge_sliver_is_left_to_the_detection_of_its_line():
    """A box over "Zoom 1.5" and the top rows of the line below: the sliver is dropped from
    its lines when another detection covers it (that line is read there), and kept as a
    line of its own when none does (it is then read and judged like any other)."""
    from deid_node.pixels.redactor import Box, _drop_slivers
    b = Box(10, 10, 90, 34, score=0.9, spread=0.0, frame=0)
    line = Box(10, 10, 90, 28, score=0.9, spread=0.0, frame=0)
    sliver = Box(10, 30, 90, 34, score=0.9, spread=0.0, frame=0)
    below = Box(8, 30, 95, 48, score=0.9, spread=0.0, frame=0)
    assert _drop_slivers([line, sliver], b, [b, below]) == [line]
    assert _drop_slivers([line, sliver], b, [b]) == [line, sliver]
    thick = Box(10, 22, 90, 34, score=0.9, spread=0.0, frame=0)   # a whole line, not a sliver
    assert _drop_slivers([Box(10, 10, 90, 20, score=0.9, spread=0.0, frame=0), thick], b,
                         [b, below]) == [Box(10, 10, 90, 20, score=0.9, spread=0.0, frame=0),
                                         thick]


def test_setting_over_a_name_in_one_box_is_kept(redactor):
    """Two lines in one detection were blanked whole as unread ("multi-line"): split into
    lines, the setting line is read and kept and the name below it is blanked; with
    pixels.split_lines off the setting goes with the box."""
    from deid_node.pixels.redactor import Box
    img = _us_image()
    a = draw_text(img, "Depth 14 cm", (20, 420), 16, font=FONT)
    b = draw_text(img, "DOE, JOHN", (20, a[3] + 5), 16, font=FONT)
    both = Box(a[0] - 2, a[1] - 2, max(a[2], b[2]) + 2, b[3] + 2, score=0.95, spread=0.0,
               frame=0)

    def decision_at(red, ink):
        boxes = red._carve_settings({0: img}, [Box(both.x0, both.y0, both.x1, both.y1,
                                                    score=0.95, spread=0.0, frame=0)], None)
        red.read_and_decide({0: img}, boxes, None)
        cx, cy = (ink[0] + ink[2]) / 2, (ink[1] + ink[3]) / 2
        return {x.decision for x in boxes if x.x0 <= cx <= x.x1 and x.y0 <= cy <= x.y1}

    assert decision_at(redactor, a) == {"kept"}
    assert decision_at(redactor, b) == {"phi"}
    assert decision_at(_bare(redactor, split_lines=False), a) == {"uncertain"}


def test_cut_short_setting_is_read_again_along_its_ink(redactor):
    """A detection that starts inside "Depth 14 cm" reads "Pth 14 cm", no device term, and
    was blanked as unreadable: followed along its ink and read again, it is kept whole,
    its box grown to the text's first letter; with pixels.reread_extended off it stays
    blanked."""
    from deid_node.pixels.redactor import Box
    img = np.zeros((60, 300, 3), np.uint8)
    a = draw_text(img, "Depth 14 cm", (20, 20), 12, font=FONT)

    def cut_box(red):
        b = Box(a[0] + 0.25 * (a[2] - a[0]), a[1] - 1, a[2] + 1, a[3] + 1, score=0.95,
                spread=0.0, frame=0)
        red.read_and_decide({0: img}, [b], None)
        return b

    b = cut_box(redactor)
    assert (b.decision, b.why) == ("kept", "safe-words") and b.x0 <= a[0] + 1, b
    assert cut_box(_bare(redactor, reread_extended=False)).decision == "uncertain"


def test_crops_are_batched_with_crops_of_about_their_width():
    from deid_node.pixels.ocr import width_batches

    def cost(batches, widths, call):
        return sum(call + len(b) * max(widths[i] for i in b) for b in batches)

    widths = [300, 40, 44, 600, 48, 52, 1600, 45, 41, 49, 310, 290]
    batches = width_batches(widths, batch=4, call_cost=40)
    assert sorted(i for b in batches for i in b) == list(range(len(widths)))
    assert all(len(b) <= 4 for b in batches)
    flat = [widths[i] for b in batches for i in b]
    assert flat == sorted(widths)                        # narrowest first, runs of the order
    assert [widths[i] for i in batches[-1]] == [1600]    # never padded to its width
    assert [widths[i] for i in batches[-2]] == [600]
    order = sorted(range(len(widths)), key=lambda i: widths[i])
    chunks = [order[k:k + 4] for k in range(0, len(order), 4)]
    assert cost(batches, widths, 40) < cost(chunks, widths, 40)
    assert cost(batches, widths, 40) < cost([[i] for i in order], widths, 40)
    # with no cost per call every crop goes alone; with a high one they share
    assert len(width_batches(widths, 4, call_cost=0)) == len(widths)
    assert len(width_batches([40, 41, 44, 45], 16, call_cost=1000)) == 1
    assert width_batches([], 16) == []


def test_a_crop_is_run_once_per_height_inside_the_memo(redactor, monkeypatch):
    """Inside ocr.crop_memo() a crop run before at the same height is not run again (its
    readings and likeliest other readings are those of the first run); outside the block
    every call runs the network."""
    import torch

    from deid_node.pixels import ocr
    rec = redactor.recogniser
    model = rec.model
    ran: list[int] = []       # crops per call of the network

    class Counting(torch.nn.Module):
        def forward(self, x, text):
            ran.append(x.shape[0])
            return model(x, text)

    monkeypatch.setattr(rec, "model", Counting())
    img = np.zeros((40, 400, 3), np.uint8)
    crops = []
    for text, x in (("Gain 45 dB", 10), ("TIS 0.3", 220)):
        x0, y0, x1, y1 = draw_text(img, text, (x, 8), 14, font=FONT)
        crops.append(img[y0 - 2:y1 + 2, x0 - 2:x1 + 2, 0])
    plain = rec.read(crops)
    assert sum(ran) == 2
    with ocr.crop_memo():
        first = rec.read(crops)
        assert sum(ran) == 4
        again = rec.read([crops[1], crops[0]])
        alts = rec.alternatives(crops, 4)
        assert sum(ran) == 4                                # nothing ran again at 48 px
        assert again == [first[1], first[0]]
        assert [a[0][0] for a in alts] == [first[0].text, first[1].text]
        rec.read(crops, height=64)
        assert sum(ran) == 6                                # another height, another run
    assert [r.text for r in first] == [r.text for r in plain] == ["Gain 45 dB", "TIS 0.3"]
    rec.read(crops)
    assert sum(ran) == 8                                    # forgotten when the block ends


def test_beam_search_sums_the_paths_of_a_reading():
    """CTC prefix beam search: "a" over two steps is reached by three paths (0.84 in all);
    where every single step's likeliest class is the blank, a letter is still the likeliest
    reading."""
    from deid_node.pixels.ocr import beam_search
    got = beam_search(np.array([[0.4, 0.6, 0.0], [0.4, 0.6, 0.0]]), 4)
    assert got[0][0] == (1,) and got[0][1] == pytest.approx(1.0)
    assert dict(got)[()] == pytest.approx(0.16 / 0.84)
    tie = dict(beam_search(np.array([[0.4, 0.3, 0.3], [0.4, 0.3, 0.3]]), 8))
    assert tie[(1,)] == pytest.approx(1.0) and tie[(2,)] == pytest.approx(1.0)
    assert tie[()] == pytest.approx(0.16 / 0.33) and tie[(1, 2)] == pytest.approx(0.09 / 0.33)


def test_constrained_search_weighs_its_reading_against_the_likeliest():
    """A search that may not use class 1 finds "b" (0.15 over three paths) and says how
    likely it is beside the likeliest reading of any shape ("a", 0.48)."""
    import math

    from deid_node.pixels.ocr import _beams
    prob = np.array([[0.1, 0.6, 0.3], [0.1, 0.6, 0.3]])
    best = _beams(prob, 4)[0]
    assert best[0] == (1,) and math.exp(best[1]) == pytest.approx(0.48)
    got = _beams(prob, 4, keep=lambda seq: 1 not in seq)
    assert got[0][0] == (2,) and math.exp(got[0][1]) == pytest.approx(0.15)
    assert all(1 not in seq for seq, _ in got)


def test_unsure_setting_is_read_as_a_likely_alternative(redactor):
    """"Depth 14 cm" at 8 px reads "Depth 14om" at 0.14, no device term, and was blanked;
    one of the recogniser's likeliest readings ("Depth 14 mm") is all device terms, and the
    box is kept with its first reading beside it. With pixels.ocr_beams 0 it stays
    blanked. (At 10 px the recogniser trained further reads it right at once.)"""
    from deid_node.pixels.redactor import Box
    img = np.zeros((40, 200, 3), np.uint8)
    a = draw_text(img, "Depth 14 cm", (10, 10), 8, font=FONT)

    def box(red):
        b = Box(a[0] - 2, a[1] - 2, a[2] + 2, a[3] + 2, score=0.95, spread=0.0, frame=0)
        red.read_and_decide({0: img}, [b], None)
        return b

    b = box(redactor)
    assert (b.decision, b.why) == ("kept", "safe-words") and b.text.startswith("Depth 14 "), b
    assert len(b.alt_texts) == 1 and b.alt_texts[0] != b.text
    assert box(_bare(redactor, ocr_beams=0)).decision == "uncertain"


def test_alternative_reading_never_hides_phi_in_the_first(redactor, monkeypatch):
    """An alternative of device terms is taken only beside the first reading: when that
    holds the instance's ID, the box is blanked as PHI."""
    from deid_node.pixels.redactor import Box
    img = np.zeros((40, 300, 3), np.uint8)
    a = draw_text(img, "PID4471923", (10, 10), 9, font=FONT)
    monkeypatch.setattr(redactor.recogniser, "read", lambda crops, *a, **k: [
        Reading("PID4471923", 0.1)] * len(crops))
    monkeypatch.setattr(redactor.recogniser, "alternatives", lambda crops, *a, **k: [
        [("PID4471923", 1.0), ("Gain 45 dB", 0.5)]] * len(crops))
    b = Box(a[0] - 2, a[1] - 2, a[2] + 2, a[3] + 2, score=0.95, spread=0.0, frame=0)
    red = _bare(redactor, ocr_retry=True, reread_extended=False)
    red._RETRY = ()
    red.read_and_decide({0: img}, [b], collect(make_dataset(img)))
    assert b.text == "Gain 45 dB" and b.alt_texts == ["PID4471923"]
    assert (b.decision, b.why) == ("phi", "identity")


def test_unsure_setting_is_read_as_its_likeliest_device_terms(redactor, monkeypatch):
    """When none of the likeliest readings is all device terms, a search constrained to
    them is asked ("Gein45 d0" → "Gain 45 dB" at 0.2 of the best) and its reading taken at
    ``_BEAM_MIN`` or more; with pixels.ocr_lexicon off, or less likely, or from a first
    reading under pixels.beam_floor, the box stays blanked."""
    from deid_node.pixels.redactor import Box
    img = np.zeros((40, 300, 3), np.uint8)
    a = draw_text(img, "Gain 45 dB", (10, 10), 9, font=FONT)
    first = 0.1
    monkeypatch.setattr(redactor.recogniser, "read", lambda crops, *a, **k: [
        Reading("Gein45 d0", first)] * len(crops))

    def alternatives(crops, n, batch, height=48, allowed=None):
        if allowed is None:
            return [[("Gein45 d0", 1.0), ("Gein45 dO", 0.4)]] * len(crops)
        assert allowed("Gain 45 dB") and not allowed("Gein45")
        return [[("Gain 45 dB", likely)]] * len(crops)

    monkeypatch.setattr(redactor.recogniser, "alternatives", alternatives)

    def box(**changes):
        b = Box(a[0] - 2, a[1] - 2, a[2] + 2, a[3] + 2, score=0.95, spread=0.0, frame=0)
        red = _bare(redactor, ocr_retry=True, reread_extended=False, **changes)
        red._RETRY = ()
        red.read_and_decide({0: img}, [b], None)
        return b

    likely = 0.2
    b = box()
    assert (b.decision, b.text, b.alt_texts) == ("kept", "Gain 45 dB", ["Gein45 d0"])
    assert box(ocr_lexicon=False).decision == "uncertain"
    likely = 0.01
    assert box().decision == "uncertain"
    # a first reading under pixels.beam_floor says nothing of the text: no search
    likely, first = 0.2, 0.011
    assert box().decision == "uncertain"
    assert box(beam_floor=0.01).decision == "kept"


def test_second_look_reads_short_boxes_within_its_length(redactor, monkeypatch):
    """The second look reads an unreadable box again only when its crop is at most
    ``retry_max_aspect`` line heights long, the shortest first while the crops add up to
    ``retry_max_length``; the others are not read again and stay blanked."""
    from deid_node.pixels.redactor import Box
    img = np.zeros((120, 600, 3), np.uint8)
    short = draw_text(img, "Gain 45 dB", (10, 10), 9, font=FONT)
    other = draw_text(img, "Gain 45 dB", (10, 50), 9, font=FONT)
    long_ = draw_text(img, "Gain 45 dB Frq 3.5 MHz Vel 45 cm/s Gn 62 MI 1.2 TIS 0.3", (10, 90), 9,
                      font=FONT)     # its crop: about 12 line heights long
    reads: dict[int, int] = {}      # crops read per recogniser height

    def read(crops, batch=16, height=48):
        reads[height] = reads.get(height, 0) + len(crops)
        return [Reading("Gein45 d0", 0.1)] * len(crops)

    monkeypatch.setattr(redactor.recogniser, "read", read)

    def boxes(**changes):
        reads.clear()
        out = [Box(a[0] - 2, a[1] - 2, a[2] + 2, a[3] + 2, score=sc, spread=0.0, frame=0)
               for a, sc in ((short, 0.9), (other, 0.95), (long_, 0.99))]
        red = _bare(redactor, ocr_retry=True, ocr_beams=0, reread_extended=False,
                    retry_base=False, **changes)
        red._RETRY = ((64, False, "tuned"),)   # one other view, at height 64
        red.read_and_decide({0: img}, out, None)
        assert reads[48] == 3 and all(b.decision == "uncertain" for b in out)
        return reads.get(64, 0)

    assert boxes() == 2                           # the long line is not read again
    assert boxes(retry_max_aspect=100.0) == 3
    assert boxes(retry_max_length=4.0) == 1       # room for one short box (3 long) only


def test_the_second_look_asks_another_fine_tune_last(redactor, monkeypatch):
    """After the shipped recogniser's other views and english_g2 as published, the second
    look asks a second fine-tune (``retry_recogniser``, its own weights): a device-term
    reading from it keeps the box, any other reading leaves it unreadable."""
    from deid_node.pixels.redactor import Box
    assert redactor.retry_recogniser is not None
    assert redactor.retry_recogniser.model is not redactor.recogniser.model
    img = np.zeros((60, 400, 3), np.uint8)
    ink = draw_text(img, "Gain 45 dB", (10, 20), 16, font=FONT)
    garbage = lambda crops, batch=16, height=48: [Reading("Ga#n 4~ d0", 0.1)] * len(crops)
    monkeypatch.setattr(redactor.recogniser, "read", garbage)
    monkeypatch.setattr(redactor.base_recogniser, "read", garbage)

    def decided(other_reads, red=None):
        monkeypatch.setattr(redactor.retry_recogniser, "read",
                            lambda crops, batch=16, height=48:
                            [Reading(other_reads, 0.9)] * len(crops))
        box = Box(ink[0] - 2, ink[1] - 2, ink[2] + 2, ink[3] + 2, score=0.99, spread=0.0,
                  frame=0)
        red = red or _bare(redactor, ocr_beams=0, reread_extended=False)
        red.read_and_decide({0: img}, [box], None)
        return box.decision, box.text

    assert decided("Gain 45 dB") == ("kept", "Gain 45 dB")
    assert decided("DOE JOHN")[0] == "uncertain"
    without = _bare(redactor, ocr_beams=0, reread_extended=False)
    without.retry_recogniser = None      # as loaded with retry_recogniser ""
    assert decided("Gain 45 dB", without)[0] == "uncertain"


def test_settings_read_before_an_id_on_one_box_are_kept(redactor):
    """"Gn 62 Acc: 949870579394" is one detection: the box is cut at the space the
    recogniser read after "Gn 62", the setting stays and every digit of the ID is blanked;
    "kVp 80 2D Ref: Dr Fischer" keeps at least its first term."""
    img = _us_image()
    line = draw_text(img, "Gn 62 Acc: 949870579394", (20, 440), 16, font=FONT)
    acc = draw_text(np.zeros_like(img), "Gn 62 Acc: 949870579394", (20, 440), 16, font=FONT)
    gn = draw_text(np.zeros_like(img), "Gn 62", (20, 440), 16, font=FONT)
    ref = draw_text(img, "kVp 80 2D Ref: Dr Fischer", (20, 20), 16, font=FONT)
    kvp = draw_text(np.zeros_like(img), "kVp", (20, 20), 16, font=FONT)
    settings = draw_text(np.zeros_like(img), "kVp 80 2D", (20, 20), 16, font=FONT)
    ds = make_dataset(img)
    res = redactor.process(ds, collect(ds))
    assert res.quarantine_reason is None, res.as_log()
    id_ink = (gn[2] + 10, line[1], acc[2], line[3])     # from "Acc" to the last digit
    assert _blanked(ds, id_ink)
    assert _blanked(ds, (settings[2] + 3, ref[1], ref[2], ref[3]))   # "Ref: Dr Fischer"
    kept = [b for b in res.boxes if b["decision"] == "kept"]
    assert any(b["x0"] <= gn[0] and b["x1"] >= gn[2] - 6 and b["y0"] <= gn[1] for b in kept)
    assert any(b["x0"] <= kvp[0] and b["x1"] >= kvp[2] - 4 and b["y1"] <= 60 for b in kept)
    assert not _blanked(ds, (gn[0], gn[1], gn[0] + 12, gn[3]))   # "G" of "Gn" still there


def test_lone_phi_label_is_blanked_with_its_value(redactor):
    """A box read as only a PHI label ("Pt:") is a line the detector cut short: it is blanked
    and followed along its ink to the right well past the usual reach, and a kept box right
    after it on the line is its value."""
    from deid_node.pixels.redactor import Box
    if redactor.analyzer is None:
        pytest.skip("label rules apply with the PHI analyzer")
    img = np.zeros((60, 640, 3), np.uint8)
    lab = draw_text(img, "Pt:", (20, 20), 16, font=FONT)
    val = draw_text(img, "BROWN^MARY-ANNE", (lab[2] + 6, 20), 16, font=FONT)
    b = Box(lab[0], lab[1], lab[2], lab[3], score=0.9, spread=0.0, frame=0, text="Pt:",
            ocr_conf=0.9)
    red = _bare(redactor, extend_ink=4, extend_label=16)
    red._decide([b], None)
    assert b.decision == "phi" and b.why == "label:alone"
    red._extend_along_ink(img, b, [b])
    assert b.x1 >= val[2] - 1, (b.x1, val)
    # with only the usual reach the value would be cut
    c = Box(lab[0], lab[1], lab[2], lab[3], score=0.9, spread=0.0, frame=0, text="Pt: x",
            ocr_conf=0.9, decision="phi", why="label:pt")
    red._extend_along_ink(img, c, [c])
    assert c.x1 < val[2] - 1
    # the value detected as its own box and judged harmless is blanked after the label
    v = Box(val[0], val[1], val[2], val[3], score=0.9, spread=0.0, frame=0, text="Brownmary",
            ocr_conf=0.9, decision="kept", why="no-phi-found")
    far = Box(500, val[1], 560, val[3], score=0.9, spread=0.0, frame=0, text="TIS 0.3",
              ocr_conf=0.9, decision="kept", why="safe-words")
    assert red._join_line_pieces([b, v, far])
    assert v.decision == "phi" and far.decision == "kept"


def _read_box(x0: float, x1: float, y0: float, text: str, decision: str, why: str,
              h: float = 16):
    """A box of one text line as the redactor leaves it after reading and deciding."""
    from deid_node.pixels.redactor import Box
    return Box(x0, y0, x1, y0 + h, score=0.9, spread=0.0, frame=0, text=text,
               ocr_conf=0.9, decision=decision, why=why)


def test_digits_next_to_phi_are_phi(redactor):
    """A short number kept beside a PHI box on the same line is a piece of a split ID or
    date: blanked with it, and the ink extension then runs through it; a number on another
    line, or far along the line, stays."""
    from deid_node.pixels.redactor import Box
    if redactor.analyzer is None:
        pytest.skip("kept boxes exist with the PHI analyzer only")
    phi = _read_box(20, 150, 20, "ID: 9516584", "phi", "label:id")
    piece = _read_box(158, 185, 21, "266", "kept", "safe-words")
    chained = _read_box(190, 215, 20, "07", "kept", "safe-words")
    other_line = _read_box(158, 185, 60, "0.3", "kept", "safe-words")
    far = _read_box(300, 330, 20, "45", "kept", "safe-words")
    word = _read_box(220, 262, 20, "Gain", "kept", "safe-words")
    boxes = [phi, piece, chained, other_line, far, word]
    assert _bare(redactor)._join_line_pieces(boxes)
    assert piece.decision == "phi" and piece.why == "digits-next-to-phi"
    assert chained.decision == "phi"
    assert [b.decision for b in (other_line, far, word)] == ["kept"] * 3
    # end to end on pixels: the fragment no longer stops the extension of the first piece
    img = np.zeros((60, 640, 3), np.uint8)
    ink = draw_text(img, "ID: 9516584066", (20, 20), 16, font=FONT)
    a = Box(ink[0], ink[1], ink[0] + 0.55 * (ink[2] - ink[0]), ink[3], score=0.9,
            spread=0.0, frame=0, text="ID: 95165", ocr_conf=0.9, decision="phi",
            why="label:id")
    k = Box(ink[2] - 22, ink[1], ink[2], ink[3], score=0.9, spread=0.0, frame=0,
            text="066", ocr_conf=0.9, decision="kept", why="safe-words")
    red = _bare(redactor, extend_ink=4)
    assert not red._join_line_pieces([a, k])          # too far from the piece as detected
    red._extend_along_ink(img, a, [a, k])
    assert a.x1 <= k.x0 + 1                           # the extension stops at the kept box
    assert red._join_line_pieces([a, k]) and k.decision == "phi"


def test_padding_stops_at_a_kept_box_on_the_same_line():
    """A blanked box is padded all round and a character more along its line, but not into
    a field kept beside it on that line; a kept box on another line does not limit it, and
    the box itself is always blanked whole."""
    from deid_node.pixels.redactor import Box, blank_rect

    def box(x0, x1, y0, decision, h=16):
        return Box(x0, y0, x1, y0 + h, score=0.9, spread=0.0, frame=0, decision=decision)
    phi = box(100, 200, 20, "phi")
    alone = blank_rect(phi, [phi], 3, 640, 480)
    assert alone == phi.padded(3, 640, 480) and alone[0] < 95 and alone[2] > 205
    right, left = box(204, 260, 21, "kept"), box(40, 97, 20, "kept")
    below = box(204, 260, 60, "kept")
    x0, y0, x1, y1 = blank_rect(phi, [phi, right, left, below], 3, 640, 480)
    assert (x0, x1) == (97, 204) and (y0, y1) == (alone[1], alone[3])
    overlapping = box(190, 260, 20, "kept")                 # no room to leave: the box stays
    assert blank_rect(phi, [phi, overlapping], 3, 640, 480)[2] == alone[2]
    tall = Box(20, 100, 36, 200, score=0.9, spread=0.0, frame=0, decision="phi")
    under = Box(21, 203, 36, 260, score=0.9, spread=0.0, frame=0, decision="kept")
    r = blank_rect(tall, [tall, under], 3, 640, 480)
    assert r[3] == 203 and r[1] == tall.padded(3, 640, 480)[1]


def test_padding_stops_at_a_kept_line_just_above_or_below():
    """Stacked lines of small text stand 1-3 px apart: the padding of a blanked line stops
    at a kept line above or below it; the blanked box itself and its padding elsewhere
    stay."""
    from deid_node.pixels.redactor import Box, blank_rect

    def box(x0, x1, y0, decision, h=9):
        return Box(x0, y0, x1, y0 + h, score=0.9, spread=0.0, frame=0, decision=decision)
    phi = box(100, 200, 20, "phi")
    alone = blank_rect(phi, [phi], 3, 640, 480)
    above, below = box(90, 150, 9, "kept"), box(150, 230, 31, "kept")
    r = blank_rect(phi, [phi, above, below], 3, 640, 480)
    assert (r[1], r[3]) == (18, 31) and (r[0], r[2]) == (alone[0], alone[2])
    # a quarter of the thickness stays padded, even where the kept line above reaches it
    touching = box(90, 150, 11, "kept")
    assert blank_rect(phi, [phi, touching], 3, 640, 480)[1] == 18 > alone[1]
    unsure_below = box(150, 230, 31, "uncertain")  # blanked itself: no reason to stop
    assert blank_rect(phi, [phi, unsure_below], 3, 640, 480) == alone


def test_the_head_of_a_phi_line_is_phi(redactor):
    """A short word closed by ":" or "." detected apart right before a PHI box on its line
    ("Rej:" of "Ref: Dr Rossi"), or a PHI label cut short ("OB" or "DO" of "DOB"), is the
    head of that line; the same word after the PHI box, on another line or a field away
    stays, and so does a setting without the mark ("THI", "PA"). The head of a line blanked
    as unreadable goes with it ("ID:" read "CD:" before a number read at 0.2); a digit
    fragment beside an unreadable box does not (it may be a setting's value)."""
    if redactor.analyzer is None:
        pytest.skip("kept boxes exist with the PHI analyzer only")
    phi = _read_box(60, 160, 20, "Dr Rossi", "phi", "analyzer")
    head = _read_box(20, 52, 21, "Rej:", "kept", "safe-words")
    after = _read_box(166, 190, 20, "St.", "kept", "safe-words")
    other_line = _read_box(20, 52, 60, "CD:", "kept", "safe-words")
    setting = _read_box(20, 52, 20, "THI", "kept", "safe-words")
    far_phi = _read_box(300, 400, 100, "Elena SMITH", "phi", "analyzer")
    far_head = _read_box(240, 272, 100, "Pt.", "kept", "safe-words")
    date = _read_box(420, 520, 140, "1949-05-03", "phi", "analyzer")
    tail = _read_box(394, 414, 141, "OB", "kept", "safe-words")      # "DOB" without its "D"
    date2 = _read_box(420, 520, 180, "1974/10/25", "phi", "identity")
    cut = _read_box(394, 414, 181, "DO", "kept", "no-phi-found")     # "DOB" without its "B"
    date3 = _read_box(420, 520, 220, "1974/10/25", "phi", "identity")
    pa = _read_box(394, 414, 221, "PA", "kept", "safe-words")        # a view, no label head
    unread = _read_box(60, 140, 260, "3789892", "uncertain", "unreadable")
    label = _read_box(20, 52, 260, "CD:", "kept", "safe-words")
    digits = _read_box(146, 160, 260, "45", "kept", "safe-words")
    boxes = [phi, head, after, other_line, setting, far_phi, far_head, date, tail, date2, cut,
             date3, pa, unread, label, digits]
    assert _bare(redactor)._join_line_pieces(boxes)
    assert head.decision == "phi" and head.why == "head-of-phi"
    assert tail.decision == "phi" and cut.decision == "phi"
    assert label.decision == "uncertain" and label.why == "head-of-unreadable"
    assert [b.decision for b in (after, other_line, setting, far_head, pa, digits)] == \
        ["kept"] * 6


def test_ink_followed_in_the_channel_where_text_stands_out(redactor):
    """Orange text over speckled green flow: in luminance the flow looks like ink and the
    extension runs on past the text; in the red channel, where the text stands out from its
    rim, it stops at the text's end."""
    from deid_node.pixels.redactor import Box
    rng = np.random.default_rng(1)
    img = np.zeros((60, 640, 3), np.uint8)
    img[..., 1] = rng.integers(120, 255, (60, 640))          # green flow, speckled
    img[..., 2] = 40
    ink = draw_text(img, "ACC#213681159023", (20, 20), 16, colour=(255, 150, 40), font=FONT)
    b = Box(ink[0], ink[1], ink[2] - 2.5 * (ink[3] - ink[1]), ink[3], score=0.9, spread=0.0,
            frame=0, decision="phi", why="label:acc")
    _bare(redactor, extend_ink=4)._extend_along_ink(img, b, [b])
    assert ink[2] - 2 <= b.x1 <= ink[2] + 8, (b.x1, ink)   # luminance alone: ran on into the flow


def test_line_running_into_speckle_is_blanked_the_whole_reach(redactor):
    """White text over the ultrasound sector, the detected part ending on the black margin:
    the rim around the box is mostly speckle, so the text would be taken for dark ink and
    not followed back into the sector. Where the line runs into texture its ink cannot be
    told, and the whole reach that way is blanked."""
    from deid_node.pixels.redactor import Box
    rng = np.random.default_rng(2)
    img = np.zeros((60, 640, 3), np.uint8)
    img[:, :300] = rng.integers(100, 230, (60, 300, 1))      # the sector: speckle to x = 300
    ink = draw_text(img, "Accession 8523278256", (150, 20), 16, font=FONT)
    b = Box(190, ink[1], ink[2], ink[3], score=0.9, spread=0.0, frame=0,
            decision="uncertain", why="unreadable")
    _bare(redactor, extend_ink=4)._extend_along_ink(img, b, [b])
    assert b.x0 <= ink[0], (b.x0, ink)


def test_other_rotation_read_as_phi_makes_the_box_phi(redactor):
    """Text on a side edge read the wrong way up can come out as confident pseudo-text
    ("unbasnio 'exeueL" at 0.89) that beats the right reading ("Tanaka; Olusegun" at 0.87):
    PHI found in any readable rotation blanks the box."""
    from deid_node.identity import Identity
    from deid_node.pixels.redactor import Box
    ident = Identity(("TANAKA^OLUSEGUN",), ("TANAKA", "OLUSEGUN"), ("12345678",), (), (), (),
                     (), ())
    upside = Box(600, 60, 620, 240, score=0.99, spread=0.0, frame=0,
                 text="unbasnio 'exeueL", ocr_conf=0.89, alt_texts=["Tanaka; Olusegun"])
    alone = Box(600, 60, 620, 240, score=0.99, spread=0.0, frame=0,
                text="unbasnio 'exeueL", ocr_conf=0.89)
    _bare(redactor, unknown_word_letters=0)._decide([upside, alone], ident)
    assert upside.decision == "phi" and upside.why == "identity"
    assert alone.decision == "kept"                 # what the box got before
    redactor._decide([alone], ident)                # pseudo-text is no device term either
    assert (alone.decision, alone.why) == ("uncertain", "unknown-word")


def test_other_rotation_readings_kept_for_the_phi_check(redactor):
    """The rotation that lost on confidence is kept when readable (not garbled, not below
    the OCR floor, not the same text)."""
    from deid_node.pixels.ocr import Reading
    best = Reading("unbasnio 'exeueL", 0.89)
    got = redactor._other_readings([best, Reading("Tanaka; Olusegun", 0.87)], best)
    assert got == ["Tanaka; Olusegun"]
    assert redactor._other_readings([best, Reading("Tanaka", 0.3)], best) == []
    assert redactor._other_readings([best, Reading("{?~ }{", 0.9)], best) == []
    assert redactor._other_readings([best], best) == []


def test_word_value_after_a_misread_label_is_phi(redactor):
    from deid_node.pixels.redactor import Box

    def box(text, conf=0.93):
        return Box(10, 10, 170, 26, score=0.99, spread=0.0, frame=0, text=text, ocr_conf=conf)
    boxes = [box("Openbr: Tanaka"), box("Operabr: Noa"), box("Preset: Abdomen"),
             box("Gain: 45 dB")]
    # an analyzer that finds nothing: the rule alone must blank the names
    red = PixelRedactor(redactor.settings, _FlagWords(), redactor.model,
                        redactor.recogniser, redactor.policy)
    red._decide(boxes, None)
    assert [b.decision for b in boxes] == ["phi", "phi", "kept", "kept"]
    assert boxes[0].why == "label:field"


def test_words_no_rule_knows_are_not_kept(redactor):
    """A confident reading the analyzer finds nothing in is kept only when its words are
    device terms or near misreadings of them: a bare surname ("Patel" of "Dr. Patel")
    outside the analyzer's lexicon is blanked, and so are names made of two short terms
    ("Mira": MI + RA); "Axtal" (Axial), "epth" (Depth), glued or split terms and short
    words are kept."""
    from deid_node.pixels.redactor import Box
    texts = ("Patel", "D Oubos", "WANG", "Mira", "Axtal C 40", "epth 14 cm", "PAF 4.0 kHz",
             "Obstetnc", "PWMap G", "Thyr oid")
    boxes = [Box(10, 10 + 20 * i, 150, 26 + 20 * i, score=0.99, spread=0.0, frame=0, text=t,
                 ocr_conf=0.98) for i, t in enumerate(texts)]
    red = PixelRedactor(redactor.settings, _FlagWords(), redactor.model,
                        redactor.recogniser, redactor.policy)
    red._decide(boxes, None)
    assert [(b.decision, b.why) for b in boxes[:4]] == [("uncertain", "unknown-word")] * 4
    assert [b.decision for b in boxes[4:]] == ["kept"] * 6
    off = [dataclasses.replace(b) for b in boxes[:4]]
    _bare(red, unknown_word_letters=0)._decide(off, None)
    assert [(b.decision, b.why) for b in off] == [("kept", "no-phi-found")] * 4


def test_detector_doubt_counts_only_where_text_could_identify(redactor):
    """A caliper "+" detected at 0.45 and read surely cannot hold a name: it adds no
    uncertainty; a line as long as a name detected at 0.45 does."""
    from deid_node.pixels.redactor import Box
    plus = Box(10, 10, 22, 22, score=0.45, spread=0.0, frame=0, text="+", ocr_conf=0.99)
    line = Box(10, 40, 150, 56, score=0.45, spread=0.0, frame=0, text="Loop Cycle 3",
               ocr_conf=0.99)
    # words no rule knows are kept only when unknown words may be (unknown_word_letters 0)
    _bare(redactor, unknown_word_letters=0)._decide([plus, line], None)
    assert plus.decision == line.decision == "kept"
    assert plus.uncertainty < 0.2 and line.uncertainty > 0.8


def test_setting_shapes_kept_only_when_the_analyzer_finds_nothing(redactor):
    """A glued number and unit or a long term one edit away is a setting only when the
    analyzer finds nothing in the reading; below the OCR floor it is blanked otherwise."""
    from deid_node.pixels.redactor import Box

    def run(analyzer, **changes):
        red = PixelRedactor(dataclasses.replace(redactor.settings, **changes), analyzer,
                            redactor.model, redactor.recogniser, redactor.policy)
        boxes = [Box(10, 10, 130, 26, score=0.99, spread=0.0, frame=0, text=t, ocr_conf=c)
                 for t, c in (("Pegsist Med", 0.3), ("Depth 16cm", 0.3), ("Pegsist Med", 0.9))]
        red._decide(boxes, None)
        return [(b.decision, b.why) for b in boxes]
    assert run(_FlagWords()) == [("kept", "safe-shape")] * 3
    flagged = run(_FlagWords("Pegsist"))
    assert flagged[0][0] == "uncertain" and flagged[1] == ("kept", "safe-shape")
    assert flagged[2] == ("phi", "analyzer")
    assert run(_FlagWords(), lenient_safe=False)[:2] == [("uncertain", "unreadable")] * 2


def test_other_rotation_cannot_overrule_sure_device_terms_with_the_analyzer(redactor):
    """"Rot 0" read at 1.0 stays kept when its upside-down reading looks like an ID to the
    analyzer; read unsurely, the other rotation's analyzer spans count."""
    from deid_node.pixels.redactor import Box
    red = PixelRedactor(redactor.settings, _FlagWords("0 toy"), redactor.model,
                        redactor.recogniser, redactor.policy)
    sure = Box(600, 60, 620, 140, score=0.99, spread=0.0, frame=0, text="Rot 0",
               ocr_conf=1.0, alt_texts=["0 toy"])
    unsure = Box(600, 60, 620, 140, score=0.99, spread=0.0, frame=0, text="Rot 0",
                 ocr_conf=0.6, alt_texts=["0 toy"])
    red._decide([sure, unsure], None)
    assert sure.decision == "kept" and unsure.decision == "phi"


def test_a_retry_reading_must_fit_its_box(redactor):
    """A reading from a second look is taken only with a real term and a plausible length,
    whatever its confidence: one of six views reading a 14-character ID as "w" (a window
    setting) at 0.6 would otherwise keep the ID."""
    from deid_node.pixels.redactor import Box
    long_box = Box(10, 10, 130, 22, score=0.99, spread=0.0, frame=0, text="w", ocr_conf=0.6)
    assert redactor._safe(long_box)                      # the first reading's rule
    assert not redactor._safe(long_box, retry=True)
    fits = Box(10, 10, 70, 22, score=0.99, spread=0.0, frame=0, text="Gain 45", ocr_conf=0.6)
    letter = Box(10, 10, 30, 22, score=0.99, spread=0.0, frame=0, text="B", ocr_conf=0.6)
    assert redactor._safe(letter, retry=True)
    assert redactor._safe(fits, retry=True)


def test_an_unsure_reading_names_a_probe_with_its_hyphen(redactor):
    """Under the OCR floor, letters glued to digits are what a misread ID looks like: an ID
    and "PRF 4.0 kHz" boxed together on a side edge, the ID upside down, read "BLL06E PRF
    4.0 kHz" at 0.31 (shadowed text, a style the generator never draws) and the ID went to
    research as a probe name. A probe written as one ("C5-1") still passes; read surely,
    so does a probe name without its hyphen."""
    from deid_node.pixels.redactor import Box

    def box(text, conf):   # as long as the text at 10 px
        return Box(10, 10, 10 + 6 * len(text), 20, score=0.98, spread=0.0, frame=0,
                   text=text, ocr_conf=conf)
    assert not redactor._safe(box("BLL06E PRF 4.0 kHz", 0.31))
    assert redactor._safe(box("C5-1 PRF 4.0 kHz", 0.31))
    assert redactor._safe(box("R15 PRF 4.0 kHz", 0.9))


def test_other_views_add_only_text_the_plain_look_missed(redactor):
    """``detect_views``: the detector looks again at the frame moved by half a feature cell.
    Boxes of that look come back in frame coordinates and are added only where the plain
    look found no text, so a line already found is not found twice."""
    from deid_node.pixels import detector
    sample = burned.generate(6019, "heldout")
    img = sample.image
    h, w = img.shape[:2]
    plain = _bare(redactor, detect_views=()).detect(img)
    both = _bare(redactor, detect_views=("shift",)).detect(img)
    assert [(b.x0, b.y0, b.x1, b.y1) for b in both[:len(plain)]] == \
        [(b.x0, b.y0, b.x1, b.y1) for b in plain]
    seen = np.zeros((h, w), bool)
    for b in plain:
        if b.score >= redactor.settings.ambiguous_floor:
            seen[int(b.y0):int(np.ceil(b.y1)), int(b.x0):int(np.ceil(b.x1))] = True
    for b in both[len(plain):]:
        assert 0 <= b.x0 < b.x1 <= w and 0 <= b.y0 < b.y1 <= h
        assert b.score >= redactor.settings.ambiguous_floor
        assert seen[int(b.y0):int(np.ceil(b.y1)), int(b.x0):int(np.ceil(b.x1))].mean() < 0.5
    # the shifted look's boxes land where the text is in the frame, not 4 px off
    moved, off = detector.view(img, "shift")
    assert off == 4 and np.array_equal(moved[off:, off:], img[:-off, :-off])
    sure = [b for b in plain if b.score >= 0.9]
    again = detector.mc_detect(redactor.model, moved, passes=1, score_floor=0.9)
    for b in sure[:5]:
        best = max(max(0.0, min(b.x1, d.box[2] - off) - max(b.x0, d.box[0] - off)) *
                   max(0.0, min(b.y1, d.box[3] - off) - max(b.y0, d.box[1] - off)) / (b.w * b.h)
                   for d in again)
        assert best > 0.6, (b, best)
    # this frame has text only the shifted look proposes ("Acc: 814126868832")
    assert any(min(b.x1, g["x1"]) > max(b.x0, g["x0"]) and min(b.y1, g["y1"]) > max(b.y0, g["y0"])
               for b in both[len(plain):] for g in sample.boxes)


def test_a_kept_twin_of_a_blanked_box_is_blanked_and_stacked_lines_stay() -> None:
    """The same text detected twice a few pixels apart: the blanked look wins. A line kept
    right under a blanked one (touching it by a pixel) stays kept."""
    from deid_node.pixels.redactor import Box, blank_twins

    def box(x0, y0, x1, y1, decision, why):
        return Box(x0, y0, x1, y1, score=0.9, spread=0.0, frame=0, decision=decision, why=why)

    upper = box(275, 246, 315, 259, "uncertain", "ambiguous-unreadable")
    lower = box(274, 253, 316, 268, "kept", "safe-shape")           # shares 46% of upper
    line_above = box(20, 100, 200, 116, "phi", "identity")
    line_below = box(20, 115, 200, 131, "kept", "safe-words")       # touches it by 1 px
    other_frame = box(274, 253, 316, 268, "kept", "safe-words")
    other_frame.frame = 1
    boxes = [upper, lower, line_above, line_below, other_frame]
    blank_twins(boxes)
    assert (lower.decision, lower.why) == ("uncertain", "twin-of-blanked")
    assert line_below.decision == "kept" and other_frame.decision == "kept"
