"""Models for the app and for notebooks: one registry with :func:`create` as the single front door.

>>> from cnn_demo import models
>>> net = models.create("cifar_resnet20")                 # pretrained, from ./weights or the torch hub cache
>>> cfg = models.data_config(net); tf = models.transform(cfg)
>>> backbone, n = models.feature_extractor(net)           # images -> (N, 64) vectors
>>> models.summarize(models.MyConvNet(), (3, 32, 32)).total_params
72042
"""

from cnn_demo.models.cifar import CIFAR10_CLASSES, CifarResNet
from cnn_demo.models.data import Augment, DataConfig, InputTensor, data_config, input_tensor, resize_side, transform
from cnn_demo.models.lecture import MyConvNet
from cnn_demo.models.registry import DEFAULT_MODEL, ModelInfo, class_names, create, get_info, list_models, model_name
from cnn_demo.models.summary import LayerRow, ModelSummary, summarize
from cnn_demo.models.surgery import (
    feature_extractor,
    get_head,
    head_path,
    named_stages,
    num_features,
    replace_head,
    stages,
)

__all__ = [
    "CIFAR10_CLASSES",
    "DEFAULT_MODEL",
    "Augment",
    "CifarResNet",
    "DataConfig",
    "InputTensor",
    "LayerRow",
    "ModelInfo",
    "ModelSummary",
    "MyConvNet",
    "class_names",
    "create",
    "data_config",
    "feature_extractor",
    "get_head",
    "get_info",
    "head_path",
    "input_tensor",
    "list_models",
    "model_name",
    "named_stages",
    "num_features",
    "replace_head",
    "resize_side",
    "stages",
    "summarize",
    "transform",
]
