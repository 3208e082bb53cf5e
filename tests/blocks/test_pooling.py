"""Pooling against PyTorch: adaptive windows for every (L_in, L_out) up to 64, the lecture's rule, 2-D pooling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnn_demo.blocks import pooling
from cnn_demo.errors import InputError

SIZES = range(1, 65)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_adaptive_windows_equal_torchs_for_every_size_up_to_64():
    """For every (L_in, L_out) up to 64 the windows are exactly the inputs torch averages: pooling the identity
    matrix (channel j holds e_j) gives the weight of x_j in output i, which must be 1/len on the window."""
    for n in SIZES:
        eye = torch.eye(n, dtype=torch.float64).unsqueeze(0)
        for m in SIZES:
            weights = F.adaptive_avg_pool1d(eye, m)[0].numpy()
            expected = np.zeros((n, m))
            for i, (s, e) in enumerate(pooling.adaptive_windows(n, m)):
                expected[s:e, i] = 1 / (e - s)
            np.testing.assert_allclose(weights, expected, atol=1e-12, err_msg=f"L_in={n}, L_out={m}")


def test_adaptive_pool1d_equals_torch_for_every_size_up_to_64():
    rng = np.random.default_rng(0)
    for n in SIZES:
        x = rng.normal(size=(2, n))
        t = torch.from_numpy(x).unsqueeze(0)
        for m in SIZES:
            np.testing.assert_allclose(
                pooling.adaptive_pool1d(x, m, "avg"), F.adaptive_avg_pool1d(t, m)[0].numpy(), rtol=1e-12, atol=1e-12
            )
            np.testing.assert_array_equal(pooling.adaptive_pool1d(x, m, "max"), F.adaptive_max_pool1d(t, m)[0].numpy())


def test_lecture_examples_are_reproduced():
    np.testing.assert_allclose(pooling.adaptive_pool1d([1, 2, 3], 8, "avg"), [1, 1, 1.5, 2, 2, 2.5, 3, 3])
    np.testing.assert_allclose(pooling.adaptive_pool1d([1, 2, 3], 10, "max"), [1, 1, 1, 2, 2, 2, 3, 3, 3, 3])
    rule = pooling.lecture_rule(3, 8)
    assert (rule["upsample"], rule["stride"], rule["kernel"], rule["out_size"]) == (3, 1, 2, 8)
    np.testing.assert_allclose(pooling.lecture_pool1d([1, 2, 3], 8, "avg"), [1, 1, 1.5, 2, 2, 2.5, 3, 3])
    # the lecture's own upsampling example: [1, 2, 3] to length 5 is upsampled by 2
    assert pooling.lecture_rule(3, 5)["upsample"] == 2
    # for output 10 the rule's max pooling differs from what PyTorch (and the slide) print, at position 2
    np.testing.assert_allclose(pooling.lecture_pool1d([1, 2, 3], 10, "max"), [1, 1, 2, 2, 2, 2, 3, 3, 3, 3])
    assert [r["output"] for r in pooling.compare_rule(3, 10) if not r["same_max"]] == [2, 7]


def test_rule_and_torch_disagree_for_10_to_4_and_agree_when_the_length_divides():
    assert not pooling.rule_agrees(10, 4, "avg")
    assert pooling.adaptive_windows(10, 4) == [(0, 3), (2, 5), (5, 8), (7, 10)]
    assert pooling.lecture_rule(10, 4)["windows"] == [(0, 4), (2, 6), (4, 8), (6, 10)]
    for n, m in [(12, 4), (8, 8), (64, 1), (6, 3)]:
        assert pooling.rule_agrees(n, m, "avg") and pooling.rule_agrees(n, m, "max")


def test_compare_rule_is_right_about_values():
    """Where compare_rule says 'same', the rule's values equal torch's for random inputs, and differ otherwise."""
    rng = np.random.default_rng(1)
    for n in range(1, 25):
        for m in range(1, 25):
            x = rng.normal(size=n)
            torch_avg = pooling.adaptive_pool1d(x, m, "avg")
            rule_avg = pooling.lecture_pool1d(x, m, "avg")
            for r in pooling.compare_rule(n, m):
                i = r["output"]
                assert r["same_avg"] == bool(np.isclose(torch_avg[i], rule_avg[i])), (n, m, i)
            assert pooling.lecture_rule(n, m)["out_size"] == m


def test_adaptive_pool2d_equals_torch():
    rng = np.random.default_rng(2)
    for (h, w), (oh, ow) in [((7, 10), (3, 4)), ((5, 5), (7, 2)), ((1, 9), (1, 4)), ((13, 6), (13, 6))]:
        x = rng.normal(size=(3, h, w))
        t = torch.from_numpy(x)
        np.testing.assert_allclose(pooling.adaptive_pool2d(x, (oh, ow), "avg"), F.adaptive_avg_pool2d(t, (oh, ow)))
        np.testing.assert_array_equal(pooling.adaptive_pool2d(x, (oh, ow), "max"), F.adaptive_max_pool2d(t, (oh, ow)))


def test_the_lecture_max_pool_example():
    r = pooling.pool2d(pooling.LECTURE_MATRIX, "max", kernel_size=2, stride=1)
    np.testing.assert_allclose(r.output, pooling.LECTURE_MAXPOOL_OUTPUT)
    w = r.window(0, 2)
    assert (w.rows, w.cols, w.value) == ((0, 1), (2, 3), 1.3515)


@settings(max_examples=300, deadline=None)
@given(
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    k=st.integers(1, 4),
    s=st.integers(1, 4),
    p=st.integers(0, 2),
    d=st.integers(1, 3),
    ceil=st.booleans(),
    kind=st.sampled_from(["max", "avg"]),
    include_pad=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_pool2d_equals_torch_for_any_settings(h, w, k, s, p, d, ceil, kind, include_pad, seed):
    x = np.random.default_rng(seed).normal(size=(h, w))
    t = torch.from_numpy(x).unsqueeze(0)
    d = d if kind == "max" else 1
    try:
        if kind == "max":
            ref = F.max_pool2d(t, k, s, p, d, ceil_mode=ceil)[0].numpy()
        else:
            ref = F.avg_pool2d(t, k, s, p, ceil_mode=ceil, count_include_pad=include_pad)[0].numpy()
    except RuntimeError:
        with pytest.raises(InputError):
            pooling.pool2d(x, kind, k, s, p, d, ceil, include_pad)
        return
    ours = pooling.pool2d(x, kind, k, s, p, d, ceil, include_pad)
    np.testing.assert_allclose(ours.output, ref, rtol=1e-12, atol=1e-12)
    assert len(ours.windows) == ref.size
    np.testing.assert_allclose(
        pooling.torch_pool2d(x, kind, k, s, p, d, ceil),
        F.max_pool2d(t, k, s, p, d, ceil_mode=ceil)[0].numpy()
        if kind == "max"
        else F.avg_pool2d(t, k, s, p, ceil_mode=ceil)[0].numpy(),
    )


def test_fast_image_pooling_and_shift_robustness():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, size=(33, 47)).astype(float)
    t = torch.from_numpy(img)[None]
    np.testing.assert_allclose(pooling.pool2d_fast(img, "max", 4), F.max_pool2d(t, 4)[0])
    np.testing.assert_allclose(pooling.pool2d_fast(img, "avg", 3), F.avg_pool2d(t, 3)[0])
    # a smooth photo: pooled maps move less than pixels under a 1-pixel shift
    from cnn_demo.io.images import to_array
    from cnn_demo.io.samples import load_sample

    photo = to_array(load_sample("camera", grayscale=True, max_side=128))
    for kind in ("max", "avg"):
        r = pooling.shift_robustness(photo, kind, kernel=4, shift=1)
        assert r["pooled_change"] < r["raw_change"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: pooling.adaptive_windows(0, 3), "at least 1"),
        (lambda: pooling.adaptive_windows(3, 2.5), "whole number"),
        (lambda: pooling.adaptive_pool1d([], 3), "at least one"),
        (lambda: pooling.adaptive_pool1d([1, 2], 3, "median"), '"max" or "avg"'),
        (lambda: pooling.pool2d(np.ones((4, 4)), "avg", 2, dilation=2), "no dilation"),
        (lambda: pooling.pool2d(np.ones((4, 4)), "max", 2, padding=2), "at most half"),
        (lambda: pooling.pool2d(np.ones((2, 2)), "max", 3), "does not fit the padded input"),
        (lambda: pooling.parse_values("1, two, 3"), "'two' is not a number"),
        (lambda: pooling.parse_matrix("1 2\n3"), "same number of values"),
    ],
)
def test_bad_input_is_explained(call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_matrix_text_round_trip():
    m = np.array(pooling.LECTURE_MATRIX)
    np.testing.assert_array_equal(pooling.parse_matrix(pooling.format_matrix(m)), m)
    np.testing.assert_array_equal(pooling.parse_values("1; 2,3  4"), [1, 2, 3, 4])


def test_differing_values_is_about_values_not_windows():
    x = np.array([1.0, 2.0, 3.0])
    torch_out = F.adaptive_max_pool1d(torch.tensor(x[None]), 10)[0].numpy()
    rule_out = pooling.lecture_pool1d(x, 10, "max")
    windows = [r["output"] for r in pooling.compare_rule(3, 10) if not r["same_max"]]
    assert windows == [2, 7]
    assert pooling.differing_values(rule_out, torch_out) == [2] == list(np.flatnonzero(rule_out != torch_out))
    assert pooling.differing_values([1.0, 2.0], [1.0 + 1e-12, 2.0]) == []
