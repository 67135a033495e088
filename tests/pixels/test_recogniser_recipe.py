"""The recogniser fine-tune recipe cuts its crops as the redactor does, in reading order."""
from __future__ import annotations

import random

import pytest

from deid_node.pixels.ocr import Recogniser
from deid_node.synth import burned
from deid_node.train.recogniser import batch_at, crops_of, lr_at
from deid_node.weights import WeightsError


def _sample_with(rot: int) -> burned.Sample:
    for seed in range(400):
        s = burned.generate(seed, "train")
        if any(b["rot"] == rot and len(b["text"]) >= 6 for b in s.boxes):
            return s
    raise AssertionError(f"no synthetic image with text turned {rot} degrees")


@pytest.mark.parametrize("rot", [0, 90, 270])
def test_crops_are_in_reading_orientation(rot: int) -> None:
    sample = _sample_with(rot)
    texts = {b["text"] for b in sample.boxes if b["rot"] == rot and len(b["text"]) >= 6}
    crops = [(c, t) for c, t in crops_of(sample, random.Random(1), 0.0) if t in texts]
    assert crops
    for crop, text in crops:
        assert crop.shape[1] > crop.shape[0], (text, crop.shape)  # long side across


def test_turned_crops_read_back() -> None:
    """EasyOCR reads a long turned line only when the crop was turned the right way."""
    sample = _sample_with(90)
    items = [(c, t) for c, t in crops_of(sample, random.Random(1), 0.0)
             if len(t) >= 6 and min(c.shape) >= 14]
    readings = Recogniser().read([c for c, _ in items])
    close = sum(r.text.replace(" ", "").lower()[:4] == t.replace(" ", "").lower()[:4]
                for r, (_, t) in zip(readings, items))
    assert close >= len(items) // 2, [(r.text, t) for r, (_, t) in zip(readings, items)]


def test_a_step_draws_the_same_crops_whenever_it_runs() -> None:
    """A run resumed from its checkpoint trains on what an unbroken run would: the batch of
    a step depends on (seed, step) only, not on the steps before it."""
    charset = set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .:/-%^,'")
    first = batch_at(7, 3, 6, charset)
    batch_at(7, 2, 6, charset)
    again = batch_at(7, 3, 6, charset)
    assert len(first) == 6 and [t for _, t in first] == [t for _, t in again]
    assert all((a == b).all() for (a, _), (b, _) in zip(first, again))
    assert [t for _, t in batch_at(7, 4, 6, charset)] != [t for _, t in first]


def test_learning_rate_decays_from_base_to_final_share() -> None:
    assert lr_at(1, 100, 1e-4, 0.05) == pytest.approx(1e-4)
    assert lr_at(100, 100, 1e-4, 0.05) == pytest.approx(5e-6)
    assert lr_at(50, 100, 1e-4, 1.0) == pytest.approx(1e-4)


def test_tuned_weights_must_be_in_the_manifest() -> None:
    with pytest.raises(WeightsError, match="not listed"):
        Recogniser(tuned="ocr/not-trained.pt")


def test_shipped_fine_tune_reads_overlay_text_better_than_the_base() -> None:
    """The default recogniser (weights/ocr, MANIFEST-checked) against english_g2 as
    published, on crops of tuning-split images (fonts and layouts training never saw)."""
    from deid_node.pixels import PixelSettings
    from deid_node.train.recogniser import exact_rate

    tuned = PixelSettings().recogniser
    assert tuned, "the default settings no longer use the fine-tuned recogniser"
    items = [(c, t) for k in range(12)
             for c, t in crops_of(burned.generate(5000 + k, "heldout"), random.Random(k), 0.1)]
    base = exact_rate(Recogniser(), items)["exact"]
    better = exact_rate(Recogniser(tuned=tuned), items)["exact"]
    assert better >= base + 0.1, (base, better)


def test_init_weights_are_checked_before_training(tmp_path) -> None:
    """``--init`` (training a shipped recogniser further) reads only weights the MANIFEST
    lists, and fails before any training step."""
    from deid_node.train.recogniser import main

    with pytest.raises(WeightsError, match="not listed"):
        main(["--init", "ocr/not-trained.pt", "--steps", "1", "--eval-images", "0",
              "--checkpoint", str(tmp_path / "r.ckpt")])
    assert not (tmp_path / "r.ckpt").exists()


def test_split_widths_groups_the_same_crops_each_padded_to_its_own_widest() -> None:
    """``--split-widths`` runs a step's crops in groups of like width: the same crops and
    texts, less padding."""
    from deid_node.train.recogniser import prepared_batch
    charset = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .:/-%^,'")
    (whole, texts), = prepared_batch(7, 24, charset, False, 3)
    groups = prepared_batch(7, 24, charset, True, 3)
    assert len(groups) > 1
    assert sorted(t for _, ts in groups for t in ts) == sorted(texts)
    assert sum(x.shape[0] for x, _ in groups) == whole.shape[0] == 24
    assert sum(x.shape[0] * x.shape[3] for x, _ in groups) < whole.shape[0] * whole.shape[3]
    assert all(x.shape[2] == whole.shape[2] for x, _ in groups)
