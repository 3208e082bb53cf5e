"""AppTests of the building-block and model pages: change widgets, check what is displayed."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from tests.conftest import app_test, assert_no_exception, shared_path, shown_errors

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _text(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [c.value for c in at.code]
    parts += [s.value for s in at.success] + [w.value for w in at.warning] + shown_errors(at)
    return "\n".join(parts)


def _charts(at) -> list[dict]:
    """The plotly figures on the page, as their JSON specs."""
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


def _titles(at) -> list[str]:
    return [(c["layout"].get("title") or {}).get("text", "") for c in _charts(at)]


def test_pooling_page_reproduces_the_lecture_and_follows_the_settings():
    at = app_test("app_pages/blocks/pooling.py")
    assert_no_exception(at)
    assert "nn.MaxPool2d` gives the same 3×3 output" in at.success[0].value
    assert "2.2577, 2.2577, 1.3515" in _text(at)  # the slide's first output row
    at.radio(key="pooling_kind").set_value("avg").run()
    at.number_input(key="pooling_stride").set_value(2).run()
    assert_no_exception(at)
    assert "nn.AvgPool2d` gives the same 2×2 output" in at.success[0].value
    assert "kernel_size=2, stride=2" in _text(at)
    at.select_slider(key="pooling_cell").set_value(3).run()
    # window (1, 1) of the lecture matrix with stride 2: rows 2-3, columns 2-3
    mean = (0.3734 - 0.6688 - 2.4215 + 0.4078) / 4
    assert f"= **{mean:.4f}**" in _text(at)
    at.text_area(key="pooling_matrix").set_value("1 2\n3").run()
    assert_no_exception(at)
    assert "same number of values" in shown_errors(at)[0]


def test_pooling_page_pools_a_picture():
    at = app_test("app_pages/blocks/pooling.py")
    at.select_slider(key="pooling_img_kernel").set_value(4).run()
    assert_no_exception(at)
    assert "max pooled 64×64" in _titles(at)
    assert "65,536 pixels → 4,096 values" in _text(at)
    labels = [m.label for m in at.metric]
    assert "Mean change after max pooling" in labels


def test_adaptive_pooling_page_flags_where_the_rule_and_torch_differ():
    at = app_test("app_pages/blocks/adaptive_pooling.py")
    assert_no_exception(at)
    text = _text(at)
    assert "tensor([[1.0000, 1.0000, 1.5000, 2.0000, 2.0000, 2.5000, 3.0000, 3.0000]])" in text
    assert "upsample by ⌈8/3⌉ = **3**" in text and at.success, "the rule agrees for the first lecture example"
    at.button(key="adaptive_pooling_ex_max10").click().run()
    assert_no_exception(at)
    assert "tensor([[1.0000, 1.0000, 1.0000, 2.0000, 2.0000, 2.0000, 3.0000, 3.0000, 3.0000, 3.0000]])" in _text(at)
    # Windows differ at 2 and 7; on [1, 2, 3] only position 2's value differs (PyTorch 1, the rule 2).
    import torch
    import torch.nn.functional as F

    from cnn_demo.blocks import pooling

    torch_max = F.adaptive_max_pool1d(torch.tensor([[1.0, 2.0, 3.0]]), 10)[0].numpy()
    rule_max = pooling.lecture_pool1d([1.0, 2.0, 3.0], 10, "max")
    assert list(np.flatnonzero(torch_max != rule_max)) == [2]
    assert "**different windows** at output position(s) 2, 7" in _text(at)
    assert "the **values** differ at position(s) 2 only" in _text(at)
    table = at.dataframe[0].value
    assert list(table["same window"] == "✓") == [i not in (2, 7) for i in range(10)]
    assert list(table["same value"] == "✓") == [i != 2 for i in range(10)]
    at.button(key="adaptive_pooling_ex_ten_to_four").click().run()
    assert "**different windows** at output position(s) 0, 1, 2, 3" in _text(at)
    table = at.dataframe[0].value
    assert list(table["PyTorch window"]) == ["x[0:3]", "x[2:5]", "x[5:8]", "x[7:10]"]
    at.text_input(key="adaptive_pooling_values").set_value("1, 2, x").run()
    assert "'x' is not a number" in shown_errors(at)[0]
    at.number_input(key="adaptive_pooling_w_out").set_value(5).run()
    assert_no_exception(at)


def test_conv_layer_page_counts_parameters():
    at = app_test("app_pages/blocks/conv_layer.py")
    assert_no_exception(at)
    assert "torch.Size([5, 3, 3, 3])" in _text(at) and "torch.Size([5])" in _text(at)
    assert [m.value for m in at.metric][:2] == ["140", "140"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parameters: a dense layer"] == "15,733,760"  # not "… param…"
    assert metrics["Inputs read by one output"] == "27 of 3,072"
    at.number_input(key="conv_layer_in").set_value(2048).run()
    at.number_input(key="conv_layer_out").set_value(2048).run()
    at.number_input(key="conv_layer_h").set_value(1024).run()
    at.number_input(key="conv_layer_w").set_value(1024).run()
    assert_no_exception(at)
    huge = {m.label: m.value for m in at.metric}
    assert huge["Parameters: a dense layer"] == "4.61 × 10¹⁸"  # (2048 · 1024²)² weights
    assert all(len(m.value) <= 14 for m in at.metric), [m.value for m in at.metric]  # a third of the page holds 14
    for key, value in (("conv_layer_in", 3), ("conv_layer_out", 5), ("conv_layer_h", 32), ("conv_layer_w", 32)):
        at.number_input(key=key).set_value(value).run()
    assert "the matrix product equals `F.conv2d`" in _text(at)
    at.number_input(key="conv_layer_in").set_value(64).run()
    at.number_input(key="conv_layer_out").set_value(128).run()
    at.number_input(key="conv_layer_groups").set_value(4).run()
    at.toggle(key="conv_layer_bias").set_value(False).run()
    assert_no_exception(at)
    assert [m.value for m in at.metric][:2] == ["18,432", "18,432"]  # 64/4 · 128 · 9
    at.number_input(key="conv_layer_groups").set_value(3).run()
    assert "groups=3 must divide" in shown_errors(at)[0]
    assert len(shown_errors(at)) == 1, shown_errors(at)  # once, not once per section
    at.number_input(key="conv_layer_groups").set_value(1).run()
    at.number_input(key="conv_layer_in").set_value(3).run()
    at.number_input(key="conv_layer_groups").set_value(2).run()
    assert len(shown_errors(at)) == 1 and "groups=2" in shown_errors(at)[0], shown_errors(at)


def _linked_view(at) -> dict:
    """The data the page gave its linked view (a custom component: AppTest sees its JSON, not its drawing)."""
    (view,) = [c for c in at.get("bidi_component") if c.proto.component_name == "cnn_demo_linked_conv"]
    return json.loads(view.proto.json)


def test_conv_layer_page_traces_one_output_back_to_its_window():
    from cnn_demo.blocks.layers import conv_example

    at = app_test("app_pages/blocks/conv_layer.py")
    assert_no_exception(at)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    titles = [c.get("layout", {}).get("title", {}).get("text", "") for c in charts]
    cw = conv_example(3, 3, 1, 1, 1, 1, True, (32, 32)).windows
    view = _linked_view(at)
    assert view["title"] == f"Output row 0, col 0 = Σ window × kernel + bias = {cw.value(0, 0):.6g}"
    assert [g["label"] for g in view["kernels"]] == [f"Filter 0, channel {c}" for c in range(3)]
    assert view["inputs"][0]["bg"][0] == "#f7fbff"  # Blues from 0 to 9: the padding
    assert view["traces"][2 * 7 + 3]["lines"][-1] == f"= {cw.value(2, 3):.6g}"
    assert f"Σ products + bias {cw.bias:.4g} = {cw.value(0, 0):.6g}" in titles
    assert any("`F.conv2d` on the same numbers gives exactly this output." in s.value for s in at.success)
    at.session_state["conv_layer_cell"] = (6, 5)  # what a click on that output cell stores
    at.number_input(key="conv_layer_stride").set_value(2).run()  # 4×4 output: the cell is clamped to (3, 3)
    assert_no_exception(at)
    cw = conv_example(3, 3, 2, 1, 1, 1, True, (32, 32)).windows
    assert _linked_view(at)["title"] == f"Output row 3, col 3 = Σ window × kernel + bias = {cw.value(3, 3):.6g}"
    assert _linked_view(at)["selected"] == [3, 3]
    at.number_input(key="conv_layer_kernel").set_value(15).run()
    at.number_input(key="conv_layer_dilation").set_value(6).run()
    at.number_input(key="conv_layer_h").set_value(128).run()
    at.number_input(key="conv_layer_w").set_value(128).run()
    assert_no_exception(at)
    assert any("The traced example draws inputs up to" in i.value for i in at.info)


def test_model_inspector_shows_the_table_and_alexnet_totals():
    at = app_test("app_pages/models/inspector.py")
    assert_no_exception(at)
    assert at.metric[0].value == "72,042"  # MyConvNet
    table = at.dataframe[0].value
    assert list(table["name"])[:3] == ["feature.0", "feature.1", "feature.2"]
    assert list(table["output_shape"])[-1] == "1×10"
    at.selectbox(key="model_inspector_model").set_value("alexnet").run()
    assert_no_exception(at)
    assert at.metric[0].value == "61,100,840"
    text = _text(at)
    # The lecture's split: features (conv layers) is the backbone, classifier (the fully connected layers) the head.
    assert "**Backbone** (feature extraction): `features`, `avgpool`, 2,469,696 parameters" in text
    assert "**Head** (classification): `classifier`, 58,631,144 parameters" in text
    assert "9,216-number feature vector into 1000 class scores" in text
    assert "only the head's last layer, `classifier.6` (4,097,000 parameters)" in text
    assert "AlexNet(\n  (features): Sequential(" in at.code[0].value
    at.number_input(key="model_inspector_h_alexnet").set_value(32).run()
    assert_no_exception(at)
    error = shown_errors(at)[0]  # 32 rows shrink to nothing before the last pooling
    assert "cannot take a 3×32×224 input" in error
    assert "1×13 feature map (256 channels) is smaller than the 3×3 window of `features.12` (MaxPool2d)" in error
    assert "Height and width must each be at least 63 pixels" in error
    assert "Output size is too small" not in error  # PyTorch's raw message
    at.number_input(key="model_inspector_w_alexnet").set_value(32).run()  # the 32×32
    error = shown_errors(at)[0]
    assert "cannot take a 3×32×32 input" in error and "`features.12` (MaxPool2d)" in error
    assert "at least 63 pixels" in error and "Output size is too small" not in error


def test_model_inspector_shows_efficientnet_lite0_blocks():
    """The default backbone's depthwise-separable and inverted-residual (MBConv) blocks, like any other model."""
    at = app_test("app_pages/models/inspector.py")
    at.selectbox(key="model_inspector_model").set_value("tf_efficientnet_lite0").run()
    assert_no_exception(at)
    assert at.metric[0].value == "4,652,008" and at.metric[1].value == "385.2 M"
    assert "**Head** (classification): `classifier`" in _text(at) and "turns the 1,280-number feature" in _text(at)
    assert all(f"`blocks.{i}`" in _text(at) for i in range(7))
    table = at.dataframe[0].value.set_index("name")
    # blocks.1.0: 1×1 expansion to 96 channels, then a 3×3 depthwise conv (one 3×3 filter per channel: 96·9 weights)
    assert table.loc["blocks.1.0.conv_pw", "params"] == 16 * 96
    assert table.loc["blocks.1.0.conv_dw", "params"] == 96 * 9
    assert table.loc["blocks.1.0.conv_dw", "output_shape"] == "1×96×56×56"
    printed = at.code[0].value
    assert "DepthwiseSeparableConv(" in printed and "InvertedResidual(" in printed
    # named on the page itself, not only in the printed module
    text = _text(at)
    assert "1 × `DepthwiseSeparableConv` (the first: `blocks.0.0`), 15 × `InvertedResidual`" in text
    assert "a depthwise k×k convolution (one filter per channel) then a pointwise 1×1" in text
    assert "32 pointwise 1×1, 9 depthwise 5×5, 7 depthwise 3×3" in text
    assert table.loc["blocks.1.0.conv_dw", "conv"] == "depthwise 3×3"
    assert table.loc["blocks.1.0.conv_pw", "conv"] == "pointwise 1×1"


def test_model_inspector_shows_mobilenet_v2_inverted_residuals():
    at = app_test("app_pages/models/inspector.py")
    at.selectbox(key="model_inspector_model").set_value("mobilenet_v2").run()
    assert_no_exception(at)
    assert at.metric[0].value == "3,504,872"
    text = _text(at)
    assert "**Building blocks**: 17 × `InvertedResidual` (the first: `features.1`)." in text
    assert "MobileNetV2's inverted residual with a linear bottleneck" in text
    assert "34 pointwise 1×1, 17 depthwise 3×3" in text
    table = at.dataframe[0].value.set_index("name")
    # features.2: 1×1 expansion 16 → 96, depthwise 3×3 (96·9 weights), 1×1 projection 96 → 24
    assert table.loc["features.2.conv.0.0", "conv"] == "pointwise 1×1"
    assert table.loc["features.2.conv.1.0", "conv"] == "depthwise 3×3"
    assert table.loc["features.2.conv.1.0", "params"] == 96 * 9
    assert table.loc["features.0.0", "conv"] == "standard 3×3"  # the stem: an ordinary 3×3 convolution
    at.selectbox(key="model_inspector_model").set_value("alexnet").run()
    assert "Building blocks" not in _text(at) and "depthwise" not in _text(at)
    # No depthwise layers: the conv column still names every convolution (it was empty for AlexNet).
    table = at.dataframe[0].value.set_index("name")
    assert table.loc["features.0", "conv"] == "standard 11×11" and table.loc["features.3", "conv"] == "standard 5×5"
    assert (table[table["type"] == "Conv2d"]["conv"] != "").all() and (
        table[table["type"] != "Conv2d"]["conv"] == ""
    ).all()
    assert "All 5 convolutions are **standard**" in _text(at)


def test_feature_maps_page_with_random_weights_is_labelled_untrained(monkeypatch, tmp_path):
    monkeypatch.setenv("CNN_DEMO_WEIGHTS_DIR", str(tmp_path))
    at = app_test("app_pages/models/feature_maps.py")
    assert_no_exception(at)
    assert not at.warning  # the default model's ImageNet weights come with set-up, whatever the weights folder
    at.selectbox(key="feature_maps_model").set_value("cifar_resnet20").run()
    assert_no_exception(at)
    warning = at.warning[0].value
    assert "Untrained" in warning and "resnet20-12fca82f.th" in warning and str(tmp_path) in warning
    # the same badge as the detection and segmentation pages: the command that fetches the weights
    assert any("python -m cnn_demo weights fetch cifar_resnet20" in c.value for c in at.code)


@pytest.mark.parametrize("model", ["cifar_resnet20", "myconvnet"])
def test_feature_maps_page_runs_a_picture_through_the_model(model, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_WEIGHTS_DIR", str(shared_path("weights")))
    at = app_test("app_pages/models/feature_maps.py")
    at.selectbox(key="feature_maps_model").set_value(model).run()
    assert_no_exception(at)
    preds = at.dataframe[0].value
    assert len(preds) == 5 and preds["probability"].is_monotonic_decreasing
    if model == "cifar_resnet20":
        assert not at.warning, "pretrained weights were found"
        assert preds["class"].iloc[0] == "cat"  # Chelsea the cat
        assert "This network knows 10 classes and sees 32×32 pixels." in [c.value for c in at.caption]
        assert "3×3×3 weights" in _text(at) and "16 filters" in _text(at)
        at.selectbox(key="feature_maps_layer_cifar_resnet20").set_value("layer2.0.conv1").run()
        assert "outputs 32 maps of 16×16" in _text(at)
        (maps,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if "feature_maps_maps" in c.proto.id]
        z = maps["data"][0]["z"]
        grid = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(*map(int, z["shape"].split(",")))
        gaps = np.isnan(grid).all(axis=0)  # the one-pixel lines between tiles: blank, never 255 (yellow = strong)
        assert gaps.sum() == 7 and np.flatnonzero(gaps).tolist() == [16 + 17 * i for i in range(7)]
        assert np.nanmax(grid) == 255 and maps["data"][0]["colorscale"][-1][1] == "#fde725"  # Viridis' top is yellow
        at.selectbox(key="feature_maps_class_cifar_resnet20_3").set_value(5).run()
        assert_no_exception(at)
        titles = _titles(at)
        assert "Grad-CAM for “dog”" in titles and "At layer3's resolution: 8×8" in titles
        z = _charts(at)[titles.index("At layer3's resolution: 8×8")]["data"][0]["z"]
        cam = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(8, 8)
        assert z["shape"] == "8, 8" and cam.max() == pytest.approx(1.0) and cam.min() >= 0
    else:
        assert "Untrained" in at.warning[0].value and "no published weights" in at.warning[0].value


def test_feature_maps_page_computes_each_result_once(monkeypatch):
    """Changing the Grad-CAM class reruns only Grad-CAM; reopening the page recomputes nothing."""
    import streamlit as st

    from cnn_demo.models import explain

    calls: dict[str, int] = {"predict": 0, "activation_maps": 0, "grad_cam": 0}
    for fn in calls:
        original = getattr(explain, fn)

        def counted(*args, _fn=fn, _original=original, **kwargs):
            calls[_fn] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(explain, fn, counted)
    monkeypatch.setenv("CNN_DEMO_WEIGHTS_DIR", str(shared_path("weights")))
    st.cache_data.clear()
    at = app_test("app_pages/models/feature_maps.py")
    assert_no_exception(at)
    assert calls == {"predict": 1, "activation_maps": 1, "grad_cam": 1}
    class_box = next(b for b in at.selectbox if str(b.key).startswith("feature_maps_class_"))
    at.selectbox(key=class_box.key).set_value(5).run()
    assert_no_exception(at)
    assert calls == {"predict": 1, "activation_maps": 1, "grad_cam": 2}
    again = app_test("app_pages/models/feature_maps.py")  # another user opening the same page with the same picture
    assert_no_exception(again)
    assert calls == {"predict": 1, "activation_maps": 1, "grad_cam": 2}


@pytest.mark.pretrained
def test_feature_maps_page_opens_on_efficientnet_lite0_with_imagenet_names(fresh_install):
    """A fresh install (no weights folder): real ImageNet weights, the top-5 by ImageNet name, Grad-CAM on the cat."""
    from cnn_demo import models
    from tests.conftest import assert_weights_from_set_up

    assert_weights_from_set_up(models.DEFAULT_MODEL)
    at = app_test("app_pages/models/feature_maps.py")
    assert_no_exception(at)
    assert at.selectbox(key="feature_maps_model").value == models.DEFAULT_MODEL == "tf_efficientnet_lite0"
    assert not at.warning and "tf_efficientnet_lite0 (pretrained)" in _text(at)
    preds = at.dataframe[0].value
    imagenet = models.class_names("tf_efficientnet_lite0")
    assert len(imagenet) == 1000 and list(preds["class"]) == [p for p in preds["class"] if p in imagenet]
    assert preds["class"].iloc[0] in imagenet[281:286]  # Chelsea is a tabby / tiger / Egyptian cat
    assert "What the model sees: 224×224" in _titles(at)
    assert any(t.startswith("Grad-CAM for “") and "cat" in t for t in _titles(at))
    # a student's own photo (a JPEG of the tutorial's bees): ImageNet's "bee" first among five ImageNet names
    photo = shared_path("hymenoptera_data", "val", "bees", "10870992_eebeeb3a12.jpg")
    at.radio(key="feature_maps_source").set_value("Upload").run()
    at.file_uploader(key="feature_maps_upload").set_value(("my_bee.jpg", photo.read_bytes(), "image/jpeg")).run()
    assert_no_exception(at)
    preds = at.dataframe[0].value
    assert len(preds) == 5 and set(preds["class"]) <= set(imagenet) and preds["class"].iloc[0] == imagenet[309] == "bee"
    assert "Grad-CAM for “bee”" in " ".join(_titles(at))


@pytest.mark.browser
def test_model_pages_in_a_real_browser(app_server, browser):
    """The inspector on AlexNet and the feature-map page, as a student sees them (screenshots in test-artifacts/)."""
    from tests.browser_helpers import exception_texts, screenshot, wait_idle

    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(app_server)
    wait_idle(page)
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.get_by_role("link", name="Model inspector", exact=True).click()
    wait_idle(page)
    page.get_by_text("72,042", exact=True).wait_for(timeout=60_000)
    page.locator('[data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name=re.compile(r"^alexnet")).click()
    page.get_by_text("61,100,840", exact=True).wait_for(timeout=60_000)
    wait_idle(page)
    assert not exception_texts(page)
    screenshot(page, "model-inspector-alexnet")
    nav.get_by_role("link", name="Feature maps & Grad-CAM", exact=True).click()
    wait_idle(page)
    page.get_by_text("Grad-CAM for", exact=False).first.wait_for(timeout=90_000)
    wait_idle(page)
    assert not exception_texts(page)
    screenshot(page, "feature-maps")
    ctx.close()


def test_feature_maps_page_shows_the_centre_crop_of_an_upload_and_its_real_size(monkeypatch):
    import io

    from PIL import Image

    from cnn_demo.models import data_config, explain

    monkeypatch.setenv("CNN_DEMO_WEIGHTS_DIR", str(shared_path("weights")))
    buf = io.BytesIO()
    Image.new("RGB", (640, 400), (30, 120, 200)).save(buf, "PNG")
    at = app_test("app_pages/models/feature_maps.py")
    at.selectbox(key="feature_maps_model").set_value("cifar_resnet20").run()
    at.radio(key="feature_maps_source").set_value("Upload").run()
    at.file_uploader(key="feature_maps_upload").set_value(("wide.png", buf.getvalue(), "image/png")).run()
    assert_no_exception(at)
    captions = " ".join(c.value for c in at.caption)
    assert "Uploaded wide\\.png: 640×400 pixels, shrunk to 512×320 for this page." in captions  # name escaped
    left, top, right, bottom = explain.crop_box((512, 320), data_config("cifar_resnet20"))
    assert (round(left), top, round(right), bottom) == (100, 0, 422, 320)
    assert f"x {left:.0f} … {right:.0f}, y 0 … 320 of your picture) is cut off" in captions
    assert "Your 512×320 picture: the model sees the box" in _titles(at)
    # The layer name is shown as code, not with markdown escapes inside the code span.
    # The layer name is code: no markdown escapes inside the code span (they would show as `layer3\\.2\\.conv2`).
    at.selectbox(key="feature_maps_layer_cifar_resnet20").set_value("layer3.2.conv2").run()
    assert any(c.value.startswith("`layer3.2.conv2` outputs 64 maps of 8×8") for c in at.caption)


def test_crop_box_matches_torchvisions_centre_crop():
    from PIL import Image

    from cnn_demo.models import data_config, explain

    cases = [("cifar_resnet20", (640, 400), True), ("resnet18", (400, 640), True), ("resnet18", (300, 300), True)]
    for name, size, cropped in [*cases, ("cifar_resnet20", (300, 300), False)]:
        cfg = data_config(name)
        w, h = size
        ramp = np.zeros((h, w, 3), np.uint8)
        ramp[..., 0] = np.linspace(0, 255, w).round()[None, :]
        ramp[..., 1] = np.linspace(0, 255, h).round()[:, None]
        view = explain.model_view(explain.preprocess(Image.fromarray(ramp), cfg), cfg).astype(float)
        left, top, right, bottom = explain.crop_box(size, cfg)
        # The view's first/last columns and rows sample the ramp at the box's edges (to a pixel of the view).
        step_x, step_y = (right - left) / view.shape[1], (bottom - top) / view.shape[0]
        assert abs(view[:, 0, 0].mean() / 255 * (w - 1) - (left + step_x / 2)) < 1.5 * step_x
        assert abs(view[:, -1, 0].mean() / 255 * (w - 1) - (right - step_x / 2)) < 1.5 * step_x
        assert abs(view[0, :, 1].mean() / 255 * (h - 1) - (top + step_y / 2)) < 1.5 * step_y
        assert abs(view[-1, :, 1].mean() / 255 * (h - 1) - (bottom - step_y / 2)) < 1.5 * step_y
        assert explain.crops_away((left, top, right, bottom), size) == cropped


def test_pooling_text_shows_the_padded_zeros_it_adds_up():
    import torch
    import torch.nn.functional as F

    at = app_test("app_pages/blocks/pooling.py")
    at.radio(key="pooling_kind").set_value("avg").run()
    at.number_input(key="pooling_stride").set_value(2).run()
    at.number_input(key="pooling_padding").set_value(1).run()
    at.text_area(key="pooling_matrix").set_value("4 8\n12 16").run()
    at.select_slider(key="pooling_cell").set_value(0).run()
    assert_no_exception(at)
    ref = F.avg_pool2d(torch.tensor([[[4.0, 8.0], [12.0, 16.0]]]), 2, 2, 1)[0, 0, 0].item()  # 4 / 4 = 1
    line = next(m.value for m in at.markdown if m.value.startswith("Output (0, 0)"))
    assert line.startswith(f"Output (0, 0) = (4, 0, 0, 0) summed / 4 = **{ref:.4f}**"), line
    assert "the last 3 zero(s) are padding cells" in line
    at.radio(key="pooling_kind").set_value("max").run()
    line = next(m.value for m in at.markdown if m.value.startswith("Output (0, 0)"))
    assert line.startswith("Output (0, 0) = max(4) = **4.0000**") and "fills with −∞" in line
