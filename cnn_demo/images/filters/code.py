"""The same filter written as SciPy and as PyTorch code, to copy into a notebook."""

from __future__ import annotations

import numpy as np

from cnn_demo.images.filters.kernels import K_H, K_V, NP_PAD_MODES
from cnn_demo.images.filters.spec import GAUSSIAN, GRADIENT_MAGNITUDE, SOBEL_MAGNITUDE, FilterSpec, spec_kernel

# ---------------------------------------------------------------------------------------------------- code


def _array_literal(k: np.ndarray) -> str:
    rows = ", ".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in k)
    return f"np.array([{rows}])"


def scipy_code(spec: FilterSpec, colour: bool) -> str:
    """Python that reproduces ``apply_filter(image, spec)`` with ``scipy.ndimage``; ``image`` is the float array."""
    mode = f'mode="{spec.mode}"' + (f", cval={spec.cval!r}" if spec.mode == "constant" else "")
    lines = ["import numpy as np", "from scipy import ndimage", ""]
    lines.append(f"# image: float array of 0..255 values, shape {'(H, W, 3)' if colour else '(H, W)'}")
    if spec.kind == GAUSSIAN:
        sig = f"({spec.sigma!r}, {spec.sigma!r}, 0)" if colour else repr(spec.sigma)
        lines.append(f"result = ndimage.gaussian_filter(image, sigma={sig}, {mode})")
        if colour:
            lines[-1] += "  # sigma 0: no blur across channels"
        return "\n".join(lines)
    if spec.kind in (GRADIENT_MAGNITUDE, SOBEL_MAGNITUDE):
        if spec.kind == GRADIENT_MAGNITUDE:
            lines += [
                "k_v = np.array([[-1, 0, 1]])",
                "k_h = np.array([[-1], [0], [1]])",
                "",
            ]
            conv = "ndimage.convolve(plane, {k}, " + mode + ")"
            h, v = conv.format(k="k_h"), conv.format(k="k_v")
        else:
            h = f"ndimage.sobel(plane, 0, {mode})  # horizontal gradient"
            v = f"ndimage.sobel(plane, 1, {mode})  # vertical gradient"
        if colour:
            lines += [
                "planes = [image[..., c] for c in range(image.shape[2])]",
                f"edge_h = np.stack([{h.split('  #')[0].replace('plane', 'p')} for p in planes], axis=-1)",
                f"edge_v = np.stack([{v.split('  #')[0].replace('plane', 'p')} for p in planes], axis=-1)",
            ]
        else:
            lines += [f"edge_h = {h.replace('plane', 'image')}", f"edge_v = {v.replace('plane', 'image')}"]
        lines += [
            "",
            "# Compute the magnitude of the gradient",
            "magnitude = np.sqrt(edge_h**2 + edge_v**2)",
            "magnitude *= 255.0 / np.max(magnitude)",
            "result = magnitude",
        ]
        return "\n".join(lines)
    lines.append(f"kernel = {_array_literal(spec.kernel_array)}")
    if colour:
        lines.append(
            f"result = np.stack([ndimage.convolve(image[..., c], kernel, {mode}) "
            "for c in range(image.shape[2])], axis=-1)"
        )
    else:
        lines.append(f"result = ndimage.convolve(image, kernel, {mode})")
    return "\n".join(lines)


def _conv_lines(
    spec: FilterSpec, name: str, kernel_expr: str, k: np.ndarray, src: str = "x", flip: bool = True
) -> list[str]:
    """Lines that set ``name`` to ``conv2d`` of ``src`` with the kernel ``kernel_expr`` (shaped like ``k``), per
    channel, centred and padded as ``scipy.ndimage`` does with ``spec``'s border mode; ``flip`` turns conv2d's
    correlation into the convolution."""
    kh, kw = k.shape
    top, left = ((kh - 1) // 2, (kw - 1) // 2) if flip else (kh // 2, kw // 2)
    bottom, right = kh - 1 - top, kw - 1 - left
    if flip:
        out = [f"w = torch.from_numpy(np.ascontiguousarray({kernel_expr}[::-1, ::-1]))  # flip: conv2d correlates"]
    else:
        out = [f"w = torch.from_numpy({kernel_expr})"]
    out.append(f"w = w.to(x.dtype).expand(C, 1, {kh}, {kw})  # the same kernel for each channel")
    if spec.mode == "constant" and spec.cval == 0.0 and (top, left) == (bottom, right):
        out.append(f"{name} = F.conv2d({src}, w, padding=({top}, {left}), groups=C)  # zero padding")
    else:
        kwargs = f", constant_values={spec.cval!r}" if spec.mode == "constant" else ""
        out += [
            f"# scipy's mode={spec.mode!r} is np.pad's mode={NP_PAD_MODES[spec.mode]!r}",
            f"xp = np.pad({src}.numpy(), ((0, 0), (0, 0), ({top}, {bottom}), ({left}, {right})), "
            f"mode={NP_PAD_MODES[spec.mode]!r}{kwargs})",
            f"{name} = F.conv2d(torch.from_numpy(xp), w, groups=C)",
        ]
    return out


def _torch_gradient_lines(spec: FilterSpec) -> list[str]:
    """Lines that compute the gradient magnitude ``y`` from two ``conv2d`` edge maps (central or Sobel)."""
    lines = []
    if spec.kind == GRADIENT_MAGNITUDE:
        lines += [f"k_h = {_array_literal(K_H)}", f"k_v = {_array_literal(K_V)}"]
        lines += _conv_lines(spec, "edge_h", "k_h", K_H) + _conv_lines(spec, "edge_v", "k_v", K_V)
    if spec.kind == SOBEL_MAGNITUDE:
        lines += [
            "# Sobel = a [-1 0 1] difference along one axis, then [1 2 1] smoothing across it (as ndimage.sobel)",
            "diff = np.array([-1.0, 0.0, 1.0])",
            "smooth = np.array([1.0, 2.0, 1.0])",
        ]
        col, row = np.zeros((3, 1)), np.zeros((1, 3))
        lines += _conv_lines(spec, "t", "diff[:, None]", col, flip=False)
        lines += _conv_lines(spec, "edge_h", "smooth[None, :]", row, "t", False)
        lines += _conv_lines(spec, "t", "diff[None, :]", row, flip=False)
        lines += _conv_lines(spec, "edge_v", "smooth[:, None]", col, "t", False)
    lines += [
        "magnitude = torch.sqrt(edge_h**2 + edge_v**2)",
        "magnitude *= 255.0 / magnitude.max()",
        "y = magnitude",
    ]
    return lines


def _torch_kernel_lines(spec: FilterSpec) -> list[str]:
    """Lines that write the filter's one kernel (the Gaussian built from σ) and compute ``y`` with it."""
    k = spec_kernel(spec)
    if spec.kind == GAUSSIAN:
        lines = [
            f"sigma = {spec.sigma!r}",
            f"t = np.arange(-{(k.shape[0] - 1) // 2}, {(k.shape[0] - 1) // 2 + 1})  # radius = int(4·σ + 0.5)",
            "g = np.exp(-0.5 * (t / sigma) ** 2)",
            "g /= g.sum()",
            "kernel = np.outer(g, g)  # the 2-D Gaussian is separable",
        ]
    else:
        lines = [f"kernel = {_array_literal(k)}"]
    return [*lines, *_conv_lines(spec, "y", "kernel", k)]


def torch_code(spec: FilterSpec, colour: bool) -> str:
    """Python that reproduces a single-kernel filter with ``torch.nn.functional.conv2d``.

    ``conv2d`` computes a correlation with zero padding, so the code flips the kernel and, for other border
    modes, pads with ``np.pad`` first. The Gaussian is written as its 2-D kernel; the gradient magnitudes
    as two ``conv2d`` calls.
    """
    lines = ["import numpy as np", "import torch", "import torch.nn.functional as F", ""]
    lines.append(f"# image: float array of 0..255 values, shape {'(H, W, 3)' if colour else '(H, W)'}")
    lines.append(
        "x = torch.from_numpy(image).permute(2, 0, 1)[None]  # (1, C, H, W)"
        if colour
        else "x = torch.from_numpy(image)[None, None]  # (1, 1, H, W)"
    )
    lines.append("C = x.shape[1]")
    if spec.kind in (GRADIENT_MAGNITUDE, SOBEL_MAGNITUDE):
        lines += _torch_gradient_lines(spec)
    else:
        lines += _torch_kernel_lines(spec)
    lines.append("result = y[0].permute(1, 2, 0).numpy()" if colour else "result = y[0, 0].numpy()")
    return "\n".join(lines)
