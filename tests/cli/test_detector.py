"""The command-line contract of the detector lesson: ``train-detector --out DIR [--data ZIP]`` and
``evaluate-detection --model DIR``."""

from __future__ import annotations

import json

import pytest

from cnn_demo.cli import build_parser, main
from cnn_demo.data import boxes

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A COCO zip of 10 people-sample photos (8 with people) and the same photos as an evaluation folder."""
    ds = boxes.load_people_sample()
    idx = [i for i, b in enumerate(ds.boxes) if 0 < len(b) <= 4][:8] + [
        i for i, b in enumerate(ds.boxes) if not len(b)
    ][:2]
    sub = ds.subset(sorted(idx))
    folder = tmp_path_factory.mktemp("labelled")
    data = boxes.to_zip(sub, "coco")
    (folder / "labels.zip").write_bytes(data)
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(folder / "eval")
    return folder


def test_train_detector_flags():
    args = build_parser().parse_args(["train-detector", "--out", "x", "--data", "y.zip"])
    assert (args.out, args.data) == ("x", "y.zip")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train-detector"])  # --out is required


def test_train_then_evaluate_the_trained_model(labelled, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "train-detector",
            "--out",
            str(out),
            "--data",
            str(labelled / "labels.zip"),
            "--epochs",
            "2",
            "--size",
            "160",
            "--holdout",
            "0.25",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"ap50", "ap", "ap50_start", "epochs", "photos", "format", "seconds"} <= set(summary)
    assert summary["format"] == "COCO JSON" and summary["photos"] == 10 and summary["epochs"] == 2
    assert (out / "detector.json").is_file() and (out / "heads.safetensors").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [0, 1, 2] and metrics["config"]["size"] == 160

    code = main(
        [
            "evaluate-detection",
            "--images",
            str(labelled / "eval"),
            "--annotations",
            str(labelled / "eval" / "annotations.json"),
            "--model",
            str(out),
            "--score-threshold",
            "0.01",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "trained person detector" in text and "on 10 images" in text
    ap50 = float(next(line.split()[1] for line in text.splitlines() if line.startswith("AP50 ")))
    assert 0.0 <= ap50 <= 1.0


def test_evaluate_detection_names_a_folder_that_is_not_a_detector(tmp_path, labelled, capsys):
    code = main(
        [
            "evaluate-detection",
            "--images",
            str(labelled / "eval"),
            "--annotations",
            str(labelled / "eval" / "annotations.json"),
            "--model",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "is not a folder written by train-detector" in capsys.readouterr().err


def test_train_detector_reports_a_broken_zip_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip at all")
    assert main(["train-detector", "--out", str(tmp_path / "o"), "--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: This file is not a valid .zip archive") and "Traceback" not in err
