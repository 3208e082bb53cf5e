"""cnn_demo.applications.segmentation: equal to bare torchvision, and k-means / SLIC on hand-made pictures."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from cnn_demo import models
from cnn_demo.applications import segmentation as S
from cnn_demo.data.figures import VOC_COLOURS
from cnn_demo.errors import InputError
from cnn_demo.io.samples import load_sample
from cnn_demo.weights import weights_available


def test_segment_equals_bare_torchvision():
    img = load_sample("chelsea", max_side=161)  # 161×107: odd size
    ours = S.segment(img, pretrained=False)
    model = models.create(S.DEFAULT_SEGMENTER, pretrained=False)
    entry = S.segmenter_info(S.DEFAULT_SEGMENTER).weights_entry
    with torch.inference_mode():
        out = model(entry.transforms()(img).unsqueeze(0))["out"]
    assert out.shape[-2:] != (img.height, img.width)  # the network works at another size...
    ref = F.interpolate(out, size=(img.height, img.width), mode="bilinear", align_corners=False).argmax(1)[0]
    assert ours.labels.shape == (img.height, img.width)  # ...the label map comes back at the original size
    np.testing.assert_array_equal(ours.labels, ref.numpy())
    assert ours.class_names == list(entry.meta["categories"]) and ours.class_names[15] == "person"
    assert len(np.unique(ours.labels)) > 1  # seeded random weights still give a non-trivial map
    assert not ours.pretrained


def test_lraspp_builds_and_runs():
    img = np.zeros((64, 80, 3), np.uint8)
    seg = S.run_segmenter(S.build_segmenter("lraspp_mobilenet_v3_large", pretrained=False), img)
    assert seg.labels.shape == (64, 80)
    with pytest.raises(InputError, match="no segmentation model"):
        S.segment(img, "unet9000")


def test_overlay_shares_and_mask_png():
    labels = np.zeros((4, 5), np.uint8)
    labels[:2, :] = 15  # person in the top half (10 pixels), background below
    labels[3, 4] = 8
    img = np.full((4, 5, 3), 100, np.uint8)
    out = S.overlay(img, labels, 0.5)
    assert tuple(out[3, 0]) == (100, 100, 100)  # background stays clear
    np.testing.assert_array_equal(out[0, 0], np.rint((np.array([100, 100, 100]) + VOC_COLOURS[15]) / 2))
    assert tuple(VOC_COLOURS[15]) == (192, 128, 128)  # the official VOC colour of "person"
    shares = S.class_shares(labels, [f"c{i}" for i in range(21)])
    assert [(r["label"], r["pixels"]) for r in shares] == [(15, 10), (0, 9), (8, 1)]
    assert sum(r["share"] for r in shares) == pytest.approx(1.0)
    png = Image.open(io.BytesIO(S.mask_png(labels)))
    assert png.mode == "P"
    np.testing.assert_array_equal(np.asarray(png), labels)
    with pytest.raises(InputError):
        S.overlay(img, labels, 1.5)


def test_kmeans_recovers_flat_regions():
    img = np.zeros((20, 30, 3), np.uint8)
    img[:, 10:20] = (200, 30, 30)
    img[:, 20:] = (250, 250, 250)
    labels = S.kmeans_segment(img, 3)
    expected = np.zeros((20, 30), np.uint8)
    expected[:, 10:20] = 1  # ordered by brightness: black 0, red 1, white 2
    expected[:, 20:] = 2
    np.testing.assert_array_equal(labels, expected)
    # k larger than the number of distinct colours: no empty clusters are invented
    assert S.kmeans_segment(img, 6).max() == 2


def test_kmeans_spatial_weight_splits_a_uniform_image():
    img = np.full((10, 40, 3), 128, np.uint8)
    img[:, :, 0] += np.random.default_rng(0).integers(0, 3, (10, 40)).astype(np.uint8)  # tiny colour noise
    colour_only = S.kmeans_segment(img, 2, spatial_weight=0.0)
    spatial = S.kmeans_segment(img, 2, spatial_weight=5.0)
    # With position, the two clusters are the left and right halves (hand-computed: centres at x = 9.5 and 29.5).
    left = spatial[:, :20]
    right = spatial[:, 20:]
    assert len(np.unique(left)) == 1 and len(np.unique(right)) == 1 and left[0, 0] != right[0, 0]
    # Colour only ignores position: columns mix the two clusters.
    assert len(np.unique(colour_only[:, :20])) == 2
    np.testing.assert_array_equal(S.kmeans_segment(img, 2, 5.0, seed=0), spatial)  # deterministic
    with pytest.raises(InputError):
        S.kmeans_segment(img, 0)
    with pytest.raises(InputError):
        S.kmeans_segment(img, 2, spatial_weight=-1)


def test_kmeans_matches_scipy_on_a_photo():
    from scipy.cluster.vq import kmeans2

    img = np.asarray(load_sample("coffee", max_side=60))
    labels = S.kmeans_segment(img, 4, seed=1)
    x = img.reshape(-1, 3) / 255.0
    # Inertia of our clustering is as good as SciPy's k-means++ (best of 3 seeds), within 2 %.
    centres = np.array([x[labels.ravel() == j].mean(0) for j in range(4)])
    ours = ((x - centres[labels.ravel()]) ** 2).sum()
    best = min(((x - c[lab]) ** 2).sum() for c, lab in (kmeans2(x, 4, minit="++", seed=s, iter=50) for s in range(3)))
    assert ours <= best * 1.02


def test_slic_and_mean_colour():
    img = np.zeros((40, 40, 3), np.uint8)
    img[:, 20:] = 255
    sp = S.slic_segment(img, 4, compactness=1)
    assert sp.shape == (40, 40) and sp.min() == 0
    for region in np.unique(sp):  # no superpixel straddles the black/white edge
        assert len(np.unique(img[sp == region][:, 0])) == 1
    means = S.mean_colour_image(img, sp)
    np.testing.assert_array_equal(means, img)
    drawn = S.boundaries(img, sp)
    assert (drawn == (255, 220, 0)).all(-1).any()


@pytest.mark.pretrained
@pytest.mark.skipif(
    not weights_available(S.segmenter_info(S.DEFAULT_SEGMENTER).weights_entry), reason="VOC weights absent"
)
def test_pretrained_finds_the_cat():
    seg = S.segment(load_sample("chelsea"))
    assert S.class_shares(seg.labels, seg.class_names)[0]["class"] in {"cat", "__background__"}
    assert "cat" in {r["class"] for r in S.class_shares(seg.labels, seg.class_names)}


def test_pretrained_file_with_aux_head_loads(tmp_path, monkeypatch):
    # torchvision's DeepLabV3 files also hold the training-only auxiliary head; the app drops it when loading.
    from torchvision.models import get_model

    info = S.segmenter_info(S.DEFAULT_SEGMENTER)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        full = get_model(info.name, weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    state = full.state_dict()
    assert any(k.startswith("aux_classifier.") for k in state)
    torch.save(state, tmp_path / info.weights_entry.url.rsplit("/", 1)[-1])
    monkeypatch.setenv("CNN_DEMO_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setattr("cnn_demo.weights.lookup.verify", lambda path: True)  # a stand-in file: skip the hash check
    seg = S.build_segmenter(info.name, pretrained=True)
    assert seg.pretrained and "UNTRAINED" not in seg.label
    loaded = seg.model.state_dict()
    for k, v in loaded.items():
        assert torch.equal(v.cpu(), state[k]), k
    assert not any(k.startswith("aux_classifier") for k in loaded)


def test_extreme_strip_is_refused_before_the_network_runs():
    """A 2000×8 strip would be resized to 130,000×520 by the weights' transform: refused with a message."""
    import time

    from PIL import Image

    from cnn_demo.applications.segmentation import segment
    from cnn_demo.errors import InputError

    t0 = time.perf_counter()
    with pytest.raises(InputError, match="130,000 pixels long"):
        segment(Image.new("RGB", (2000, 8)), pretrained=False)
    assert time.perf_counter() - t0 < 30


def test_mask_png_carries_the_untrained_note():
    labels = np.zeros((8, 8), dtype=np.int64)
    labels[2:5, 2:5] = 15
    note = "UNTRAINED network (random weights): python -m cnn_demo weights fetch deeplabv3_mobilenet_v3_large"
    with Image.open(io.BytesIO(S.mask_png(labels, note=note))) as im:
        assert im.text["Comment"] == note and np.array_equal(np.asarray(im), labels)
    with Image.open(io.BytesIO(S.mask_png(labels))) as im:
        assert "Comment" not in im.text
