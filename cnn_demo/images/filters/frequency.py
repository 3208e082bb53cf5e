"""The frequency view of a filter: spectra, kernel responses, low and high passes."""

from __future__ import annotations

import numpy as np

from cnn_demo.errors import InputError
from cnn_demo.images.filters.filtering import gaussian_blur
from cnn_demo.images.filters.kernels import as_kernel, check_image

# ----------------------------------------------------------------------------------------------- frequencies


def fft_magnitude(plane: np.ndarray) -> np.ndarray:
    """log(1 + |F|) of the 2-D FFT with the zero frequency moved to the centre (for images and results)."""
    img = check_image(plane)
    if img.ndim == 3:
        img = img.mean(axis=2)
    return np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(img))))


def kernel_response(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """|H|: how much a kernel multiplies each frequency, on the same centred grid as :func:`fft_magnitude`.

    Values near 1 are kept, near 0 removed: a low-pass kernel is bright in the middle, a high-pass one
    at the edges. By the convolution theorem, F(image * kernel) = F(image) · H (up to border effects).
    """
    k = as_kernel(kernel)
    h, w = shape
    if k.shape[0] > h or k.shape[1] > w:
        raise InputError("The kernel is larger than the image.")
    return np.abs(np.fft.fftshift(np.fft.fft2(k, s=(h, w))))


def high_pass(image: np.ndarray, sigma: float, mode: str = "reflect") -> np.ndarray:
    """The image minus its Gaussian blur: what a low-pass filter throws away (the fine detail)."""
    return split_frequencies(image, sigma, mode)[1]


def split_frequencies(image: np.ndarray, sigma: float, mode: str = "reflect") -> tuple[np.ndarray, np.ndarray]:
    """(low, high): the Gaussian blur and the image minus it, which add up to the image exactly."""
    img = check_image(image)
    low = gaussian_blur(img, sigma, mode)
    return low, img - low
