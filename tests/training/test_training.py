"""The one training loop (``cnn_demo.training``): epochs, checkpoints, exact resume, early stop, cancel.

The three training routines (fine-tuning, U-Net, localization) run it; a resumed U-Net or localization job now
continues exactly as an uninterrupted one (the loop's checkpoints hold the sample-order generator).
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnn_demo import jobs, training
from cnn_demo.applications import localization, unet
from cnn_demo.settings import get_settings

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


class Run:
    """A tiny regression with dropout (global RNG) and a shuffled order (the run's generator)."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.x = torch.randn(40, 3)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1
        self.model = nn.Sequential(nn.Dropout(0.2), nn.Linear(3, 1))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.05, momentum=0.9)
        self.gen = torch.Generator().manual_seed(0)
        self.checkpoints: dict[int, dict] = {}
        self.reported: list[tuple[int, int, dict]] = []

    def epoch(self, epoch: int) -> dict:
        self.model.train()
        loss = training.train_epoch(
            len(self.x), 8, self.gen, self.opt, lambda i: F.mse_loss(self.model(self.x[i]).squeeze(1), self.y[i])
        )
        return {"epoch": epoch, "loss": loss}

    def state(self) -> dict:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict()}

    def restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])

    def fit(self, epochs: int, **kwargs) -> int:
        return training.fit(
            epochs,
            self.epoch,
            generator=self.gen,
            state=self.state,
            restore=self.restore,
            checkpoint=lambda s, e: self.checkpoints.setdefault(e, copy.deepcopy(s)),
            progress=lambda e, n, m: self.reported.append((e, n, m)),
            **kwargs,
        )


def test_fit_reports_and_checkpoints_every_epoch_and_resumes_exactly():
    full = Run()
    assert full.fit(5) == 5
    assert [(e, n) for e, n, _ in full.reported] == [(e, 5) for e in range(1, 6)]
    assert sorted(full.checkpoints) == [1, 2, 3, 4, 5]
    assert {"model", "opt", "generator", "torch_rng"} <= set(full.checkpoints[2])
    torch.manual_seed(123)  # the global generator moves on (another run, another session): the checkpoint restores it
    resumed = Run()
    starts = []
    assert resumed.fit(5, resume_from=(full.checkpoints[2], 2), on_start=starts.append) == 5
    assert starts == [2] and [e for e, _, _ in resumed.reported] == [3, 4, 5]
    assert [m for _, _, m in resumed.reported] == [m for _, _, m in full.reported][2:]
    for a, b in zip(resumed.model.parameters(), full.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_fit_without_the_generators_in_the_checkpoint_still_resumes():
    """A checkpoint written before the loop (model and optimizer only) continues from its epoch."""
    full = Run()
    full.fit(2)
    old = {k: v for k, v in full.checkpoints[2].items() if k not in ("generator", "torch_rng")}
    run = Run()
    run.fit(4, resume_from=(old, 2))
    assert [e for e, _, _ in run.reported] == [3, 4]


def test_fit_stops_early_after_checkpointing_and_reporting_that_epoch():
    run = Run()
    assert run.fit(10, stop=lambda epoch, metrics: epoch == 3) == 3
    assert sorted(run.checkpoints) == [1, 2, 3] and [e for e, _, _ in run.reported] == [1, 2, 3]


def test_a_cancel_raised_by_progress_leaves_the_checkpoint_of_that_epoch(tmp_path):
    folder = tmp_path / "job"
    folder.mkdir()
    ctx = jobs.JobContext("test-job-0000000000", folder, get_settings())
    run = Run()
    seen = []

    def progress(epoch: int, total: int, metrics: dict) -> None:
        seen.append(epoch)
        if epoch == 2:
            (folder / "cancel").touch()  # the user presses Cancel during epoch 2
        ctx.progress(epoch, total, metrics)

    with pytest.raises(jobs.JobCancelled):
        training.fit(
            6, run.epoch, generator=run.gen, state=run.state, checkpoint=ctx.save_checkpoint, progress=progress
        )
    assert seen == [1, 2]
    state, step = ctx.load_checkpoint()
    assert step == 2 and "generator" in state


def _context(path) -> jobs.JobContext:
    (path / "inputs").mkdir(parents=True)
    return jobs.JobContext("test-job-0000000000", path, get_settings())


def _rows(ctx: jobs.JobContext) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "time"} for r in ctx.metrics()]


@pytest.mark.parametrize(
    ("job", "params"),
    [
        (unet.train_unet, {"size": 32, "n_train": 24, "n_val": 8, "epochs": 4, "base": 4, "depth": 2, "lr": 0.01}),
        (localization.train_localizer, {"size": 32, "n_train": 96, "n_val": 16, "epochs": 4, "width": 8}),
    ],
    ids=["unet", "localization"],
)
def test_a_resumed_job_continues_exactly_as_an_uninterrupted_one(tmp_path, job, params):
    whole = _context(tmp_path / "whole")
    expected = job(params, whole)
    cut = _context(tmp_path / "cut")
    job({**params, "epochs": 2}, cut)  # stopped after epoch 2 (its checkpoint), then resumed to the end
    assert job(params, cut) == expected
    assert _rows(cut) == _rows(whole)
