"""Train the burned-in text detector on synthetic images (``deid-node train detector``).

The recipe is seeded end to end: image ``k`` of iteration ``i`` is
``synth.burned.generate(seed * 10**7 + i * batch + k, "train")``, so a run that stops and
resumes from its checkpoint sees the same images as one that never stopped. Training runs
in chunks (``--max-minutes``) that save ``--checkpoint`` (model, optimiser, iteration) and
resume from it, because background jobs on the shared build machine do not live long.
When ``--iterations`` are reached the weights are evaluated on the held-out synthetic set
(other seed, other font families, other layouts), written in half precision to
``weights/detector/<name>.pt`` and recorded in ``weights/MANIFEST.json`` with the metrics.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deid_node import weights
from deid_node.pixels import detector as det
from deid_node.synth import burned
from deid_node.train import checkpoint, feed

DEFAULT_OUT = "detector/text_frcnn.pt"
DEFAULT_CKPT = Path("var/train/detector.ckpt")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--iterations", type=int, default=6000, help="total training iterations")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1.5e-3)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    checkpoint.add_arguments(parser, DEFAULT_CKPT, every=100)
    feed.add_arguments(parser)
    parser.add_argument("--out", default=DEFAULT_OUT, help="path under weights/")
    parser.add_argument("--eval-images", type=int, default=200,
                        help="held-out synthetic images for the recorded metrics")
    parser.add_argument("--finish", action="store_true",
                        help="evaluate and record the current checkpoint now, even if fewer "
                             "iterations ran")
    parser.add_argument("--channels", type=int, default=det.DEFAULT_ARCH["channels"])
    parser.add_argument("--init", default=None,
                        help="start from these weights (path under weights/, hash-checked "
                             "against the MANIFEST) instead of from scratch: a fine-tune")
    parser.add_argument("--data-version", type=int, default=1, choices=tuple(DATA_VARIETY),
                        help="synthetic training data: 1 = the original recipe, 2 = also the "
                             "extra font family, stacked layout, more small text "
                             "(synth.burned.generate(variety=2)), 3 = version 2 with one "
                             "image in four a Chinese, Japanese or Korean screen, 4 = version "
                             "3 with PET/CT fusions without text and faint lines in the "
                             "English images (synth.burned.generate(variety=3)), 5 = "
                             "version 4 with half the radiographs windowed as native tiles "
                             "of a large film (variety=4), 6 = version 5 with endoscopy, "
                             "pathology and echo screens and see-through lines over "
                             "speckle (variety=5)")


def _boxes(sample: burned.Sample) -> np.ndarray:
    """Ground-truth boxes as (x0, y0, x1, y1) with exclusive ends, float32 (n, 4)."""
    b = np.array([[x["x0"], x["y0"], x["x1"] + 1, x["y1"] + 1] for x in sample.boxes],
                 np.float32)
    return b.reshape(-1, 4)


CJK_LOCALES = ("zh", "ja", "ko")
# data version → synth.burned.generate's variety for the English images
DATA_VARIETY = {1: 1, 2: 2, 3: 2, 4: 3, 5: 4, 6: 5}


def train_locale(version: int, index: int) -> str:
    """The screen language of training image ``index``: English, except that data version 3
    makes every fourth image a CJK screen (zh, ja, ko in turn), so that Han, kana and Hangul
    lines are proposed whole and the script check sees them."""
    if version < 3 or index % 4 != 3:
        return "en"
    return CJK_LOCALES[(index // 4) % len(CJK_LOCALES)]


def train_batch(seed: int, size: int, version: int, it: int
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """The images and boxes of iteration ``it``: image ``k`` is seeded by (seed, it, k).
    Plain arrays, so that a worker process hands them over without torch's shared memory."""
    out = []
    for k in range(size):
        index = it * size + k
        s = burned.generate(seed * 10**7 + index, "train", variety=DATA_VARIETY[version],
                            locale=train_locale(version, index))
        out.append((s.image, _boxes(s)))
    return out


def _targets(boxes: np.ndarray, dev: torch.device) -> dict[str, torch.Tensor]:
    b = torch.from_numpy(boxes).to(dev)
    return {"boxes": b, "labels": torch.ones((b.shape[0],), dtype=torch.int64, device=dev)}


def _lr_at(it: int, total: int, base: float) -> float:
    warm = 200
    if it < warm:
        return base * (0.1 + 0.9 * it / warm)
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, (it - warm) / max(1, total - warm)))))


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    aa = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    bb = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (aa[:, None] + bb[None, :] - inter + 1e-9)


def coverage(gt: np.ndarray, dets: np.ndarray, shape: tuple[int, int], pad: int = 2) -> np.ndarray:
    """Fraction of each ground-truth box's area covered by the union of padded detections."""
    h, w = shape
    m = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in dets:
        m[max(0, int(y0) - pad):min(h, int(math.ceil(y1)) + pad),
          max(0, int(x0) - pad):min(w, int(math.ceil(x1)) + pad)] = True
    out = np.zeros(len(gt))
    for i, (x0, y0, x1, y1) in enumerate(gt.astype(int)):
        sub = m[y0:y1 + 1, x0:x1 + 1]
        out[i] = sub.mean() if sub.size else 1.0
    return out


def evaluate(model: Any, n: int, seed: int = 777, score: float = 0.5,
             locale: str = "en") -> dict[str, float]:
    """Held-out detector metrics: recall at IoU 0.5, coverage recall, precision."""
    tp_iou = n_gt = n_det = det_ok = 0
    covered = 0
    times = []
    for i in range(n):
        s = burned.generate(seed * 1000 + i, "heldout", locale=locale)
        t0 = time.perf_counter()
        found = det.mc_detect(model, s.image, passes=1, score_floor=score)
        times.append(time.perf_counter() - t0)
        gt = np.array([[b["x0"], b["y0"], b["x1"] + 1, b["y1"] + 1] for b in s.boxes], float)
        d = np.array([f.box for f in found], float).reshape(-1, 4)
        n_gt += len(gt)
        n_det += len(d)
        if len(gt) and len(d):
            iou = iou_matrix(gt, d)
            tp_iou += int((iou.max(1) >= 0.5).sum())
            # a detection is correct when it overlaps some text (IoU ≥ 0.2 or mostly inside)
            x0 = np.maximum(d[:, None, 0], gt[None, :, 0])
            y0 = np.maximum(d[:, None, 1], gt[None, :, 1])
            x1 = np.minimum(d[:, None, 2], gt[None, :, 2])
            y1 = np.minimum(d[:, None, 3], gt[None, :, 3])
            inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
            darea = (d[:, 2] - d[:, 0]) * (d[:, 3] - d[:, 1])
            det_ok += int(((inter.sum(1) / np.maximum(darea, 1e-9)) >= 0.5).sum())
        if len(gt):
            covered += int((coverage(gt, d, s.image.shape[:2]) >= 0.9).sum())
    return {"heldout_images": n, "heldout_text_boxes": n_gt,
            "recall_iou50": round(tp_iou / max(1, n_gt), 4),
            "coverage_recall_90": round(covered / max(1, n_gt), 4),
            "precision": round(det_ok / max(1, n_det), 4),
            "score_threshold": score,
            "median_ms_per_image_T1": round(1000 * float(np.median(times)), 1)}


def run(args: argparse.Namespace) -> int:
    if Path(args.out).is_absolute() or ".." in Path(args.out).parts:
        print(f"--out {args.out!r} must be a path under weights/ (such as {DEFAULT_OUT})",
              file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(args.seed)
    arch = dict(det.DEFAULT_ARCH, channels=args.channels)
    model = det.build_model(arch)
    init_sha = init_recipe = None
    if args.init:
        # a copy taken before training starts: --out may be the same file as --init
        init_path, init_sha, init_recipe = weights.lineage(args.init)
        blob = torch.load(init_path, map_location="cpu", weights_only=True)
        arch = dict(blob["arch"])
        model = det.build_model(arch)
        model.load_state_dict({k: (v.float() if v.is_floating_point() else v)
                               for k, v in blob["state_dict"].items()})
        print(f"initialised from {args.init} (sha256 {init_sha[:16]}...)", flush=True)
    dev = feed.device(args.device)
    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    it = 0
    spent = 0.0  # training seconds over all chunks
    ckpt: Path = args.checkpoint
    if (blob := checkpoint.resume(ckpt, model, opt)) is not None:
        it = int(blob["iteration"])
        # a checkpoint without the field comes from a chunk that ran its full --max-minutes
        spent = float(blob.get("train_seconds", args.max_minutes * 60))
        print(f"resumed from {ckpt} at iteration {it}", flush=True)

    t_start = time.time()

    def save() -> None:
        checkpoint.save(ckpt, model, opt, iteration=it, arch=arch,
                        train_seconds=spent + time.time() - t_start)

    model.train()
    losses: list[float] = []
    make = functools.partial(train_batch, args.seed, args.batch, args.data_version)
    stream = feed.batches(make, range(it, args.iterations), args.workers)
    while it < args.iterations and not args.finish:
        if args.max_minutes and (time.time() - t_start) > args.max_minutes * 60:
            save()
            print(f"chunk done at iteration {it}; run the same command again to resume",
                  flush=True)
            return 3
        for g in opt.param_groups:
            g["lr"] = _lr_at(it, args.iterations, args.lr)
        batch = next(stream)
        imgs = [det.to_tensor(image).to(dev) for image, _ in batch]
        tgts = [_targets(boxes, dev) for _, boxes in batch]
        loss_dict = model(imgs, tgts)
        loss = sum(loss_dict.values())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        losses.append(float(loss))
        it += 1
        if it % 20 == 0:
            parts = " ".join(f"{k[5:]}={float(v):.3f}" for k, v in loss_dict.items())
            print(f"it {it} loss {np.mean(losses[-20:]):.3f} {parts} "
                  f"lr {opt.param_groups[0]['lr']:.2e} {time.time() - t_start:.0f}s", flush=True)
        if it % args.checkpoint_every == 0:
            save()
    stream.close()
    save()
    model.to("cpu")
    model.eval()
    metrics = evaluate(model, args.eval_images)
    # CJK screens in held-out fonts, a quarter of the English count each
    try:
        metrics["heldout_cjk"] = {loc: evaluate(model, max(1, args.eval_images // 4),
                                                locale=loc) for loc in CJK_LOCALES}
    except burned.FontsMissing as e:  # a training machine without the held-out CJK fonts
        metrics["heldout_cjk"] = {"skipped": str(e)}
    metrics["iterations"] = it
    metrics[f"train_minutes_{dev.type}"] = round((spent + time.time() - t_start) / 60, 1)
    metrics["batch"] = args.batch
    if args.init:
        metrics["init"] = args.init
        metrics["init_sha256"] = init_sha
        metrics["init_command"] = init_recipe
        metrics["data_version"] = args.data_version
    print(json.dumps(metrics), flush=True)
    out = weights.WEIGHTS_DIR / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    det.save_weights(model, arch, out)
    cmd = "deid-node train detector " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    how = (f"fine-tuned from {args.init} (sha256 {init_sha}) on synth.burned train split, "
           f"data version {args.data_version}" if args.init else
           "from scratch on deid_node.synth.burned train split")
    weights.record(args.out, command=cmd.strip(), seed=args.seed, metrics=metrics,
                   notes="text-line Faster R-CNN (stride-8 conv backbone, MC-dropout box head), "
                         f"{how}; metrics on the held-out split (other fonts, layouts, seed)")
    print(f"wrote {out} and its MANIFEST entry", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deid-node train detector", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
