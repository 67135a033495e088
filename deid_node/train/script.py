"""Train the script check (``deid-node train script``): is a crop in a script the recogniser cannot read?

Crops are cut as the recogniser's training cuts them (``recogniser.crops_of``: the
redactor's own crop of a ground-truth box jittered like a detection) from synthetic images
of the training split: half Latin screens (training fonts, ``variety=2``), the other half
Chinese, Japanese, Korean, Hebrew and Arabic screens (``locale`` zh, ja, ko, he, ar: Han,
kana, Hangul, Hebrew and Arabic letters, in the training CJK or RTL font, whose settings
lines are often Latin and so teach the network glyph shapes rather than a font). A crop is labelled "other script"
when its text holds a character the recogniser has no class for
(``pixels.script.is_other_script``). Half the crops are turned upside down: a box on a side
edge may be checked in either turn, and a third of the short crops lie a quarter turn
either way (a short word on a side edge is no tall box, and is checked as it lies).

With ``--detected`` a share of the images give the crops of the shipped detector's boxes
instead, labelled by the ground truth under them: what the redactor asks the check about
(several fields in one box, speckle at the ends), where it flags about three times as many
Latin crops as on the jittered ones. ``--init`` starts from weights under weights/.

The batch of step ``i`` depends on (seed, i) alone, so a run stopped by ``--max-minutes``
resumes from its checkpoint on the same batches. Measured at the end on crops of the
held-out split (held-out Latin and CJK fonts, held-out layouts, seeds from 5000: the
tuning seeds, not the evaluation split's), the figures go into the MANIFEST entry.
"""
from __future__ import annotations

import argparse
import functools
import json
import random
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deid_node import weights
from deid_node.pixels import PixelSettings, detector, script
from deid_node.pixels.redactor import Box, grey_crops
from deid_node.synth import burned
from deid_node.train import checkpoint, feed
from deid_node.train.recogniser import crops_of, lr_at

DEFAULT_OUT = "script/script_net.pt"
DEFAULT_CKPT = Path("var/train/script.ckpt")
NOTES = ("script check (pixels.script.ScriptNet): Latin vs other scripts on synth.burned "
         "training crops (Latin training fonts; Han, kana, Hangul in wqy-microhei; Hebrew in "
         "DejaVu Sans and Culmus; Arabic in DejaVu Sans and Amiri); measured on held-out crops "
         "(held-out Latin fonts, wqy-zenhei, AR PL UMing, FreeSans, FreeSerif; seeds 5000+)")
# the images of one step, in turn: half Latin screens, the rest Chinese, Japanese, Korean,
# Hebrew, Arabic
_LOCALE_CYCLE = ("en", "zh", "en", "ja", "en", "ko", "en", "he", "en", "ar")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--width", type=int, default=32, help="channels of the second block")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--eval-images", type=int, default=150,
                        help="held-out images per locale whose crops measure the result")
    parser.add_argument("--out", default=DEFAULT_OUT, help="path under weights/")
    parser.add_argument("--init", default="",
                        help="start from these weights under weights/ (MANIFEST-checked)")
    parser.add_argument("--detected", type=float, default=0.0,
                        help="share of the images whose crops are cut from the shipped "
                             "detector's boxes (several fields in one box, speckle at the "
                             "ends: what the redactor asks the check about) instead of "
                             "from jittered ground-truth boxes")
    checkpoint.add_arguments(parser, DEFAULT_CKPT, every=100)
    feed.add_arguments(parser)


def labelled(sample: burned.Sample, rng: random.Random, jitter: float
             ) -> list[tuple[np.ndarray, float]]:
    """(crop, 1.0 when its text holds another script) for every box of the image."""
    return [(c, float(any(script.is_other_script(ch) for ch in t)))
            for c, t in crops_of(sample, rng, jitter) if min(c.shape) >= 2]


_DETECTOR: list[Any] = []   # the shipped detector, loaded once per process


def detected(sample: burned.Sample) -> list[tuple[np.ndarray, float]]:
    """(crop, label) for the shipped detector's boxes on the image (one look, two dropout
    passes, from score 0.3): 1.0 when a ground-truth box with another script lies at least
    a fifth inside it, 0.0 when no such box touches it (text in Latin letters or none:
    markers and speckle are asked about too); boxes in between are left out."""
    if not _DETECTOR:
        _DETECTOR.append(detector.load_weights(
            weights.verified(PixelSettings().detector)))
    out: list[tuple[np.ndarray, float]] = []
    for d in detector.mc_detect(_DETECTOR[0], sample.image, passes=2, score_floor=0.3):
        x0, y0, x1, y1 = d.box
        inside = []
        for g in sample.boxes:
            if any(script.is_other_script(ch) for ch in g["text"]):
                ix = max(0.0, min(x1, g["x1"]) - max(x0, g["x0"]))
                iy = max(0.0, min(y1, g["y1"]) - max(y0, g["y0"]))
                inside.append(ix * iy / max(1.0, (g["x1"] - g["x0"]) * (g["y1"] - g["y0"])))
        share = max(inside, default=0.0)
        if 0.0 < share < 0.2:
            continue
        b = Box(x0, y0, x1, y1, score=d.score, spread=d.spread, frame=0)
        crop = grey_crops(sample.image, b)[0]
        if min(crop.shape) >= 2:
            out.append((crop, float(share >= 0.2)))
    return out


def _turn(rng: random.Random, crop: np.ndarray) -> int:
    """Quarter turns for one training crop: upside down half the time, and a short crop a
    quarter turn either way a third of the time (a short word on a side edge is not a tall
    box, and is read as it lies)."""
    if crop.shape[1] < 3 * crop.shape[0] and rng.random() < 1 / 3:
        return rng.choice((1, 3))
    return 2 if rng.random() < 0.5 else 0


def batch_at(seed: int, size: int, step: int, share_detected: float = 0.0
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Input, widths and labels of one step, from images and jitter seeded by (seed, step);
    ``share_detected`` of the images give the detector's boxes instead (``detected``)."""
    rng = random.Random(seed * 10**6 + step)
    items: list[tuple[np.ndarray, float]] = []
    k = 0
    while len(items) < size:
        locale = _LOCALE_CYCLE[k % len(_LOCALE_CYCLE)]
        sample = burned.generate(seed * 10**7 + step * 64 + k, "train", variety=2, locale=locale)
        k += 1
        items.extend(detected(sample) if rng.random() < share_detected
                     else labelled(sample, rng, 0.15))
    items = [(np.rot90(c, _turn(rng, c)), y) for c, y in items[:size]]
    items.sort(key=lambda it: it[0].shape[1] / max(1, it[0].shape[0]))
    x, widths = script.batch([c for c, _ in items])
    return x, widths, torch.tensor([y for _, y in items])


def held_out(n: int, from_detector: bool = False) -> list[tuple[np.ndarray, float, str]]:
    """Crops of held-out images (seeds 5000+, every locale), with label and locale: of
    jittered ground-truth boxes, or (``from_detector``) of the detector's boxes."""
    out: list[tuple[np.ndarray, float, str]] = []
    for locale in burned.LOCALES:
        for k in range(n):
            sample = burned.generate(5000 + k, "heldout", locale=locale)
            items = (detected(sample) if from_detector
                     else labelled(sample, random.Random(k), 0.1))
            out.extend((c, y, locale) for c, y in items)
    return out


def measure(check: script.ScriptCheck, items: list[tuple[np.ndarray, float, str]]
            ) -> dict[str, Any]:
    """Latin crops called another script and other-script crops found, per threshold."""
    p = np.array(check.other_script([c for c, _, _ in items]))
    y = np.array([lab for _, lab, _ in items]) > 0.5
    rows = {}
    for t in (0.3, 0.5, 0.7, 0.9):
        rows[str(t)] = {"latin_flagged": round(float((p[~y] >= t).mean()), 4),
                        "other_found": round(float((p[y] >= t).mean()), 4)}
    return {"latin_crops": int((~y).sum()), "other_crops": int(y.sum()), "by_threshold": rows}


def run(args: argparse.Namespace) -> int:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    model = script.ScriptNet(args.width)
    init_sha = init_recipe = None
    if args.init:
        # read before training starts: --out may be the same file as --init
        init_path, init_sha, init_recipe = weights.lineage(args.init)
        start = script.ScriptCheck.load(init_path)
        model.load_state_dict(start.model.state_dict())
    dev = feed.device(args.device)
    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    step, spent, ran_on = 0, 0.0, set()
    ckpt: Path = args.checkpoint
    if (blob := checkpoint.resume(ckpt, model, opt)) is not None:
        step, spent = int(blob["step"]), float(blob["train_seconds"])
        ran_on = set(blob.get("devices", ()))
        print(f"resumed from {ckpt} at step {step}", flush=True)
    if step < args.steps:
        ran_on.add(dev.type)  # the metrics name the devices the steps ran on, not the eval's
    t0 = time.time()
    loss_fn = torch.nn.BCEWithLogitsLoss()
    stream = feed.batches(functools.partial(batch_at, args.seed, args.batch,
                                            share_detected=args.detected),
                          range(step + 1, args.steps + 1), args.workers)
    losses: list[float] = []
    model.train()
    while step < args.steps:
        if args.max_minutes and time.time() - t0 > args.max_minutes * 60:
            checkpoint.save(ckpt, model, opt, step=step, train_seconds=spent + time.time() - t0,
                            devices=sorted(ran_on))
            print(f"chunk done at step {step}; run the same command again to resume", flush=True)
            return 3
        step += 1
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr, 0.0)
        x, widths, y = next(stream)
        loss = loss_fn(model(x.to(dev), widths.to(dev)), y.to(dev))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if step % 50 == 0:
            print(f"step {step} loss {np.mean(losses[-50:]):.4f} {time.time() - t0:.0f}s", flush=True)
        if step % args.checkpoint_every == 0:
            checkpoint.save(ckpt, model, opt, step=step, train_seconds=spent + time.time() - t0,
                            devices=sorted(ran_on))
    stream.close()
    model.to("cpu").eval()
    train_seconds = spent + time.time() - t0
    check = script.ScriptCheck(model)
    metrics = {"heldout": measure(check, held_out(args.eval_images)),
               "heldout_detected": measure(check, held_out(args.eval_images, True)),
               "steps": step, "batch": args.batch, "lr": args.lr,
               f"train_minutes_{'+'.join(sorted(ran_on))}": round(train_seconds / 60, 1)}
    if args.init:
        metrics.update(init=args.init, init_sha256=init_sha, init_command=init_recipe)
    if args.detected:
        # the crops --detected cut depend on the detector that cut them
        metrics["detector_sha256"] = weights.sha256_file(
            weights.verified(PixelSettings().detector))
    out = weights.WEIGHTS_DIR / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {k: (v.half() if v.is_floating_point() else v)
                               for k, v in model.state_dict().items()}, "width": args.width}, out)
    cmd = "deid-node train script " + " ".join(
        shlex.quote(f"--{k.replace('_', '-')}={v}") for k, v in sorted(vars(args).items())
        if k in {"steps", "batch", "lr", "width", "seed", "threads", "eval_images", "out"}
        or k in {"init", "detected"} and v)
    weights.record(args.out, command=cmd, seed=args.seed, metrics=metrics,
                   notes=NOTES)
    print(json.dumps(metrics, indent=1), flush=True)
    print(f"wrote {out} and its MANIFEST entry", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deid-node train script", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
