"""Checkpoints of the training recipes: runs go in chunks (``--max-minutes``) that stop and
resume, because background jobs on the shared build machine do not live long. A checkpoint
holds the model, the optimiser and torch's RNG state, plus the recipe's own counters."""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import torch


def add_arguments(parser: argparse.ArgumentParser, default: Path, every: int) -> None:
    """The chunking flags every recipe takes: --max-minutes, --checkpoint, --checkpoint-every."""
    parser.add_argument("--max-minutes", type=float, default=0.0,
                        help="stop after this many minutes (checkpoint saved; run again to resume)")
    parser.add_argument("--checkpoint", type=Path, default=default)
    parser.add_argument("--checkpoint-every", type=int, default=every)


def resume(path: Path, model: torch.nn.Module, optimiser: torch.optim.Optimizer
           ) -> dict[str, Any] | None:
    """Restore model, optimiser and RNG from ``path`` when it exists; its other fields
    (step, seconds spent...) are returned, None when there is nothing to resume."""
    if not path.exists():
        return None
    blob = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(blob.pop("model"))
    optimiser.load_state_dict(blob.pop("opt"))
    torch.set_rng_state(blob.pop("torch_rng"))
    return blob


def save(path: Path, model: torch.nn.Module, optimiser: torch.optim.Optimizer,
         **fields: Any) -> None:
    """Write the checkpoint beside ``path`` and rename it over: a chunk killed while saving
    leaves the previous checkpoint whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "opt": optimiser.state_dict(),
                "torch_rng": torch.get_rng_state(), **fields}, tmp)
    os.replace(tmp, path)
