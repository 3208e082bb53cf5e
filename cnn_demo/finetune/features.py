"""Frozen-backbone features: computed once per server, keyed by content, and as fast as the CPU allows.

A class trains on the same photos through the same frozen backbone, and the features of those photos are the same
for everyone: the first job computes them, every later one reads them (:class:`FeatureCache`, a folder in the state
folder that every worker and the command line share). The key is the content (:func:`feature_key`): a digest of the
images as handed over (their files' bytes, or their pixels), of the backbone's parameters and buffers, the
preprocessing and image size, the augmentation with its seed, and the versions of the libraries that decode and
compute. Labels and class names are not part of it: features do not depend on them.

:func:`inference_copy` gives the copy of a frozen backbone the features are computed with: every BatchNorm folded
into the convolution before it, TF "SAME" padding made fixed, the same function in fewer passes over memory.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import itertools
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from cnn_demo.finetune.backbone import Backbone
from cnn_demo.finetune.config import TrainConfig
from cnn_demo.finetune.data import THUMB, thumbnail
from cnn_demo.finetune.model import _device_of, extract_features

#: Bumped whenever what a cache entry holds, or how it is computed, changes: old entries are then never read.
CACHE_FORMAT = 2

#: Lock files per cache folder: a key waits only for the computation of keys sharing its stripe (1 in 256).
_STRIPES = 256


def state_digest(module: nn.Module) -> str:
    """sha256 of ``module``'s parameters and buffers (names, dtypes, shapes, values): the identity of its weights,
    whichever file or seed they came from."""
    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def feature_key(content: str, bb: Backbone, weights: str, size: int, cfg: TrainConfig, views: int, extra: Any) -> str:
    """The cache key of the frozen features of images with digest ``content`` through ``bb`` (weights digest
    ``weights``) at ``size`` px with ``cfg``'s augmentation, ``views`` of each training image; ``extra``: anything
    else the entry holds (JSON)."""
    import PIL
    import torchvision

    augmented = cfg.augment.enabled
    parts = [
        CACHE_FORMAT,
        content,
        bb.name,
        weights,
        asdict(bb.preprocess),
        int(size),
        asdict(cfg.augment) if augmented else None,
        int(views),
        int(cfg.seed) if augmented else None,  # without augmentation the seed changes nothing
        extra,
        [torch.__version__, torchvision.__version__, PIL.__version__],
    ]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:40]


# --------------------------------------------------------------------------- the shared cache


class FeatureCache:
    """Dicts of tensors stored by key in ``folder``, shared by every process that can see it.

    Entries are written to a temporary file and renamed into place, so a reader sees a whole entry or none, and a
    process killed while writing leaves no torn file. :meth:`get_or_compute` lets one process compute a missing key
    while the others wanting it wait (a lock per stripe of keys, ``flock``: released when its holder dies) and
    then read its result. Past ``max_bytes`` the entries used longest ago are deleted.
    """

    def __init__(self, folder: Path, max_bytes: float = 2e9) -> None:
        self.folder = Path(folder)
        self.max_bytes = float(max_bytes)

    def _path(self, key: str) -> Path:
        if not key or not all(c.isalnum() for c in key):
            raise ValueError(f"bad cache key {key!r}")
        return self.folder / f"{key}.pt"

    def get(self, key: str) -> dict[str, torch.Tensor] | None:
        """The entry stored under ``key`` (marked as just used), or ``None``."""
        path = self._path(key)
        try:
            value = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            return None
        except Exception:  # unreadable (a disk error, an entry of another torch): computed again
            path.unlink(missing_ok=True)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)
        return value if isinstance(value, dict) else None

    def put(self, key: str, value: dict[str, torch.Tensor]) -> None:
        """Store ``value`` under ``key`` atomically, then trim the cache to its size."""
        path = self._path(key)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            torch.save(value, tmp)
            if tmp.stat().st_size > self.max_bytes:  # would push out everything else and itself
                return
            os.replace(tmp, path)
        except OSError:
            return  # a full disk costs the cache, never the job
        finally:
            tmp.unlink(missing_ok=True)
        self.trim()

    def trim(self) -> None:
        """Delete the entries used longest ago until the cache fits ``max_bytes`` (and temporary files of writers
        that died over an hour ago)."""
        entries = []
        now = time.time()
        for path in self.folder.iterdir() if self.folder.is_dir() else ():
            try:
                st = path.stat()
            except OSError:
                continue
            if path.suffix == ".pt":
                entries.append((st.st_mtime, st.st_size, path))
            elif path.suffix == ".tmp" and now - st.st_mtime > 3600:
                path.unlink(missing_ok=True)
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size

    @contextlib.contextmanager
    def _lock(self, key: str, waiting: Callable[[], None] | None) -> Iterator[None]:
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        stripe = int(key[:2], 16) % _STRIPES if all(c in "0123456789abcdef" for c in key[:2]) else 0
        fd = os.open(self.folder / f".lock-{stripe:02x}", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if waiting is not None:
                        waiting()  # may raise: a job cancelled while it waits
                    time.sleep(0.2)
            yield
        finally:
            os.close(fd)  # releases the lock

    def get_or_compute(
        self,
        key: str,
        compute: Callable[[], dict[str, torch.Tensor]],
        waiting: Callable[[], None] | None = None,
    ) -> tuple[dict[str, torch.Tensor], bool]:
        """``(entry, computed)``: the entry under ``key``, computed here (``computed`` true) if nobody has yet.

        While another process computes the same key this one waits for it, calling ``waiting()`` about every 0.2 s,
        and then reads its result; if that one fails or is cancelled, this one computes.
        """
        found = self.get(key)
        if found is not None:
            return found, False
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(self._lock(key, waiting))
            except OSError:  # no room for a lock file: compute without sharing
                return compute(), True
            found = self.get(key)
            if found is not None:
                return found, False
            value = compute()
            self.put(key, value)
            return value, True


# --------------------------------------------------------------------------- a faster copy of a frozen backbone


def _after_bn(bn: nn.Module) -> nn.Module | None:
    """What remains of a BatchNorm layer once folded into its convolution; ``None`` for layers left alone."""
    if type(bn) is nn.BatchNorm2d:
        return nn.Identity()
    if type(bn).__name__ == "BatchNormAct2d" and isinstance(bn, nn.BatchNorm2d):  # timm: BatchNorm, dropout, act
        drop, act = bn.drop, bn.act
        assert isinstance(drop, nn.Module) and isinstance(act, nn.Module)
        return nn.Sequential(drop, act)
    return None


def _fold_batchnorm(model: nn.Module) -> int:
    """Fold every BatchNorm of ``model`` (eval mode) into the convolution registered just before it; the count."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    count = 0
    for parent in list(model.modules()):
        for a, b in itertools.pairwise(list(parent._modules)):
            conv, bn = parent._modules[a], parent._modules[b]
            rest = _after_bn(bn) if bn is not None else None
            if not isinstance(conv, nn.Conv2d) or rest is None:
                continue
            assert isinstance(bn, nn.BatchNorm2d)
            if bn.running_mean is None or bn.running_var is None or conv.out_channels != bn.num_features:
                continue
            parent._modules[a] = fuse_conv_bn_eval(conv, bn)
            parent._modules[b] = rest
            count += 1
    return count


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "SAME" padding (before, after) of one side, as timm's ``pad_same`` computes it."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _static_same_padding(model: nn.Module, example: torch.Tensor) -> int:
    """Replace timm's ``Conv2dSame`` layers (TF "SAME" padding, worked out and applied with a copy of the input on
    every call) by plain convolutions for the input sizes ``example`` gives them; the count replaced.

    SAME pads one pixel more after than before when the sizes are even; a kernel one larger with a zero first
    row/column and the larger padding on both sides computes exactly the same (the extra input pixel meets the
    zero), without copying the input: EfficientNet-Lite0 computes ~25 % more images per second.
    """
    sizes: dict[str, tuple[int, int]] = {}
    hooks = [
        m.register_forward_pre_hook(lambda _m, args, name=name: sizes.__setitem__(name, tuple(args[0].shape[-2:])))
        for name, m in model.named_modules()
        if type(m).__name__ == "Conv2dSame" and isinstance(m, nn.Conv2d)
    ]
    with torch.inference_mode():
        model(example)
    for hook in hooks:
        hook.remove()
    count = 0
    for name, (h, w) in sizes.items():
        conv = model.get_submodule(name)
        assert isinstance(conv, nn.Conv2d)
        if conv.dilation != (1, 1):
            continue
        top, bottom = _same_pads(h, conv.kernel_size[0], conv.stride[0])
        left, right = _same_pads(w, conv.kernel_size[1], conv.stride[1])
        if bottom - top not in (0, 1) or right - left not in (0, 1):
            continue
        weight = torch.nn.functional.pad(conv.weight.detach(), (right - left, 0, bottom - top, 0))
        kernel = (int(weight.shape[-2]), int(weight.shape[-1]))
        stride = (int(conv.stride[0]), int(conv.stride[1]))
        plain = nn.Conv2d(
            conv.in_channels, conv.out_channels, kernel, stride, (bottom, right), 1, conv.groups, conv.bias is not None
        )
        plain.weight = nn.Parameter(weight, requires_grad=False)
        if conv.bias is not None:
            plain.bias = nn.Parameter(conv.bias.detach(), requires_grad=False)
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent), attr, plain)
        count += 1
    return count


def inference_copy(module: nn.Module, example: torch.Tensor, *, static_padding: bool = True) -> nn.Module:
    """A faster copy of the frozen ``module`` for inputs shaped like ``example``: the same function (to float
    rounding) in fewer passes over memory.

    Each BatchNorm is folded into the convolution registered just before it (one pass less over every activation,
    ~20 % on CPU), and with ``static_padding`` TF "SAME" padding becomes fixed padding for ``example``'s size
    (:func:`_static_same_padding`). The copy is checked on ``example``: if its output differs (a BatchNorm that does
    not take that convolution's output), or nothing changed, ``module`` itself is returned. ``module`` is left as
    it is.
    """
    copied = copy.deepcopy(module).eval()
    count = _fold_batchnorm(copied) + (_static_same_padding(copied, example) if static_padding else 0)
    if not count:
        return module
    was_training = module.training
    module.eval()
    with torch.inference_mode():
        want, got = module(example), copied(example)
    module.train(was_training)
    scale = float(want.abs().max()) or 1.0
    return copied if want.shape == got.shape and torch.allclose(got, want, rtol=1e-3, atol=1e-4 * scale) else module


def frozen_features(
    features: nn.Module,
    parts: dict[str, Sequence[Image.Image]],
    train_tf: Callable,
    eval_tf: Callable,
    views: int,
    size: int,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, torch.Tensor]:
    """Features of every split of ``parts`` through the frozen ``features``: ``views`` passes over ``"train"`` with
    ``train_tf`` (``(views, N, F)``), one over the others with ``eval_tf``; plus ``"<split>_thumbs"``, the uint8
    thumbnails of the validation and test images (:func:`~cnn_demo.finetune.data.thumbnail`), made from the images
    decoded for the features, so the results page costs no second decode and a cache hit decodes nothing.

    Runs a faster copy of ``features`` (:func:`inference_copy`), checked on a ``size`` px example.
    """
    example = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    net = inference_copy(features, example.to(_device_of(features)))
    out = {
        "train": torch.stack([extract_features(net, parts["train"], train_tf, on_batch=on_batch) for _ in range(views)])
    }
    for split, images in parts.items():
        if split == "train":
            continue
        thumbs = np.zeros((len(images), THUMB, THUMB, 3), dtype=np.uint8)

        def keep(i: int, image: Image.Image, thumbs: np.ndarray = thumbs) -> None:
            thumbs[i] = thumbnail(image)

        out[split] = extract_features(net, images, eval_tf, on_batch=on_batch, on_image=keep)
        out[f"{split}_thumbs"] = torch.from_numpy(thumbs)
    return out
