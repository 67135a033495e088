"""Which frames of a multi-frame instance the detector looks at.

A cine is read on a few sampled frames (first, last, evenly spaced) and on a composite of
its static pixels; boxes found are blanked in every frame. Text shown only in frames
between the samples (a label written for a second of a loop) would be seen by neither.
So every frame that is not sampled is compared with the samples where they agree: pixels
that hold the same value in all sampled frames (the black round a sector, a screen's
background) and change in that frame by more than the tolerance, in enough 8×8 blocks,
mean something was drawn there that no sample shows; such frames are looked at too, and
an instance with more of them than ``max_extra_frames`` goes to quarantine. Text drawn
over moving anatomy in an unsampled frame alone is not seen this way (see docs/pixels.md).
"""
from __future__ import annotations

import numpy as np

_BLOCK = 8          # px: the cell in which changed pixels are counted
_BLOCK_SHARE = 0.25  # of a cell's pixels changed: something is drawn there (a stroke)
_BLOCKS = 2         # cells: less is no line of text (one character at 8 px spans two)
_STILL = 4          # 8-bit levels a pixel may vary over the samples and count as still


def sample_frames(n: int, k: int) -> list[int]:
    """First, last and evenly spaced frames, at most k."""
    if n <= k:
        return list(range(n))
    idx = {0, n - 1}
    idx |= {int(round(i * (n - 1) / (k - 1))) for i in range(k)}
    return sorted(idx)[:max(k, 2)]


def level_scale(frames: np.ndarray, bits_stored: int, palette: bool) -> int:
    """Stored levels per 8-bit display level: tolerances are set for 8-bit frames."""
    if frames.dtype.itemsize > 1 and not palette:
        return max(1, (1 << int(bits_stored)) // 256)
    return 1


def _bounds(a: np.ndarray, shift: int) -> np.ndarray:
    """``a + shift`` clipped to its dtype's range (so no value lies beyond it)."""
    info = np.iinfo(a.dtype)
    return np.clip(a.astype(np.int64) + shift, info.min, info.max).astype(a.dtype)


def unseen_frames(frames: np.ndarray, sampled: list[int], tolerance: int, budget: int,
                  scale: int = 1, palette: bool = False) -> tuple[list[int], list[int]]:
    """Frames that show something where all the looked-at frames agree (see the module
    docstring): the ones to look at as well (at most ``budget``, the most changed first:
    once a frame is looked at, the frames showing the same label agree with it) and those
    left over. ``frames``: F×H×W or F×H×W×C stored values; ``tolerance`` in 8-bit levels,
    ``scale`` stored levels per 8-bit level (level_scale). ``palette``: the values are
    indices into a colour table, whose nearness says nothing of the colours: any change
    counts (palette pixels are stored losslessly, so there is no noise to tolerate)."""
    n = frames.shape[0]
    tolerance, still = (0, 0) if palette else (tolerance * scale, _STILL * scale)
    seen = sorted(set(sampled))
    lo, hi = frames[seen].min(axis=0), frames[seen].max(axis=0)
    h, w = frames.shape[1:3]
    h8, w8 = h // _BLOCK * _BLOCK, w // _BLOCK * _BLOCK

    def counts(fs: list[int]) -> dict[int, int]:
        # only where the samples agree: on a sector or anatomy that moves nothing is looked
        # for, and its pixels are not compared
        agreed = _bounds(hi, -still) <= lo            # hi - lo <= still, without overflow
        if agreed.ndim == 3:
            agreed = agreed.all(axis=-1)
        where = np.flatnonzero(agreed[:h8, :w8])
        if where.size == 0:
            return dict.fromkeys(fs, 0)
        cell = (where // w8) // _BLOCK * (w8 // _BLOCK) + (where % w8) // _BLOCK
        chans = frames.shape[3] if frames.ndim == 4 else 1
        top = _bounds(hi[:h8, :w8], tolerance).reshape(h8 * w8, chans)[where]
        bottom = _bounds(lo[:h8, :w8], -tolerance).reshape(h8 * w8, chans)[where]
        need = _BLOCK_SHARE * _BLOCK * _BLOCK
        out: dict[int, int] = {}
        for f in fs:
            v = frames[f, :h8, :w8].reshape(h8 * w8, chans)[where]
            changed = ((v > top) | (v < bottom)).any(axis=1)
            per_cell = np.bincount(cell[changed], minlength=(h8 // _BLOCK) * (w8 // _BLOCK))
            out[f] = int((per_cell >= need).sum())
        return out

    todo = counts([f for f in range(n) if f not in seen])
    added: list[int] = []
    while True:
        todo = {f: c for f, c in todo.items() if c >= _BLOCKS}
        if not todo or len(added) >= budget:
            return added, sorted(todo)
        f = max(todo, key=lambda g: (todo[g], -g))
        added.append(f)
        lo, hi = np.minimum(lo, frames[f]), np.maximum(hi, frames[f])
        todo = counts([g for g in todo if g != f])
