"""One preprocessing builder (``cnn_demo.models.data.transform``) for models and fine-tuning.

The references below are the two builders as they were before they were merged (``models.transform`` and
``finetune.make_transform``), written with plain torchvision ops: for a fixed image and seed the one builder must
give the same tensors, augmentation included.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from cnn_demo import finetune, models
from cnn_demo.finetune import AugmentSpec
from cnn_demo.models import DataConfig


def _image(w: int = 97, h: int = 71) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _old_models_transform(cfg: models.DataConfig, train: bool) -> v2.Compose:
    size = tuple(cfg.input_size[1:])
    interp = v2.InterpolationMode(cfg.interpolation)
    if train:
        geometry = [v2.RandomResizedCrop(size, interpolation=interp, antialias=True), v2.RandomHorizontalFlip()]
    else:
        resize = cfg.resize_size if size[0] == size[1] else tuple(math.floor(s / cfg.crop_pct + 1e-6) for s in size)
        geometry = [v2.Resize(resize, interpolation=interp, antialias=True), v2.CenterCrop(size)]
    tail = [v2.ToImage(), v2.RGB(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(cfg.mean), list(cfg.std))]
    return v2.Compose([*geometry, *tail])


def _old_make_transform(pre: DataConfig, augment: AugmentSpec | None, image_size: int | None) -> v2.Compose:
    size = image_size or pre.input_size[-1]
    try:
        interp = v2.InterpolationMode(pre.interpolation)
    except ValueError:
        interp = v2.InterpolationMode.BILINEAR
    tail = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(pre.mean, pre.std)]
    if augment is None or not augment.enabled:
        resize = max(size, math.floor(size / max(pre.crop_pct, 0.1) + 1e-6))
        return v2.Compose([v2.Resize(resize, interpolation=interp, antialias=True), v2.CenterCrop(size), *tail])
    ops: list = []
    if augment.crop:
        ops.append(v2.RandomResizedCrop(size, scale=(augment.crop_scale, 1.0), interpolation=interp, antialias=True))
    else:
        ops += [v2.Resize(size, interpolation=interp, antialias=True), v2.CenterCrop(size)]
    if augment.flip:
        ops.append(v2.RandomHorizontalFlip())
    if augment.jitter > 0:
        j = augment.jitter
        ops.append(v2.ColorJitter(brightness=j, contrast=j, saturation=j, hue=min(0.5, j / 4)))
    return v2.Compose([*ops, *tail])


def _runs(tf, image: Image.Image, seed: int, n: int = 6) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.stack([tf(image) for _ in range(n)])


@pytest.mark.parametrize("name", ["cifar_resnet20", "tf_efficientnet_lite0", "mobilenet_v2"])
@pytest.mark.parametrize("train", [False, True])
def test_models_transform_gives_the_tensors_it_gave(name, train):
    cfg = models.data_config(name)
    image = _image(300, 260) if cfg.input_size[-1] > 32 else _image()
    for seed in (0, 7):
        want = _runs(_old_models_transform(cfg, train), image, seed)
        torch.testing.assert_close(_runs(models.transform(cfg, train), image, seed), want, rtol=0, atol=0)


PRE = DataConfig((3, 32, 32), (0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261), "bicubic", 0.875)
AUGMENTS = [
    None,
    AugmentSpec(),  # nothing enabled: the evaluation transform
    AugmentSpec(flip=True),
    AugmentSpec(crop=True, crop_scale=0.3),
    AugmentSpec(jitter=0.4),
    AugmentSpec(flip=True, crop=True, crop_scale=0.6, jitter=0.2),
]


@pytest.mark.parametrize("augment", AUGMENTS, ids=lambda a: "none" if a is None else repr(a))
@pytest.mark.parametrize("image_size", [None, 48])
def test_finetune_make_transform_gives_the_tensors_it_gave(augment, image_size):
    image = _image()
    for pre in (PRE, DataConfig((3, 40, 40), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), "no such mode", 1.0)):
        for seed in (0, 3):
            want = _runs(_old_make_transform(pre, augment, image_size), image, seed)
            got = _runs(finetune.make_transform(pre, augment, image_size), image, seed)
            torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_augment_preview_leaves_the_global_generator_alone_and_repeats_with_its_seed():
    """The preview draws from a generator of its own: torch's global one, shared by every session of the server, is
    neither re-seeded nor advanced; the same seed gives the same views, and the views are those the global
    generator seeded the same way gives (the preview before it had its own generator)."""
    image = _image(80, 60)
    spec = AugmentSpec(flip=True, crop=True, crop_scale=0.3, jitter=0.3)
    torch.manual_seed(1234)
    before = torch.random.get_rng_state()
    a = finetune.augment_preview(image, spec, n=6, size=40, seed=5)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = finetune.augment_preview(image, spec, n=6, size=40, seed=5)
    assert torch.equal(torch.random.get_rng_state(), before)
    np.testing.assert_array_equal(a, b)
    assert len({v.tobytes() for v in a}) == 6  # six different views
    assert not np.array_equal(a, finetune.augment_preview(image, spec, n=6, size=40, seed=6))
    old = _old_make_transform(DataConfig((3, 40, 40), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "bilinear", 1.0), spec, None)
    want = _runs(old, image, seed=5).permute(0, 2, 3, 1).clamp(0, 1).mul(255).round().byte().numpy()
    np.testing.assert_array_equal(a, want)
