"""Draw an instance's frame with the pixel stage's boxes, coloured by decision.

Used by ``deid-node quarantine show --png`` and for the before/after figures in docs/.
Grey images are windowed (0.5-99.5 percentile) so burned-in text stays visible.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pydicom
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset

from . import codec
from .redactor import display_rgb

COLOURS = {"phi": (255, 40, 40), "uncertain": (255, 160, 0), "region": (220, 0, 220),
           "kept": (40, 220, 40), "ignored": (120, 120, 120)}
UNUSED_BITS = (0, 255, 255)   # words whose unused high bits hold something (an overlay)


def frame_rgb(ds: Dataset, frame: int = 0) -> np.ndarray:
    """Frame ``frame`` of ``ds`` as 8-bit RGB (decodes a copy; ``ds`` is not changed)."""
    dec = codec.decode(ds)
    if not 0 <= frame < dec.n_frames:
        raise ValueError(f"frame {frame} out of range: the instance has {dec.n_frames} frame(s)")
    return display_rgb(ds, dec, frame)


def _unused_bits_at(ds: Dataset, frame: int) -> np.ndarray | None:
    """Where frame ``frame``'s stored words hold something in their unused high bits (what
    a tool reading the words whole shows); None when pydicom cannot give the words."""
    try:
        words = pydicom.dcmread(io.BytesIO(_bytes(ds)))
        words.pixel_array_options(index=frame, as_rgb=False, correct_unused_bits=False)
        arr = words.pixel_array
    except Exception:  # noqa: BLE001 - a figure without the overlay shown
        return None
    held = codec.unused_bits_held(arr, int(ds.get("BitsStored", 0) or 0))
    return held if held is None or held.ndim == 2 else held.any(axis=-1)


def _bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=False)
    return buf.getvalue()


def render_png(ds: Dataset, boxes: Iterable[Mapping[str, Any]], path: str | Path,
               frame: int = 0, show_ignored: bool = False, show_unused_bits: bool = False
               ) -> Path:
    """Write a PNG of ``frame`` with ``boxes`` (the report's box dicts) outlined; with
    ``show_unused_bits``, words whose unused high bits hold something are painted cyan."""
    rgb = frame_rgb(ds, frame)
    held = _unused_bits_at(ds, frame) if show_unused_bits else None
    if held is not None and held.shape == rgb.shape[:2]:
        rgb[held] = UNUSED_BITS
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    for b in boxes or []:
        decision = str(b.get("decision", ""))
        if decision == "ignored" and not show_ignored:
            continue
        frames = b.get("frames", "all")
        if frames != "all" and isinstance(frames, list) and frames and frame not in frames:
            continue
        col = COLOURS.get(decision, (0, 160, 255))
        draw.rectangle([int(b["x0"]), int(b["y0"]), int(b["x1"]) - 1, int(b["y1"]) - 1],
                       outline=col, width=2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
