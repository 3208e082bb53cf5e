"""Frozen features computed once per server (issue 23): keyed by content, shared by jobs, atomic, capped, fast."""

from __future__ import annotations

import io
import os
import threading
import time
import zipfile
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from cnn_demo import finetune, jobs
from cnn_demo.errors import InputError
from cnn_demo.finetune import ImageData, TrainConfig
from cnn_demo.finetune import data as finetune_data
from cnn_demo.finetune import features as F
from cnn_demo.finetune import trainer as finetune_trainer
from tests.finetune.test_finetune import make_images


@pytest.fixture(scope="module")
def data() -> ImageData:
    tr, ytr = make_images(8, 0)
    va, yva = make_images(4, 1)
    te, yte = make_images(2, 2)
    return ImageData(["red", "blue", "green"], tr, ytr, va, yva, te, yte)


def cfg(**kw) -> TrainConfig:
    base = dict(backbone="myconvnet", pretrained=False, epochs=2, batch_size=8, lr=3e-3, image_size=32, seed=0)
    return TrainConfig(**{**base, **kw})


def with_member(blob: bytes, name: str, data: bytes) -> bytes:
    """The packed zip ``blob`` with member ``name`` replaced by ``data`` (a well-formed zip: only the image is bad)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, data if info.filename == name else src.read(info))
    return out.getvalue()


def counting_backbones(monkeypatch) -> list[int]:
    """Patch the trainer's backbone loader so that every image through any backbone it loads is counted."""
    seen = [0]
    load = finetune_trainer.load_backbone

    def loading(name, pretrained=True):
        bb = load(name, pretrained)
        bb.features.register_forward_pre_hook(lambda module, args: seen.__setitem__(0, seen[0] + len(args[0])))
        return bb

    monkeypatch.setattr(finetune_trainer, "load_backbone", loading)
    return seen


def test_two_jobs_on_the_same_images_pay_for_one_feature_pass(data, tmp_path, monkeypatch):
    """30 students on the same photos: the second job (another student, another head) runs no backbone at all."""
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path))
    forwards = counting_backbones(monkeypatch)
    blob = finetune.pack_data(data)
    first = jobs.submit("finetune", {"config": cfg().to_dict()}, "alice", files={"data.zip": blob})
    assert jobs.run_job(first) == "done", jobs.status(first, "alice").log_tail
    n_images = len(data.train_labels) + len(data.val_labels) + len(data.test_labels)
    assert forwards[0] >= n_images
    forwards[0] = 0
    decoded = [0]
    decode = finetune_data._decode_fitted

    def counting_decode(*args):
        decoded[0] += 1
        return decode(*args)

    monkeypatch.setattr(finetune_data, "_decode_fitted", counting_decode)
    other = cfg(lr=1e-2, head=finetune.HeadSpec("mlp", hidden=16))  # other head settings: the same features
    second = jobs.submit("finetune", {"config": other.to_dict()}, "bob", files={"data.zip": blob})
    assert jobs.run_job(second) == "done", jobs.status(second, "bob").log_tail
    assert forwards[0] == 0, "the second job ran the backbone"
    assert decoded[0] == 0, "the second job decoded images it did not need"
    a, b = jobs.status(first, "alice").result, jobs.status(second, "bob").result
    assert b["feature_seconds"] < a["feature_seconds"]
    # The thumbnails made during the feature pass are the ones the results page would make.
    for job, owner in ((first, "alice"), (second, "bob")):
        with np.load(jobs.job_file(job, owner, "val.npz")) as z:
            assert np.array_equal(z["thumbs"], finetune.thumbnails(data.val_images))
        with np.load(jobs.job_file(job, owner, "test.npz")) as z:
            assert np.array_equal(z["thumbs"], finetune.thumbnails(data.test_images))
    assert len(list((tmp_path / "feature-cache").glob("*.pt"))) == 1


def test_the_key_is_the_content_not_the_labels(data, tmp_path):
    relabelled = replace(data, class_names=["x", "y", "z"], train_labels=[2 - y for y in data.train_labels])
    assert relabelled.content_key() == data.content_key()
    blob = finetune.pack_data(data)
    path = tmp_path / "data.zip"
    path.write_bytes(blob)
    eager, lazy = finetune.unpack_data(path, max_side=40), finetune.unpack_data(blob, max_side=40, lazy=True)
    assert eager.content_key() == lazy.content_key()
    assert lazy.train_images.encoded == len(data.train_labels)  # nothing decoded
    assert finetune.unpack_data(path, max_side=30).content_key() != eager.content_key()  # decoded differently
    moved = replace(data, val_images=data.val_images[1:], val_labels=data.val_labels[1:])
    assert moved.content_key() != data.content_key()


def test_the_key_holds_the_weights_preprocessing_size_and_augmentation(data):
    torch.manual_seed(0)
    bb = finetune.load_backbone("myconvnet", pretrained=False)
    weights = F.state_digest(bb.features)
    key = F.feature_key(data.content_key(), bb, weights, 32, cfg(), 1, None)
    assert key == F.feature_key(data.content_key(), bb, weights, 32, cfg(seed=5, lr=1), 1, None)  # not augmented
    torch.manual_seed(1)
    other = F.state_digest(finetune.load_backbone("myconvnet", pretrained=False).features)
    augmented = cfg(augment=finetune.AugmentSpec(flip=True))
    cropped = replace(bb, preprocess=replace(bb.preprocess, crop_pct=0.5))
    for changed in (
        F.feature_key("another", bb, weights, 32, cfg(), 1, None),
        F.feature_key(data.content_key(), bb, other, 32, cfg(), 1, None),
        F.feature_key(data.content_key(), bb, weights, 48, cfg(), 1, None),
        F.feature_key(data.content_key(), bb, weights, 32, augmented, 1, None),
        F.feature_key(data.content_key(), bb, weights, 32, replace(augmented, seed=1), 1, None),
        F.feature_key(data.content_key(), cropped, weights, 32, cfg(), 1, None),
    ):
        assert changed != key


def test_concurrent_jobs_wanting_one_key_compute_it_once(tmp_path):
    cache = F.FeatureCache(tmp_path)
    started, release, second_waits = threading.Event(), threading.Event(), threading.Event()
    calls, results = [], {}

    def compute():
        calls.append(threading.current_thread().name)
        started.set()
        assert release.wait(10)
        return {"x": torch.arange(4.0)}

    def run(name, waiting=None):
        results[name] = cache.get_or_compute("a1b2", compute, waiting)

    first = threading.Thread(target=run, args=("first",), name="first")
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=run, args=("second", second_waits.set), name="second")
    second.start()
    assert second_waits.wait(10)  # blocked on the first one's lock, not computing
    release.set()
    first.join(10), second.join(10)
    assert calls == ["first"]
    assert results["first"][1] is True and results["second"][1] is False
    assert torch.equal(results["second"][0]["x"], torch.arange(4.0))


def test_a_waiting_job_can_be_cancelled_and_a_failed_computation_leaves_the_key_to_the_next(tmp_path):
    cache = F.FeatureCache(tmp_path)
    started, release = threading.Event(), threading.Event()

    def slow_failing():
        started.set()
        release.wait(10)
        raise RuntimeError("the computing job was cancelled")

    def first():
        with pytest.raises(RuntimeError):
            cache.get_or_compute("c3", slow_failing)

    t = threading.Thread(target=first)
    t.start()
    assert started.wait(10)

    class Cancelled(Exception):
        pass

    def cancel():
        raise Cancelled

    with pytest.raises(Cancelled):
        cache.get_or_compute("c3", lambda: {"never": torch.zeros(1)}, cancel)
    release.set()
    t.join(10)
    value, computed = cache.get_or_compute("c3", lambda: {"y": torch.ones(2)})
    assert computed and torch.equal(value["y"], torch.ones(2))


def test_entries_are_whole_or_absent_and_the_cache_keeps_to_its_size(tmp_path):
    cache = F.FeatureCache(tmp_path, max_bytes=1e9)
    (tmp_path / "dead.pt").write_bytes(b"a writer died here")  # not a torch file: read as a miss and removed
    assert cache.get("dead") is None and not (tmp_path / "dead.pt").exists()
    stale = tmp_path / ".e5.123.456.tmp"
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    value = {"f": torch.zeros(1000)}  # ~4 kB on disk
    for i, key in enumerate(("e1", "e2", "e3")):
        cache.put(key, value)
        os.utime(tmp_path / f"{key}.pt", (1000 + i, 1000 + i))
    assert not stale.exists() and not list(tmp_path.glob("*.tmp"))
    size = (tmp_path / "e1.pt").stat().st_size
    cache.max_bytes = 3.5 * size
    assert cache.get("e1") is not None  # used just now: the last to go
    cache.put("e4", value)
    assert sorted(p.stem for p in tmp_path.glob("*.pt")) == ["e1", "e3", "e4"]
    cache.max_bytes = size / 2
    cache.put("e5", value)  # bigger than the whole cache: not stored, nothing else pushed out for it
    assert not (tmp_path / "e5.pt").exists() and (tmp_path / "e4.pt").exists()


def test_the_inference_copy_folds_batchnorm_and_computes_the_same():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1))
    net[1].running_mean.uniform_(-1, 1), net[1].running_var.uniform_(0.5, 2), net[1].weight.data.uniform_(0.5, 2)
    x = torch.randn(2, 3, 16, 16)
    folded = F.inference_copy(net, x)
    assert folded is not net and not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert torch.allclose(folded(x), net.eval()(x), atol=1e-5)
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())  # the shared backbone is left as it is
    # A BatchNorm registered after a convolution whose output it does not take: left alone.
    swapped = nn.Sequential()
    swapped.add_module("bn", nn.BatchNorm2d(3))
    swapped.bn.running_mean.fill_(0.5)
    crossed = _Crossed(nn.Conv2d(3, 3, 1), swapped.bn)
    assert F.inference_copy(crossed, x) is crossed


class _Crossed(nn.Module):
    def __init__(self, conv: nn.Module, bn: nn.Module) -> None:
        super().__init__()
        self.conv, self.bn = conv, bn

    def forward(self, x):
        return self.conv(self.bn(x))  # the BatchNorm comes first


def test_timm_batchnorm_act_and_same_padding_are_made_static():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0).eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2)
    x = torch.randn(1, 3, 64, 64)
    folded = F.inference_copy(net, x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert not any(type(m).__name__ == "Conv2dSame" for m in folded.modules())  # fixed padding for 64 px
    assert any(type(m).__name__ == "Conv2dSame" for m in net.modules())
    with torch.inference_mode():
        assert torch.allclose(folded(x), net(x), rtol=1e-4, atol=1e-4)
    odd = torch.randn(1, 3, 45, 45)  # odd sides: SAME pads evenly, or by one more after; both made fixed
    with torch.inference_mode():
        assert torch.allclose(F.inference_copy(net, odd)(odd), net(odd), rtol=1e-4, atol=1e-4)


def test_features_decoded_by_several_threads_come_in_order_and_errors_come_through(data):
    torch.manual_seed(0)
    bb = finetune.load_backbone("myconvnet", pretrained=False)
    tf = finetune.make_transform(bb.preprocess, None, 32)
    seen: list[int] = []
    ahead = finetune.extract_features(
        bb.features, data.train_images, tf, 4, on_image=lambda i, im: seen.append(i), decode_threads=2
    )
    plain = finetune.extract_features(bb.features, data.train_images, tf, 4, decode_threads=1, chunk=4)
    assert seen == list(range(len(data.train_images)))
    assert torch.allclose(ahead, plain, atol=1e-6)
    broken = finetune.unpack_data(with_member(finetune.pack_data(data), "train/00005.png", b"\x89PNG\r\n"), lazy=True)
    with pytest.raises(InputError):
        finetune.extract_features(bb.features, broken.train_images, tf, 4)


def test_a_lazily_unpacked_file_that_does_not_decode_fails_the_job_with_a_message(data, tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path))
    blob = with_member(finetune.pack_data(data), "val/00001.png", b"\x89PNG\r\n\x1a\n truncated")
    job = jobs.submit("finetune", {"config": cfg().to_dict()}, "me", files={"data.zip": blob})
    assert jobs.run_job(job) == "failed"
    st = jobs.status(job, "me")
    assert st.error and "reference" not in st.error  # the student's message, not an internal error


def test_the_exported_weights_are_stored_not_deflated(data):
    """Deflating float weights saves ~7 % for ~0.4 s of a job whose features came from the cache."""
    result = finetune.train(data, cfg(epochs=1))
    with zipfile.ZipFile(io.BytesIO(finetune.export_zip(result.model))) as zf:
        assert zf.getinfo("model.safetensors").compress_type == zipfile.ZIP_STORED
        assert zf.getinfo("config.json").compress_type == zipfile.ZIP_DEFLATED


def test_convolutions_are_packed_with_the_activation_that_takes_their_output():
    from cnn_demo.finetune import inference

    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0).eval()
    x = torch.randn(2, 3, 64, 64)
    if not inference.packing_available(x):
        pytest.skip("no oneDNN here")
    fast = F.inference_copy(net, x)
    packed = [m for m in fast.modules() if isinstance(m, inference.PackedConv2d)]
    assert len(packed) == sum(isinstance(m, nn.Conv2d) for m in net.modules())
    assert {m.activation for m in packed} == {"hardtanh", "none"} and not any(
        isinstance(m, nn.ReLU6) for m in fast.modules()
    )
    with torch.inference_mode():
        for batch in (x, x[:1], x.contiguous(memory_format=torch.channels_last)):
            assert torch.allclose(fast(batch), net(batch), rtol=1e-4, atol=1e-4)

    class Shared(nn.Module):  # one ReLU after a convolution and again after the sum: never fused into the conv
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.relu, self.out = nn.Conv2d(3, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 4, 1)

        def forward(self, t):
            return self.out(self.relu(self.relu(self.conv(t)) - 0.5))

    shared = Shared().eval()
    copy_ = F.inference_copy(shared, x)
    assert all(m.activation == "none" for m in copy_.modules() if isinstance(m, inference.PackedConv2d))
    assert torch.allclose(copy_(x), shared(x), atol=1e-5)


def test_a_onednn_without_the_packing_operators_falls_back_to_the_folded_copy(monkeypatch):
    """oneDNN's fused convolution is a private torch operator: where it refuses its arguments, the copy without
    packing (BatchNorm folded) is used, not an error in the student's job."""
    from cnn_demo.finetune import inference

    def refuse(*args, **kwargs):
        raise RuntimeError("mkldnn: unsupported arguments")

    monkeypatch.setattr(inference, "packing_available", lambda example: True)
    monkeypatch.setattr(inference.PackedConv2d, "__init__", refuse)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU()).eval()
    net[1].running_mean.uniform_(-1, 1)
    x = torch.randn(2, 3, 16, 16)
    fast = F.inference_copy(net, x)
    assert fast is not net and not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    with torch.inference_mode():
        assert torch.allclose(fast(x), net(x), atol=1e-5)
