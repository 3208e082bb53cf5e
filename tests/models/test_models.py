"""The model layer: registry, parameter counts, layer tables, preprocessing, backbone/head split, CIFAR ResNets."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from torch import nn

from cnn_demo import models, weights
from cnn_demo.errors import InputError
from tests.conftest import ROOT, shared_path

LECTURE = ROOT.parent / "shared" / "lecture" / "cnn_lecture.txt"
ALEXNET_PARAMS = 61_100_840


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _meta(name: str, **kw) -> nn.Module:
    """A registered model built on the meta device: real structure and shapes, no memory or compute."""
    with torch.device("meta"):
        return models.create(name, pretrained=False, **kw)


def _lecture_text() -> str:
    if not LECTURE.is_file():
        pytest.skip(f"needs the lecture text {LECTURE}")
    return LECTURE.read_text()


@pytest.mark.parametrize("name", models.list_models())
def test_every_model_builds_with_its_parameter_count_and_a_consistent_split(name):
    model = _meta(name)
    info = models.get_info(name)
    total = sum(p.numel() for p in model.parameters())
    assert total == info.params
    assert models.model_name(model) == name
    assert not model.training
    # stages + head hold every parameter exactly once, in forward order
    head = models.get_head(model)
    assert isinstance(head, nn.Linear) and head.out_features == info.num_classes
    stage_params = [p for s in models.stages(model) for p in s.parameters()]
    ids = [id(p) for p in stage_params] + [id(p) for p in head.parameters()]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters()}
    cfg = models.data_config(name)
    assert cfg.input_size == info.input_size
    assert len(models.class_names(name)) == info.num_classes


@pytest.mark.parametrize("name", weights.model_names())
def test_every_network_of_the_table_builds_through_create(name):
    """One front door for every row, classifiers, detectors, segmenters and the face cascade alike: the architecture
    on the meta device (offline, no weights needed), and the real weights where this machine has them."""
    import cnn_demo.applications.faces  # noqa: F401  # adds the facenet source (MTCNN is built by its application)

    info = models.get_info(name)
    model = _meta(name)
    assert models.model_name(model) == name and not model.training
    if info.params:
        assert sum(p.numel() for p in model.parameters()) == info.params
    assert len(models.class_names(name)) == info.num_classes
    if info.has_pretrained and weights.find(name) is not None:
        loaded = models.create(name)
        assert [k for k, _ in loaded.named_parameters()] == [k for k, _ in model.named_parameters()]
        assert not any(p.is_meta for p in loaded.parameters())
    elif not info.has_pretrained:
        with pytest.raises(InputError, match="no pretrained weights"):
            models.create(name)


def test_each_task_lists_its_networks_from_the_table():
    """What the detection and segmentation pages offer is the table's rows of their task, in its order."""
    from cnn_demo.applications import detection, segmentation

    assert [d.name for d in detection.DETECTORS] == weights.model_names("detection")
    assert [s.name for s in segmentation.SEGMENTERS] == weights.model_names("segmentation")
    assert models.list_models() == weights.model_names("classification")
    assert models.list_models(task=None) == [m.name for m in weights.MODELS]
    assert models.list_models(task="detection", pretrained=False) == []
    assert {m.task for m in weights.MODELS} == {"classification", "detection", "segmentation", "faces"}
    ssd = detection.detector_info("ssdlite320_mobilenet_v3_large")
    assert (ssd.title, ssd.family, ssd.default_iou, ssd.default_max, ssd.masks) == (
        "SSDlite 320, MobileNetV3-Large",
        "one-stage",
        0.55,
        300,
        False,
    )
    assert detection.detector_info("maskrcnn_resnet50_fpn_v2").masks
    with pytest.raises(InputError, match="keeps its own 91 classes"):
        models.create("ssdlite320_mobilenet_v3_large", num_classes=3)


def test_untrained_detectors_and_segmenters_are_the_same_on_every_call():
    """``pretrained=False`` draws detectors' and segmenters' weights from a fixed seed, leaving the global generator."""
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = models.create("lraspp_mobilenet_v3_large", pretrained=False)
    b = models.create("lraspp_mobilenet_v3_large", pretrained=False)
    assert torch.equal(torch.random.get_rng_state(), before)
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(v, w), k
    c = models.create("lraspp_mobilenet_v3_large", pretrained=False, seed=1)
    assert not torch.equal(next(iter(c.parameters())), next(iter(a.parameters())))
    assert "aux_classifier" not in dict(models.create("fcn_resnet50", pretrained=False).named_children())


def test_alexnet_has_the_slides_parameters_and_printed_module():
    model = _meta("alexnet")
    summary = models.summarize(model, (3, 224, 224))
    assert summary.total_params == ALEXNET_PARAMS == sum(r.params for r in summary.rows)
    text = _lecture_text()
    start = text.index("AlexNet(")
    slide = text[start : text.index("\nApplications", start)].strip()
    assert str(model).split() == slide.split()


def test_myconvnet_is_the_lecture_code():
    text = _lecture_text()
    start = text.index("class MyConvNet")
    code = text[start : text.index("\nAlexNet", start)]
    namespace = {"nn": nn, "torch": torch}
    exec(compile(code, "lecture", "exec"), namespace)
    lecture_net = namespace["MyConvNet"]()
    ours = models.MyConvNet()
    assert str(ours) == str(lecture_net)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in lecture_net.state_dict().items()
    }
    ours.load_state_dict(lecture_net.state_dict())
    x = torch.randn(2, 3, 37, 29)
    torch.testing.assert_close(ours(x), lecture_net(x))


def test_summarize_matches_a_real_forward_pass_and_hand_counted_macs():
    torch.manual_seed(0)
    net = models.MyConvNet()
    s = models.summarize(net, (3, 32, 32))
    # step through the Sequential containers ourselves
    x = torch.zeros(1, 3, 32, 32)
    expected = []
    for prefix, seq in (("feature", net.feature), ("classifier", net.classifier)):
        for i, layer in enumerate(seq):
            x = layer(x)
            expected.append((f"{prefix}.{i}", type(layer).__name__, tuple(x.shape)))
    assert [(r.name, r.type, r.output_shape) for r in s.rows] == expected
    assert s.output_shape == (1, 10)
    assert s.total_params == sum(p.numel() for p in net.parameters()) == sum(r.params for r in s.rows) == 72_042
    # conv: out_elements · in_channels · k², linear: out · in
    macs = 16 * 32 * 32 * 3 * 9 + 32 * 16 * 16 * 16 * 9 + 128 * 512 + 10 * 128
    assert s.total_macs == macs
    assert [r.macs for r in s.rows if r.macs] == [16 * 32 * 32 * 27, 32 * 16 * 16 * 144, 128 * 512, 1280]


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "efficientnet_b0", "alexnet"])
def test_total_macs_agree_with_torchvision_published_operation_counts(name):
    from torchvision.models import get_model_weights

    s = models.summarize(_meta(name), (3, 224, 224))
    assert s.total_macs / 1e9 == pytest.approx(get_model_weights(name).DEFAULT.meta["_ops"], abs=1.5e-3)
    assert s.total_params == get_model_weights(name).DEFAULT.meta["num_params"]


def test_summarize_on_meta_equals_summarize_on_real_weights():
    real = models.create("cifar_resnet20", pretrained=False)
    a = models.summarize(real, (3, 32, 32))
    b = models.summarize(_meta("cifar_resnet20"), (3, 32, 32))
    assert a == b
    with torch.no_grad():
        assert a.output_shape == tuple(real(torch.zeros(1, 3, 32, 32)).shape)
    # shapes of the residual stages, recorded by hooks on the real model
    shapes = {}
    hooks = [
        getattr(real, n).register_forward_hook(lambda m, i, o, n=n: shapes.__setitem__(n, o.shape))
        for n in ("layer1", "layer2", "layer3")
    ]
    with torch.no_grad():
        real(torch.zeros(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    last = {r.name.split(".")[0]: r.output_shape for r in a.rows}
    assert {k: tuple(v) for k, v in shapes.items()} == {k: last[k] for k in shapes}
    assert real.training is False


def test_summarize_rejects_an_input_the_model_cannot_take():
    with pytest.raises(
        InputError, match=r"cannot take a 1×32×32 input: `feature.0` \(Conv2d\) expects 3 input channels"
    ):
        models.summarize(models.MyConvNet(), (1, 32, 32))
    with pytest.raises(InputError):
        models.summarize(models.MyConvNet(), (3, 0, 32))


@pytest.mark.parametrize("name", ["myconvnet", "cifar_resnet20", "mobilenet_v3_small", "timm/resnet18.a1_in1k"])
def test_feature_extractor_and_head_reproduce_the_model_without_changing_it(name):
    torch.manual_seed(0)
    model = models.create(name, pretrained=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    head_before = models.get_head(model)
    backbone, n = models.feature_extractor(model)
    size = models.get_info(name).input_size
    x = torch.randn(2, *size[:1], 64, 64) if size[1] > 32 else torch.randn(2, *size)
    with torch.no_grad():
        feats = backbone(x)
        assert feats.shape == (2, n)
        torch.testing.assert_close(models.get_head(model)(feats), model(x))
    assert models.get_head(model) is head_before
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # the backbone shares tensors with the model (no copy)
    shared = {p.data_ptr() for p in model.parameters()}
    assert all(p.data_ptr() in shared for p in backbone.parameters())


def test_replace_head_and_num_classes_for_fine_tuning(monkeypatch):
    monkeypatch.setenv("CNN_DEMO_WEIGHTS_DIR", str(shared_path("weights")))
    tuned = models.create("cifar_resnet20", num_classes=3)  # pretrained backbone, fresh 3-class head
    reference = models.create("cifar_resnet20")
    assert tuned.linear.out_features == 3 and torch.equal(
        tuned.layer3[2].conv2.weight, reference.layer3[2].conv2.weight
    )
    assert all(p.requires_grad for p in tuned.parameters())
    tuned.train()
    tuned(torch.randn(2, 3, 32, 32)).sum().backward()
    assert tuned.conv1.weight.grad is not None
    model = models.create("cifar_resnet20", pretrained=False)
    models.replace_head(model, nn.Linear(models.num_features(model), 3))
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 3)
    assert models.create("timm/mobilenetv3_small_100.lamb_in1k", pretrained=False, num_classes=4).num_classes == 4
    assert _meta("resnet18", num_classes=7).fc.out_features == 7
    with pytest.raises(InputError, match="whole number"):
        models.create("resnet18", pretrained=False, num_classes=0)


def test_unknown_and_untrainable_requests_give_readable_errors():
    with pytest.raises(InputError, match="no model called 'resnet1'"):
        models.create("resnet1")
    with pytest.raises(InputError, match="no pretrained weights"):
        models.create("myconvnet", pretrained=True)


def test_data_configs_are_read_from_the_published_weights():
    import timm
    from torchvision.models import ResNet50_Weights

    cfg = models.data_config("resnet50")
    t = ResNet50_Weights.DEFAULT.transforms()
    assert (cfg.input_size, cfg.resize_size, list(cfg.mean), list(cfg.std)) == ((3, 224, 224), 232, t.mean, t.std)
    tcfg = timm.models.get_pretrained_cfg("efficientnet_b0.ra_in1k")
    cfg = models.data_config("timm/efficientnet_b0.ra_in1k")
    assert (cfg.crop_pct, cfg.interpolation, cfg.mean) == (tcfg.crop_pct, tcfg.interpolation, tcfg.mean)
    assert models.data_config("cifar_resnet56").input_size == (3, 32, 32)
    assert models.data_config(models.create("cifar_resnet32", pretrained=False)).mean == timm.data.IMAGENET_DEFAULT_MEAN
    with pytest.raises(InputError):
        models.data_config(nn.Linear(2, 2))


@pytest.mark.parametrize(
    "name", ["resnet18", "efficientnet_b0", "timm/resnet18.a1_in1k", "tf_efficientnet_lite0", "mobilenet_v2"]
)
def test_transform_equals_the_libraries_own_preprocessing(name):
    from cnn_demo.io.samples import load_sample

    img = load_sample("chelsea")
    ours = models.transform(models.data_config(name))(img)
    if models.get_info(name).source == "timm":
        import timm
        from timm.data import create_transform, resolve_data_config

        net = timm.create_model(name.removeprefix("timm/"), pretrained=False)
        ref = create_transform(**resolve_data_config({}, model=net))(img)
    else:
        from torchvision.models import MobileNet_V2_Weights, get_model_weights

        # mobilenet_v2's file (installed by set-up) is IMAGENET1K_V1, whose preprocessing differs from DEFAULT (V2)
        entry = MobileNet_V2_Weights.IMAGENET1K_V1 if name == "mobilenet_v2" else get_model_weights(name).DEFAULT
        ref = entry.transforms()(img)
    torch.testing.assert_close(ours, ref)
    train = models.transform(models.data_config(name), train=True)(load_sample("camera", grayscale=True))
    assert train.shape == ref.shape


@pytest.mark.pretrained
def test_grad_cam_of_efficientnet_lite0_points_at_the_object_of_each_class():
    """Chelsea the cat top-left and a coffee cup bottom-right on grey: Grad-CAM of "tabby" lies on the cat's box,
    of "espresso" on the cup's box (ImageNet weights installed by set-up; a real photo, a class-specific map)."""
    from PIL import Image

    from cnn_demo.io.samples import load_sample
    from cnn_demo.models import explain

    name = "tf_efficientnet_lite0"
    net = models.create(name, pretrained=True)
    cfg = models.data_config(name)
    canvas = Image.new("RGB", (448, 448), (128, 128, 128))
    boxes = {"cat": (16, 40, 240, 189), "cup": (208, 260, 432, 409)}  # (x0, y0, x1, y1) on the canvas
    canvas.paste(load_sample("chelsea").resize((224, 149)), boxes["cat"][:2])
    canvas.paste(load_sample("coffee").resize((224, 149)), boxes["cup"][:2])
    x = explain.preprocess(canvas, cfg)
    side = cfg.input_size[-1]
    scale, offset = cfg.resize_size / 448, (cfg.resize_size - side) / 2  # the resize and centre crop of `x`
    labels = models.class_names(name)
    top = explain.predict(net, x, labels, top=5)
    assert top[0].index in range(281, 286), top  # a cat class first
    layer = explain.default_gradcam_layer(net, cfg.input_size)
    assert layer == "blocks.6"  # the last inverted-residual stage, 7×7
    view = {k: tuple(max(0, min(side, round(v * scale - offset))) for v in b) for k, b in boxes.items()}

    def share(cam: np.ndarray, box: tuple[int, ...]) -> float:
        x0, y0, x1, y1 = box
        return float(cam[y0:y1, x0:x1].sum() / cam.sum())

    for what, other, class_index in (("cat", "cup", 281), ("cup", "cat", 967)):  # tabby, espresso
        cam = explain.upsample_map(explain.grad_cam(net, x, layer, class_index), (side, side))
        x0, y0, x1, y1 = view[what]
        area = (x1 - x0) * (y1 - y0) / side**2
        mine, theirs = share(cam, view[what]), share(cam, view[other])
        assert mine >= 0.45 and mine >= 2 * area and mine >= 3 * theirs, (labels[class_index], mine, theirs, area)
        peak = np.unravel_index(cam.argmax(), cam.shape)
        assert y0 <= peak[0] < y1 and x0 <= peak[1] < x1, (what, peak)


# ---- CIFAR ResNets on their published checkpoints ---------------------------------------------------------

COCO_TO_CIFAR = {
    "airplane": "airplane",
    "car": "automobile",
    "bird": "bird",
    "cat": "cat",
    "dog": "dog",
    "horse": "horse",
    "boat": "ship",
    "truck": "truck",
}


@pytest.fixture(scope="module")
def cifar_crops():
    """Square crops of COCO objects of CIFAR-10 classes (min box side 32 px), resized to 32×32 like CIFAR."""
    from PIL import Image

    root = shared_path("coco_sample", "train2017")
    data = json.loads((root / "instances_train2017.json").read_text())
    cats = {c["id"]: c["name"] for c in data["categories"]}
    files = {i["id"]: i["file_name"] for i in data["images"]}
    crops = []
    for a in data["annotations"]:
        name = cats[a["category_id"]]
        x, y, w, h = a["bbox"]
        if name in COCO_TO_CIFAR and not a["iscrowd"] and min(w, h) >= 32:
            with Image.open(root / "images" / files[a["image_id"]]) as im:
                side, cx, cy = max(w, h), x + w / 2, y + h / 2
                crop = im.convert("RGB").crop((cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
                crops.append((crop.resize((32, 32), Image.Resampling.BICUBIC), COCO_TO_CIFAR[name]))
    assert len(crops) >= 40
    return crops


@pytest.mark.parametrize("name", ["cifar_resnet20", "cifar_resnet32", "cifar_resnet44", "cifar_resnet56"])
def test_cifar_resnets_load_the_published_checkpoints_strictly_and_classify_real_photos(name, cifar_crops, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_WEIGHTS_DIR", str(shared_path("weights")))
    from cnn_demo import weights

    raw = weights.load_file(weights.resolve(name))
    fresh = models.CifarResNet(int(name[-2:]))
    assert str(fresh.load_state_dict(raw, strict=True)) == "<All keys matched successfully>"
    model = models.create(name)
    tf = models.transform(models.data_config(model))
    x = torch.stack([tf(img) for img, _ in cifar_crops])
    with torch.no_grad():
        pred = model(x).argmax(1).tolist()
    labels = [models.CIFAR10_CLASSES.index(lbl) for _, lbl in cifar_crops]
    accuracy = sum(p == t for p, t in zip(pred, labels, strict=True)) / len(labels)
    assert accuracy >= 0.45, f"{name}: {accuracy:.0%} on {len(labels)} COCO crops (chance 10%)"
    if name != "cifar_resnet20":
        return
    # an untrained network is near chance on the same crops
    with torch.no_grad():
        rand = models.create(name, pretrained=False)(x).argmax(1).tolist()
    assert sum(p == t for p, t in zip(rand, labels, strict=True)) / len(labels) < accuracy - 0.2


def test_option_a_shortcut_pads_zero_channels():
    block = models.cifar.BasicBlock(16, 32, stride=2)
    x = torch.randn(1, 16, 8, 8)
    out = block.shortcut(x)
    assert out.shape == (1, 32, 4, 4)
    torch.testing.assert_close(out[:, 8:24], x[:, :, ::2, ::2])
    assert out[:, :8].abs().sum() == 0 and out[:, 24:].abs().sum() == 0
    assert re.search(r"extra_channels=16", str(block))


# ---- explain: filters, activation maps, Grad-CAM ----------------------------------------------------------


def test_activation_maps_are_the_layer_outputs_and_survive_inplace_relu():
    from cnn_demo.models import explain

    torch.manual_seed(0)
    model = models.create("alexnet", pretrained=False)  # features.0 is followed by ReLU(inplace=True)
    x = torch.randn(1, 3, 96, 96)
    maps = explain.activation_maps(model, x, "features.0")
    with torch.no_grad():
        expected = model.features[0](x)[0].numpy()
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-5)
    assert (maps < 0).any(), "captured after the in-place ReLU"
    assert explain.conv_layers(model)[:2] == ["features.0", "features.3"]
    np.testing.assert_array_equal(explain.first_layer_filters(model), model.features[0].weight.detach().numpy())
    with pytest.raises(InputError, match="no layer called"):
        explain.activation_maps(model, x, "features.99")
    assert not model._forward_hooks and not model.features[0]._forward_hooks


def test_grad_cam_equals_a_hand_written_reference_and_leaves_the_model_alone():
    from cnn_demo.models import explain

    torch.manual_seed(0)
    model = models.create("cifar_resnet20", pretrained=False)
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn(1, 3, 32, 32)
    cam = explain.grad_cam(model, x, "layer3", class_index=3)
    # reference: run the network by hand, differentiate the class score w.r.t. layer3's output
    a = model.layer3(model.layer2(model.layer1(model.relu(model.bn1(model.conv1(x))))))
    a = a.detach().requires_grad_(True)
    score = model.linear(model.flatten(model.avgpool(a)))[0, 3]
    (g,) = torch.autograd.grad(score, a)
    ref = torch.relu((g[0].mean(dim=(1, 2)).view(-1, 1, 1) * a[0]).sum(0))
    ref = (ref / ref.max()).detach().numpy()
    np.testing.assert_allclose(cam, ref, rtol=1e-4, atol=1e-5)
    assert cam.shape == (8, 8) and cam.max() == pytest.approx(1.0)
    assert all(p.grad is None for p in model.parameters())
    assert explain.default_gradcam_layer(model, (3, 32, 32)) == "layer3"
    over = explain.overlay(np.zeros((32, 32, 3), np.uint8), cam)
    assert over.shape == (32, 32, 3) and over.dtype == np.uint8


def test_filters_and_maps_for_display():
    from cnn_demo.models import explain

    w = np.zeros((2, 3, 3, 3))
    w[0, 0] = 1.0  # a pure red filter
    img = explain.filters_as_images(w)
    assert img.shape == (2, 3, 3, 3) and tuple(img[0, 0, 0]) == (255, 128, 128) and (img[1] == 128).all()
    grid = explain.tile_maps(np.arange(2 * 4 * 4, dtype=float).reshape(2, 4, 4), columns=2)
    assert grid.shape == (4, 9) and np.isnan(grid[:, 4]).all() and grid[0, 0] == 0 and grid[3, 8] == 255
    assert not np.isnan(grid[:, :4]).any()  # gaps are blank, never a value (255 is yellow: a strong response)


def test_predictions_of_a_pretrained_cifar_net_on_a_real_crop(cifar_crops, monkeypatch):
    from cnn_demo.models import explain

    monkeypatch.setenv("CNN_DEMO_WEIGHTS_DIR", str(shared_path("weights")))
    model = models.create("cifar_resnet56")
    cfg = models.data_config(model)
    hits = 0
    for img, label in cifar_crops[:12]:
        batch = explain.preprocess(img, cfg)
        preds = explain.predict(model, batch, models.class_names("cifar_resnet56"), top=3)
        assert preds[0].probability >= preds[1].probability >= preds[2].probability
        hits += label in [p.label for p in preds]
    assert hits >= 8  # top-3 accuracy on real photos, chance is 30%
    view = explain.model_view(batch, cfg)
    assert view.shape == (32, 32, 3) and view.dtype == np.uint8


# ---- conv layer report and model inspector --------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "weight", "params", "out"),
    [
        ((3, 5, 3, 1, 1), (5, 3, 3, 3), 140, (1, 5, 32, 32)),  # the lecture's example
        ((16, 32, 5, 2, 0, 1, 4, False), (32, 4, 5, 5), 3200, (1, 32, 14, 14)),
        ((8, 8, 3, 1, 2, 2, 8), (8, 1, 3, 3), 80, (1, 8, 32, 32)),
    ],
)
def test_conv2d_report_matches_pytorch(args, weight, params, out):
    from cnn_demo.blocks.layers import conv2d_report

    r = conv2d_report(*args)
    layer = nn.Conv2d(*args[:3], *args[3:])
    assert r.weight_shape == weight == tuple(layer.weight.shape)
    assert r.formula_params == r.torch_params == params == sum(p.numel() for p in layer.parameters())
    assert r.output_shape == out == tuple(layer(torch.zeros(1, args[0], 32, 32)).shape)
    with pytest.raises(InputError):
        conv2d_report(3, 5, 9, input_hw=(4, 4))


def test_model_report_for_alexnet():
    from cnn_demo.models.inspector import model_report

    r = model_report("alexnet")
    assert r.summary.total_params == ALEXNET_PARAMS
    assert r.head == "classifier.6" and r.num_features == 4096 and r.head_params == 4096 * 1000 + 1000
    assert r.backbone_params == ALEXNET_PARAMS - r.head_params
    assert r.stage_names == ("features.0", "features.3", "features.6", "features.8", "features.10", "classifier[:6]")
    assert r.printed.startswith("AlexNet(")
    # The lecture's backbone/head split is features/classifier, not "everything but classifier.6".
    assert (r.classifier, r.feature_blocks) == ("classifier", ("features", "avgpool"))
    with torch.device("meta"):
        import torchvision

        net = torchvision.models.alexnet()
    assert r.feature_params == sum(p.numel() for p in net.features.parameters()) == 2_469_696
    assert r.classifier_params == sum(p.numel() for p in net.classifier.parameters()) == 58_631_144
    assert r.classifier_in_features == 9216
    small = model_report("alexnet", (3, 128, 128))
    assert small.summary.total_params == ALEXNET_PARAMS and small.summary.total_macs < r.summary.total_macs


@pytest.mark.parametrize(
    ("name", "blocks", "kinds"),
    [
        (
            "tf_efficientnet_lite0",
            [("DepthwiseSeparableConv", 1, "blocks.0.0"), ("InvertedResidual", 15, "blocks.1.0")],
            {"pointwise 1×1": 32, "depthwise 5×5": 9, "depthwise 3×3": 7},
        ),
        ("mobilenet_v2", [("InvertedResidual", 17, "features.1")], {"pointwise 1×1": 34, "depthwise 3×3": 17}),
        ("cifar_resnet20", [("BasicBlock", 9, "layer1.0")], {}),
        ("alexnet", [], {}),
    ],
)
def test_model_report_names_the_building_blocks_and_depthwise_convolutions(name, blocks, kinds):
    """Counted against the modules themselves: a depthwise conv has groups == in_channels (one filter per channel)."""
    from cnn_demo.models.inspector import model_report

    r = model_report(name)
    assert [(b.type, b.count, b.first) for b in r.blocks] == blocks
    assert dict(r.conv_kind_counts()) == kinds
    with torch.device("meta"):
        net = models.create(name, pretrained=False)
    convs = {n for n, m in net.named_modules() if isinstance(m, nn.Conv2d)}
    assert set(r.conv_kinds) == convs  # every convolution has a kind: the conv column is never blank for one
    for layer, kind in r.conv_kinds.items():
        conv = net.get_submodule(layer)
        depthwise = conv.groups == conv.in_channels == conv.out_channels > 1
        assert kind.startswith("depthwise") == depthwise and (kind == "pointwise 1×1") == (conv.kernel_size == (1, 1))
        assert kind.startswith("standard") == (conv.groups == 1 and conv.kernel_size != (1, 1))
    types = {type(m).__name__ for m in net.modules()}
    assert {b.type for b in r.blocks} <= types
    rows = r.records()
    assert [k for k in rows[0]] == ["name", "type", "conv", "output_shape", "params", "macs"]
    assert {row["name"]: row["conv"] for row in rows if row["conv"]} == r.conv_kinds
    assert all(b.note for b in r.blocks)


def test_conv_motivation_numbers_and_checks():
    from cnn_demo.blocks.layers import conv_motivation

    m = conv_motivation(3, 5, 3, padding=1)
    assert m.conv_params == 140
    assert m.dense_params == (3 * 32 * 32) * (5 * 32 * 32) + 5 * 32 * 32
    assert (m.inputs_per_output, m.dense_inputs_per_output) == (27, 3072)
    assert m.unfold_shape == (27, 1024) and m.weight_matrix_shape == (5, 27)
    assert m.matmul_max_error < 1e-4 and m.shift_max_error < 1e-4
    g = conv_motivation(16, 32, 5, stride=2, groups=4, input_hw=(40, 30))
    assert g.inputs_per_output == 4 * 25 and g.shift == 2 and g.matmul_max_error < 1e-4 and g.shift_max_error < 1e-4
    big = conv_motivation(2048, 2048, 3, padding=1)
    assert big.matmul_max_error is None and big.conv_params == 2048 * 2048 * 9 + 2048


def test_a_too_small_input_names_the_layer_where_the_feature_map_runs_out():
    from cnn_demo.models.inspector import model_report, smallest_input_side

    with pytest.raises(InputError) as err:
        model_report("alexnet", (3, 32, 32))
    msg = str(err.value)
    assert "`features.12` (MaxPool2d)" in msg and "1×1 after `features.5`" in msg
    import torchvision

    net = torchvision.models.alexnet().eval()
    with torch.no_grad():
        net(torch.zeros(1, 3, 63, 63))  # the smallest square input it names does run in PyTorch …
        with pytest.raises(RuntimeError, match="too small"):
            net(torch.zeros(1, 3, 62, 62))  # … and one pixel less does not
    with torch.device("meta"):
        assert smallest_input_side(models.create("alexnet", pretrained=False), 3) == 63


@pytest.mark.parametrize("name", ["resnet18", "timm/efficientnet_b0.ra_in1k", "cifar_resnet20"])
def test_input_tensor_is_the_models_own_preprocessing_step_by_step(name):
    from PIL import Image

    from cnn_demo.io.samples import load_sample

    img = load_sample("chelsea")
    cfg = models.data_config(name)
    t = models.input_tensor(img, cfg)
    want = models.transform(cfg)(img).numpy()
    np.testing.assert_array_equal(t.tensor, want)
    assert t.batch_shape == (1, *cfg.input_size) and t.chw_shape == (3, img.height, img.width)
    assert t.image_shape == (img.height, img.width, 3)
    # resize + crop by hand, then /255 and (x − mean)/std: the same numbers
    size = cfg.input_size[1:]
    crop = models.transform(models.DataConfig(cfg.input_size, (0.0,) * 3, (1.0,) * 3, cfg.interpolation, cfg.crop_pct))
    raw = crop(img).numpy()  # resized, cropped, /255, nothing else
    mean, std = np.array(cfg.mean)[:, None, None], np.array(cfg.std)[:, None, None]
    np.testing.assert_allclose(t.tensor, (raw - mean) / std, rtol=1e-5, atol=1e-5)
    assert raw.shape[1:] == size
    for k, c in enumerate(t.channels):
        assert (c.mean, c.std) == (cfg.mean[k], cfg.std[k])
        assert c.lo == pytest.approx(-cfg.mean[k] / cfg.std[k]) and c.hi == pytest.approx(
            (1 - cfg.mean[k]) / cfg.std[k]
        )
        assert c.lo - 1e-5 <= c.image_min <= c.image_max <= c.hi + 1e-5
        assert (c.image_min, c.image_max) == (float(want[k].min()), float(want[k].max()))
    scaled, normed = t.pixel(255, 0)
    assert scaled == 1.0 and normed == pytest.approx(t.channels[0].hi)
    gray = models.input_tensor(np.asarray(img.convert("L"), dtype=float), cfg)  # arrays work too; gray → RGB
    assert gray.chw_shape == (1, img.height, img.width) and gray.tensor.shape == tuple(cfg.input_size)
    np.testing.assert_array_equal(gray.tensor, models.transform(cfg)(Image.fromarray(np.asarray(img.convert("L")))))


def test_input_tensor_mean_std_come_from_the_published_weights():
    import timm
    from torchvision.models import ResNet18_Weights

    t = ResNet18_Weights.DEFAULT.transforms()
    assert models.data_config("resnet18").mean == tuple(t.mean) and models.data_config("resnet18").std == tuple(t.std)
    tcfg = timm.models.get_pretrained_cfg("efficientnet_b0.ra_in1k")
    assert models.data_config("timm/efficientnet_b0.ra_in1k").std == tuple(tcfg.std)
