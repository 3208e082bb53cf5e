"""The ONNX export runs on its own: predict_onnx.py in an interpreter that has only numpy, Pillow and onnxruntime.

The script runs under ``python -I -S`` (no site-packages, no user site, no PYTHONPATH) with a folder that links just
those three packages, so importing torch or cnn_demo there fails; its probabilities must match the trained model's.
"""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cnn_demo import finetune
from cnn_demo.finetune import ImageData, TrainConfig
from tests.finetune.test_finetune import make_images

ALLOWED = ("numpy", "numpy.libs", "PIL", "pillow.libs", "onnxruntime")


def _site_packages() -> Path:
    import numpy

    return Path(numpy.__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    tr, ytr = make_images(6, 0)
    va, yva = make_images(3, 1)
    data = ImageData(["red", "blue", "green"], tr, ytr, va, yva)
    cfg = TrainConfig(backbone="myconvnet", pretrained=False, epochs=2, batch_size=8, image_size=32, seed=0)
    result = finetune.train(data, cfg)
    folder = tmp_path_factory.mktemp("export")
    summary = {**result.evaluation, **finetune.accuracy_report(result, data), "best_epoch": result.best_epoch}
    with zipfile.ZipFile(io.BytesIO(finetune.export_zip(result.model, finetune.export_metrics(summary), True))) as zf:
        zf.extractall(folder)
    paths = []
    for i, im in enumerate(data.val_images[:4]):
        paths.append(folder / f"img{i}.png")
        im.save(paths[-1])
    return folder, paths, result.model.predict(list(data.val_images[:4]))


def _isolated_python(tmp_path: Path) -> Path:
    """A folder holding links to only the packages the standalone script may use."""
    libs = tmp_path / "libs"
    libs.mkdir()
    site = _site_packages()
    for name in ALLOWED:
        if (site / name).exists():
            (libs / name).symlink_to(site / name)
    return libs


def _run_isolated(libs: Path, code: str, *args: str) -> subprocess.CompletedProcess:
    boot = f"import sys; sys.path.insert(0, {str(libs)!r}); sys.argv = {['x', *args]!r}\n" + code
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", boot], capture_output=True, text=True, timeout=120, cwd=libs.parent
    )


def test_predict_onnx_runs_without_torch_or_cnn_demo(exported, tmp_path):
    folder, images, expected = exported
    libs = _isolated_python(tmp_path)
    probe = _run_isolated(
        libs,
        "import importlib.util as u; print([u.find_spec(m) is None for m in ('torch', 'cnn_demo', 'safetensors')])",
    )
    assert probe.stdout.strip() == "[True, True, True]", probe.stderr
    code = (
        "import runpy, json; g = runpy.run_path(sys.argv[1]); "
        "print(json.dumps(g['main'](sys.argv[2], sys.argv[3:]).tolist()))"
    )
    run = _run_isolated(libs, code, str(folder / "predict_onnx.py"), str(folder / "model.onnx"), *map(str, images))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    probs = np.asarray(json.loads(lines[-1]))
    assert probs.shape == (4, 3)  # one batch of four: the ONNX batch size is dynamic
    np.testing.assert_allclose(probs, expected, atol=1e-4)
    printed = [line.split("\t") for line in lines[:-1]]
    assert [p[1] for p in printed] == [["red", "blue", "green"][int(i)] for i in expected.argmax(1)]


def test_predict_onnx_as_a_command_and_its_imports_are_all_used(exported, tmp_path):
    folder, images, expected = exported
    libs = _isolated_python(tmp_path)
    boot_args = [str(folder / "model.onnx"), str(images[0])]
    run = _run_isolated(
        libs,
        f"sys.argv = ['predict_onnx.py', *{boot_args!r}]; import runpy; "
        f"runpy.run_path({str(folder / 'predict_onnx.py')!r}, run_name='__main__')",
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\t")[1] == ["red", "blue", "green"][int(expected[0].argmax())]
    for script in (folder / "predict_onnx.py", folder / "reload.py"):
        tree = ast.parse(script.read_text())
        imported = {
            (a.asname or a.name).split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for a in node.names
        }
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert imported <= used, (script.name, imported - used)
    assert "cnn_demo" not in (folder / "predict_onnx.py").read_text()


def test_the_onnx_model_carries_its_class_names_preprocessing_and_honest_figures(exported):
    import onnx

    folder, _, _ = exported
    model = onnx.load(str(folder / "model.onnx"))
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["class_names"]) == ["red", "blue", "green"] and meta["input_size"] == "32"
    assert len(json.loads(meta["mean"])) == len(json.loads(meta["std"])) == 3
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"  # any batch size
    figures = json.loads(meta["metrics"])
    assert figures == json.loads((folder / "config.json").read_text())["metrics"]
    assert {"best_epoch", "final_val_accuracy", "best_val_accuracy", "baseline_val_accuracy"} <= set(figures)
    assert figures["baseline_val_accuracy"] == pytest.approx(1 / 3) and figures["majority_class"] == "red"
