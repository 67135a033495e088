"""Text far taller than the detector was trained on (8-28 px at its working size): a
patient's name drawn 32-120 px high on held-out backgrounds, in held-out fonts, at a
random place on 640×480 and 1024×768 frames. Per height: the share of the name's ink
under blanked boxes (mean and worst) and how many images keep none of it in view.

    .venv/bin/python benchmarks/pixel_large_text.py [--n 12] [--set large_text_size=0]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deid_node.pixels.redactor import blanked_mask  # noqa: E402
from deid_node.synth import burned  # noqa: E402

SIZES = (32, 48, 64, 80, 100, 120)
FRAMES = ((480, 640), (768, 1024))


def covered(red, rgb: np.ndarray, ink: np.ndarray) -> float:
    """Share of ``ink`` under the rectangles the stage blanks."""
    h, w = ink.shape
    boxes, _ = red.find({0: rgb}, None)
    return float(blanked_mask(boxes, red.settings.pad, w, h)[ink].mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=12, help="images per height and frame size")
    ap.add_argument("--seed", type=int, default=7000)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    import yaml

    from deid_node.config import Section
    from deid_node.pixels import PixelRedactor, PixelSettings
    overrides = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.set)}
    red = PixelRedactor.load(PixelSettings.from_section(Section(overrides, "--set", "pixels")))
    fonts = burned.font_files("heldout")
    out: dict[str, dict[str, float]] = {}
    for size in SIZES:
        shares = []
        for k in range(args.n):
            h, w = FRAMES[k % len(FRAMES)]
            seed = args.seed + 1000 * size + k
            rng = random.Random(seed)
            s = burned.generate(seed, "heldout", h, w, n_text=(0, 0))
            name = s.identity.names[0].replace("^", " ")
            font = burned._font(rng.choice(fonts), size)
            img = Image.fromarray(s.image)
            x, y = rng.randint(0, w // 3), rng.randint(0, h - size - 10)
            mask = Image.new("L", (w, h), 0)
            ImageDraw.Draw(mask).text((x, y), name, font=font, fill=255)
            ink = np.asarray(mask) > 128
            if not ink.any():
                continue
            under = np.asarray(img, np.float32)
            local = float(under[ink].mean())
            colour = np.array((255, 255, 255) if local < 128 else (0, 0, 0), np.float32)
            a = (np.asarray(mask, np.float32) / 255.0)[..., None]
            rgb = np.clip(under * (1 - a) + colour * a, 0, 255).astype(np.uint8)
            shares.append(covered(red, rgb, ink))
        out[str(size)] = {"images": len(shares),
                          "ink_covered_mean": round(float(np.mean(shares)), 4),
                          "ink_covered_worst": round(float(np.min(shares)), 4),
                          "images_fully_covered": sum(v >= 0.999 for v in shares)}
        print(size, out[str(size)], flush=True)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
