"""The person detector lesson on small inputs: preparing photos, the cache, the split, AP through pycocotools,
training that beats the untrained start, save/load, and the job's files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cnn_demo import jobs
from cnn_demo.applications import person_detector as pd
from cnn_demo.applications.metrics import coco_map
from cnn_demo.data import boxes
from cnn_demo.errors import InputError
from cnn_demo.settings import get_settings

SMALL = {"size": 160, "holdout": 0.25}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def people() -> boxes.BoxDataset:
    """16 photos of the people sample: 12 with people, 4 without."""
    ds = boxes.load_people_sample()
    with_people = [i for i, b in enumerate(ds.boxes) if 0 < len(b) <= 4][:12]
    without = [i for i, b in enumerate(ds.boxes) if not len(b)][:4]
    return ds.subset(sorted(with_people + without))


@pytest.fixture(scope="module")
def model() -> pd.PersonDetector:
    torch.manual_seed(0)
    return pd.PersonDetector(pd.DetectorConfig(**SMALL))


def test_config_is_checked():
    with pytest.raises(InputError, match="multiple of 32"):
        pd.DetectorConfig(size=100)
    with pytest.raises(InputError, match="Unknown backbone"):
        pd.DetectorConfig(backbone="resnet18")
    cfg = pd.DetectorConfig(epochs=3)
    assert pd.DetectorConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg
    with pytest.raises(InputError, match="not a detector trained by this app"):
        pd.DetectorConfig.from_json({"epochs": 3, "layers": 7})


def test_the_last_blocks_train_and_the_rest_is_frozen(model):
    from cnn_demo import models

    stages = models.stages(models.create("mobilenet_v2"))
    assert len(model.stem) + len(model.tail) == len(stages) == 19
    assert len(model.tail) == 5 and model.stride == 32  # features.14-18: the blocks at stride 32
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert all(p.requires_grad for p in model.trainable().parameters())
    model.train()
    assert not model.stem.training and not model.tail.training and model.roi_heads.training


def test_prepare_scales_the_longer_side_pads_and_normalises_with_the_models_data_config(model):
    from cnn_demo import models

    cfg = models.data_config(models.create("mobilenet_v2"))
    image = np.full((40, 80, 3), 255, np.uint8)
    x, scale, size = model.prepare(image)
    assert x.shape == (3, 160, 160) and scale == 2.0 and size == (80, 160)
    white = (1 - np.array(cfg.mean)) / np.array(cfg.std)
    assert np.allclose(x[:, :80, :].mean(dim=(1, 2)).numpy(), white, atol=1e-4)
    assert float(x[:, 80:, :].abs().max()) == 0.0  # padding: the mean colour after normalising


def test_the_cache_holds_each_photo_and_its_mirror_image(model, people):
    sub = people.subset([0, 1])
    cache = pd.cache_features(model, sub, flip=True)
    assert cache.features.dtype == torch.float16 and cache.flipped is not None and len(cache) == 2
    x, scale, (h, w) = model.prepare(sub.images[0])
    mirrored = x.clone()
    mirrored[:, :h, :w] = x[:, :h, :w].flip(-1)
    assert torch.allclose(cache.flipped[0].float(), model.stem_features(mirrored[None])[0], atol=1e-2)
    b, fb = cache.boxes[0], cache.flipped_boxes[0]
    assert torch.allclose(b, torch.from_numpy(sub.boxes[0]) * scale)
    assert torch.allclose(fb[:, [0, 2]], w - b[:, [2, 0]]) and torch.allclose(fb[:, [1, 3]], b[:, [1, 3]])


def test_split_holds_out_photos_with_and_without_people(people):
    train, val = pd.split_photos(people, 0.25, seed=0)
    assert sorted([*train, *val]) == list(range(len(people))) and not set(train) & set(val)
    assert sum(len(people.boxes[i]) > 0 for i in val) == 3 and sum(len(people.boxes[i]) == 0 for i in val) == 1
    tiny = people.subset([i for i, b in enumerate(people.boxes) if len(b)][:2])
    train, val = pd.split_photos(tiny, 0.2)
    assert len(train) == len(val) == 1


def test_average_precision_is_pycocotools_ap50():
    sample = boxes.load_people_sample()
    two = [i for i, b in enumerate(sample.boxes) if len(b)][:2]
    truth = boxes.read_box_zip(boxes.to_zip(sample.subset(two), "coco"))
    gt = [np.asarray(b) for b in truth.boxes]
    perfect = [(b, np.ones(len(b))) for b in gt]
    assert pd.average_precision(perfect, truth)["ap50"] == pytest.approx(1.0)
    # The first k of the n people found with the best score, then a false box each photo: precision 1 up to
    # recall k/n, then no more recall; on COCO's 101 recall points 0, 0.01, ..., 1 that is (⌊100 k/n⌋ + 1)/101.
    n = sum(len(b) for b in gt)
    k = n // 2
    found, left = [], k
    for b in gt:
        take = b[: min(len(b), left)]
        left -= len(take)
        false = np.array([[0, 0, 3, 3]], np.float32)
        found.append((np.vstack([take, false]), np.r_[np.full(len(take), 0.9), 0.8]))
    expected = (np.floor(100 * k / n + 1e-9) + 1) / 101
    assert pd.average_precision(found, truth)["ap50"] == pytest.approx(expected, abs=1e-6)
    results = [
        {"image_id": i + 1, "category_id": 1, "score": float(s), "bbox": [*bx[:2], *(bx[2:] - bx[:2])]}
        for i, (bb, ss) in enumerate(found)
        for bx, s in zip(bb, ss, strict=True)
    ]
    assert coco_map(truth.to_coco(), results)["AP50"] == pytest.approx(expected, abs=1e-6)


def test_training_beats_the_untrained_start():
    """12 photos of one to three large people and 4 without: 10 short epochs take AP50 on the photos trained on
    from about 0.02 (untrained heads) to about 0.2."""
    ds = boxes.load_people_sample()

    def large(i: int) -> bool:
        b, (h, w) = ds.boxes[i], ds.images[i].shape[:2]
        return 0 < len(b) <= 3 and float(((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).min()) > 0.05 * h * w

    chosen = [i for i in range(len(ds)) if large(i)][:12] + [i for i, b in enumerate(ds.boxes) if not len(b)][:4]
    config = pd.DetectorConfig(size=224, batch_size=2, epochs=10, lr=2e-3, holdout=0.25)
    trainer = pd.Trainer(ds.subset(sorted(chosen)), config)
    seen = pd.average_precision(pd.detections(trainer.model, trainer.cache), trainer.train_data)["ap50"]
    history = [trainer.run_epoch(e) for e in range(1, config.epochs + 1)]
    after = pd.average_precision(pd.detections(trainer.model, trainer.cache), trainer.train_data)["ap50"]
    assert seen < 0.05 and after > seen + 0.1, (seen, after)
    assert history[-1]["loss"] < 0.7 * history[0]["loss"]
    assert history[-1]["lr"] == pytest.approx(0.0, abs=1e-9)  # the cosine schedule ends at 0


def test_save_and_load_give_the_same_detections(tmp_path, model, people):
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.roi_heads.box_predictor.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    before = model.detect(people.images[0], 0.0)
    pd.save(model, tmp_path / "det", {"ap50": 0.1})
    assert pd.is_detector_folder(tmp_path / "det")
    loaded, info = pd.load(tmp_path / "det")
    after = loaded.detect(people.images[0], 0.0)
    assert info == {"ap50": 0.1}
    assert np.allclose(before[0], after[0], atol=1e-4) and np.allclose(before[1], after[1], atol=1e-5)
    assert set(json.loads((tmp_path / "det" / "detector.json").read_text())) == {"kind", "config", "info"}


def test_load_refuses_what_is_not_a_saved_detector(tmp_path):
    with pytest.raises(InputError, match="is not a trained detector"):
        pd.load(tmp_path)
    (tmp_path / "detector.json").write_text("{}")
    (tmp_path / "heads.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(InputError, match="cannot be loaded"):
        pd.load(tmp_path)


def test_detect_gives_boxes_in_the_photos_pixels(model):
    image = np.zeros((300, 600, 3), np.uint8)
    found, scores = model.detect(image, 0.0)
    assert found.shape[1] == 4 and len(found) == len(scores)
    assert found[:, [0, 2]].max() <= 600 + 1e-3 and found[:, [1, 3]].max() <= 300 + 1e-3
    assert np.all(np.diff(scores) <= 0)


def context(tmp_path) -> jobs.JobContext:
    folder = tmp_path / "job"
    (folder / "inputs").mkdir(parents=True, exist_ok=True)
    return jobs.JobContext("test-job-0000000000", folder, get_settings())


def test_the_job_on_an_uploaded_zip_writes_curves_proposals_and_the_model(tmp_path, people):
    ctx = context(tmp_path)
    (ctx.inputs / pd.UPLOAD_NAME).write_bytes(boxes.to_zip(people, "yolo"))
    result = pd.train_detector({"data": "upload", "epochs": 2, **SMALL}, ctx)
    rows = ctx.metrics()
    assert [r["epoch"] for r in rows] == [0, 1, 2] and "loss" not in rows[0] and rows[2]["loss"] > 0
    assert result["format"] == "YOLO txt" and result["train_photos"] == 12 and result["heldout_photos"] == 4
    typed = pd.DetectorResult.from_dict(result)
    assert typed.to_dict() == result and typed.train_photos == 12 and typed.ap50 == result["ap50"]
    epochs = pd.load_epochs(ctx.folder)
    assert list(epochs) == [0, 1, 2] and len(epochs[2]["proposals"]) == len(epochs[2]["objectness"]) == 50
    image, truth = pd.load_preview(ctx.folder)
    assert image.ndim == 3 and len(truth) >= 1
    assert np.asarray(epochs[1]["proposals"]).max() <= max(image.shape[:2]) + 1
    assert pd.load_report(ctx.folder)["n_boxes"] == sum(len(b) for b in people.boxes)
    model, info = pd.load(ctx.folder / "model")
    assert info["epochs"] == 2 and model.config.size == 160
    assert jobs.load_job_modules()["detector_train"] is pd.train_detector


def test_the_job_refuses_an_upload_without_people(tmp_path, people):
    ctx = context(tmp_path)
    no_people = boxes.BoxDataset(
        people.images[:3], tuple(np.zeros((0, 4), np.float32) for _ in range(3)), people.names[:3], people.report
    )
    (ctx.inputs / pd.UPLOAD_NAME).write_bytes(boxes.to_zip(no_people, "voc"))
    with pytest.raises(InputError, match="None of the boxes is of the class 'person'"):
        pd.train_detector({"data": "upload", "epochs": 1, **SMALL}, ctx)
    with pytest.raises(InputError, match="missing"):
        pd.train_detector({"data": "upload", "epochs": 1}, context(tmp_path / "other"))


def test_the_job_resumes_exactly_where_it_was_stopped(tmp_path, people):
    zipped = boxes.to_zip(people, "coco")
    params = {"data": "upload", "epochs": 2, **SMALL}
    whole = context(tmp_path / "whole")
    (whole.inputs / pd.UPLOAD_NAME).write_bytes(zipped)
    expected = pd.train_detector(params, whole)

    class StopAfterFirstEpoch(jobs.JobContext):
        def progress(self, done, total, metrics=None, phase=""):
            super().progress(done, total, metrics, phase)
            if phase == "epochs" and done == 1 and not (self.folder / "stopped").exists():
                (self.folder / "stopped").touch()
                raise jobs.JobCancelled()

    folder = tmp_path / "cut" / "job"
    (folder / "inputs").mkdir(parents=True)
    cut = StopAfterFirstEpoch("test-job-0000000001", folder, get_settings())
    (cut.inputs / pd.UPLOAD_NAME).write_bytes(zipped)
    with pytest.raises(jobs.JobCancelled):
        pd.train_detector(params, cut)
    assert not (folder / "model").exists() and (folder / "checkpoint.pt").is_file()
    resumed = pd.train_detector(params, cut)
    assert [r["epoch"] for r in cut.metrics()] == [0, 1, 2]
    assert resumed["ap50"] == pytest.approx(expected["ap50"], abs=1e-6)
    assert cut.metrics()[-1]["loss"] == pytest.approx(whole.metrics()[-1]["loss"], rel=1e-5)


def test_efficientnet_lite0_backbone_trains_its_stride_32_stages():
    model = pd.PersonDetector(pd.DetectorConfig(backbone="tf_efficientnet_lite0", size=160))
    assert model.stride == 32 and len(model.tail) == 3  # blocks.5, blocks.6 and the head convolution
    found, scores = model.detect(np.zeros((120, 160, 3), np.uint8), 0.0)
    assert found.shape == (len(scores), 4)
