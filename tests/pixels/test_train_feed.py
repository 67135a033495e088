"""Batches drawn by worker processes are the batches the training process would draw
itself, in step order (train/feed.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from deid_node.train import feed
from deid_node.synth import burned
from deid_node.train.detector import train_batch, train_locale


def test_workers_give_the_same_batches_in_step_order() -> None:
    steps = range(3, 9)
    alone = list(feed.batches(lambda it: train_batch(11, 2, 2, it), steps, workers=0))
    ahead = list(feed.batches(_batch_of_seed_11, steps, workers=2))
    assert len(ahead) == len(alone) == 6
    for a, b in zip(alone, ahead):
        for (img_a, boxes_a), (img_b, boxes_b) in zip(a, b):
            assert np.array_equal(img_a, img_b) and np.array_equal(boxes_a, boxes_b)
    assert not np.array_equal(alone[0][0][0], alone[1][0][0])


def test_data_version_3_makes_one_image_in_four_a_cjk_screen() -> None:
    assert [train_locale(3, i) for i in range(12)] == (["en"] * 3 + ["zh"] + ["en"] * 3 + ["ja"]
                                                       + ["en"] * 3 + ["ko"])
    assert {train_locale(v, i) for v in (1, 2) for i in range(40)} == {"en"}
    v2, v3 = train_batch(11, 4, 2, 5), train_batch(11, 4, 3, 5)
    for k in range(3):  # the English images are those of version 2
        assert np.array_equal(v2[k][0], v3[k][0]) and np.array_equal(v2[k][1], v3[k][1])
    cjk = burned.generate(11 * 10**7 + 5 * 4 + 3, "train", locale=train_locale(3, 23))
    assert np.array_equal(cjk.image, v3[3][0])
    assert any(ord(ch) >= 0x2E80 for b in cjk.boxes for ch in b["text"])


def test_data_version_4_adds_pet_fusions_and_faint_lines_to_the_english_images() -> None:
    v3, v4 = train_batch(11, 4, 3, 5), train_batch(11, 4, 4, 5)
    assert np.array_equal(v3[3][0], v4[3][0])  # the CJK screens are those of version 3
    assert not np.array_equal(v3[0][0], v4[0][0])
    drawn = {v: [burned.generate(seed, "train", variety=v) for seed in range(60)] for v in (2, 3)}
    pets = [s for s in drawn[3] if s.background == "pet"]
    assert pets and len(pets) < 20
    # faint lines: ink within 40 grey levels of what is around it (version 2: under 1%)
    faint = {v: np.mean([_contrast(s, b) < 40 for s in drawn[v] for b in s.boxes]) for v in (2, 3)}
    assert faint[3] > 0.04 and faint[3] > 4 * faint[2], faint
    # the held-out split never draws them: its images stay those every figure was measured on
    assert all(burned.generate(seed, "heldout", variety=3).background != "pet"
               for seed in range(60))


def test_data_version_5_windows_half_the_radiographs_as_tiles_of_a_large_film() -> None:
    drawn = {v: [burned.generate(seed, "train", variety=v) for seed in range(120)] for v in (3, 4)}
    grain = {v: sorted(_grain(s) for s in drawn[v] if s.background == "xray") for v in (3, 4)}
    assert len(grain[3]) > 10 and len(grain[4]) > 10
    # the grain of the most grainy quarter is stronger than any plain radiograph's
    top = grain[4][-len(grain[4]) // 4:]
    assert min(top) > max(grain[3]), (grain[3], grain[4])
    v4, v5 = train_batch(11, 4, 4, 5), train_batch(11, 4, 5, 5)
    assert np.array_equal(v4[3][0], v5[3][0])  # the CJK screens are those of version 4
    assert all(burned.generate(seed, "heldout", variety=4).image.tobytes()
               == burned.generate(seed, "heldout").image.tobytes() for seed in range(5))


def test_data_version_6_adds_textured_screens_and_see_through_lines_over_speckle() -> None:
    drawn = {v: [burned.generate(seed, "train", variety=v) for seed in range(120)] for v in (4, 5)}
    kinds = {v: {s.background for s in drawn[v]} for v in (4, 5)}
    assert set(burned.TRAIN_ONLY_BACKGROUNDS) <= kinds[5]
    assert not kinds[4] & set(burned.TRAIN_ONLY_BACKGROUNDS)
    # lines over speckle that let it through: from the one in ten semi-transparent overlays
    # of every version to about one in four
    see_through = {v: np.mean([b["opacity"] < 0.9 for s in drawn[v] for b in s.boxes
                               if s.background in burned.SPECKLE_BACKGROUNDS]) for v in (4, 5)}
    assert see_through[4] < 0.15 < 0.2 < see_through[5], see_through
    v5, v6 = train_batch(11, 4, 5, 5), train_batch(11, 4, 6, 5)
    assert np.array_equal(v5[3][0], v6[3][0])  # the CJK screens are those of version 5
    # versions before 6 and the held-out split are unchanged by it
    assert all(burned.generate(seed, "heldout", variety=5).image.tobytes()
               == burned.generate(seed, "heldout").image.tobytes() for seed in range(5))


def _grain(sample: burned.Sample) -> float:
    """Spread of the film's grain: grey minus its 2-px blur, away from the text lines."""
    grey = sample.image.astype(np.float32).mean(axis=2)
    fine = grey - burned._blur(grey, 2)
    free = np.ones(grey.shape, bool)
    for b in sample.boxes:
        free[max(0, b["y0"] - 4):b["y1"] + 5, max(0, b["x0"] - 4):b["x1"] + 5] = False
    return float(fine[free].std())


def _contrast(sample: burned.Sample, box: dict) -> float:
    """Grey-level distance between a line's brightest or darkest ink and the mean of the
    3-px bands above and below it."""
    grey = sample.image.astype(np.float32).mean(axis=2)
    y0, y1, x0, x1 = box["y0"], box["y1"] + 1, box["x0"], box["x1"] + 1
    ring = np.concatenate([grey[max(0, y0 - 3):y0, x0:x1].ravel(), grey[y1:y1 + 3, x0:x1].ravel()])
    if not ring.size:
        return 255.0
    inside = grey[y0:y1, x0:x1]
    return float(max(abs(inside.max() - ring.mean()), abs(inside.min() - ring.mean())))


def test_a_stream_left_early_stops_its_workers() -> None:
    stream = feed.batches(_batch_of_seed_11, range(1000), workers=2)
    next(stream)
    stream.close()  # the pool is closed; nothing hangs or keeps drawing


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_missing_gpu_is_refused_with_a_clear_message() -> None:
    with pytest.raises(SystemExit, match="no CUDA device"):
        feed.device("cuda")


def _batch_of_seed_11(it: int):
    return train_batch(11, 2, 2, it)
