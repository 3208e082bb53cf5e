"""U-Net shapes and training, localization data and training (small and fast; real JobContext)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnn_demo import jobs
from cnn_demo.applications import localization, unet
from cnn_demo.applications.job_records import LocalizationParams, LocalizationResult, UNetParams, UNetResult
from cnn_demo.errors import InputError
from cnn_demo.settings import get_settings


def context(tmp_path) -> jobs.JobContext:
    folder = tmp_path / "job"
    (folder / "inputs").mkdir(parents=True, exist_ok=True)
    return jobs.JobContext("test-job-0000000000", folder, get_settings())


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.mark.parametrize(("h", "w", "depth"), [(64, 64, 3), (65, 67, 3), (572, 572, 4)])
def test_shapes_match_the_real_forward_pass(h, w, depth):
    rows = unet.unet_shapes(h, w, base=4, depth=depth, num_classes=5)
    names = [r["name"] for r in rows]
    assert names == ["input", *[f"enc{d + 1}" for d in range(depth)], "bottleneck",
                     *[f"dec{d}" for d in range(depth, 0, -1)], "output"]  # fmt: skip
    # Hand rule: level d has base·2^d channels and floor(h / 2^d) rows.
    for r in rows:
        if r["side"] in ("encoder", "bottleneck"):
            d = r["depth"]
            assert r["shape"] == (4 * 2**d, h // 2**d, w // 2**d)
        if r["side"] == "decoder":
            skip = next(e for e in rows if e["name"] == f"enc{r['depth'] + 1}")
            assert r["concat"] == (2 * skip["shape"][0], *skip["shape"][1:])  # skip concatenated
            assert r["shape"] == skip["shape"]
    assert rows[-1]["shape"] == (5, h, w)
    if h <= 128:  # the meta-device shapes equal a real forward pass
        out = unet.UNet(3, 5, 4, depth).eval()(torch.zeros(1, 3, h, w))
        assert tuple(out.shape[1:]) == rows[-1]["shape"]
    with pytest.raises(InputError):
        unet.unet_shapes(4, 4, depth=3)


def test_original_unet_parameter_count():
    # The 2015 U-Net (64 channels, 4 poolings) has about 31 million parameters; ours adds BatchNorm only.
    n = unet.count_parameters(unet.UNet(1, 2, 64, 4))
    assert 31_000_000 < n < 31_100_000


def test_iou_dice_hand_computed():
    truth = np.array([[0, 1, 1], [0, 1, 1], [0, 0, 255]])
    pred = np.array([[1, 1, 0], [0, 1, 1], [0, 0, 1]])
    # class 1: truth 4 px, pred 4 px (the 255 pixel is ignored), intersection 3 -> IoU 3/5, Dice 6/8
    iou, dice = unet.iou_dice(pred, truth, 2)
    assert iou == pytest.approx(3 / 5) and dice == pytest.approx(6 / 8)
    assert unet.iou_dice(np.zeros((2, 2)), np.zeros((2, 2)), 3) == (1.0, 1.0)


def test_generated_shapes():
    x, y = unet.make_shapes(5, 32, seed=1)
    assert x.shape == (5, 32, 32, 3) and x.dtype == np.uint8 and y.shape == (5, 32, 32)
    assert set(np.unique(y)) <= {0, 1, 2} and (y > 0).any()
    x2, y2 = unet.make_shapes(5, 32, seed=1)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)


def test_unet_job_learns_and_resumes(tmp_path):
    ctx = context(tmp_path)
    params = {"size": 32, "n_train": 48, "n_val": 8, "epochs": 4, "base": 4, "depth": 2, "lr": 0.01}
    result = unet.train_unet(params, ctx)
    assert UNetResult.from_dict(result).to_dict() == result
    rows = ctx.metrics()
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert result["iou"] == rows[-1]["iou"] and 0 <= result["iou"] <= 1
    previews = unet.load_previews(ctx.folder)
    assert sorted(previews["pred"]) == [1, 2, 3, 4]
    assert previews["pred"][4].shape == previews["truth"].shape == (4, 32, 32)
    assert previews["classes"] == list(unet.SHAPE_CLASSES)
    grid = unet.preview_grid(previews["images"], previews["truth"], previews["pred"][4], scale=2)
    assert grid.shape == (4 * 32 * 2, 3 * 32 * 2, 3)
    # Resume: a longer run continues after the checkpoint of epoch 4 instead of starting again.
    unet.train_unet({**params, "epochs": 5}, ctx)
    assert [r["epoch"] for r in ctx.metrics()] == [1, 2, 3, 4, 5]


def test_unet_job_on_the_voc_sample(tmp_path):
    ctx = context(tmp_path)
    result = unet.train_unet({"data": "voc_sample", "size": 32, "epochs": 1, "base": 4, "depth": 2}, ctx)
    assert result["classes"][15] == "person" and len(result["classes"]) == 21
    with pytest.raises(InputError, match="missing"):
        unet.train_unet({"data": "upload", "epochs": 1}, context(tmp_path / "other"))


def test_localization_boxes_are_exact():
    images, boxes, kinds = localization.make_localization_data(40, 32, seed=2)
    assert images.shape == (40, 32, 32, 3) and boxes.shape == (40, 4)
    assert set(kinds) == {0, 1, 2}
    for img, (x, y, w, h), kind in zip(images, boxes.astype(int), kinds, strict=True):
        assert x >= 0 and y >= 0 and x + w <= 32 and y + h <= 32 and w >= 1 and h >= 1
        if localization.SHAPES[kind] == "square":  # a filled rectangle: its box holds one colour only
            inside = img[y : y + h, x : x + w].reshape(-1, 3)
            assert (inside == inside[0]).all()
            if x + w < 32:  # and the column just right of the box is not that colour
                assert not (img[y : y + h, x + w] == inside[0]).all()
    # A square drawn by hand: the box is its pixel extent.
    assert localization.paired_iou(np.array([[2, 3, 4, 5]]), np.array([[2, 3, 4, 5]]))[0] == 1.0
    assert localization.paired_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 1, 2, 2]]))[0] == pytest.approx(1 / 7)
    np.testing.assert_allclose(localization.xywh_to_xyxy([[1, 2, 3, 4]]), [[1, 2, 4, 6]])


def test_localization_job_improves_iou(tmp_path):
    ctx = context(tmp_path)
    result = localization.train_localizer({"size": 32, "n_train": 400, "n_val": 64, "epochs": 4, "width": 8}, ctx)
    assert (
        LocalizationResult.from_dict(result).to_dict() == result and result["iou>=0.5"] == ctx.metrics()[-1]["iou>=0.5"]
    )
    rows = ctx.metrics()
    assert len(rows) == 4 and rows[-1]["loss"] < rows[0]["loss"]
    assert rows[-1]["iou"] > rows[0]["iou"] and result["iou"] > 0.3
    preds = localization.load_predictions(ctx.folder)
    assert sorted(preds) == [1, 2, 3, 4] and preds[4].shape == (localization.PREVIEW, 4)
    images, truth = localization.preview_data({"size": 32, "n_train": 400, "n_val": 64})
    assert images.shape[0] == localization.PREVIEW
    drawn = localization.draw_boxes(images[0], truth[0], preds[4][0], scale=2)
    assert drawn.shape == (64, 64, 3)
    with pytest.raises(InputError, match="multiple of 16"):
        localization.train_localizer({"size": 40}, ctx)


def test_job_kinds_are_registered():
    kinds = jobs.load_job_modules()
    assert kinds["unet_train"] is unet.train_unet
    assert kinds["localization_train"] is localization.train_localizer


def test_unet_job_on_an_uploaded_zip(tmp_path):
    import io
    import stat
    import zipfile

    from PIL import Image

    x, y = unet.make_shapes(6, 32, seed=9)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(6):
            for folder, arr in (("images", x[i]), ("masks", y[i])):
                png = io.BytesIO()
                Image.fromarray(arr).save(png, format="PNG")
                entry = zipfile.ZipInfo(f"{folder}/pic{i}.png")
                entry.external_attr = (stat.S_IFREG | 0o644) << 16  # a regular file, as `zip` writes it
                zf.writestr(entry, png.getvalue())
    ctx = context(tmp_path)
    (ctx.inputs / "pairs.zip").write_bytes(buf.getvalue())
    result = unet.train_unet({"data": "upload", "size": 32, "epochs": 1, "base": 4, "depth": 2}, ctx)
    assert len(result["classes"]) == 3  # class 0, 1 and 2 found in the masks
    previews = unet.load_previews(ctx.folder)
    assert previews["truth"].shape[1:] == (32, 32) and set(np.unique(previews["truth"])) <= {0, 1, 2}


def test_unet_learns_objects_on_the_voc_sample(tmp_path):
    """All 21 classes from 12 photos give IoU 0 (all background); object vs background is learnt visibly."""
    torch.set_num_threads(1)
    ctx = context(tmp_path)
    params = {"data": "voc_objects", "size": 64, "epochs": 15, "base": 8, "depth": 3, "seed": 0}
    result = unet.train_unet(params, ctx)
    assert result["classes"] == ["background", "object"]
    assert result["iou"] > 0.15, ctx.metrics()
    data = unet.load_training_data(params, None)
    everything_object = float((data.val_masks[data.val_masks != 255] == 1).mean())  # IoU of painting all 'object'
    assert result["iou"] > everything_object + 0.1, (result["iou"], everything_object)  # 0.29 vs 0.14
    previews = unet.load_previews(ctx.folder)
    last = previews["pred"][15]
    assert set(np.unique(last).tolist()) == {0, 1}  # it paints both classes, not one colour everywhere
    truth = previews["truth"]
    assert set(np.unique(truth).tolist()) <= {0, 1, 255}
    key = unet.legend(previews["classes"], truth, last)
    names = [name for name, _ in key]
    assert names[:2] == ["background", "object"]
    assert tuple(key[1][1][0, 0]) == tuple(int(v) for v in unet.legend(["b", "o"], np.ones((1, 1)))[0][1][0, 0])


def test_legend_names_ignored_and_unknown_labels():
    key = unet.legend(["background", "cat"], np.array([[0, 255]]), np.array([[1, 7]]))
    assert [n for n, _ in key] == ["background", "cat", "class 7", "ignored"]
    assert all(s.shape == (20, 20, 3) and s.dtype == np.uint8 for _, s in key)
    assert len({tuple(s[0, 0]) for _, s in key}) == 4


def test_job_params_are_read_once_with_clear_messages_and_results_round_trip():
    p = UNetParams.from_params({"size": "32", "epochs": 4.0, "lr": "0.01", "data": "shapes", "other": 1})
    assert (p.size, p.epochs, p.lr, p.base) == (32, 4, 0.01, 8)  # defaults written once, numbers as text accepted
    assert UNetParams.from_params(p.to_dict()) == p and UNetParams.from_params(None) == UNetParams()
    with pytest.raises(InputError, match="'size' must be a whole number"):
        UNetParams.from_params({"size": "big"})
    with pytest.raises(InputError, match="1 to 100 epochs"):
        UNetParams.from_params({"epochs": 0})
    with pytest.raises(InputError, match="mapping"):
        UNetParams.from_params(["size", 32])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="multiple of 16"):
        LocalizationParams.from_params({"size": 40})
    # Results keep their stored JSON: "iou>=0.5" is no attribute name; an older result missing a figure opens.
    stored = {"iou": 0.5, "iou>=0.5": 0.4, "epochs": 3, "size": 32, "seed": 0, "n_train": 400}
    typed = LocalizationResult.from_dict(stored)
    assert typed.hit_rate == 0.4 and typed.to_dict() == stored
    assert UNetResult.from_dict({"iou": 0.3, "dice": 0.4, "epochs": 2, "classes": ["a", "b"]}).parameters == 0
