"""Frozen-backbone features: computed once per server, keyed by content, and as fast as the CPU allows.

A class trains on the same photos through the same frozen backbone, and the features of those photos are the same
for everyone: the first job computes them, every later one reads them (:class:`FeatureCache`, a folder in the state
folder that every worker and the command line share). The key is the content (:func:`feature_key`): a digest of the
images as handed over (their files' bytes, or their pixels), of the backbone's parameters and buffers, the
preprocessing and image size, the augmentation with its seed, and the versions of the libraries that decode and
compute. Labels and class names are not part of it: features do not depend on them.

The features are computed with :func:`~cnn_demo.finetune.inference.inference_copy` of the frozen backbone: the
same function in fewer passes over memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
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

from cnn_demo.finetune.backbone import Backbone, preprocessing_fields
from cnn_demo.finetune.config import TrainConfig
from cnn_demo.finetune.data import THUMB, thumbnail
from cnn_demo.finetune.inference import inference_copy
from cnn_demo.finetune.model import device_of, extract_features

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
        preprocessing_fields(bb.preprocess),
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
    net = inference_copy(features, example.to(device_of(features)))
    threads = None if train_tf is eval_tf else 1  # an augmenting transform draws in order: one decoding thread
    out = {
        "train": torch.stack(
            [
                extract_features(net, parts["train"], train_tf, on_batch=on_batch, decode_threads=threads)
                for _ in range(views)
            ]
        )
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
