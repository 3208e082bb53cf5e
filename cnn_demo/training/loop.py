"""The one training loop: epochs with a checkpoint and a progress report after each, exact resume, cancel.

What differs between models (the loss, what an epoch measures, what state to keep) comes in as callbacks; what
every training job needs is here once: the sample order drawn from a ``torch.Generator`` of the run, a checkpoint
that holds that generator and torch's global generator besides the model state (so a resumed run continues
exactly as an uninterrupted one), and a progress report after the checkpoint (a job's ``ctx.progress`` raises
``JobCancelled`` there when the user cancels, so a cancelled run always leaves a checkpoint to resume from).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def train_epoch(
    n: int,
    batch_size: int,
    generator: torch.Generator,
    optimizer: torch.optim.Optimizer,
    loss_of: Callable[[torch.Tensor], torch.Tensor],
) -> float:
    """One pass over ``n`` samples in an order drawn from ``generator``, in batches of ``batch_size``.

    ``loss_of(indices)`` returns the mean loss of that batch; each is minimised with one ``optimizer`` step. Returns
    the mean loss over the samples (each batch weighted by its size).
    """
    perm = torch.randperm(n, generator=generator)
    total = 0.0
    for i in range(0, n, batch_size):
        idx = perm[i : i + batch_size]
        loss = loss_of(idx)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(idx)
    return total / n


def fit(
    epochs: int,
    run_epoch: Callable[[int], dict[str, Any]],
    *,
    generator: torch.Generator,
    state: Callable[[], dict[str, Any]],
    restore: Callable[[dict[str, Any]], None] | None = None,
    resume_from: tuple[dict[str, Any], int] | None = None,
    checkpoint: Callable[[dict[str, Any], int], None] | None = None,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
    stop: Callable[[int, dict[str, Any]], bool] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> int:
    """Run epochs ``1..epochs`` (after ``resume_from``'s), each ``run_epoch(epoch) -> metrics``; return the last.

    After each epoch: ``stop(epoch, metrics)`` (early stopping) is asked, ``checkpoint(state, epoch)`` gets
    ``state()`` plus the run's ``generator`` and torch's global generator, then ``progress(epoch, epochs,
    metrics)`` reports (and may raise to cancel). ``resume_from=(state, epoch)`` (a checkpoint) hands the saved
    state to ``restore`` and puts both generators back, so the run goes on exactly as if never interrupted
    (checkpoints without generators, from before this loop, resume with the generators as they are).
    ``on_start(first)`` is called once before the first epoch runs, with the number of epochs already done.
    """
    start = 0
    if resume_from is not None:
        saved, start = resume_from
        if restore is not None:
            restore(saved)
        if "generator" in saved:
            generator.set_state(saved["generator"])
        if "torch_rng" in saved:
            torch.set_rng_state(saved["torch_rng"])
    if on_start is not None:
        on_start(start)
    last = start
    for epoch in range(start + 1, epochs + 1):
        metrics = run_epoch(epoch)
        last = epoch
        halt = stop is not None and stop(epoch, metrics)
        if checkpoint is not None:
            checkpoint({**state(), "generator": generator.get_state(), "torch_rng": torch.get_rng_state()}, epoch)
        if progress is not None:
            progress(epoch, epochs, metrics)
        if halt:
            break
    return last
