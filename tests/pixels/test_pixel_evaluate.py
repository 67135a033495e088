"""The held-out measures count image blanked where no text is, not only text kept."""
from __future__ import annotations

import numpy as np

from deid_node.pixels.evaluate import off_text, summary


def test_image_blanked_far_from_any_text_is_counted():
    gts = [{"x0": 10, "y0": 10, "x1": 60, "y1": 22}]
    mask = np.zeros((100, 100), bool)
    mask[8:24, 8:62] = True            # the text and its padding: not counted
    assert off_text(mask, gts, margin=4) == 0.0
    mask[50:70, 50:70] = True          # anatomy taken for unreadable text
    assert off_text(mask, gts, margin=4) == 400 / 10_000
    rows = [{"n_phi": 0, "phi_caught": 0, "n_non": 1, "non_kept": 1, "uncertainty": 0.0,
             "n_text": 1, "ms": 0.0, "blanked_off_text": b} for b in (0.0, 0.04)]
    s = summary(rows, 0.8)
    assert s["image_blanked_off_text"] == 0.02 and s["images_blanked_off_text"] == 0.5
