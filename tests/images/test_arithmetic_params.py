"""conv_params against torch's own parameter count."""

import itertools

import pytest
import torch.nn as nn

from cnn_demo.errors import InputError
from cnn_demo.images.arithmetic import conv_params


def test_lecture_example():
    m = nn.Conv2d(in_channels=3, out_channels=5, kernel_size=3, stride=1, padding=1)
    assert conv_params(3, 5, 3) == 3 * 5 * 9 + 5 == sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(
    ("cin", "cout", "k", "bias", "groups"),
    [
        (c, o, k, b, g)
        for c, o, k, b, g in itertools.product([1, 4, 6], [2, 6, 12], [1, 3, (3, 5)], [True, False], [1, 2])
        if c % g == 0 and o % g == 0
    ],
)
def test_matches_torch(cin, cout, k, bias, groups):
    m = nn.Conv2d(cin, cout, k, bias=bias, groups=groups)
    assert conv_params(cin, cout, k, bias=bias, groups=groups) == sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("args", [(0, 1, 3), (3, 4, 3, True, 2), (3, 5, -1), (3, 5, 2.5)])
def test_bad_input(args):
    with pytest.raises(InputError):
        conv_params(*args)
