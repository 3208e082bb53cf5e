"""Classes scored by WordNet group, and the data of the best-box ranking.

ImageNet's 1000 classes are WordNet synsets listed in WordNet's order, so a WordNet group (every dog breed, every
domestic cat) is a run of neighbouring class indices. A classifier spreads its belief over a group's members (a dog
is 40 % Labrador, 30 % golden retriever, ...), so R-CNN's usual "best class per box" splits one dog's boxes over
120 breeds and lets a confident single class elsewhere win. Scoring each box by its group's *summed* probability
keeps the dog's evidence together; the label still names the most likely member (the breed).

COCO's animals as groups of ImageNet-1k indices (of torchvision's / timm's list):

* bird: 7–24 (cock … great grey owl), 80–100 (black grouse … black swan), 127–146 (white stork … albatross)
* dog: 151–268 (Chihuahua … Mexican hairless; the domestic dogs, not wolves or foxes)
* cat: 281–285 (tabby, tiger cat, Persian, Siamese, Egyptian cat; the big cats 286–293 are not COCO's cat)
* bear: 294–297 (brown, American black, ice and sloth bear)
* horse: 339 (sorrel; ImageNet's only horse) and 603 (horse cart)
* zebra: 340
* cow: 345–347 (ox, water buffalo, bison)
* sheep: 348–349 (ram, bighorn)
* elephant: 101 (tusker), 385–386 (Indian and African elephant)
* giraffe: none; ImageNet-1k has no giraffe class, so a giraffe can never be named.

Every other class is a group of its own. A classifier with another number of classes has no groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

IMAGENET_CLASSES = 1000


def _runs(*runs: tuple[int, int]) -> tuple[int, ...]:
    return tuple(i for a, b in runs for i in range(a, b + 1))


#: COCO animal → the ImageNet-1k class indices that name it.
ANIMAL_CLASSES: dict[str, tuple[int, ...]] = {
    "bird": _runs((7, 24), (80, 100), (127, 146)),
    "cat": _runs((281, 285)),
    "dog": _runs((151, 268)),
    "horse": (339, 603),
    "sheep": (348, 349),
    "cow": (345, 346, 347),
    "elephant": (101, 385, 386),
    "bear": _runs((294, 297)),
    "zebra": (340,),
    "giraffe": (),
}


def group_of(n_classes: int) -> np.ndarray:
    """For each class, its group's id: the smallest class index of the group (for ImageNet's 1000 classes the
    groups of :data:`ANIMAL_CLASSES`; otherwise, and for every other class, the class itself)."""
    out = np.arange(n_classes)
    if n_classes == IMAGENET_CLASSES:
        for ids in ANIMAL_CLASSES.values():
            if ids:
                out[list(ids)] = min(ids)
    return out


def group_name(group: int, classes: tuple[str, ...]) -> str:
    """A group's name: the COCO animal, or the class's own name."""
    if len(classes) == IMAGENET_CLASSES:
        for animal, ids in ANIMAL_CLASSES.items():
            if ids and min(ids) == group:
                return animal
    return classes[group]


def group_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """(N, classes) probabilities → (N, classes) where column g holds group g's summed probability (zero for
    classes that are not a group's id)."""
    p = np.asarray(probabilities, dtype=np.float32)
    out = np.zeros_like(p)
    np.add.at(out.T, group_of(p.shape[1]), p.T)
    return out


def best_groups(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per proposal: its best group, the group's summed probability, and the group's most likely class (the label)."""
    p = np.asarray(probabilities, dtype=np.float32)
    if not len(p):
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros(0, np.float32), empty
    gp = group_probabilities(p)
    groups = gp.argmax(axis=1)
    members = group_of(p.shape[1])[None, :] == groups[:, None]
    return groups, gp.max(axis=1), np.where(members, p, -1.0).argmax(axis=1)


def image_group(probabilities: np.ndarray) -> int:
    """The group the whole photo is about: every proposal votes for each group with its probability, weighted by
    that probability (mean of squares), so many confident boxes outvote one confident speck."""
    gp = group_probabilities(probabilities)
    return int((gp**2).mean(axis=0).argmax())


def candidates(scores: np.ndarray, boxes: np.ndarray, keep_fraction: float, most: int) -> np.ndarray:
    """Proposals scoring at least ``keep_fraction`` of the best score for the group, the ``most`` largest first."""
    s = np.asarray(scores, dtype=np.float64)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not len(s) or s.max() <= 0:
        return np.zeros(0, dtype=np.int64)
    ok = np.flatnonzero(s >= keep_fraction * s.max())
    area = (b[ok, 2] - b[ok, 0]) * (b[ok, 3] - b[ok, 1])
    return ok[np.argsort(-area, kind="stable")][:most]


def vote(boxes: np.ndarray, weights: np.ndarray, best: int, iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Box voting (Gidaris and Komodakis 2015): the average of the boxes overlapping box ``best`` by at least
    ``iou`` (itself included), each weighted by its score. Proposals only roughly follow the object's outline and
    the boxes around it err on different sides, so their average usually fits it better than any one of them.
    Returns the voted box (x0, y0, x1, y1) and which boxes voted."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    w = np.clip(np.asarray(weights, dtype=np.float64), 0, None)
    x0, y0 = np.maximum(b[:, 0], b[best, 0]), np.maximum(b[:, 1], b[best, 1])
    x1, y1 = np.minimum(b[:, 2], b[best, 2]), np.minimum(b[:, 3], b[best, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    overlap = inter / np.maximum(areas + areas[best] - inter, 1e-9)
    voters = (overlap >= iou) & (w > 0)
    voters[best] = True
    vw = np.where(voters, np.maximum(w, 1e-12), 0.0)
    return (b * vw[:, None]).sum(axis=0) / vw.sum(), voters


@dataclass(frozen=True)
class Ranking:
    """How the best box was chosen among the proposals of the photo's group: each candidate's group probability
    seen inside the box, and that of the whole photo with the box erased. The best box is sure of the group
    inside and leaves nothing of it outside: it maximises ``inside × (1 − outside)``. ``box`` is that proposal
    refined by box voting (:func:`vote`) with the candidates that overlap it, ``voters`` marks them."""

    group: int
    name: str
    candidates: np.ndarray  # proposal indices, largest box first
    inside: np.ndarray
    outside: np.ndarray
    top: int  # the proposal with the highest group probability: what plain ranking picks
    seconds: float
    box: np.ndarray = field(default_factory=lambda: np.zeros(4))  # the voted best box, x0, y0, x1, y1
    voters: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # per candidate: voted for ``box``

    @property
    def scores(self) -> np.ndarray:
        return np.asarray(self.inside) * (1.0 - np.asarray(self.outside))

    @property
    def chosen(self) -> int:
        """The proposal index of the best box (-1 when there was no candidate)."""
        return int(self.candidates[int(np.argmax(self.scores))]) if len(self.candidates) else -1
