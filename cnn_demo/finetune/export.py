"""Export of a fine-tuned model (safetensors zip, ONNX) and the checked reading of an uploaded model zip."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from collections.abc import Collection
from dataclasses import asdict, replace
from typing import Any

import torch

from cnn_demo.data.datasets.checks import validate_labels
from cnn_demo.errors import InputError
from cnn_demo.finetune.backbone import load_backbone, preprocessing_fields
from cnn_demo.finetune.config import TrainConfig, build_head
from cnn_demo.finetune.model import FineTuned
from cnn_demo.finetune.trainer import EXPORT_METRICS
from cnn_demo.io.archive import SafeZip, ZipLimits

EXPORT_FORMAT = "cnn-demo-finetune/1"
RELOAD_SNIPPET = '''"""Reload this fine-tuned model with cnn-demo installed (predict_onnx.py needs no cnn-demo)."""
import sys

from PIL import Image

from cnn_demo.finetune import load_export

with open("{zip_name}", "rb") as f:
    model = load_export(f.read())  # FineTuned: .predict([PIL images]) -> class probabilities
for path in sys.argv[1:]:
    probs = model.predict([Image.open(path)])[0]
    print(path, model.class_names[int(probs.argmax())], f"{{probs.max():.1%}}")
'''


#: Standalone prediction with the exported ONNX model: needs only numpy, Pillow and onnxruntime (no torch, no
#: cnn_demo). Class names and preprocessing come from the model's own metadata.
ONNX_SCRIPT = '''"""Classify images with model.onnx; needs only numpy, Pillow and onnxruntime.

    pip install onnxruntime pillow numpy
    python predict_onnx.py model.onnx photo1.jpg photo2.jpg
"""

import json
import math
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image


def preprocess(path, meta):
    """Resize the shorter side, centre-crop and normalise, as the model was trained (metadata of model.onnx)."""
    size = int(meta["input_size"])
    resize = max(size, math.floor(size / float(meta["crop_pct"]) + 1e-6))
    resample = {"bicubic": Image.Resampling.BICUBIC, "nearest": Image.Resampling.NEAREST}.get(
        meta["interpolation"], Image.Resampling.BILINEAR
    )
    image = Image.open(path).convert("RGB")
    scale = resize / min(image.size)
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), resample)
    left, top = (image.width - size) // 2, (image.height - size) // 2
    image = image.crop((left, top, left + size, top + size))
    x = np.asarray(image, dtype=np.float32) / 255.0
    x = (x - np.asarray(json.loads(meta["mean"]), np.float32)) / np.asarray(json.loads(meta["std"]), np.float32)
    return x.transpose(2, 0, 1)


def main(model_path, image_paths):
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    class_names = json.loads(meta["class_names"])
    batch = np.stack([preprocess(p, meta) for p in image_paths])  # any batch size
    logits = session.run(["logits"], {"image": batch})[0]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    for path, p in zip(image_paths, probs):
        print(f"{path}\\t{class_names[int(p.argmax())]}\\t{p.max():.4f}")
    return probs


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python predict_onnx.py model.onnx image [image ...]")
    main(sys.argv[1], sys.argv[2:])
'''


def export_zip(model: FineTuned, metrics: dict[str, Any] | None = None, onnx: bool = False) -> bytes:
    """The model as a zip: ``model.safetensors``, ``config.json``, ``reload.py``; with ``onnx`` also ``model.onnx``
    and the standalone ``predict_onnx.py``."""
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.model.state_dict().items()}
    config = {
        "format": EXPORT_FORMAT,
        "backbone": model.backbone.name,
        "pretrained": model.backbone.pretrained,
        "num_features": model.backbone.num_features,
        "class_names": list(model.class_names),
        "preprocessing": _preprocessing(model),
        "head": asdict(model.config.head),
        "training": model.config.to_dict(),
        "metrics": metrics or {},
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        # Float weights shrink by ~7 % deflated, for ~0.4 s of a ~1 s job that found its features cached: stored.
        zf.writestr("model.safetensors", save(state), compress_type=zipfile.ZIP_STORED)
        zf.writestr("config.json", json.dumps(config, indent=1))
        zf.writestr("reload.py", RELOAD_SNIPPET.format(zip_name="model.zip"))
        if onnx:
            zf.writestr("model.onnx", export_onnx(model, metrics))
            zf.writestr("predict_onnx.py", ONNX_SCRIPT)
    return buf.getvalue()


def _preprocessing(model: FineTuned) -> dict[str, Any]:
    pre = preprocessing_fields(model.backbone.preprocess)
    return {**pre, "input_size": model.config.image_size or pre["input_size"]}


def export_onnx(model: FineTuned, metrics: dict[str, Any] | None = None) -> bytes:
    """The model (images in, logits out) as ONNX bytes, with a dynamic batch size and, in its metadata, the class
    names and the preprocessing (input size, crop, interpolation, mean, std), so it is usable on its own, and
    ``metrics`` (its accuracies beside the majority-class baseline) as JSON."""
    import onnx

    pre = _preprocessing(model)
    size = int(pre["input_size"])
    m = copy.deepcopy(model.model).cpu().eval()
    buf = io.BytesIO()
    try:
        torch.onnx.export(
            m,
            (torch.zeros(2, 3, size, size),),
            buf,  # type: ignore[arg-type]  # torch writes to any binary file object
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
        )
    except Exception as exc:
        raise InputError(f"This model could not be exported to ONNX ({type(exc).__name__}).") from exc
    proto = onnx.load_from_string(buf.getvalue())
    meta = {
        "format": EXPORT_FORMAT,
        "backbone": model.backbone.name,
        "class_names": json.dumps(list(model.class_names)),
        "input_size": str(size),
        "crop_pct": str(pre["crop_pct"]),
        "interpolation": str(pre["interpolation"]),
        "mean": json.dumps(list(pre["mean"])),
        "std": json.dumps(list(pre["std"])),
        "input": "float32 (batch, 3, H, W), RGB scaled to 0..1, then (x - mean) / std",
        "output": "logits (batch, classes); softmax gives the class probabilities",
    }
    if metrics:
        meta["metrics"] = json.dumps(metrics)
    onnx.helper.set_model_props(proto, meta)
    return proto.SerializeToString()


_WEIGHT_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt", ".th", ".tar", ".npy", ".npz", ".h5")
MAX_EXPORT_BYTES = 300_000_000
#: A member that unpacks to more than this many times its packed size (past 1 MB) is a compression bomb.
MAX_EXPORT_RATIO = 200
#: An uploaded model zip: config.json and model.safetensors, read through the one safe zip reader.
MODEL_ZIP_LIMITS = ZipLimits(
    max_zip_bytes=MAX_EXPORT_BYTES,
    max_uncompressed_bytes=MAX_EXPORT_BYTES,
    max_file_bytes=MAX_EXPORT_BYTES,
    max_entries=100,
    max_ratio=MAX_EXPORT_RATIO,
)
_CONFIG_TYPES = "config.json is missing fields or has values of the wrong type"


def _export_config(config: Any, backbones: Collection[str] | None) -> tuple[TrainConfig, list[str]]:
    """The training settings and class names of an export's config.json, checked field by field."""
    if not isinstance(config, dict) or config.get("format") != EXPORT_FORMAT:
        raise InputError("config.json is not a cnn-demo fine-tuning export.")
    training, class_names = config.get("training"), config.get("class_names")
    if not isinstance(training, dict) or not isinstance(class_names, list):
        raise InputError(f"{_CONFIG_TYPES} (training, class_names).")
    try:
        cfg = TrainConfig.from_dict(training)
    except InputError as exc:
        raise InputError(f"config.json of this model zip: {exc}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{_CONFIG_TYPES} (training).") from exc
    if not isinstance(cfg.backbone, str) or (backbones is not None and cfg.backbone not in backbones):
        raise InputError(
            f"This model uses the backbone {str(cfg.backbone)[:60]!r}, which this app does not offer. "
            "Upload a model.zip exported by this page."
        )
    if not 2 <= len(class_names) <= 1000:
        raise InputError(f"config.json lists {len(class_names)} class name(s); a model needs 2 to 1000 classes.")
    try:  # the rules of class names typed in the page or given by a dataset's folders
        return cfg, validate_labels(class_names)
    except InputError as exc:
        raise InputError(f"The class names in this model zip's config.json cannot be used. {exc}") from exc


def load_export(blob: bytes, backbones: Collection[str] | None = None) -> FineTuned:
    """Restore a model from an :func:`export_zip` zip. Only safetensors weights are read; pickles are refused unread.

    ``backbones``: the backbone names accepted (uploads pass the page's choices, so a zip cannot make the server
    build an arbitrary timm model); ``None`` accepts any name :func:`load_backbone` knows. Every problem of the
    file (not a zip, bombs, bad names, broken or mistyped config.json, NaN or mismatched weights) raises
    :class:`InputError`.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    if not blob:
        raise InputError("The file is empty.")
    with SafeZip(blob, MODEL_ZIP_LIMITS, expected="the model.zip exported by this app") as zf:
        if any(n.lower().endswith(_WEIGHT_SUFFIXES) for n in zf.entry_names) and "model.safetensors" not in zf.names:
            raise InputError(
                "This zip holds pickled PyTorch weights, which can run code when loaded, so they are refused. "
                "Only model.safetensors exported by this app is accepted."
            )
        if "model.safetensors" not in zf.names or "config.json" not in zf.names:
            raise InputError("The zip must contain model.safetensors and config.json (as exported by this app).")
        raw_config = zf.read("config.json")
        raw_weights = zf.read("model.safetensors")
        try:
            config = json.loads(raw_config)
        except RecursionError as exc:
            raise InputError("config.json in this zip is damaged (nested far too deeply).") from exc
        except ValueError as exc:
            raise InputError("config.json in this zip is damaged (not valid JSON text).") from exc
        cfg, class_names = _export_config(config, backbones)
        try:
            weights = load(raw_weights)
        except (ValueError, TypeError, SafetensorError) as exc:
            raise InputError("model.safetensors in this zip is damaged.") from exc
    if any(not torch.isfinite(t).all() for t in weights.values() if t.is_floating_point()):
        raise InputError("The weights contain NaN or infinite values.")
    bb = load_backbone(cfg.backbone, pretrained=False)
    head = build_head(bb.num_features, len(class_names), cfg.head)
    model = FineTuned(bb, head, class_names, replace(cfg, pretrained=False), read_metrics(config.get("metrics")))
    expected = model.model.state_dict()
    for name, tensor in weights.items():
        want = expected.get(name)
        if want is not None and tensor.dtype != want.dtype:
            # load_state_dict would copy int8 or float16 values into float32 parameters without a word: a quantised
            # or half-precision export would then predict with weights it was never trained with.
            raise InputError(
                f"The weights are stored as {str(tensor.dtype).removeprefix('torch.')} but this model needs "
                f"{str(want.dtype).removeprefix('torch.')} (tensor {name[:60]!r}). Upload the model.zip exported by "
                "this app, without quantising or converting it."
            )
    try:
        model.model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise InputError("These weights do not match the backbone and head described in config.json.") from exc
    model.model.eval()
    return model


_FRACTIONS = {k for k in EXPORT_METRICS if k.endswith("accuracy")}
_COUNTS = {"final_epoch", "best_epoch", "n_train", "n_val", "n_test"}
_NAMES = {"majority_class", "test_majority_class"}


def read_metrics(raw: Any) -> dict[str, Any]:
    """The well-formed figures of an export's ``metrics`` (an upload is untrusted): accuracies in 0..1, counts,
    class names (cut to 100 characters); anything else is left out."""
    out: dict[str, Any] = {}
    if not isinstance(raw, dict):
        return out
    for key in EXPORT_METRICS:
        v = raw.get(key)
        if key in _FRACTIONS and isinstance(v, int | float) and not isinstance(v, bool) and 0.0 <= v <= 1.0:
            out[key] = float(v)
        elif key in _COUNTS and isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 10**7:
            out[key] = v
        elif key in _NAMES and isinstance(v, str):
            out[key] = v[:100]
    return out


def metrics_summary(metrics: dict[str, Any]) -> str | None:
    """An exported model's figures in one plain sentence, the accuracy beside the majority-class baseline and the
    epoch it comes from; ``None`` when the export recorded none."""
    best = metrics.get("best_val_accuracy", metrics.get("val_accuracy"))
    if best is None:
        return None
    text = f"Validation accuracy {best:.1%}"
    if "best_epoch" in metrics:
        of = f" of {metrics['final_epoch']}" if "final_epoch" in metrics else ""
        text += f" at its best epoch ({metrics['best_epoch']}{of}, the one kept)"
    if "final_val_accuracy" in metrics:
        text += f", {metrics['final_val_accuracy']:.1%} after the final epoch"
    if "baseline_val_accuracy" in metrics:
        who = f"“{metrics['majority_class']}”" if "majority_class" in metrics else "the majority class"
        text += f"; always answering {who} scores {metrics['baseline_val_accuracy']:.1%} on the same images"
    else:
        text += " (this export recorded no majority-class baseline to compare it with)"
    if "test_accuracy" in metrics:
        base = metrics.get("baseline_test_accuracy")
        text += f". Held-out test images: {metrics['test_accuracy']:.1%}" + (
            f" (baseline {base:.1%})" if base is not None else ""
        )
    return text + "."
