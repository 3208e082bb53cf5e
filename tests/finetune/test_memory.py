"""Fine-tuning memory (issue #6): a packed dataset stays compact in the worker; images are decoded per batch."""

from __future__ import annotations

import weakref

import numpy as np
import pytest
from PIL import Image

from cnn_demo import finetune, jobs
from cnn_demo.finetune import ImageData, PackedImages, TrainConfig
from cnn_demo.finetune import data as finetune_data
from cnn_demo.finetune import job as finetune_job

N_TRAIN, N_VAL, SIDE = 96, 32, 64


def smooth_images(n: int, seed: int) -> tuple[list[Image.Image], list[int]]:
    """Smooth pictures (4×4 noise upscaled), as photos are: their PNG is far smaller than their pixels."""
    rng = np.random.default_rng(seed)
    images = [
        Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize((SIDE, SIDE), Image.Resampling.BILINEAR)
        for _ in range(n)
    ]
    return images, [i % 2 for i in range(n)]


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> tuple[ImageData, bytes]:
    tr, ytr = smooth_images(N_TRAIN, 0)
    va, yva = smooth_images(N_VAL, 1)
    data = ImageData(["a", "b"], tr, ytr, va, yva)
    return data, finetune.pack_data(data)


def cfg(**kw) -> TrainConfig:
    # keep_side = 96 > SIDE: the old code held every image decoded at full size, as resnet18 does with 256 px photos
    base = dict(backbone="myconvnet", pretrained=False, epochs=2, batch_size=8, image_size=64, seed=0)
    return TrainConfig(**{**base, **kw})


def test_unpacked_images_stay_encoded_and_decode_identically(packed, tmp_path):
    data, blob = packed
    path = tmp_path / "data.zip"
    path.write_bytes(blob)
    side = finetune.keep_side(cfg())
    assert side > SIDE
    from_path = finetune.unpack_data(path, max_side=side)
    from_bytes = finetune.unpack_data(blob, max_side=side)
    for back in (from_path, from_bytes):
        assert isinstance(back.train_images, PackedImages) and isinstance(back.val_images, PackedImages)
        # nothing decoded is held: PNG bytes (or a file offset) per image, decoded again on access
        assert back.train_images.encoded == N_TRAIN and back.val_images.encoded == N_VAL
        assert back.train_labels == data.train_labels and back.val_labels == data.val_labels
        assert np.array_equal(np.asarray(back.train_images[-1]), np.asarray(data.train_images[-1]))
        assert [im.size for im in back.val_images[2:5]] == [(SIDE, SIDE)] * 3
        assert back.fingerprint() == data.fingerprint()
    # small images (a 32 px backbone keeps 48 px) are cheaper as pixels: held decoded, downscaled once
    small = finetune.unpack_data(path, max_side=20)
    assert small.train_images.encoded == 0 and small.train_images[0].size == (20, 20)


@pytest.mark.parametrize("strategy", ["frozen", "full"])
def test_training_decodes_one_batch_at_a_time(packed, tmp_path, monkeypatch, strategy):
    """At most about one batch of decoded images is alive at once, in feature extraction and in training."""
    data, blob = packed
    path = tmp_path / "data.zip"
    path.write_bytes(blob)
    c = cfg(strategy=strategy, epochs=2 if strategy == "frozen" else 1)
    back = finetune.unpack_data(path, max_side=finetune.keep_side(c))
    alive: list[weakref.ref] = []
    most = [0]
    decode = finetune_data._decode_fitted

    def counting(raw: bytes, sides, load_side=None) -> Image.Image:
        image = decode(raw, sides, load_side)
        alive[:] = [r for r in alive if r() is not None]
        alive.append(weakref.ref(image))
        most[0] = max(most[0], len(alive))
        return image

    monkeypatch.setattr(finetune_data, "_decode_fitted", counting)
    r = finetune.train(back, c)
    assert most[0] > 0, "the images were not decoded on access"
    batch = max(c.batch_size, 32)  # feature extraction runs in batches of 32
    assert most[0] <= 2 * batch < N_TRAIN, f"{most[0]} decoded images alive at once for batches of {batch}"
    if strategy == "frozen":  # same result as training on the images held decoded
        monkeypatch.setattr(finetune_data, "_decode_fitted", decode)
        assert np.allclose(r.val_probs, finetune.train(data, c).val_probs, atol=1e-6)


def test_job_reads_its_dataset_from_the_job_folder(packed, tmp_path, monkeypatch):
    """The worker path: the job hands ``unpack_data`` the zip's path, so the zip's bytes are not held either."""
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path))
    _, blob = packed
    seen = []
    unpack = finetune.unpack_data

    def spy(source, max_side=None, **kwargs):
        seen.append(source)
        return unpack(source, max_side=max_side, **kwargs)

    monkeypatch.setattr(finetune_job, "unpack_data", spy)  # read by the job's part
    job = jobs.submit("finetune", {"config": cfg(epochs=1).to_dict()}, "me", files={"data.zip": blob})
    assert jobs.run_job(job) == "done", jobs.status(job, "me").log_tail
    assert len(seen) == 1 and not isinstance(seen[0], bytes) and seen[0].name == "data.zip"
