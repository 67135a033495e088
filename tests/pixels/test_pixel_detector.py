"""Synthetic generator, detector weights and MC-dropout inference."""
from __future__ import annotations

import numpy as np
import pytest

from deid_node import weights
from deid_node.pixels import detector as det
from deid_node.synth import burned
from deid_node.train.detector import coverage


@pytest.fixture(scope="module")
def model():
    return det.load_weights(weights.verified("detector/text_frcnn.pt"))


def test_generator_is_reproducible_and_splits_fonts():
    a, b = burned.generate(11, "train"), burned.generate(11, "train")
    assert np.array_equal(a.image, b.image) and a.boxes == b.boxes
    assert not np.array_equal(burned.generate(11, "heldout").image, a.image)
    train, held = set(burned.font_files("train")), set(burned.font_files("heldout"))
    assert train and held and not train & held
    assert set(burned.HELDOUT_LAYOUTS) - set(burned.TRAIN_LAYOUTS)


def test_generator_boxes_hold_ink():
    s = burned.generate(5, "train", 480, 640, n_text=(8, 8), background="black")
    assert s.boxes
    for b in s.boxes:
        assert 0 <= b["x0"] < b["x1"] <= 640 and 0 <= b["y0"] < b["y1"] <= 480
        assert s.image[b["y0"]:b["y1"], b["x0"]:b["x1"]].max() > 60


def test_mc_dropout_gives_mean_and_spread(model):
    s = burned.generate(21, "heldout", 480, 640, n_text=(8, 8))
    one = det.mc_detect(model, s.image, passes=1, score_floor=0.3)
    many = det.mc_detect(model, s.image, passes=8, score_floor=0.3, seed=1)
    again = det.mc_detect(model, s.image, passes=8, score_floor=0.3, seed=1)
    assert all(d.spread == 0 for d in one)
    assert any(d.spread > 0 for d in many)
    assert [d.box for d in many] == [d.box for d in again]   # seeded: reproducible


def test_heldout_text_is_found(model):
    """Detector alone on held-out fonts/layouts: ≥ 90% of text boxes covered (T=1)."""
    found = total = 0
    for i in range(12):
        s = burned.generate(31000 + i, "heldout", 480, 640, n_text=(6, 12))
        d = np.array([x.box for x in det.mc_detect(model, s.image, passes=1, score_floor=0.5)],
                     float).reshape(-1, 4)
        gt = np.array([[b["x0"], b["y0"], b["x1"], b["y1"]] for b in s.boxes], float)
        if len(gt):
            found += int((coverage(gt, d, s.image.shape[:2], pad=3) >= 0.9).sum())
            total += len(gt)
    assert total > 50 and found / total >= 0.9, f"{found}/{total}"


def test_a_look_at_half_size_answers_in_frame_coordinates_and_leaves_the_model(model):
    """``size=0.5``: the frame is looked at 240×320 (text twice as tall as the training's
    is found whole there); the boxes come back in the frame's pixels, and the model's own
    working size, which every other look uses, is not touched."""
    from PIL import Image, ImageDraw, ImageFont
    img = Image.new("RGB", (640, 480), (20, 20, 20))
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 90)
    x0, y0, x1, y1 = ImageDraw.Draw(img).textbbox((30, 150), "SMITH^JOHN", font=font)
    ImageDraw.Draw(img).text((30, 150), "SMITH^JOHN", font=font, fill=(230, 230, 230))
    before = (model.transform.min_size, model.transform.max_size)
    found = det.mc_detect(model, np.asarray(img), passes=1, score_floor=0.5, size=0.5)
    assert (model.transform.min_size, model.transform.max_size) == before
    line = [d.box for d in found if d.box[2] - d.box[0] > 0.8 * (x1 - x0)]
    assert line and abs(line[0][0] - x0) < 20 and abs(line[0][2] - x1) < 20, found


def test_blank_image_has_no_confident_text(model):
    s = burned.generate(7, "heldout", 480, 640, n_text=(0, 0), background="ct")
    assert not [d for d in det.mc_detect(model, s.image, passes=4, score_floor=0.5)]


def test_mc_passes_share_the_head_before_its_first_dropout(model):
    """mc_detect computes fc6 once for all passes: each pass must equal the whole head run
    with the same random state (dropout comes only after fc6)."""
    import torch

    head = model.roi_heads.box_head
    pooled = torch.rand(5, head.fc6.in_features // 49, 7, 7)   # 5 proposals' 7×7 pooled maps
    head.mc = True
    try:
        torch.manual_seed(3)
        whole = [head(pooled) for _ in range(3)]
        torch.manual_seed(3)
        shared = head.fc6_features(pooled)
        split = [head.after_fc6(shared) for _ in range(3)]
    finally:
        head.mc = False
    assert all(torch.equal(a, b) for a, b in zip(whole, split))
    assert not torch.equal(whole[0], whole[1])   # the passes do differ
