"""The pixel stage: find burned-in text, read it, blank what is PHI, quarantine what is unsure.

Per instance: header-only scan decision (rules/pixels.yaml) → decode every frame →
detect text on sampled frames (+ a composite of the pixels that never change, so static
overlays are found once for all frames) → OCR each box → per-box decision → blank the padded
boxes in every frame → write back losslessly → uncertainty gate.

Fail closed: anything that cannot be decoded, read or written sets ``quarantine_reason``.
The OCR text is PHI: it goes only into ``PixelResult.box_texts``, and only when the
instance goes to quarantine (the quarantine keeps it; a forwarded report never has it).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from pydicom.dataset import Dataset

from deid_node import weights
from deid_node.identity import Identity

from . import codec, detector, match
from .ocr import OcrError, Recogniser
from .policy import ScanPolicy
from .rules import ScanDecision
from .settings import PixelSettings

CLEAN_PIXEL_DATA = "113101"
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_TILE_ABOVE = 1100          # long side (px) from which native-resolution tiles are added
_TILE = (480, 640)          # tile height, width: the detector's native working size
_OVERLAP = 96


@dataclass
class PixelResult:
    """What the pixel stage did. ``boxes`` is log-safe (no text); ``box_texts`` is not."""

    action: str
    scanned: bool = False
    boxes: list[dict[str, Any]] = field(default_factory=list)
    uncertainty: float = 0.0
    quarantine_reason: str | None = None
    method_codes: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    rule: str = ""
    frames: int = 0
    frames_scanned: list[int] = field(default_factory=list)
    transfer_syntax: str | None = None
    error: str | None = None
    box_texts: list[str] = field(default_factory=list)

    def as_log(self) -> dict[str, Any]:
        """The result without OCR text or error details, for logs and forwarded reports."""
        return {k: v for k, v in self.__dict__.items() if k not in ("box_texts", "error")}


@dataclass
class Box:
    """One text box found on the image (union over frames)."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    spread: float
    frame: int
    seen_in: list[int] = field(default_factory=list)
    text: str = ""
    ocr_conf: float = 0.0
    decision: str = ""
    why: str = ""
    entities: list[str] = field(default_factory=list)
    uncertainty: float = 0.0

    @property
    def w(self) -> float:
        return self.x1 - self.x0

    @property
    def h(self) -> float:
        return self.y1 - self.y0

    def padded(self, pad: int, width: int, height: int) -> tuple[int, int, int, int]:
        """The box plus ``pad`` + 12% of its short side all round, and about one character
        more (60% of the text height) at both ends of the line, where boxes fall short."""
        short = min(self.w, self.h)
        extra = pad + int(round(0.12 * short))
        along = int(round(0.6 * short))
        ex, ey = (extra + along, extra) if self.w >= self.h else (extra, extra + along)
        return (max(0, int(math.floor(self.x0)) - ex), max(0, int(math.floor(self.y0)) - ey),
                min(width, int(math.ceil(self.x1)) + ex),
                min(height, int(math.ceil(self.y1)) + ey))

    def log_dict(self, frames: list[int] | str, rect: tuple[int, int, int, int]) -> dict[str, Any]:
        return {"frames": frames, "x0": rect[0], "y0": rect[1], "x1": rect[2], "y1": rect[3],
                "score": round(self.score, 4), "spread": round(self.spread, 4),
                "ocr_confidence": round(self.ocr_conf, 4), "decision": self.decision,
                "why": self.why, "entities": self.entities,
                "uncertainty": round(self.uncertainty, 4), "seen_in": self.seen_in}


def _ambiguity(p: float) -> float:
    return 1.0 - abs(2.0 * p - 1.0)


def display_rgb(ds: Dataset, dec: codec.Decoded, index: int) -> np.ndarray:
    """One frame as 8-bit RGB for the models (windowed grey, palette applied)."""
    fr = dec.frames[index]
    pi = dec.photometric
    if pi == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut
        rgb = apply_color_lut(fr, ds)
        if rgb.dtype != np.uint8:
            rgb = (rgb >> 8).astype(np.uint8) if rgb.max() > 255 else rgb.astype(np.uint8)
        return np.ascontiguousarray(rgb)
    if dec.is_colour:
        arr = fr
        if pi == "YBR_FULL":
            from pydicom.pixels import convert_color_space
            arr = convert_color_space(fr, "YBR_FULL", "RGB")
        if arr.dtype != np.uint8:
            bits = int(ds.get("BitsStored", arr.dtype.itemsize * 8))
            arr = (arr.astype(np.float64) * (255.0 / float((1 << bits) - 1))).clip(0, 255)
        return np.ascontiguousarray(arr.astype(np.uint8))
    f = fr.astype(np.float32)
    sub = f[::4, ::4]
    lo, hi = np.percentile(sub, [0.5, 99.5]) if sub.size else (0.0, 1.0)
    if hi <= lo:
        lo, hi = float(f.min()), float(f.max()) if f.max() > f.min() else float(f.min()) + 1
    g = ((f - lo) * (255.0 / (hi - lo))).clip(0, 255)
    if pi == "MONOCHROME1":
        g = 255 - g
    g = g.astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2)


def sample_frames(n: int, k: int) -> list[int]:
    """First, last and evenly spaced frames, at most k."""
    if n <= k:
        return list(range(n))
    idx = {0, n - 1}
    idx |= {int(round(i * (n - 1) / (k - 1))) for i in range(k)}
    return sorted(idx)[:max(k, 2)]


def _merge(boxes: list[Box]) -> list[Box]:
    """Union boxes of the same text seen in several frames (overlap ≥ 50% of the smaller)."""
    boxes = sorted(boxes, key=lambda b: -b.score)
    out: list[Box] = []
    for b in boxes:
        for o in out:
            ix = max(0.0, min(o.x1, b.x1) - max(o.x0, b.x0))
            iy = max(0.0, min(o.y1, b.y1) - max(o.y0, b.y0))
            small = min(o.w * o.h, b.w * b.h)
            if small > 0 and ix * iy / small >= 0.5:
                o.x0, o.y0 = min(o.x0, b.x0), min(o.y0, b.y0)
                o.x1, o.y1 = max(o.x1, b.x1), max(o.y1, b.y1)
                o.spread = max(o.spread, b.spread) if b.score >= 0.5 * o.score else o.spread
                o.seen_in = sorted(set(o.seen_in) | set(b.seen_in))
                break
        else:
            out.append(b)
    return out


class PixelRedactor:
    """Load once per worker process with :meth:`load`; then :meth:`process` per instance."""

    def __init__(self, settings: PixelSettings, analyzer: Any, model: torch.nn.Module,
                 recogniser: Recogniser, policy: ScanPolicy) -> None:
        self.settings = settings
        self.analyzer = analyzer
        self.model = model
        self.recogniser = recogniser
        self.policy = policy

    @classmethod
    def load(cls, settings: PixelSettings | None = None, analyzer: Any = None) -> "PixelRedactor":
        """Detector via the MANIFEST hash check, recogniser after EasyOCR's md5 check.

        ``analyzer`` None means every readable text is treated as PHI (fail closed).
        """
        settings = settings or PixelSettings.default()
        torch.set_num_threads(settings.threads)
        path = weights.verified(settings.detector)
        model = detector.load_weights(path)
        try:
            rec = Recogniser()
        except OcrError:
            raise
        return cls(settings, analyzer, model, rec, ScanPolicy.load(settings))

    # ------------------------------------------------------------------ decisions
    def needs_scan(self, ds: Dataset) -> ScanDecision:
        """Header only (no pixel decode): skip / scan / regions / scan+regions."""
        return self.policy.decide(ds)

    def detect(self, rgb: np.ndarray, frame: int = 0) -> list[Box]:
        s = self.settings
        floor = min(0.05, s.ambiguous_floor)
        dets = detector.mc_detect(self.model, rgb, passes=s.mc_passes, score_floor=floor,
                                  seed=frame)
        out = [Box(*d.box, score=d.score, spread=d.spread, frame=frame, seen_in=[frame])
               for d in dets]
        h, w = rgb.shape[:2]
        if max(h, w) > _TILE_ABOVE:
            # Large radiographs: the detector works at ≤ 640 px, where small text would
            # shrink below a few pixels; also look at native-resolution overlapping tiles.
            th, tw = _TILE
            for y in range(0, max(1, h - _OVERLAP), th - _OVERLAP):
                for x in range(0, max(1, w - _OVERLAP), tw - _OVERLAP):
                    tile = np.ascontiguousarray(rgb[y:y + th, x:x + tw])
                    if tile.shape[0] < 16 or tile.shape[1] < 16 or tile.max() == tile.min():
                        continue
                    for d in detector.mc_detect(self.model, tile, passes=s.mc_passes,
                                                score_floor=floor, seed=frame):
                        x0, y0, x1, y1 = d.box
                        out.append(Box(x0 + x, y0 + y, x1 + x, y1 + y, score=d.score,
                                       spread=d.spread, frame=frame, seen_in=[frame]))
        return out

    def _crop(self, rgb: np.ndarray, b: Box) -> list[np.ndarray]:
        h, w = rgb.shape[:2]
        p = 2 + int(round(0.1 * min(b.w, b.h)))
        x0, y0 = max(0, int(b.x0) - p), max(0, int(b.y0) - p)
        x1, y1 = min(w, int(math.ceil(b.x1)) + p), min(h, int(math.ceil(b.y1)) + p)
        grey = (rgb[y0:y1, x0:x1].astype(np.float32) @ _LUMA)
        # colour text on a grey background can vanish in luminance: use the channel
        # with the most contrast when it beats luminance clearly.
        chans = [grey] + [rgb[y0:y1, x0:x1, c].astype(np.float32) for c in range(3)]
        crop = max(chans, key=lambda a: float(a.std()) if a.size else 0.0)
        if b.h > 1.6 * b.w:  # rotated text on a side edge: try both directions
            return [np.rot90(crop, 1), np.rot90(crop, 3)]
        return [crop]

    def read_and_decide(self, frames_rgb: dict[int, np.ndarray], boxes: list[Box],
                        identity: Identity | None) -> dict[str, float]:
        """OCR every box, ask the analyzer, set ``decision``/``why``/``uncertainty``."""
        s = self.settings
        t0 = time.perf_counter()
        todo = [b for b in boxes if b.score >= s.ambiguous_floor]
        crops: list[np.ndarray] = []
        owner: list[int] = []
        for i, b in enumerate(todo):
            for c in self._crop(frames_rgb[b.frame], b):
                if c.size and min(c.shape) >= 2:
                    crops.append(c)
                    owner.append(i)
        readings = self.recogniser.read(crops, s.ocr_batch)
        for i, r in zip(owner, readings):
            b = todo[i]
            if r.confidence > b.ocr_conf or not b.text:
                b.text, b.ocr_conf = r.text, r.confidence
        t1 = time.perf_counter()
        readable = [b for b in todo if b.ocr_conf >= s.ocr_confidence_floor and b.text.strip()]
        spans_list: list[list[Any]] = [[] for _ in readable]
        if self.analyzer is not None and readable and s.policy == "phi":
            spans_list = self.analyzer.analyze_batch([b.text for b in readable], identity)
        spans_of = {id(b): sp for b, sp in zip(readable, spans_list)}
        t2 = time.perf_counter()
        for b in boxes:
            if b.score < s.ambiguous_floor:
                b.decision, b.why = "ignored", "below-detection-floor"
                b.uncertainty = max(_ambiguity(b.score), min(1.0, 2 * b.spread))
                continue
            is_text = b.score >= s.detection_threshold
            u_det = max(_ambiguity(b.score), min(1.0, 2 * b.spread))
            if id(b) not in spans_of:
                # unreadable: blanked, never assumed safe
                b.decision, b.why = "uncertain", "unreadable" if is_text else "ambiguous-unreadable"
                b.uncertainty = 0.0
                continue
            if s.policy == "all-text":
                b.decision, b.why = "phi", "policy-all-text"
                continue
            hits = match.identity_hits(b.text, identity)
            spans = spans_of[id(b)]
            label = match.label_hit(b.text, self.policy.rules.phi_labels)
            if self.analyzer is None:
                b.decision, b.why = "phi", "no-analyzer-fail-closed"
            elif hits or spans or label:
                b.decision = "phi"
                b.why = "identity" if hits else "analyzer" if spans else f"label:{label}"
                b.entities = sorted({*(f"identity:{h}" for h in hits),
                                     *(getattr(sp, "entity", "PHI") for sp in spans)})
            else:
                b.decision, b.why = "kept", "no-phi-found"
                # a reading between the floor and `ocr_confident` may be a misread PHI
                u_ocr = (s.ocr_confident - b.ocr_conf) / max(
                    1e-6, s.ocr_confident - s.ocr_confidence_floor)
                # ...weighted by how much identifying information the text can carry:
                # 1-2 characters ("L", "5", "()") cannot hold a name, ID or date.
                n_alnum = sum(ch.isalnum() for ch in b.text)
                u_ocr = min(1.0, max(0.0, u_ocr)) * min(1.0, max(0.0, (n_alnum - 2) / 6.0))
                u_ana = self._near_miss(b.text, identity)
                b.uncertainty = float(min(1.0, max(u_ocr, u_ana, u_det if not is_text else 0.0)))
        t3 = time.perf_counter()
        return {"ocr": (t1 - t0) * 1000, "analyzer": (t2 - t1 + t3 - t2) * 1000}

    def _near_miss(self, text: str, identity: Identity | None) -> float:
        """Analyzer uncertainty of text it did not call PHI: its best sub-threshold candidate."""
        cand = getattr(self.analyzer, "candidates", None)
        if cand is None:
            return 0.0
        try:
            spans = cand(text, identity)
        except Exception:  # noqa: BLE001 - a failing analyzer makes the box maximally unsure
            return 1.0
        best = max((float(getattr(sp, "score", 0.0)) for sp in spans), default=0.0)
        return _ambiguity(best) if best >= 0.15 else 0.0

    def find(self, frames_rgb: dict[int, np.ndarray], identity: Identity | None,
             composite: np.ndarray | None = None) -> tuple[list[Box], dict[str, float]]:
        """Detect on the given frames (and a static composite), merge, read and decide."""
        t0 = time.perf_counter()
        found: list[Box] = []
        for idx, rgb in frames_rgb.items():
            found.extend(self.detect(rgb, idx))
        if composite is not None:
            first = min(frames_rgb)
            for b in self.detect(composite, first):
                b.seen_in = [-1]  # -1: the static composite
                found.append(b)
        boxes = _merge(found)
        t1 = time.perf_counter()
        times = self.read_and_decide(frames_rgb, boxes, identity)
        times["detect"] = (t1 - t0) * 1000
        return boxes, times

    @staticmethod
    def image_uncertainty(boxes: Sequence[Box]) -> float:
        """Largest uncertainty among boxes left on the image (blanked boxes cannot leak)."""
        return max((b.uncertainty for b in boxes if b.decision in ("kept", "ignored")),
                   default=0.0)

    # ------------------------------------------------------------------ the stage
    def process(self, ds: Dataset, identity: Identity | None) -> PixelResult:
        """Redact ``ds`` in place; see the module docstring. Never raises for bad pixels."""
        s = self.settings
        t_all = time.perf_counter()
        decision = self.needs_scan(ds)
        res = PixelResult(action=decision.action, rule=decision.rule)
        if not decision:
            return res
        timings: dict[str, float] = {}
        t = time.perf_counter()
        try:
            dec = codec.decode(ds)
        except codec.CodecError as exc:
            res.quarantine_reason, res.error = "pixels-undecodable", str(exc)
            return res
        timings["decode"] = (time.perf_counter() - t) * 1000
        n = dec.n_frames
        res.frames = n
        h, w = dec.frames.shape[1:3]
        rects: list[tuple[int, int, int, int, range]] = []
        all_frames = range(n)
        for region in decision.regions:
            for bx in region.boxes:
                rects.append((*bx, all_frames))
                res.boxes.append({"frames": "all", "x0": bx[0], "y0": bx[1], "x1": bx[2],
                                  "y1": bx[3], "score": None, "spread": None,
                                  "ocr_confidence": None, "decision": "region",
                                  "why": f"rule:{region.name}", "entities": [],
                                  "uncertainty": 0.0, "seen_in": []})
        boxes: list[Box] = []
        if decision.scan:
            try:
                sampled = sample_frames(n, s.max_sampled_frames)
                t = time.perf_counter()
                frames_rgb = {i: display_rgb(ds, dec, i) for i in sampled}
                composite = self._static_composite(ds, dec, frames_rgb) if n > 1 else None
                timings["display"] = (time.perf_counter() - t) * 1000
                boxes, tt = self.find(frames_rgb, identity, composite)
                timings.update(tt)
                res.frames_scanned = sampled
            except OcrError:
                raise
            except Exception as exc:  # noqa: BLE001 - fail closed
                res.quarantine_reason = f"pixels-scan-failed:{type(exc).__name__}"
                res.error = str(exc)
                return res
            res.scanned = True
            texts: list[str] = []
            for b in boxes:
                if b.decision == "ignored" and b.score < 0.1 and b.uncertainty < 0.2:
                    continue  # noise: not worth a line in the report
                rect = b.padded(s.pad, w, h)
                if b.decision in ("phi", "uncertain"):
                    rects.append((*rect, all_frames))
                res.boxes.append(b.log_dict("all" if n > 1 else [0], rect))
                texts.append(b.text)
            res.uncertainty = round(self.image_uncertainty(boxes), 4)
            if res.uncertainty > s.uncertainty_threshold:
                res.quarantine_reason = "pixels-uncertain"
            if res.quarantine_reason:
                res.box_texts = texts
        t = time.perf_counter()
        if rects:
            codec.blank(ds, dec, rects)
            try:
                res.transfer_syntax = str(codec.encode(ds, dec))
            except codec.CodecError as exc:
                res.quarantine_reason, res.error = "pixels-unwritable", str(exc)
                return res
        else:
            res.transfer_syntax = str(codec.transfer_syntax(ds))
        timings["encode"] = (time.perf_counter() - t) * 1000
        if res.scanned and not res.quarantine_reason:
            ds.BurnedInAnnotation = "NO"
        elif res.scanned and str(ds.get("BurnedInAnnotation", "")).upper() == "NO" and boxes:
            ds.BurnedInAnnotation = "YES"  # the scan found text and is not sure: never claim NO
        if not res.quarantine_reason and (res.scanned or rects):
            res.method_codes = [CLEAN_PIXEL_DATA]
        timings["total"] = (time.perf_counter() - t_all) * 1000
        res.timings_ms = {k: round(v, 1) for k, v in timings.items()}
        return res

    def _static_composite(self, ds: Dataset, dec: codec.Decoded,
                          frames_rgb: dict[int, np.ndarray]) -> np.ndarray:
        """Pixels that (nearly) never change across all frames, others black: static overlays."""
        fr = dec.frames
        if fr.ndim == 4:
            rng = (fr.max(axis=0).astype(np.int32) - fr.min(axis=0)).max(axis=-1)
        else:
            rng = fr.max(axis=0).astype(np.int64) - fr.min(axis=0)
        tol = self.settings.static_tolerance
        if fr.dtype.itemsize > 1 and dec.photometric not in ("PALETTE COLOR",):
            tol = tol * max(1, int((1 << int(ds.get("BitsStored", 8))) // 256))
        static = rng <= tol
        base = frames_rgb[min(frames_rgb)].copy()
        base[~static] = 0
        return base
