"""Is a text box in a script the recogniser cannot read? (Han characters, for a start.)

The recogniser (EasyOCR english_g2) knows Latin letters, digits and punctuation only. Shown
a Chinese name it does not fail: it reads "张伟" as "S" at 0.89 or "81" at 0.73, and such a
short confident reading holds nothing the PHI analyzer or the unknown-word rule could call
PHI, so the name was kept. No reading can vouch for text in a script the recogniser does
not have; the redactor asks this check about every box it would keep, and a box in
another script is blanked as unreadable (docs/pixels.md).

The check is a small convolutional network over the same grey crop the recogniser reads,
scoring every column position and taking the maximum: one Han character anywhere in a
line is enough. It is trained by ``deid-node train script`` on synthetic lines
(synth.burned, Latin training fonts and one CJK font; held-out fonts measure it) and its
weights are MANIFEST-checked like the detector's.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .ocr import Recogniser, stack_padded

HEIGHT = 32          # crops are read at this height
MAX_WIDTH = 768      # and at most this wide (a longer line is squeezed)


def is_other_script(ch: str) -> bool:
    """A character the recogniser has no class for, as the training labels see it: Hebrew,
    Arabic (and the scripts between them and Devanagari), CJK (Han, kana, Hangul, their
    punctuation and full-width forms) and beyond. Greek and Cyrillic stay out: their
    capitals share Latin shapes, and they read as Latin words no rule knows."""
    o = ord(ch)
    return 0x0590 <= o <= 0x08FF or o >= 0x2E80


class ScriptNet(nn.Module):
    """Four conv blocks (stride 8 along the line), a 1×1 score per column, max over columns."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        c = [1, width // 2, width, 2 * width, 2 * width]
        layers: list[nn.Module] = []
        for i in range(4):
            layers += [nn.Conv2d(c[i], c[i + 1], 3, padding=1, bias=False),
                       nn.BatchNorm2d(c[i + 1]), nn.ReLU(inplace=True)]
            if i < 3:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.score = nn.Conv1d(c[-1], 1, 3, padding=1)

    def forward(self, x: torch.Tensor, widths: torch.Tensor | None = None) -> torch.Tensor:
        """Logit per crop that it holds another script; padded columns (beyond
        ``widths``, in input pixels) do not count."""
        f = self.features(x).amax(dim=2)          # (N, C, W/8)
        s = self.score(f).squeeze(1)              # (N, W/8)
        if widths is not None:
            cols = torch.arange(s.shape[1], device=s.device)[None, :]
            valid = cols < torch.clamp(torch.ceil(widths.float() / 8), min=1)[:, None]
            s = s.masked_fill(~valid, -1e4)
        return s.amax(dim=1)


def prepare(crop: np.ndarray) -> np.ndarray:
    """Grey crop → (HEIGHT, W) float32 in [-1, 1], as the recogniser prepares it."""
    p = Recogniser._prepare(crop, HEIGHT)
    if p.shape[1] > MAX_WIDTH:
        t = torch.from_numpy(p)[None, None]
        p = nn.functional.interpolate(t, size=(HEIGHT, MAX_WIDTH), mode="bilinear",
                                      align_corners=False)[0, 0].numpy()
    return p


def batch(crops: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """The network's input for these crops (padded to the widest) and their widths."""
    prepared = [prepare(c) for c in crops]
    return (torch.from_numpy(stack_padded(prepared)),
            torch.tensor([p.shape[1] for p in prepared]))


class ScriptCheck:
    """Probability per crop that it holds text in a script the recogniser cannot read."""

    def __init__(self, model: ScriptNet) -> None:
        self.model = model.eval()

    @classmethod
    def load(cls, path) -> "ScriptCheck":
        blob = torch.load(path, map_location="cpu", weights_only=True)
        model = ScriptNet(int(blob.get("width", 32)))
        model.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()})
        return cls(model)

    @torch.no_grad()
    def other_script(self, crops: Sequence[np.ndarray], batch_size: int = 32) -> list[float]:
        order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1] / max(1, crops[i].shape[0]))
        out = [0.0] * len(crops)
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            x, widths = batch([crops[i] for i in idx])
            for i, logit in zip(idx, self.model(x, widths).tolist()):
                out[i] = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))
        return out
