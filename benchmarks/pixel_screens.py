"""Robustness screens: held-out images drawn in ways neither split draws, for
``pixel_diagnose.py --fonts unseen`` and ``--style ...``.

The held-out split already uses fonts and layouts the training never saw; these screens go
one step further, to what real equipment does and the generator does not:

* ``--fonts unseen``: the Latin letters of the Culmus faces (David, Frank Ruehl, Hadasim,
  Keter YG, Miriam Mono, Nachlieli, Shofar, Simple). Neither English split draws them; the
  detector and the recogniser were trained on English screens only.
* ``--style outline | shadow | plate | mixed``: each text line of a held-out image redrawn
  (same background, texts, identity, place and size; one held-out font per image) with a
  dark or light outline round its letters, a drop shadow, or on a plate, as overlays are
  written to stay legible over anatomy. A line that would now run into one redrawn before
  it is left out, with its box.
* ``--style jpeg``: the held-out image as drawn, through baseline JPEG at quality 75 with
  4:2:0 chroma, as much ultrasound is stored (YBR_FULL_422): ringing round the letters,
  coloured text at half the resolution in its colour.

Nothing here is used to train or tune: the screens are run to see what breaks.
"""
from __future__ import annotations

import io
import random
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from deid_node.synth import burned

UNSEEN_LATIN_FAMILIES: dict[str, tuple[str, ...]] = {
    "culmus-latin": tuple(f"truetype/culmus/{name}" for name in (
        "DavidCLM-*.otf", "FrankRuehlCLM-*.ttf", "HadasimCLM-*.ttf", "KeterYG-*.ttf",
        "MiriamMonoCLM-*.ttf", "NachlieliCLM-*.otf", "ShofarDemi-*.ttf",
        "ShofarRegular*.ttf", "SimpleCLM-*.ttf")),
}
STYLES = ("outline", "shadow", "plate", "mixed", "jpeg")
_LIGHT = ((255, 255, 255), (255, 255, 0), (0, 255, 255), (230, 230, 230))


def use_unseen_fonts() -> None:
    """Make the held-out English split draw the unseen Latin faces (for this process)."""
    burned.HELDOUT_FAMILIES.clear()
    burned.HELDOUT_FAMILIES.update(UNSEEN_LATIN_FAMILIES)
    burned.font_files.cache_clear()


def _layers(text: str, font: Any, style: str, rng: random.Random
            ) -> tuple[Image.Image, Image.Image, Image.Image]:
    """Coverage masks of the letters, of their outline or shadow, and of the plate."""
    pad = 3
    l, t, r, b = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox(
        (0, 0), text, font=font, stroke_width=2)
    size = (r - l + 2 * pad + 3, b - t + 2 * pad + 3)
    letters, edge, plate = (Image.new("L", size, 0) for _ in range(3))
    at = (pad - l, pad - t)
    ImageDraw.Draw(letters).text(at, text, font=font, fill=255)
    if style == "outline":
        ImageDraw.Draw(edge).text(at, text, font=font, fill=255,
                                  stroke_width=rng.choice((1, 2)), stroke_fill=255)
    elif style == "shadow":
        o = rng.choice((1, 2))
        ImageDraw.Draw(edge).text((at[0] + o, at[1] + o), text, font=font, fill=255)
    else:
        ImageDraw.Draw(plate).rectangle((0, 0, size[0] - 1, size[1] - 1), fill=255)
    return letters, edge, plate


def restyle(seed: int, style: str, split: str = "heldout", h: int | None = None,
            w: int | None = None, locale: str = "en", background: str | None = None
            ) -> burned.Sample:
    """Held-out image ``seed`` with every text line redrawn in ``style``."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, not {style!r}")
    full = burned.generate(seed, split, h, w, locale=locale, background=background)
    if style == "jpeg":
        buf = io.BytesIO()
        Image.fromarray(full.image).save(buf, "JPEG", quality=75, subsampling="4:2:0")
        image = np.asarray(Image.open(buf).convert("RGB")).copy()
        return burned.Sample(image, full.boxes, full.identity, full.background, full.layout)
    # the same seed without text: the generator draws the background before the text
    bare = burned.generate(seed, split, h, w, locale=locale, background=background,
                           n_text=(0, 0))
    rng = random.Random(seed * 31 + 7)
    font_path = rng.choice(burned.font_files(split, 1, locale))
    img = Image.fromarray(bare.image)
    H, W = bare.image.shape[:2]
    boxes: list[dict[str, Any]] = []
    drawn: list[tuple[int, int, int, int]] = []
    for g in full.boxes:
        kind = style if style != "mixed" else rng.choice(STYLES[:3])
        layers = _layers(g["text"], burned._font(font_path, max(8, g["size"])), kind, rng)
        if g.get("rot"):
            layers = tuple(m.rotate(g["rot"], expand=True) for m in layers)
        letters, edge, plate = layers
        x = max(0, min(g["x0"], W - letters.width))
        y = max(0, min(g["y0"], H - letters.height))
        x1, y1 = x + letters.width, y + letters.height
        if any(x < o[2] + 2 and o[0] < x1 + 2 and y < o[3] + 2 and o[1] < y1 + 2
               for o in drawn):
            continue
        drawn.append((x, y, x1, y1))
        region = np.asarray(img.crop((x, y, x1, y1)), np.float32)
        light = (rng.random() < 0.7) if kind == "plate" else float(region.mean()) < 150
        ink = np.array(rng.choice(_LIGHT) if light else (0, 0, 0), np.float32)
        dark = np.array((0, 0, 0) if light else (255, 255, 255), np.float32)

        def alpha(m: Image.Image, k: float = 1.0) -> np.ndarray:
            return np.asarray(m, np.float32)[..., None] / 255.0 * k
        a_plate, a_edge, a_ink = alpha(plate, 0.85), alpha(edge), alpha(letters)
        out = region * (1 - a_plate) + dark * 0.6 * a_plate
        out = out * (1 - a_edge) + dark * a_edge
        out = out * (1 - a_ink) + ink * a_ink
        img.paste(Image.fromarray(np.clip(out, 0, 255).astype(np.uint8)), (x, y))
        ys, xs = np.nonzero(np.asarray(letters) > 40)
        if len(xs):
            boxes.append(dict(g, x0=int(x + xs.min()), y0=int(y + ys.min()),
                              x1=int(x + xs.max() + 1), y1=int(y + ys.max() + 1)))
    return burned.Sample(np.asarray(img).copy(), boxes, full.identity, full.background,
                         full.layout)


def generator(style: str | None) -> Callable[..., burned.Sample]:
    """``burned.generate``'s signature, drawing in ``style`` (None: as the generator does)."""
    if style is None:
        return burned.generate

    def draw(seed: int, split: str = "heldout", h: int | None = None, w: int | None = None,
             locale: str = "en", background: str | None = None) -> burned.Sample:
        return restyle(seed, style, split, h, w, locale, background)
    return draw
