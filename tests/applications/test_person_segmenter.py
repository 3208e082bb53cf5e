"""cnn_demo.applications.person_segmenter: IoU against a reference, mask rules, the network, saving, training."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from cnn_demo.applications import person_segmenter as ps
from cnn_demo.applications.person_segmenter import data as psdata
from cnn_demo.applications.person_segmenter.model import FrozenFeatures, SegmenterConfig
from cnn_demo.data.samples import people_dir
from cnn_demo.errors import InputError

#: Quick: what the tests train (the page's settings on 24 photos instead of 128; at 192 pixels a frozen ImageNet
#: network sees too little of the people to learn from so few photos).
SMALL = {"epochs": 20}


def reference_iou(pred: np.ndarray, truth: np.ndarray, c: int, ignore: int = 255) -> float | None:
    """IoU of class ``c`` counted pixel by pixel, the way the definition reads."""
    inter = union = 0
    for p, t in zip(pred.ravel().tolist(), truth.ravel().tolist(), strict=True):
        if t == ignore:
            continue
        inter += p == c and t == c
        union += p == c or t == c
    return None if union == 0 else inter / union


def test_iou_equals_the_definition_and_ignores_255():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, (3, 17, 23)).astype(np.uint8)
    truth[rng.random(truth.shape) < 0.2] = 255
    pred = rng.integers(0, 2, truth.shape).astype(np.uint8)
    conf = ps.confusion(pred, truth)
    assert conf.sum() == (truth != 255).sum()  # ignored pixels do not count at all
    ious = ps.class_iou(conf)
    for c in (0, 1):
        assert ious[c] == pytest.approx(reference_iou(pred, truth, c), abs=1e-12)
    # A prediction of 1 on an ignored pixel changes nothing.
    pred2 = pred.copy()
    pred2[truth == 255] = 1 - pred2[truth == 255]
    np.testing.assert_array_equal(ps.confusion(pred2, truth), conf)


def test_iou_of_an_absent_class_is_none_and_baselines_are_constant_predictions():
    truth = np.zeros((4, 4), np.uint8)
    assert ps.class_iou(ps.confusion(np.zeros_like(truth), truth)) == [1.0, None]
    truth[:1] = 1  # 4 of 16 pixels person
    truth[3, 3] = 255
    conf = ps.confusion(np.zeros_like(truth), truth)
    base = ps.baselines(conf, ("background", "person"))
    for name, value in (("all background", 0), ("all person", 1)):
        constant = ps.iou_report(ps.confusion(np.full_like(truth, value), truth), ("background", "person"))
        assert base[name] == constant
    assert base["all person"]["iou"] == {"background": 0.0, "person": pytest.approx(4 / 15)}
    assert base["all background"]["iou"]["person"] == 0.0
    with pytest.raises(InputError, match="differ in size"):
        ps.confusion(np.zeros((2, 2)), np.zeros((2, 3)))


def test_mask_rules_voc_class_15_is_person():
    voc = np.array([[0, 15, 8], [15, 255, 20]], np.uint8)
    rule = ps.foreground_rule({0, 8, 15, 20, 255})
    assert (rule.value, rule.name) == (15, "person")
    np.testing.assert_array_equal(rule.apply(voc), [[0, 1, 0], [1, 255, 0]])  # other VOC classes: background
    assert ps.foreground_rule({0, 1, 255}).value == 1
    named = ps.foreground_rule({0, 1, 2}, ["background", "car", "Person"])
    assert (named.value, named.name) == (2, "person")
    merged = ps.foreground_rule({0, 3, 7})  # VOC numbering without a person: every class is "object"
    assert merged.value is None and merged.name == "object"
    np.testing.assert_array_equal(merged.apply(np.array([0, 3, 7, 255])), [0, 1, 1, 255])
    assert ps.truth_rule([voc]).value == 15
    assert ps.truth_rule([voc], person_class=8).value == 8
    with pytest.raises(InputError, match="--person-class"):
        ps.truth_rule([np.array([0, 1, 90], np.uint8)])  # COCO category ids: which one is the person?


def test_config_round_trip_and_checks():
    cfg = SegmenterConfig(epochs=3, flip=False)
    assert SegmenterConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(InputError, match="Unknown"):
        SegmenterConfig.from_dict({"epochs": 3, "rm -rf": 1})
    with pytest.raises(InputError, match="multiple of 32"):
        SegmenterConfig(image_size=100)
    with pytest.raises(InputError, match="tf_efficientnet_lite0"):
        SegmenterConfig(backbone="resnet18")


def test_frozen_features_shapes_and_nothing_learns():
    from cnn_demo import models

    backbone = models.create("tf_efficientnet_lite0", pretrained=False)
    feats = FrozenFeatures(backbone, 2, 6)
    assert feats.channels == (40, 320)
    feats.train()
    assert not feats.training and not any(m.training for m in feats.modules())
    assert not any(p.requires_grad for p in feats.parameters())
    out = feats(torch.zeros(1, 3, 96, 128))
    assert out["low"].shape[-2:] == (12, 16) and out["high"].shape[-2:] == (3, 4)  # strides 8 and 32


def people_zip(n: int, *, voc: bool = False, extra: list[tuple[str, bytes]] | None = None) -> bytes:
    """``n`` photos of the people sample as an uploaded zip (masks 0/1/255, or in VOC numbering: person = 15)."""
    root = people_dir()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted((root / "images").glob("*.jpg"))[:n]:
            zf.writestr(f"pairs/images/{path.name}", path.read_bytes())
            mask = np.asarray(Image.open(root / "masks" / f"{path.stem}.png"))
            if voc:
                mask = np.where(mask == 1, 15, mask).astype(np.uint8)
                mask[:4, :4] = 8  # a corner of "boat": another VOC class, background for a person segmenter
            out = io.BytesIO()
            Image.fromarray(mask).save(out, format="PNG")
            zf.writestr(f"pairs/masks/{path.stem}.png", out.getvalue())
        for name, blob in extra or ():
            zf.writestr(name, blob)
    return buf.getvalue()


def test_uploaded_pairs_voc_masks_and_clear_messages():
    pairs = ps.check_pairs_zip(people_zip(5, voc=True))
    assert len(pairs) == 5 and pairs.classes == ("background", "person") and "class 15" in pairs.rule
    assert all(set(np.unique(m)) <= {0, 1, 255} for m in pairs.masks)
    broken = people_zip(5, extra=[("pairs/images/zz.jpg", b"\xff\xd8 not a jpeg"), ("pairs/masks/zz.png", b"junk")])
    ok = ps.check_pairs_zip(broken)
    assert len(ok) == 5  # the broken pair is skipped, the rest is usable
    with pytest.raises(InputError, match=r"at least 4 are needed.*Skipped:.*zz\.png.*not an image the app can read"):
        ps.check_pairs_zip(people_zip(2, extra=[("pairs/images/zz.jpg", b"x"), ("pairs/masks/zz.png", b"junk")]))
    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w") as zf:
        for i in range(4):
            img, mask = io.BytesIO(), io.BytesIO()
            Image.fromarray(np.full((20, 20, 3), i * 40, np.uint8)).save(img, format="PNG")
            Image.fromarray(np.zeros((20, 20), np.uint8)).save(mask, format="PNG")
            zf.writestr(f"images/{i}.png", img.getvalue())
            zf.writestr(f"masks/{i}.png", mask.getvalue())
    with pytest.raises(InputError, match="nothing to learn"):
        ps.check_pairs_zip(empty.getvalue())
    names = people_zip(5, voc=True, extra=[("pairs/class_names.txt", b"background\nperson\n")])
    with pytest.raises(InputError, match="class numbers up to 15 but only 2 class names"):
        ps.check_pairs_zip(names)
    with pytest.raises(InputError, match="zip"):
        ps.check_pairs_zip(b"PK-but-not-really")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """The pipeline on 24 photos of the people sample: cached features, then the head."""
    torch.set_num_threads(1)
    people = ps.load_people()
    data = psdata.PairData(people.images[:24], people.masks[:24], people.stems[:24], people.classes, "test", "")
    cache = tmp_path_factory.mktemp("feature-cache")
    phases: list[tuple[str, int, int]] = []
    epochs: list[dict] = []
    result = ps.train_segmenter(
        data,
        SegmenterConfig(**SMALL),
        cache_dir=cache,
        on_phase=lambda *a: phases.append(a),
        on_epoch=lambda e, n, m: epochs.append(m),
    )
    return data, result, cache, phases, epochs


def test_training_beats_the_baselines_clearly(small_run):
    _, result, _, phases, epochs = small_run
    assert phases[-1] == ("features", 24, 24) and len(phases) == 24
    assert [m["epoch"] for m in epochs] == list(range(1, SMALL["epochs"] + 1))
    assert epochs[-1]["loss"] < epochs[0]["loss"]
    person = result.validation["iou"]["person"]
    best_baseline = max(b["iou"]["person"] for b in result.baselines.values())
    assert person > best_baseline + 0.15, (person, result.baselines)
    assert result.validation["mean_iou"] > max(b["mean_iou"] for b in result.baselines.values()) + 0.1
    summary = result.summary()
    assert summary["n_train"] + summary["n_val"] == 24 and not set(summary["val_stems"]) & set(result.train_stems)
    assert summary["batch_size"] == 19 // 4  # a quarter of the training photos: several steps per epoch


def test_features_come_from_the_cache_the_second_time(small_run):
    data, first, cache, _, _ = small_run
    again = ps.train_segmenter(data, SegmenterConfig(**SMALL), cache_dir=cache)
    assert again.from_cache and not first.from_cache
    assert again.validation == first.validation  # same features, same seed: the same head
    (damaged,) = cache.glob("*.pt")
    damaged.write_bytes(b"not a tensor file")
    third = ps.train_segmenter(data, SegmenterConfig(**SMALL), cache_dir=cache)
    assert not third.from_cache and third.validation == first.validation


def test_save_load_segment_round_trip(small_run, tmp_path):
    data, result, _, _, _ = small_run
    folder = ps.save_segmenter(tmp_path / "seg", result.model.head, result.model.cfg, result.model.classes, {})
    assert sorted(p.name for p in folder.iterdir()) == ["head.safetensors", "segmenter.json"]
    loaded = ps.load_segmenter(folder)
    photo = data.images[max(range(len(data)), key=lambda i: (data.masks[i] == 1).mean())]  # the most person
    a, b = ps.segment(result.model, photo), ps.segment(loaded, photo)
    assert a.labels.shape == photo.shape[:2] and a.labels.dtype == np.uint8
    np.testing.assert_array_equal(a.labels, b.labels)
    assert set(np.unique(a.labels)) <= {0, 1} and 0 < a.share < 1
    with pytest.raises(InputError, match="holds no trained segmenter"):
        ps.load_segmenter(tmp_path / "nothing")
    (folder / "head.safetensors").write_bytes(b"\x80\x04 a pickle is never read")
    with pytest.raises(InputError, match="do not fit"):
        ps.load_segmenter(folder)


def test_a_tiny_upload_trains_too():
    """4 pairs, 1 epoch: 3 steps, too few for a one-cycle schedule (it divided by zero); a constant rate instead."""
    people = ps.load_people()
    data = psdata.PairData(people.images[:4], people.masks[:4], people.stems[:4], people.classes, "test", "")
    result = ps.train_segmenter(data, SegmenterConfig(image_size=96, epochs=1))
    assert result.summary()["n_train"] == 3 and result.summary()["batch_size"] == 1 and len(result.history) == 1


def test_a_resumed_training_continues_exactly(tmp_path):
    """Cut off after epoch 2 of 4 (a worker lost), resumed from the checkpoint: the same head as without the cut."""
    people = ps.load_people()
    data = psdata.PairData(people.images[:12], people.masks[:12], people.stems[:12], people.classes, "test", "")
    cfg = SegmenterConfig(image_size=96, epochs=4)
    straight = ps.train_segmenter(data, cfg, cache_dir=tmp_path)
    saved: dict[int, dict] = {}

    class Cut(Exception):
        pass

    def checkpoint(state, epoch):
        saved[epoch] = torch.load(_roundtrip(state), weights_only=True)  # as a job stores it
        if epoch == 2:
            raise Cut

    with pytest.raises(Cut):
        ps.train_segmenter(data, cfg, cache_dir=tmp_path, checkpoint=checkpoint)
    resumed = ps.train_segmenter(data, cfg, cache_dir=tmp_path, resume_from=(saved[2], 2))
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    for a, b in zip(straight.history, resumed.history, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6) and a["iou"] == pytest.approx(b["iou"], abs=1e-9)
    for k, v in straight.model.head.state_dict().items():
        torch.testing.assert_close(resumed.model.head.state_dict()[k], v)


def _roundtrip(state) -> io.BytesIO:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return buf
