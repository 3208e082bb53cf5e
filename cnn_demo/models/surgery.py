"""Backbone and head: the split fine-tuning needs (features → pooled vector → final linear layer).

For every registered model the *head* is the final ``nn.Linear`` producing the class scores (timm's
``get_classifier()`` for timm models); everything before it is the *backbone*, which maps a batch of images
to an (N, num_features) vector with ``num_features = head.in_features``.
"""

from __future__ import annotations

import copy

from torch import nn

from cnn_demo.errors import InputError

_STAGE_CONTAINERS = ("features", "feature", "blocks", "stages")


def head_path(model: nn.Module) -> str:
    """Dotted name of the model's final classification layer (``fc``, ``classifier.6``, ``linear`` …)."""
    get_classifier = getattr(model, "get_classifier", None)
    if callable(get_classifier):
        clf = get_classifier()
        for name, module in model.named_modules():
            if module is clf and isinstance(module, nn.Linear):
                return name
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    if last is None:
        raise InputError(f"{type(model).__name__} has no final linear layer, so it has no classification head.")
    return last


def get_head(model: nn.Module) -> nn.Linear:
    """The model's final classification layer."""
    head = model.get_submodule(head_path(model))
    assert isinstance(head, nn.Linear)  # head_path finds the last nn.Linear
    return head


def num_features(model: nn.Module) -> int:
    """Length of the feature vector the backbone hands to the head."""
    return get_head(model).in_features


def _set_submodule(root: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, last = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    setattr(parent, last, module)


def replace_head(model: nn.Module, head: nn.Module) -> nn.Module:
    """Put ``head`` in place of the model's final layer, in place, and return the model.

    Only for a model of your own from :func:`cnn_demo.models.create`, never for a shared cached one.
    """
    _set_submodule(model, head_path(model), head)
    out = getattr(head, "out_features", None)
    if out is not None and hasattr(model, "num_classes"):
        model.num_classes = out
    return model


def feature_extractor(model: nn.Module) -> tuple[nn.Module, int]:
    """``(backbone, num_features)``: a module mapping images to pooled (N, num_features) vectors.

    The backbone is a light structural copy whose head is ``nn.Identity``: it shares every parameter tensor with
    ``model`` (no memory is copied, and training it trains ``model``), and ``model`` itself is left unchanged.
    """
    path = head_path(model)
    features = get_head(model).in_features
    root = copy.copy(model)
    root._modules = dict(model._modules)
    parent = root
    parts = path.split(".")
    for part in parts[:-1]:
        original = parent._modules[part]
        assert original is not None
        child = copy.copy(original)
        child._modules = dict(child._modules)
        parent._modules[part] = child
        parent = child
    parent._modules[parts[-1]] = nn.Identity()
    return root, features


def _has_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def named_stages(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The backbone's trainable stages from input to output (the head excluded), with readable names.

    A stage is a block of a ``features``/``blocks``/``stages`` container (``features.3``), a residual
    ``layerN``, a run of consecutive single layers (the stem, named ``conv1+bn1``), or the layers of the
    classifier before the head (``classifier[:6]``); parameter-free modules are skipped. Stages share their
    modules with ``model``. Names of real submodules can be passed to ``model.get_submodule``.
    """
    head = head_path(model)
    out: list[tuple[str, nn.Module]] = []
    run: list[tuple[str, nn.Module]] = []

    def flush() -> None:
        if len(run) == 1:
            out.append(run[0])
        elif run:
            out.append(("+".join(n for n, _ in run), nn.Sequential(*(m for _, m in run))))
        run.clear()

    for name, child in model.named_children():
        if not _has_params(child) or name == head:
            continue
        if head.startswith(name + "."):
            flush()
            if isinstance(child, nn.Sequential):
                idx = int(head.split(".")[1])
                before = child[:idx]
                if _has_params(before):
                    out.append((f"{name}[:{idx}]", before))
            continue
        if name in _STAGE_CONTAINERS and isinstance(child, (nn.Sequential, nn.ModuleList)):
            flush()
            out.extend((f"{name}.{i}", block) for i, block in enumerate(child) if _has_params(block))
        elif _is_single_layer(child):
            run.append((name, child))
        else:
            flush()
            out.append((name, child))
    flush()
    return out


def _is_single_layer(module: nn.Module) -> bool:
    """A leaf, or a layer whose children hold no parameters (timm's BatchNormAct2d: norm + activation)."""
    return all(not _has_params(c) for c in module.children()) and (
        next(iter(module.children()), None) is None or any(True for _ in module.parameters(recurse=False))
    )


def stages(model: nn.Module) -> list[nn.Module]:
    """The backbone's stages from input to output, head excluded (see :func:`named_stages`), for unfreezing the
    last N: ``for s in stages(model)[-n:]: s.requires_grad_(True)``."""
    return [m for _, m in named_stages(model)]
