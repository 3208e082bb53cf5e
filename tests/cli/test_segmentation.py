"""The segmentation commands' contracts: train-segmenter, segment (palette PNG masks), evaluate-segmentation (JSON)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnn_demo.applications import person_segmenter as ps
from cnn_demo.cli import main
from cnn_demo.data.samples import people_dir
from tests.applications.test_person_segmenter import people_zip, reference_iou
from tests.conftest import ROOT, shared_path

SMALL = ["--epochs", "2", "--image-size", "96"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A segmenter trained by ``train-segmenter`` on the people sample that ships (small and quick)."""
    import torch

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("segmenter")
    assert main(["train-segmenter", "--out", str(out), "--no-cache", *SMALL]) == 0
    return out


def test_train_segmenter_default_data_writes_a_model_and_prints_its_figures(trained, capsys):
    info = ps.read_info(trained)
    assert info["classes"] == ["background", "person"]
    assert info["config"]["image_size"] == 96 and info["config"]["epochs"] == 2
    summary = info["summary"]
    assert summary["n_train"] + summary["n_val"] == 128  # the people sample
    assert {"all background", "all person"} == set(summary["baselines"])
    assert len(summary["history"]) == 2


def test_train_segmenter_from_a_zip(tmp_path, capsys):
    data = tmp_path / "pairs.zip"
    data.write_bytes(people_zip(6, voc=True))
    out = tmp_path / "model"
    assert main(["train-segmenter", "--out", str(out), "--data", str(data), "--no-cache", *SMALL]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["n_train"] + printed["n_val"] == 6 and printed["classes"] == ["background", "person"]
    assert "class 15" in printed["mask_rule"]
    assert ps.load_segmenter(out).classes == ("background", "person")
    assert main(["train-segmenter", "--out", str(out), "--data", str(tmp_path / "missing.zip")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_segment_writes_palette_png_masks(trained, tmp_path):
    photos = sorted((people_dir() / "images").glob("*.jpg"))[:2]
    twin = tmp_path / "other" / photos[0].name  # the same name from another folder gets its own mask
    twin.parent.mkdir()
    twin.write_bytes(photos[0].read_bytes())
    out = tmp_path / "masks"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnn_demo",
            "segment",
            "--model",
            str(trained),
            *map(str, photos),
            str(twin),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [Path(r["mask"]).name for r in lines] == [
        f"{photos[0].stem}.png",
        f"{photos[1].stem}.png",
        f"{photos[0].stem}-2.png",
    ]
    model = ps.load_segmenter(trained)
    for row, photo in zip(lines, [*photos, twin], strict=True):
        mask = Image.open(row["mask"])
        assert mask.mode == "P" and mask.size == Image.open(photo).size
        values = np.asarray(mask)
        assert set(np.unique(values)) <= {0, 1}
        np.testing.assert_array_equal(values, ps.segment(model, Image.open(photo)).labels)
        assert row["person_share"] == pytest.approx((values == 1).mean(), abs=1e-6)
        assert mask.getpalette()[3:6] == list(ps.model.PALETTE[1])  # 1 = person is drawn in a colour
    bad = subprocess.run(
        [sys.executable, "-m", "cnn_demo", "segment", "--model", str(tmp_path), str(photos[0]), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "holds no trained segmenter" in bad.stderr and "Traceback" not in bad.stderr


def voc_folder(tmp_path: Path, n: int = 3) -> tuple[Path, Path]:
    """``n`` photos with PASCAL VOC-21 masks: person = 15, a block of class 8, a 255 border."""
    images, masks = tmp_path / "images", tmp_path / "voc21_masks"
    images.mkdir()
    masks.mkdir()
    root = people_dir()
    for path in sorted((root / "images").glob("*.jpg"))[10 : 10 + n]:
        (images / path.name).write_bytes(path.read_bytes())
        m = np.asarray(Image.open(root / "masks" / f"{path.stem}.png"))
        voc = np.where(m == 1, 15, m).astype(np.uint8)
        voc[:20, :20] = 8
        voc[:, :3] = 255
        Image.fromarray(voc).save(masks / f"{path.stem}.png")
    return images, masks


def test_evaluate_segmentation_per_class_iou_maps_voc_15_to_person(trained, tmp_path):
    images, masks = voc_folder(tmp_path)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnn_demo",
            "evaluate-segmentation",
            "--model",
            str(trained),
            "--images",
            str(images),
            "--masks",
            str(masks),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["images"] == 3 and report["classes"] == ["background", "person"]
    model = ps.load_segmenter(trained)
    preds, truths = [], []
    for m in sorted(masks.iterdir()):
        voc = np.asarray(Image.open(m))
        preds.append(ps.segment(model, Image.open(images / f"{m.stem}.jpg")).labels.ravel())
        truths.append(np.where(voc == 15, 1, np.where(voc == 255, 255, 0)).ravel())  # VOC: 15 is the person
    pred, truth = np.concatenate(preds), np.concatenate(truths)
    for c, name in enumerate(("background", "person")):
        assert report["iou"][name] == pytest.approx(reference_iou(pred, truth, c), abs=1e-9)
    share = (truth == 1).sum() / (truth != 255).sum()
    assert report["baselines"]["all person"]["iou"]["person"] == pytest.approx(share)
    assert report["baselines"]["all background"]["iou"]["person"] == 0.0
    assert report["pixels"]["person"] + report["pixels"]["background"] == (truth != 255).sum()  # 255 ignored


def test_evaluate_segmentation_on_the_shared_val_masks(trained, capsys):
    val = shared_path("coco_sample", "val2017")
    code = main(
        [
            "evaluate-segmentation",
            "--model",
            str(trained),
            "--images",
            str(val / "images"),
            "--masks",
            str(val / "voc21_masks"),
            "--limit",
            "4",
            "--compact",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 4 and "class 15" in report["mask_rule"]
    assert set(report["iou"]) == {"background", "person"}


def test_evaluate_segmentation_asks_which_class_is_the_person(trained, tmp_path, capsys):
    images, masks = voc_folder(tmp_path, 1)
    for m in masks.iterdir():
        Image.fromarray(np.full((40, 40), 90, np.uint8)).save(m)  # COCO ids: up to 200
    assert main(["evaluate-segmentation", "--model", str(trained), "--images", str(images), "--masks", str(masks)]) == 2
    assert "--person-class" in capsys.readouterr().err
