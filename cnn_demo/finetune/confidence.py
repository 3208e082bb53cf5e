"""When a photo looks like none of the classes: a closed-set classifier's softmax must share all of its
probability among the classes it was trained on, so a bear shown to an ants/bees model still comes out as
"ants 70 %". Its top probability is the simple, standard warning sign (the maximum-softmax-probability baseline of
Hendrycks & Gimpel, *A Baseline for Detecting Misclassified and Out-of-Distribution Examples*, ICLR 2017): photos
of the classes usually get a high one, photos of something else a lower one. It is a hint, not a detector.

The threshold is read from the model's own validation images where they are known: the top probability that all but
:data:`FALSE_ALARM` (5 %) of the *correctly classified* ones reach. So at most about one photo in twenty of the
classes is flagged, whatever the number of classes or how sure this model tends to be. Without validation images
(an uploaded model zip) it is halfway between chance (1/K) and certainty: 75 % for two classes.
"""

from __future__ import annotations

import numpy as np

#: Share of the correctly classified validation images whose top probability may fall below the threshold.
FALSE_ALARM = 0.05
#: Fewer correct validation images than this give no usable quantile: the fallback threshold is used.
MIN_CORRECT = 10


def fallback_threshold(n_classes: int) -> float:
    """Halfway between chance (``1 / n_classes``) and certainty: the threshold when no validation data is known."""
    return (1.0 + 1.0 / max(n_classes, 1)) / 2.0


def confidence_threshold(probs: np.ndarray, labels: np.ndarray, false_alarm: float = FALSE_ALARM) -> float:
    """The top probability that all but ``false_alarm`` of the correctly classified validation images reach.

    ``probs``: (N, K) softmax outputs on the validation images, ``labels``: their true classes. Falls back to
    :func:`fallback_threshold` when fewer than :data:`MIN_CORRECT` images were classified correctly; never below
    chance, never above 0.99 (a model sure of everything would otherwise flag every photo that is not perfect).
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    n_classes = probs.shape[1] if probs.ndim == 2 else 2
    if probs.ndim != 2 or len(probs) != len(labels) or not len(probs):
        return fallback_threshold(n_classes)
    top = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    if correct.sum() < MIN_CORRECT:
        return fallback_threshold(n_classes)
    value = float(np.quantile(top[correct], false_alarm))
    return min(max(value, 1.0 / n_classes), 0.99)


def looks_unfamiliar(probs: np.ndarray, threshold: float) -> bool:
    """Whether a photo's class probabilities ``probs`` have a top probability below ``threshold``."""
    return float(np.max(probs)) < threshold
