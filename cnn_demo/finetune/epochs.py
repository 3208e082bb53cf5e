"""The epochs of one fine-tuning run: what :func:`cnn_demo.finetune.train` sets up (:class:`TrainingRun`) and hands
to :func:`cnn_demo.training.fit` (:class:`Epochs`: an epoch, the loss of a batch, the checkpoint state, the best
epoch, early stopping)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cnn_demo import training
from cnn_demo.finetune.backbone import Backbone
from cnn_demo.finetune.config import TrainConfig
from cnn_demo.finetune.model import device_of, extract_features
from cnn_demo.finetune.transforms import batch_tensor


@dataclass
class TrainingRun:
    """What :func:`train` sets up before its phases: the network on its device, the images it reads (downscaled to
    what the transforms keep, except frozen training's, which only a feature-cache miss needs) and the transforms."""

    cfg: TrainConfig
    bb: Backbone
    head: nn.Module
    backbone_params: list[nn.Parameter]
    size: int
    keep: int
    train_imgs: Sequence[Image.Image]
    val_imgs: Sequence[Image.Image]
    test_imgs: Sequence[Image.Image] | None
    train_tf: Callable
    eval_tf: Callable
    dev: torch.device


def train_mode(bb: Backbone, cfg: TrainConfig) -> None:
    """Put the backbone's trainable part in training mode; frozen parts stay in eval mode (their BatchNorm statistics
    must not drift)."""
    bb.features.eval()
    if cfg.strategy == "full":
        bb.features.train()
    elif cfg.strategy == "partial":
        for m in bb.stages[-min(cfg.unfreeze, len(bb.stages)) :]:
            m.train()


class Epochs:
    """The epochs of one :func:`train`: the optimizer, the history, the best epoch so far and what
    :func:`cnn_demo.training.fit` calls (an epoch, the checkpoint state and its restore, early stopping)."""

    def __init__(
        self,
        run: TrainingRun,
        train_labels: Sequence[int],
        val_labels: Sequence[int],
        val_baseline: float,
        cached: dict[str, torch.Tensor] | None,
    ) -> None:
        cfg = run.cfg
        self.run, self.cfg, self.cached = run, cfg, cached
        groups = [{"params": run.head.parameters(), "lr": cfg.lr}]
        if run.backbone_params:
            factor = cfg.backbone_lr_factor if cfg.strategy == "full" else max(cfg.backbone_lr_factor, 0.1)
            groups.append({"params": run.backbone_params, "lr": cfg.lr * factor})
        self.opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.y_train = torch.tensor(train_labels, device=run.dev)
        self.y_val = torch.tensor(val_labels)
        self.val_baseline = val_baseline  # drawn beside the validation accuracy in every epoch
        self.n = len(run.train_imgs)
        self.history: list[dict[str, float]] = []
        #: (validation loss, epoch, trainable state) of the best epoch so far
        self.best: tuple[float, int, dict[str, Any] | None] = (math.inf, 0, None)
        self.stale = 0
        self.correct = 0

    def trainable_state(self) -> dict[str, Any]:
        """Copies of the head's and, when it trains, the backbone's weights."""
        s = {"head": copy.deepcopy(self.run.head.state_dict())}
        if self.run.backbone_params:
            s["backbone"] = copy.deepcopy(self.run.bb.features.state_dict())
        return s

    def state(self) -> dict[str, Any]:
        """What a checkpoint holds to continue exactly: weights, optimizer, history, best epoch, epochs without gain."""
        best = self.best
        return {
            **self.trainable_state(),
            "optimizer": self.opt.state_dict(),
            "history": [dict(h) for h in self.history],
            "best_loss": best[0],
            "best_epoch": best[1],
            "best": best[2],
            "stale": self.stale,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint's :meth:`state`."""
        self.run.head.load_state_dict(state["head"])
        if self.run.backbone_params and "backbone" in state:
            self.run.bb.features.load_state_dict(state["backbone"])
        self.opt.load_state_dict(state["optimizer"])
        self.history[:] = [dict(h) for h in state["history"]]
        self.best = (float(state["best_loss"]), int(state["best_epoch"]), state.get("best"))
        self.stale = int(state["stale"])

    def stop(self, epoch: int, row: dict[str, Any]) -> bool:
        """Early stopping: ``cfg.patience`` epochs in a row without a better validation loss."""
        return self.cfg.patience > 0 and self.stale >= self.cfg.patience

    def run_epoch(self, epoch: int) -> dict[str, float]:
        """Train one epoch, then measure it on the validation images; remembers the best epoch's weights."""
        run = self.run
        run.head.train()
        train_mode(run.bb, self.cfg)
        self.correct = 0
        train_loss = training.train_epoch(self.n, self.cfg.batch_size, self.gen, self.opt, self.loss_of)
        probs = split_probs(run.bb, run.head, self.cached, "val", run.val_imgs, run.eval_tf)
        val_loss = float(F.nll_loss(torch.log(torch.from_numpy(probs).clamp_min(1e-12)), self.y_val))
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_accuracy": self.correct / self.n,
            "val_loss": val_loss,
            "val_accuracy": float((probs.argmax(1) == self.y_val.numpy()).mean()),
            "baseline_val_accuracy": self.val_baseline,
        }
        self.history.append(row)
        if val_loss < self.best[0] - 1e-6:
            self.best, self.stale = (val_loss, epoch, self.trainable_state()), 0
        else:
            self.stale += 1
        return row

    def loss_of(self, idx: torch.Tensor) -> torch.Tensor:
        """The mean loss of one batch of training images (cached features of a random view when frozen)."""
        cached, head = self.cached, self.run.head
        if cached is not None:
            view = int(torch.randint(cached["train"].shape[0], (1,), generator=self.gen))
            logits = head(cached["train"][view, idx])
        else:
            run = self.run
            x = batch_tensor([run.train_imgs[j] for j in idx.tolist()], run.train_tf).to(run.dev)
            logits = head(run.bb.features(x).flatten(1))
        y = self.y_train[idx]
        self.correct += int((logits.argmax(1) == y).sum())
        return F.cross_entropy(logits, y, label_smoothing=self.cfg.label_smoothing)


@torch.no_grad()
def split_probs(bb: Backbone, head: nn.Module, cached, part: str, imgs, tf) -> np.ndarray:
    """Class probabilities of one split: from the cached features (frozen) or through the backbone."""
    head.eval()
    feats = cached[part] if cached is not None and part in cached else extract_features(bb.features, imgs, tf)
    return F.softmax(head(feats.to(device_of(head))), dim=1).cpu().numpy()
