"""A training chunk that stops and resumes carries on where it stopped (train/checkpoint.py)."""
from __future__ import annotations

import torch

from deid_node.train import checkpoint


def _model_and_optimiser(seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 2)
    return model, torch.optim.Adam(model.parameters(), lr=0.1)


def test_resume_restores_model_optimiser_rng_and_counters(tmp_path) -> None:
    path = tmp_path / "train" / "x.ckpt"
    assert checkpoint.resume(path, *_model_and_optimiser(0)) is None
    model, opt = _model_and_optimiser(0)
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
    checkpoint.save(path, model, opt, step=7, train_seconds=1.5)
    expected_draw = torch.rand(1)             # what the run would have drawn next
    assert not path.with_suffix(".tmp").exists()

    other, other_opt = _model_and_optimiser(1)
    torch.manual_seed(99)
    assert checkpoint.resume(path, other, other_opt) == {"step": 7, "train_seconds": 1.5}
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 other.state_dict().values()))
    assert other_opt.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    assert torch.equal(torch.rand(1), expected_draw)
