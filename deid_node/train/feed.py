"""Training batches made ahead in worker processes, in step order (``--workers``, ``--device``).

Each recipe's batch depends on (seed, step) alone, so a batch may be drawn in any process
and a run with workers trains on exactly the batches of a run without them. On a GPU the
synthetic images, not the network, are the slow part: ``--workers`` keeps the device fed.
The window of batches in flight is bounded, so a fast producer cannot fill the memory.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
from collections import deque
from typing import Callable, Iterable, Iterator, TypeVar

import torch

T = TypeVar("T")
_AHEAD = 4  # batches in flight per worker


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every recipe takes to say where it trains."""
    parser.add_argument("--device", default="cpu",
                        help="torch device to train on (cpu, cuda); the recorded metrics are "
                             "always measured on the CPU, where the node runs")
    parser.add_argument("--workers", type=int, default=0,
                        help="processes that draw the training batches ahead (0: draw them "
                             "in the training process)")


def device(name: str) -> torch.device:
    """The torch device for ``--device``, refused with a clear message when absent."""
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: torch sees no CUDA device here; train with "
                         "--device cpu")
    return dev


def _quiet_worker() -> None:
    torch.set_num_threads(1)


def batches(make: Callable[[int], T], steps: Iterable[int], workers: int) -> Iterator[T]:
    """``make(step)`` for each step, in order; drawn by ``workers`` processes when > 0.

    ``make`` must be picklable (a module-level function or a ``functools.partial`` of one)."""
    if workers <= 0:
        yield from (make(s) for s in steps)
        return
    with mp.get_context("fork").Pool(workers, initializer=_quiet_worker) as pool:
        pending: deque = deque()
        it = iter(steps)
        for s in it:
            pending.append(pool.apply_async(make, (s,)))
            if len(pending) >= workers * _AHEAD:
                break
        while pending:
            batch = pending.popleft().get()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.apply_async(make, (nxt,)))
            yield batch
