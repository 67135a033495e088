"""The synthetic corpus and the training recipe's pieces."""
from __future__ import annotations

import argparse

from deid_node.phi.tokens import tokenize
from deid_node.synth import phi_text
from deid_node.train import ner


def test_heldout_templates_are_disjoint_from_training() -> None:
    assert not set(phi_text.TRAIN_TEMPLATES) & set(phi_text.TEST_TEMPLATES)
    assert len({phi_text.SEEDS["train"], phi_text.SEEDS["dev"], phi_text.SEEDS["test"]}) == 3


def test_corpus_is_reproducible_and_spans_align() -> None:
    a = phi_text.generate("train", 300)
    assert a == phi_text.generate("train", 300)
    assert a != phi_text.generate("train", 300, seed=1)
    for s in a:
        for start, end, ent in s.spans:
            assert 0 <= start < end <= len(s.text)
            assert s.text[start:end] == s.text[start:end].strip()
    assert {"zh", "en"} <= {s.lang for s in a} and {"ocr", "free"} <= {s.kind for s in a}


def test_tokenizer_splits_han_and_keeps_offsets() -> None:
    text = "张伟 MRN1234567, 5.0MHz"
    toks = [text[s:e] for s, e in tokenize(text)]
    assert toks == ["张", "伟", "MRN1234567", ",", "5", ".", "0MHz"]


def test_bio_tags() -> None:
    text = "Pt DOE^JOHN seen"
    offs = tokenize(text)
    assert ner.bio_tags(text, offs, [(3, 11, "PERSON")]) == ["O", "B-PERSON", "I-PERSON", "I-PERSON", "O"]


def test_recipe_arguments() -> None:
    p = argparse.ArgumentParser()
    ner.add_arguments(p)
    args = p.parse_args(["--seed", "3", "--epochs", "1"])
    assert args.seed == 3 and args.epochs == 1 and args.out == ner.MODEL_REL


def test_training_only_augmentation_never_touches_dev_or_test(monkeypatch) -> None:
    """Screen text, richer names and glued/split OCR names are drawn for the train split only,
    so the dev (sweep) and test (reported) texts stay what they were."""
    def boom(*_a, **_k):
        raise AssertionError("training augmentation used outside the train split")

    monkeypatch.setattr(phi_text, "_clin_train", boom)
    monkeypatch.setattr(phi_text, "_glue_and_split", boom)
    monkeypatch.setattr(phi_text.Values, "person_train", boom)
    phi_text.generate("dev", 300)
    phi_text.generate("test", 300)
    monkeypatch.undo()
    train = phi_text.generate("train", 400)
    assert any(any(p in s.text for p in phi_text.SCREEN_PRESETS) for s in train)


def test_resident_ids_do_not_move_with_the_calendar() -> None:
    """Faker dates zh_CN IDs from today(); the splits must be the same on every day, or the
    held-out figures could not be reproduced. Values made on 2026-11-26 (training day)."""
    from deid_node.phi.patterns import cn_resident_id_ok
    from deid_node.synth.phi_text import Values
    ids = [Values(7).cn_id(), Values(8).cn_id()]
    assert ids == ["37032319880730623X", "510113196705195421"]
    assert all(cn_resident_id_ok(x) for x in ids)
