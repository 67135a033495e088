"""The burned-in text detector: a small Faster R-CNN with Monte-Carlo dropout in the box head.

Why this shape: on a 2-core CPU a MobileNetV3-FPN at native resolution costs ~0.6 s per
image, and the 320 px variant shrinks 9 px text to 4 px. A 6-conv stride-8 backbone with
horizontal/vertical context convolutions keeps 640×480 frames at their native size for
~20 ms, with one feature map and anchors shaped for text lines (wide, and tall for text
rotated on the side edges). No pretrained weights exist for it, so it trains from scratch
on the synthetic images of :mod:`deid_node.synth.burned`.

Uncertainty: one backbone + RPN pass, then T stochastic passes of the ROI box head with
dropout active; each box gets the mean text score and its spread (std) over the passes.
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign, boxes as box_ops

from .settings import DETECT_VIEWS

ARCH_VERSION = 1
DEFAULT_ARCH: dict[str, Any] = {
    "version": ARCH_VERSION, "channels": 48, "head_dim": 256, "dropout": 0.25,
    "sizes": [8, 16, 32, 64, 128, 256], "aspects": [0.08, 0.2, 0.5, 1.0, 3.0, 10.0],
    "min_size": 480, "max_size": 640,
}


def _cbr(cin: int, cout: int, k: int | tuple[int, int] = 3, s: int = 1,
         d: int | tuple[int, int] = 1) -> nn.Sequential:
    if isinstance(k, int):
        k = (k, k)
    if isinstance(d, int):
        d = (d, d)
    pad = ((k[0] - 1) // 2 * d[0], (k[1] - 1) // 2 * d[1])
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, pad, dilation=d, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TextBackbone(nn.Module):
    """Stride-8 conv stack; (1×9) and (9×1) dilated convs give text-line context."""

    def __init__(self, channels: int = 48) -> None:
        super().__init__()
        c = channels
        self.body = nn.Sequential(
            _cbr(3, 16, 3, 2), _cbr(16, 32, 3, 2), _cbr(32, c, 3, 2), _cbr(c, c, 3, 1),
            _cbr(c, c, (1, 9), 1, (1, 2)), _cbr(c, c, (9, 1), 1, (2, 1)), _cbr(c, c, 3, 1))
        self.out_channels = c

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return OrderedDict([("0", self.body(x))])


class DropoutBoxHead(nn.Module):
    """Two FC layers with dropout; dropout stays on in MC passes (see :func:`mc_detect`)."""

    def __init__(self, in_features: int, dim: int, p: float) -> None:
        super().__init__()
        self.fc6 = nn.Linear(in_features, dim)
        self.fc7 = nn.Linear(dim, dim)
        self.drop = nn.Dropout(p)
        self.mc = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.after_fc6(self.fc6_features(x))

    def fc6_features(self, x: torch.Tensor) -> torch.Tensor:
        """The part before the first dropout: the same in every MC pass, so
        :func:`mc_detect` computes it once (fc6 is nine tenths of the head's work)."""
        return torch.relu(self.fc6(x.flatten(1)))

    def after_fc6(self, h: torch.Tensor) -> torch.Tensor:
        h = nn.functional.dropout(h, self.drop.p, self.training or self.mc)
        h = nn.functional.dropout(torch.relu(self.fc7(h)), self.drop.p, self.training or self.mc)
        return h


def build_model(arch: dict[str, Any] | None = None) -> FasterRCNN:
    a = dict(DEFAULT_ARCH, **(arch or {}))
    backbone = TextBackbone(a["channels"])
    anchors = AnchorGenerator(sizes=(tuple(a["sizes"]),), aspect_ratios=(tuple(a["aspects"]),))
    pool = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)
    head = DropoutBoxHead(a["channels"] * 49, a["head_dim"], a["dropout"])
    model = FasterRCNN(
        backbone, num_classes=None, rpn_anchor_generator=anchors, box_roi_pool=pool,
        box_head=head, box_predictor=FastRCNNPredictor(a["head_dim"], 2),
        min_size=a["min_size"], max_size=a["max_size"],
        image_mean=[0.45, 0.45, 0.45], image_std=[0.25, 0.25, 0.25],
        rpn_pre_nms_top_n_train=1500, rpn_post_nms_top_n_train=600,
        rpn_pre_nms_top_n_test=600, rpn_post_nms_top_n_test=200,
        rpn_batch_size_per_image=256, box_batch_size_per_image=256,
        box_score_thresh=0.05, box_nms_thresh=0.4, box_detections_per_img=150)
    return model


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """H×W×3 uint8 → 3×H×W float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0)


# The detector's other look at a frame (``pixels.detect_views``, settings.DETECT_VIEWS):
# its stride-8 features see text at one phase of their grid, and some faint lines on speckle
# are proposed only at the other phase, so a look at the frame moved by half a cell finds
# text the plain look did not (docs/pixels.md, *Fifth round*).
_SHIFT = 4


def view(rgb: np.ndarray, name: str) -> tuple[np.ndarray, int]:
    """The frame as the detector sees it in view ``name``, and the offset (pixels, both
    axes) to subtract from the boxes found in it. ``shift``: moved half a feature cell
    (4 px) right and down."""
    if name == "shift":
        moved = np.pad(rgb, ((_SHIFT, 0), (_SHIFT, 0), (0, 0)), mode="edge")
        return np.ascontiguousarray(moved[:rgb.shape[0], :rgb.shape[1]]), _SHIFT
    raise ValueError(f"unknown detector view {name!r}; known: {', '.join(DETECT_VIEWS)}")


@dataclass
class Detection:
    box: tuple[float, float, float, float]
    score: float      # mean text probability over the T passes
    spread: float     # std of the text probability over the T passes


def working_scale(model: FasterRCNN, h: int, w: int) -> float:
    """How much the detector resizes an h×w frame before it looks (its transform's rule:
    the short side to ``min_size`` unless the long side would pass ``max_size``)."""
    t = model.transform
    return min(float(t.min_size[-1]) / min(h, w), float(t.max_size) / max(h, w))


def _transform_at(model: FasterRCNN, factor: float) -> Any:
    """The detector's transform, resizing frames to ``factor`` × its working size: a copy,
    so the model (and any other caller of it) keeps its own."""
    t = copy.copy(model.transform)
    t.min_size = tuple(max(32, int(round(v * factor))) for v in t.min_size)
    t.max_size = max(32, int(round(t.max_size * factor)))
    return t


@torch.no_grad()
def mc_detect(model: FasterRCNN, rgb: np.ndarray, passes: int = 8, score_floor: float = 0.1,
              nms_iou: float = 0.4, seed: int = 0, size: float = 1.0) -> list[Detection]:
    """One backbone+RPN pass, ``passes`` dropout passes of the box head, mean/std per box.

    Boxes are decoded from the mean regression and suppressed on the mean score; every box
    whose mean score reaches ``score_floor`` is returned, so ambiguous ones reach the
    uncertainty estimate instead of being dropped silently. ``size``: the look at ``size`` ×
    the usual working size (0.5 finds text twice as tall as the training drew whole).
    """
    model.eval()
    head: DropoutBoxHead = model.roi_heads.box_head
    img = to_tensor(rgb)
    transform = model.transform if size == 1.0 else _transform_at(model, size)
    images, _ = transform([img])
    feats = model.backbone(images.tensors)
    proposals, _ = model.rpn(images, feats)
    rh = model.roi_heads
    pooled = rh.box_roi_pool(feats, proposals, images.image_sizes)
    gen_state = torch.get_rng_state()
    torch.manual_seed(seed)
    head.mc = passes > 1
    try:
        probs, regs = [], []
        shared = head.fc6_features(pooled)
        for _ in range(max(1, passes)):
            x = head.after_fc6(shared)
            logits, reg = rh.box_predictor(x)
            probs.append(torch.softmax(logits, -1)[:, 1])
            regs.append(reg[:, 4:8])
    finally:
        head.mc = False
        torch.set_rng_state(gen_state)
    p = torch.stack(probs)           # T × N
    mean_p = p.mean(0)
    spread = p.std(0) if p.shape[0] > 1 else torch.zeros_like(mean_p)
    reg = torch.stack(regs).mean(0)
    boxes = rh.box_coder.decode(reg, proposals).reshape(-1, 4)
    boxes = box_ops.clip_boxes_to_image(boxes, images.image_sizes[0])
    keep = mean_p >= score_floor
    boxes, mean_p, spread = boxes[keep], mean_p[keep], spread[keep]
    keep = box_ops.remove_small_boxes(boxes, 1.0)
    boxes, mean_p, spread = boxes[keep], mean_p[keep], spread[keep]
    keep = box_ops.nms(boxes, mean_p, nms_iou)
    boxes, mean_p, spread = boxes[keep], mean_p[keep], spread[keep]
    # back to original image coordinates
    h0, w0 = rgb.shape[:2]
    hr, wr = images.image_sizes[0]
    scale = torch.tensor([w0 / wr, h0 / hr, w0 / wr, h0 / hr])
    boxes = boxes * scale
    return [Detection(tuple(float(v) for v in b), float(s), float(d))
            for b, s, d in zip(boxes, mean_p, spread)]


def save_weights(model: FasterRCNN, arch: dict[str, Any], path: Any) -> None:
    """Half-precision state dict + arch: small enough to commit (a few MB)."""
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    torch.save({"arch": arch, "state_dict": sd}, path)


def load_weights(path: Any) -> FasterRCNN:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(blob["arch"])
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in blob["state_dict"].items()}
    model.load_state_dict(sd)
    model.eval()
    return model
