"""``python -m cnn_demo detect-faces IMAGE... --json``: the contract other tools call."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

from cnn_demo.cli import main
from cnn_demo.data.samples import people_dir
from tests.conftest import ROOT

GROUP = people_dir() / "images" / "000000000308.jpg"


def _blank(path):
    Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(path)
    return path


def test_json_is_one_object_per_image_and_line(tmp_path, capsys):
    blank = _blank(tmp_path / "blank.png")
    assert main(["detect-faces", str(GROUP), str(blank), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    group, empty = (json.loads(line) for line in lines)
    assert group["image"] == str(GROUP) and empty["image"] == str(blank)
    width, height = Image.open(GROUP).size
    assert (group["width"], group["height"]) == (width, height)
    n = group["faces"]
    assert n >= 4 and len(group["boxes"]) == len(group["scores"]) == len(group["landmarks"]) == n
    for (x0, y0, x1, y1), score, marks in zip(group["boxes"], group["scores"], group["landmarks"], strict=True):
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height  # x0,y0,x1,y1 in the image's pixels
        assert 0.7 < score <= 1.0
        assert len(marks) == 5 and all(len(p) == 2 for p in marks)
        eyes_y = (marks[0][1] + marks[1][1]) / 2
        mouth_y = (marks[3][1] + marks[4][1]) / 2
        assert y0 <= eyes_y < mouth_y <= y1  # landmarks: eyes above the mouth, inside the box
    assert group["scores"] == sorted(group["scores"], reverse=True)
    assert group["seconds"] > 0
    assert empty == {**empty, "faces": 0, "boxes": [], "scores": [], "landmarks": [], "width": 160, "height": 120}


def test_boxes_are_in_the_original_pixels_of_a_large_image(tmp_path, capsys):
    img = Image.open(GROUP)
    big = img.resize((img.width * 3, img.height * 3), Image.Resampling.BICUBIC)  # 1536 px: shrunk to 1024 inside
    big.save(tmp_path / "big.png")
    assert main(["detect-faces", str(GROUP), str(tmp_path / "big.png"), "--json"]) == 0
    small, large = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert (large["width"], large["height"]) == big.size
    from torchvision.ops import box_iou

    iou = box_iou(torch.tensor(small["boxes"][:4]), torch.tensor(large["boxes"]) / 3)
    assert (iou.max(dim=1).values >= 0.5).all(), iou  # the best faces, found again at 3× and reported at 3×


def test_a_non_image_is_a_clear_error_and_the_others_still_run(tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("this is not a picture")
    assert main(["detect-faces", str(bad), str(GROUP), "--json", "--min-face-size", "30"]) == 2
    out, err = capsys.readouterr()
    assert [json.loads(line)["image"] for line in out.splitlines()] == [str(GROUP)]
    assert err.startswith(f"error: {bad}: ") and "Traceback" not in err
    assert main(["detect-faces", str(tmp_path / "missing.jpg")]) == 2
    assert "Cannot read" in capsys.readouterr().err


def test_summary_without_json(capsys):
    assert main(["detect-faces", str(GROUP)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{GROUP}: ") and " faces (" in out[0]
    assert out[1].strip().startswith("1. score ")


def test_the_module_entry_point(tmp_path):
    """The real command a user types, in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "cnn_demo", "detect-faces", str(GROUP), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    assert json.loads(line)["faces"] >= 4
