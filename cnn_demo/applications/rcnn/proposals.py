"""Region proposals by selective search (Uijlings et al. 2013), the proposals of the original R-CNN.

scikit-image's Felzenszwalb graph segmentation cuts the image into small regions; the hierarchical grouping is
written out here because it is what the page teaches: measure how similar every pair of neighbouring regions is
(colour, texture, size, fill), merge the most similar pair, update its neighbours, repeat until one region is left.
Every region met on the way, from the small starting segments to the whole image, is a candidate object box.
Several strategies (colour spaces, segmentation scales, similarity mixes) give diverse boxes; as in the paper their
hierarchies are interleaved by ``position in the hierarchy × a random number`` (seeded: the same image always gives
the same proposals), duplicates are dropped and the list is cut at ``max_proposals``.
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from scipy import ndimage
from torchvision.ops import nms

from cnn_demo.errors import InputError

#: Images smaller than this (either side, in pixels) have nothing a 224-pixel classifier could find.
MIN_IMAGE_SIDE = 32
COLOUR_BINS = 25  # per channel, as in the paper
TEXTURE_BINS = 10  # per channel and orientation
ORIENTATIONS = 8
SIMILARITY_NAMES = {"c": "colour", "t": "texture", "s": "size", "f": "fill"}


@dataclass(frozen=True)
class ProposalConfig:
    """How selective search runs. ``scales`` are Felzenszwalb's ``k`` (bigger: fewer, larger starting regions);
    ``similarities`` are mixes of c(olour), t(exture), s(ize), f(ill); one hierarchy per colour space × scale × mix.
    Work happens on a copy whose longer side is at most ``max_side``; boxes come back in the image's pixels."""

    max_side: int = 400
    scales: tuple[int, ...] = (100, 300)
    sigma: float = 0.8
    min_size: int = 40
    colour_spaces: tuple[str, ...] = ("rgb", "hsv")
    similarities: tuple[str, ...] = ("ctsf", "tsf")
    min_box: int = 20
    max_aspect: float = 5.0
    duplicate_iou: float = 0.9
    max_proposals: int = 150
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.scales or not self.colour_spaces or not self.similarities:
            raise InputError("Selective search needs at least one scale, one colour space and one similarity mix.")
        for space in self.colour_spaces:
            if space not in ("rgb", "hsv", "lab"):
                raise InputError(f"Unknown colour space {space!r}: use rgb, hsv or lab.")
        for mix in self.similarities:
            if not mix or set(mix) - set(SIMILARITY_NAMES):
                raise InputError(f"A similarity mix is made of the letters c, t, s, f, not {mix!r}.")
        if not 1 <= self.max_proposals <= 5000:
            raise InputError("The number of proposals must be between 1 and 5000.")


@dataclass(frozen=True)
class Hierarchy:
    """One run of hierarchical grouping. Regions ``0..n-1`` are the starting segments (``segments`` holds their
    ids per pixel of the working copy); merge ``i`` joins regions ``merges[i]`` into region ``n + i``. ``boxes``
    are every region's box (x0, y0, x1, y1) in the original image's pixels, ``factor`` times the working copy's."""

    strategy: str
    segments: np.ndarray
    merges: np.ndarray
    similarity: np.ndarray
    boxes: np.ndarray
    factor: float = 1.0

    @property
    def n_segments(self) -> int:
        return int(self.segments.max()) + 1

    def labels_at(self, step: int) -> np.ndarray:
        """The regions after the first ``step`` merges, as a label image of the working copy (ids are arbitrary)."""
        step = int(np.clip(step, 0, len(self.merges)))
        parent = np.arange(self.n_segments + step)
        for i in range(step):  # replay merges: a union of the two parts into the new region
            parent[self.merges[i]] = self.n_segments + i
        root = parent.copy()
        for _ in range(step + 1):  # follow parents until they settle (at most ``step`` links)
            nxt = root[root]
            if np.array_equal(nxt, root):
                break
            root = nxt
        return root[: self.n_segments][self.segments]


@dataclass(frozen=True)
class Proposals:
    """Candidate object boxes (x0, y0, x1, y1 in the image's pixels), in selective search's rank order."""

    boxes: np.ndarray
    image_size: tuple[int, int]  # (width, height)
    hierarchies: tuple[Hierarchy, ...]
    candidates: int  # boxes of all hierarchies before duplicates, tiny boxes and the cap were removed
    seconds: float

    def __len__(self) -> int:
        return len(self.boxes)


def check_image(image: np.ndarray) -> np.ndarray:
    """The image as an (H, W, 3) uint8 array, or an :class:`InputError` a student understands."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InputError("This needs a colour or grayscale photo.")
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    h, w = arr.shape[:2]
    if min(h, w) < MIN_IMAGE_SIDE:
        raise InputError(
            f"The image is {w}×{h} pixels: too small to look for objects. "
            f"Use one at least {MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE} pixels."
        )
    return arr


def _colour_space(rgb: np.ndarray, space: str) -> np.ndarray:
    """The image in ``space``, every channel scaled to 0..1."""
    from skimage import color

    x = rgb.astype(np.float64) / 255.0
    if space == "hsv":
        return color.rgb2hsv(x)
    if space == "lab":
        lab = color.rgb2lab(x)
        return np.stack([lab[..., 0] / 100.0, (lab[..., 1] + 128) / 255.0, (lab[..., 2] + 128) / 255.0], axis=-1)
    return x


def _histograms(values: np.ndarray, labels: np.ndarray, n: int, bins: int) -> np.ndarray:
    """(n, channels × bins) histograms of ``values`` (H, W, channels in 0..1) per region, L1-normalised."""
    flat = labels.ravel()
    out = []
    for c in range(values.shape[-1]):
        b = np.minimum((values[..., c].ravel() * bins).astype(np.int64), bins - 1)
        out.append(np.bincount(flat * bins + b, minlength=n * bins).reshape(n, bins))
    hist = np.concatenate(out, axis=1).astype(np.float64)
    return hist / np.maximum(hist.sum(axis=1, keepdims=True), 1e-12)


def _texture(image: np.ndarray) -> np.ndarray:
    """Gaussian derivatives (σ = 1) in 8 orientations per channel, half-wave rectified and scaled to 0..1:
    the SIFT-like texture measurement of the paper, (H, W, channels × 8)."""
    out = []
    for c in range(image.shape[-1]):
        gy = ndimage.gaussian_filter(image[..., c], 1.0, order=(1, 0))
        gx = ndimage.gaussian_filter(image[..., c], 1.0, order=(0, 1))
        for k in range(ORIENTATIONS):
            a = 2 * np.pi * k / ORIENTATIONS
            r = np.maximum(np.cos(a) * gx + np.sin(a) * gy, 0.0)
            out.append(r / max(float(r.max()), 1e-12))
    return np.stack(out, axis=-1)


def _neighbours(labels: np.ndarray) -> set[tuple[int, int]]:
    """Pairs (i < j) of regions that touch (4-connectivity)."""
    pairs = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        diff = a != b
        lo, hi = np.minimum(a[diff], b[diff]), np.maximum(a[diff], b[diff])
        pairs.append(np.unique(lo.astype(np.int64) * (labels.max() + 1) + hi))
    codes = np.unique(np.concatenate(pairs))
    n = int(labels.max()) + 1
    return {(int(c // n), int(c % n)) for c in codes}


class _Regions:
    """Size, box, colour and texture histograms of every region, the first n from ``labels`` and room for the
    n - 1 merged ones; :meth:`similarity` is selective search's similarity ``mix`` of two of them."""

    def __init__(self, labels: np.ndarray, colour_image: np.ndarray, mix: str, texture: np.ndarray | None) -> None:
        h, w = labels.shape
        n = int(labels.max()) + 1
        total = 2 * n - 1
        self.n, self.mix, self.area = n, mix, float(h * w)
        self.size = np.zeros(total)
        self.size[:n] = np.bincount(labels.ravel(), minlength=n)
        self.boxes = np.zeros((total, 4))
        for i, sl in enumerate(ndimage.find_objects(labels + 1)):
            self.boxes[i] = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
        self.colour = np.zeros((total, colour_image.shape[-1] * COLOUR_BINS))
        self.colour[:n] = _histograms(colour_image, labels, n, COLOUR_BINS)
        self.tex = np.zeros((total, 0))
        if "t" in mix:
            t = _texture(colour_image) if texture is None else texture
            self.tex = np.zeros((total, t.shape[-1] * TEXTURE_BINS))
            self.tex[:n] = _histograms(t, labels, n, TEXTURE_BINS)

    def similarity(self, i: int, j: int) -> float:
        """How alike regions ``i`` and ``j`` are: the sum of the measures named in ``mix``."""
        mix, size, boxes = self.mix, self.size, self.boxes
        s = 0.0
        if "c" in mix:
            s += float(np.minimum(self.colour[i], self.colour[j]).sum())
        if "t" in mix:
            s += float(np.minimum(self.tex[i], self.tex[j]).sum())
        if "s" in mix:
            s += 1.0 - (size[i] + size[j]) / self.area
        if "f" in mix:
            bw = max(boxes[i, 2], boxes[j, 2]) - min(boxes[i, 0], boxes[j, 0])
            bh = max(boxes[i, 3], boxes[j, 3]) - min(boxes[i, 1], boxes[j, 1])
            s += 1.0 - (bw * bh - size[i] - size[j]) / self.area
        return s

    def merge(self, i: int, j: int, new: int) -> None:
        """Region ``new`` is ``i`` and ``j`` together: sizes added, boxes joined, histograms size-weighted."""
        size, boxes = self.size, self.boxes
        a, b = size[i], size[j]
        size[new] = a + b
        boxes[new] = (*np.minimum(boxes[i, :2], boxes[j, :2]), *np.maximum(boxes[i, 2:], boxes[j, 2:]))
        self.colour[new] = (a * self.colour[i] + b * self.colour[j]) / (a + b)
        if self.tex.shape[1]:
            self.tex[new] = (a * self.tex[i] + b * self.tex[j]) / (a + b)


def group(labels: np.ndarray, colour_image: np.ndarray, mix: str, texture: np.ndarray | None = None):
    """Hierarchical grouping of the regions of ``labels`` (0..n-1) by the similarity ``mix`` (letters c, t, s, f).

    Returns ``(merges, similarities, boxes)``: merge ``i`` joins the two regions ``merges[i]`` into region n + i;
    ``boxes`` (2n - 1 or fewer rows when the image has parts that never touch) are the regions' boxes in the
    working copy's pixels, ``x1``/``y1`` exclusive.
    """
    regions = _Regions(labels, colour_image, mix, texture)
    n = regions.n
    similarity = regions.similarity
    touching: dict[int, set[int]] = {i: set() for i in range(n)}
    heap = []
    for i, j in _neighbours(labels):
        touching[i].add(j)
        touching[j].add(i)
        heap.append((-similarity(i, j), i, j))
    heapq.heapify(heap)
    alive = np.zeros(2 * n - 1, dtype=bool)
    alive[:n] = True
    merges, sims = [], []
    new = n
    while heap:
        s, i, j = heapq.heappop(heap)
        if not (alive[i] and alive[j]):
            continue  # one of them was merged already: the entry is stale
        regions.merge(i, j, new)
        alive[[i, j]] = False
        alive[new] = True
        touching[new] = (touching.pop(i) | touching.pop(j)) - {i, j}
        for k in touching[new]:
            touching[k] -= {i, j}
            touching[k].add(new)
            heapq.heappush(heap, (-similarity(new, k), min(new, k), max(new, k)))
        merges.append((i, j))
        sims.append(-s)
        new += 1
    return np.array(merges, dtype=np.int64).reshape(-1, 2), np.array(sims), regions.boxes[:new]


def _segments(image: np.ndarray, scale: int, cfg: ProposalConfig) -> np.ndarray:
    from skimage.segmentation import felzenszwalb

    labels = felzenszwalb(image, scale=scale, sigma=cfg.sigma, min_size=cfg.min_size)
    _, labels = np.unique(labels, return_inverse=True)  # ids 0..n-1 in any case
    return labels.reshape(image.shape[:2]).astype(np.int64)


def working_copy(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The image downscaled so its longer side is at most ``max_side``, and the factor from it back to the image."""
    h, w = image.shape[:2]
    factor = max(h, w) / max_side
    if factor <= 1:
        return image, 1.0
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))
    return small, w / size[0]


def strategy_name(space: str, scale: int, mix: str) -> str:
    return f"{space.upper()}, k={scale}, " + "+".join(SIMILARITY_NAMES[c] for c in mix)


def selective_search(image: np.ndarray, cfg: ProposalConfig = ProposalConfig()) -> Proposals:
    """Selective search on an (H, W, 3) uint8 image: ranked, de-duplicated candidate boxes in the image's pixels.

    A hierarchy whose image is a single segment (a blank picture) proposes nothing: there is nothing to group.
    """
    start = time.perf_counter()
    arr = check_image(image)
    h, w = arr.shape[:2]
    small, factor = working_copy(arr, cfg.max_side)
    rng = np.random.default_rng(cfg.seed)
    hierarchies: list[Hierarchy] = []
    ranked: list[tuple[float, int, np.ndarray]] = []
    segments = {scale: _segments(small, scale, cfg) for scale in cfg.scales}  # Felzenszwalb on RGB, once per k
    for space in cfg.colour_spaces:
        img = _colour_space(small, space)
        texture = _texture(img) if any("t" in m for m in cfg.similarities) else None
        for scale, mix in itertools.product(cfg.scales, cfg.similarities):
            labels = segments[scale]
            merges, sims, boxes = group(labels, img, mix, texture)
            boxes = np.clip(boxes * factor, 0, [w, h, w, h])
            hierarchies.append(Hierarchy(strategy_name(space, scale, mix), labels, merges, sims, boxes, factor))
            if len(boxes) < 2:
                continue  # one segment, nothing grouped: no object stands out
            # Position in the hierarchy: 1 for the last region made (the top), growing towards the segments.
            position = len(boxes) - np.arange(len(boxes))
            value = position * rng.random(len(boxes))
            ranked += [(float(v), len(ranked) + k, b) for k, (v, b) in enumerate(zip(value, boxes, strict=True))]
    ranked.sort(key=lambda r: (r[0], r[1]))
    all_boxes = np.array([r[2] for r in ranked], dtype=np.float32).reshape(-1, 4)
    bw, bh = all_boxes[:, 2] - all_boxes[:, 0], all_boxes[:, 3] - all_boxes[:, 1]
    ok = (np.minimum(bw, bh) >= min(cfg.min_box, min(h, w) / 2)) & (
        np.maximum(bw, bh) <= cfg.max_aspect * np.maximum(np.minimum(bw, bh), 1e-6)
    )
    kept = all_boxes[ok]
    if len(kept):
        # Near-duplicates (the same object found by several strategies) are dropped, keeping the better-ranked one.
        rank_score = torch.linspace(1.0, 0.0, len(kept), dtype=torch.float64)
        keep = nms(torch.from_numpy(kept).double(), rank_score, cfg.duplicate_iou).numpy()
        kept = kept[np.sort(keep)][: cfg.max_proposals]
    return Proposals(kept, (w, h), tuple(hierarchies), len(all_boxes), time.perf_counter() - start)
