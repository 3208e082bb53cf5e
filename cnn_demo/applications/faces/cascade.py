"""MTCNN's cascade, recorded stage by stage: the lecture's "propose, then classify" on faces.

1. **Image pyramid**: the image resized so that faces of every size become about 12 px (scale factor 0.709 from
   ``12 / min_face_size`` down to 12 px).
2. **P-Net** scores every 12×12 window of every pyramid level in one convolutional pass (stride 2); the windows
   above its threshold, corrected by its box regression, after NMS within each level and across levels, are the
   **proposals**.
3. **R-Net** classifies each proposal's 24×24 crop; those above its threshold go through NMS and get their boxes
   corrected.
4. **O-Net** classifies 48×48 crops of those, corrects them again and places five landmarks; a last NMS that
   divides the overlap by the *smaller* box's area ("Min") drops a small box inside a bigger one.

Every step follows facenet-pytorch's ``detect_face`` (same resampling, thresholds, NMS and box arithmetic,
including its 1-based pixel conventions), so the boxes equal its boxes; the tests compare them. The image is
first shrunk to at most ``max_side`` pixels; every box is reported in the original image's pixels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F
from torchvision.ops import nms

from cnn_demo.applications.faces.nets import MTCNN, build_mtcnn
from cnn_demo.errors import InputError

#: The side of the window P-Net classifies, and its step (the stride of its one pooling layer).
WINDOW, STRIDE = 12, 2


@dataclass(frozen=True)
class FaceConfig:
    """MTCNN's settings: facenet-pytorch's defaults, and the size the image is shrunk to first."""

    min_face_size: int = 20  # pixels of the shrunk image
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)  # P-Net, R-Net, O-Net
    factor: float = 0.709  # pyramid step: each level is this times the previous one
    max_side: int = 1024

    def __post_init__(self) -> None:
        if not 12 <= int(self.min_face_size) <= 1024:
            raise InputError("The smallest face size must be between 12 and 1024 pixels.")
        if len(self.thresholds) != 3 or not all(0.0 <= float(t) <= 1.0 for t in self.thresholds):
            raise InputError("Each of the three thresholds must be between 0 and 1.")
        if not 0.3 <= float(self.factor) <= 0.95:
            raise InputError("The pyramid factor must be between 0.3 and 0.95.")
        if not 64 <= int(self.max_side) <= 4096:
            raise InputError("The working size must be between 64 and 4096 pixels.")


@dataclass(frozen=True)
class Faces:
    """Faces found in one image: boxes (x0, y0, x1, y1) and landmarks (left eye, right eye, nose, left and right
    mouth corner; (x, y)) in the original image's pixels, O-Net's probability, best first."""

    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32
    landmarks: np.ndarray  # (N, 5, 2) float32
    image_size: tuple[int, int]  # (width, height) of the original image
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.scores)

    def to_dict(self) -> dict:
        """Plain JSON-ready values (boxes and landmarks rounded to 0.01 px, scores to 4 decimals)."""
        return {
            "width": self.image_size[0],
            "height": self.image_size[1],
            "faces": len(self),
            "boxes": np.round(self.boxes.astype(float), 2).tolist(),
            "scores": np.round(self.scores.astype(float), 4).tolist(),
            "landmarks": np.round(self.landmarks.astype(float), 2).tolist(),
            "seconds": round(float(self.seconds), 4),
        }

    def rows(self) -> list[dict]:
        """One dict per face for a table: score, box corners and size."""
        return [
            {
                "face": i + 1,
                "score": round(float(s), 4),
                "x0": round(float(b[0]), 1),
                "y0": round(float(b[1]), 1),
                "x1": round(float(b[2]), 1),
                "y1": round(float(b[3]), 1),
                "width": round(float(b[2] - b[0]), 1),
                "height": round(float(b[3] - b[1]), 1),
            }
            for i, (b, s) in enumerate(zip(self.boxes, self.scores, strict=True))
        ]


@dataclass(frozen=True)
class PyramidLevel:
    """One level of the image pyramid and P-Net's face probability for each of its 12×12 windows."""

    scale: float  # pyramid image / shrunk image
    size: tuple[int, int]  # (width, height) of the pyramid image
    probability: np.ndarray  # (rows, cols) float32; window (r, c) covers pixels 2r..2r+11, 2c..2c+11
    window: float  # the 12-px window's side in original-image pixels


@dataclass(frozen=True)
class StageBoxes:
    """Boxes at one point of the cascade (original-image pixels) with their scores."""

    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32

    def __len__(self) -> int:
        return len(self.scores)


@dataclass(frozen=True)
class Crops:
    """What a refinement network saw: each window's crop (resized to its input size), score and verdict."""

    images: np.ndarray  # (N, side, side, 3) uint8
    scores: np.ndarray  # (N,) float32
    passed: np.ndarray  # (N,) bool: above the stage's threshold
    windows: np.ndarray  # (N, 4) float32: the square windows cut out, original-image pixels


@dataclass(frozen=True)
class FaceCascade:
    """Every stage of MTCNN on one image (see the module docstring); ``faces`` is the result."""

    faces: Faces
    config: FaceConfig
    work_size: tuple[int, int]  # (width, height) the cascade ran at (≤ max_side)
    pyramid: tuple[PyramidLevel, ...]
    candidates: StageBoxes  # P-Net windows above its threshold, every level, before NMS
    after_level_nms: int  # candidates left after NMS within each level
    proposals: StageBoxes  # after NMS across levels, regressed and made square: R-Net's windows
    rnet: Crops
    refined: StageBoxes  # R-Net's survivors after NMS and box regression: O-Net's windows
    onet: Crops
    before_final_nms: StageBoxes  # O-Net's survivors, regressed
    final_keep: np.ndarray  # indices into before_final_nms of the faces, best first
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def windows(self) -> int:
        """How many 12×12 windows P-Net classified over the whole pyramid."""
        return sum(level.probability.size for level in self.pyramid)

    def counts(self) -> list[tuple[str, int]]:
        """The funnel: how many windows are left after each step."""
        t = self.config.thresholds
        return [
            (f"P-Net windows ({len(self.pyramid)} pyramid levels)", self.windows),
            (f"P-Net probability ≥ {t[0]:g}", len(self.candidates)),
            ("after NMS in each level (IoU 0.5)", self.after_level_nms),
            ("proposals after NMS across levels (IoU 0.7)", len(self.proposals)),
            (f"R-Net probability > {t[1]:g}", int(self.rnet.passed.sum())),
            ("after NMS (IoU 0.7)", len(self.refined)),
            (f"O-Net probability > {t[2]:g}", int(self.onet.passed.sum())),
            ("faces after NMS (overlap / smaller box 0.7)", len(self.faces)),
        ]


def pyramid_scales(height: int, width: int, min_face_size: int, factor: float) -> list[float]:
    """The scales at which a ``min_face_size`` face, then faces ``1 / factor`` times bigger, become 12 px."""
    scale = WINDOW / min_face_size
    side = min(height, width) * scale
    scales = []
    while side >= WINDOW:
        scales.append(scale)
        scale *= factor
        side *= factor
    return scales


def shrink(image: Image.Image, max_side: int) -> tuple[Image.Image, float]:
    """``image`` with its longer side at most ``max_side`` (antialiased), and the factor it was shrunk by."""
    if max(image.size) <= max_side:
        return image, 1.0
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0), scale


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Pixel values 0..255 scaled as MTCNN's networks were trained: (x − 127.5) / 128."""
    return (x - 127.5) * 0.0078125


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Each box made square around its centre, with its longer side (facenet's ``rerec``)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    x0 = boxes[:, 0] + w * 0.5 - side * 0.5
    y0 = boxes[:, 1] + h * 0.5 - side * 0.5
    return torch.stack([x0, y0, x0 + side, y0 + side], dim=1)


def _regress(boxes: torch.Tensor, reg: torch.Tensor, plus_one: bool = True) -> torch.Tensor:
    """Boxes moved by a network's corrections, relative to their width and height (facenet's ``bbreg``)."""
    extra = 1.0 if plus_one else 0.0
    w = boxes[:, 2] - boxes[:, 0] + extra
    h = boxes[:, 3] - boxes[:, 1] + extra
    return boxes + reg * torch.stack([w, h, w, h], dim=1)


def crop_windows(image: torch.Tensor, boxes: torch.Tensor, side: int) -> torch.Tensor:
    """Each box's part of ``image`` (1, 3, H, W), clipped to the image and area-resized to ``side``×``side``
    (facenet's ``pad`` + ``imresample``: boxes are read as 1-based, inclusive). An empty crop gives zeros."""
    height, width = image.shape[-2:]
    b = boxes.trunc().int().tolist()
    out = torch.zeros(len(b), 3, side, side)
    for k, (x0, y0, x1, y1) in enumerate(b):
        x0, y0, x1, y1 = max(x0, 1), max(y0, 1), min(x1, width), min(y1, height)
        if y1 > y0 - 1 and x1 > x0 - 1:
            out[k] = F.interpolate(image[:, :, y0 - 1 : y1, x0 - 1 : x1], size=(side, side), mode="area")[0]
    return out


def nms_min(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy NMS where overlap is intersection over the *smaller* box's area (boxes 1-based, inclusive: +1).

    torchvision's NMS divides by the union; MTCNN's last step uses this "Min" variant so that a small box inside a
    big one (a face part taken for a face) goes even when their IoU is low. Indices kept, best score first.
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x0, y0, x1, y1 = (boxes[:, i].astype(np.float64) for i in range(4))
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = np.argsort(scores)
    keep = []
    while order.size:
        i, rest = order[-1], order[:-1]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]) + 1)
        inter = w * h
        order = rest[inter / np.minimum(area[i], area[rest]) <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _cat(parts: list[torch.Tensor], *shape: int) -> torch.Tensor:
    return torch.cat(parts) if parts else torch.zeros(0, *shape)


def _uint8(crops: torch.Tensor) -> np.ndarray:
    return crops.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def as_rgb(image: Image.Image | np.ndarray) -> Image.Image:
    """``image`` (a PIL image, an H×W or H×W×3 array) as an RGB PIL image; :class:`InputError` for anything else."""
    if isinstance(image, np.ndarray):
        arr = image[..., :3] if image.ndim == 3 else np.stack([image] * 3, axis=-1)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise InputError(f"Expected an H×W or H×W×3 image array, got shape {image.shape}.")
        image = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8) if arr.dtype != np.uint8 else arr)
    if not isinstance(image, Image.Image):
        raise InputError("Expected an image (a PIL image or a NumPy array).")
    return image if image.mode == "RGB" else image.convert("RGB")


@dataclass
class _PNetStage:
    levels: list[PyramidLevel]
    candidates: StageBoxes
    after_level_nms: int
    proposals: torch.Tensor
    proposal_scores: torch.Tensor


def _pnet_stage(model: MTCNN, img: torch.Tensor, config: FaceConfig, to_orig: float) -> _PNetStage:
    """Stage 1: P-Net over the pyramid, NMS within each level and across levels, boxes corrected and squared."""
    h, w = img.shape[-2:]
    t1 = float(config.thresholds[0])
    levels, cand_boxes, cand_scores, level_boxes, level_scores, level_regs = [], [], [], [], [], []
    for scale in pyramid_scales(h, w, int(config.min_face_size), float(config.factor)):
        size = (int(h * scale + 1), int(w * scale + 1))
        reg, prob = model.pnet(normalise(F.interpolate(img, size=size, mode="area")))
        prob, reg = prob[0], reg[0]
        levels.append(PyramidLevel(scale, (size[1], size[0]), prob.numpy().copy(), WINDOW / scale * to_orig))
        mask = prob >= t1
        cells = mask.nonzero().flip(1).to(img.dtype)  # (x, y) of each window kept
        boxes = torch.cat([((STRIDE * cells + 1) / scale).floor(), ((STRIDE * cells + WINDOW) / scale).floor()], 1)
        scores = prob[mask]
        cand_boxes.append(boxes)
        cand_scores.append(scores)
        keep = nms(boxes, scores, 0.5)
        level_boxes.append(boxes[keep])
        level_scores.append(scores[keep])
        level_regs.append(reg[:, mask].T[keep])
    boxes, scores, regs = _cat(level_boxes, 4), _cat(level_scores), _cat(level_regs, 4)
    keep = nms(boxes, scores, 0.7)
    candidates = StageBoxes(
        (_cat(cand_boxes, 4).numpy() * to_orig).astype(np.float32).reshape(-1, 4), _cat(cand_scores).numpy().copy()
    )
    proposals = _square(_regress(boxes[keep], regs[keep], plus_one=False))
    return _PNetStage(levels, candidates, len(scores), proposals, scores[keep])


def _rnet_stage(
    model: MTCNN, img: torch.Tensor, proposals: torch.Tensor, threshold: float, to_orig: float
) -> tuple[Crops, torch.Tensor, torch.Tensor]:
    """Stage 2: R-Net on 24×24 crops of the proposals; the crops, and the passed boxes corrected and squared."""
    crops = crop_windows(img, proposals, 24)
    reg, prob = model.rnet(normalise(crops)) if len(crops) else (torch.zeros(0, 4), torch.zeros(0))
    rnet = Crops(_uint8(crops), prob.numpy().copy(), (prob > threshold).numpy(), proposals.numpy() * to_orig)
    passed = prob > threshold
    boxes, scores, regs = proposals[passed], prob[passed], reg[passed]
    keep = nms(boxes, scores, 0.7)
    return rnet, _square(_regress(boxes[keep], regs[keep])), scores[keep]


def _onet_stage(
    model: MTCNN, img: torch.Tensor, refined: torch.Tensor, threshold: float, to_orig: float
) -> tuple[Crops, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stage 3: O-Net on 48×48 crops, landmarks, NMS by the smaller box; the crops, the corrected boxes, their
    scores, landmarks and the indices the last NMS keeps."""
    crops = crop_windows(img, refined, 48)
    if len(crops):
        reg, marks, prob = model.onet(normalise(crops))
    else:
        reg, marks, prob = torch.zeros(0, 4), torch.zeros(0, 10), torch.zeros(0)
    onet = Crops(_uint8(crops), prob.numpy().copy(), (prob > threshold).numpy(), refined.numpy() * to_orig)
    passed = prob > threshold
    boxes, scores, regs, marks = refined[passed], prob[passed], reg[passed], marks[passed]
    bw, bh = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
    points = torch.stack(
        [bw[:, None] * marks[:, :5] + boxes[:, :1] - 1, bh[:, None] * marks[:, 5:] + boxes[:, 1:2] - 1], dim=2
    )
    boxes = _regress(boxes, regs)
    keep = torch.from_numpy(nms_min(boxes.numpy(), scores.numpy(), 0.7))
    return onet, boxes, scores, points, keep


@torch.inference_mode()
def run_cascade(image: Image.Image | np.ndarray, config: FaceConfig | None = None, model: MTCNN | None = None):
    """MTCNN on ``image`` with every stage recorded (:class:`FaceCascade`); boxes in the original's pixels."""
    config = config or FaceConfig()
    model = model if model is not None else build_mtcnn()
    start = time.perf_counter()
    original = as_rgb(image)
    work, shrunk_by = shrink(original, config.max_side)
    img = torch.from_numpy(np.asarray(work).copy()).permute(2, 0, 1)[None].float()
    h, w = img.shape[-2:]
    to_orig = 1.0 / shrunk_by
    seconds: dict[str, float] = {"shrink": time.perf_counter() - start}
    tic = time.perf_counter()
    stage1 = _pnet_stage(model, img, config, to_orig)
    seconds["P-Net"] = time.perf_counter() - tic
    tic = time.perf_counter()
    rnet, refined, refined_scores = _rnet_stage(model, img, stage1.proposals, float(config.thresholds[1]), to_orig)
    seconds["R-Net"] = time.perf_counter() - tic
    tic = time.perf_counter()
    onet, boxes, scores, points, keep = _onet_stage(model, img, refined, float(config.thresholds[2]), to_orig)
    seconds["O-Net"] = time.perf_counter() - tic

    def orig(b: torch.Tensor) -> np.ndarray:
        return (b.numpy() * to_orig).astype(np.float32)

    width, height = original.size
    final = orig(boxes[keep]).reshape(-1, 4)
    final[:, 0::2] = final[:, 0::2].clip(0, width)
    final[:, 1::2] = final[:, 1::2].clip(0, height)
    seconds["total"] = time.perf_counter() - start
    faces = Faces(
        final, scores[keep].numpy().copy(), orig(points[keep]).reshape(-1, 5, 2), (width, height), seconds["total"]
    )
    return FaceCascade(
        faces=faces,
        config=config,
        work_size=(int(w), int(h)),
        pyramid=tuple(stage1.levels),
        candidates=stage1.candidates,
        after_level_nms=stage1.after_level_nms,
        proposals=StageBoxes(orig(stage1.proposals).reshape(-1, 4), stage1.proposal_scores.numpy().copy()),
        rnet=rnet,
        refined=StageBoxes(orig(refined).reshape(-1, 4), refined_scores.numpy().copy()),
        onet=onet,
        before_final_nms=StageBoxes(orig(boxes).reshape(-1, 4), scores.numpy().copy()),
        final_keep=keep.numpy().copy(),
        seconds=seconds,
    )


def detect_faces(
    image: Image.Image | np.ndarray, config: FaceConfig | None = None, model: MTCNN | None = None
) -> Faces:
    """Faces in ``image`` with the pretrained MTCNN (or ``model``): boxes, scores, five landmarks each, in the
    original image's pixels. The image is shrunk to ``config.max_side`` (1024) pixels first."""
    return run_cascade(image, config, model).faces
