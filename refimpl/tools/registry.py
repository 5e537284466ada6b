"""The model registry: a plain mapping from model names to builders.

Each entry also says what the model is verified against (torchvision, timm, or
a table of the paper) and at which input size it is meant to run. The model
files themselves know nothing of this mapping: copy one and it still works.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from refimpl import densenet, resnet, senet

__all__ = ["ModelSpec", "create_model", "get_spec", "list_models"]

Reference = Literal["torchvision", "timm", "paper"]


@dataclass(frozen=True)
class ModelSpec:
    """What the project knows about one model.

    Args:
        name: the registry name, equal to the builder's name.
        builder: the one-line builder in the model's file.
        family: architecture family shown in tables ("ResNet", "ResNeXt", ...).
        reference: what the model is verified against: ``"torchvision"`` or
            ``"timm"`` (same weights, same outputs) or ``"paper"`` (a table).
        reference_name: the torchvision or timm builder name, or the paper table.
        input_size: the image side the model is meant for (224 or 32).
        paper_params: for ``reference="paper"``, the parameter count in millions
            exactly as the paper prints it ("0.27"), so its rounding is known.
        compare_outputs: ``False`` where the reference computes a slightly different
            function or names its weights differently, so that only the parameter
            counts are compared (and ``verify`` says so).
        adapt_state_dict: applied to a published checkpoint before it is loaded,
            for checkpoints whose keys predate the current names (DenseNet).
    """

    name: str
    builder: Callable[..., nn.Module]
    family: str
    reference: Reference
    reference_name: str
    input_size: int = 224
    paper_params: str | None = None
    compare_outputs: bool = True
    adapt_state_dict: Callable[[dict[str, Any]], dict[str, Any]] | None = None


_CIFAR_TABLE = "He et al. 2015, table 6"

_SPECS = [
    ModelSpec("resnet18", resnet.resnet18, "ResNet", "torchvision", "resnet18"),
    ModelSpec("resnet34", resnet.resnet34, "ResNet", "torchvision", "resnet34"),
    ModelSpec("resnet50", resnet.resnet50, "ResNet", "torchvision", "resnet50"),
    ModelSpec("resnet101", resnet.resnet101, "ResNet", "torchvision", "resnet101"),
    ModelSpec("resnet152", resnet.resnet152, "ResNet", "torchvision", "resnet152"),
    ModelSpec("resnext50_32x4d", resnet.resnext50_32x4d, "ResNeXt", "torchvision", "resnext50_32x4d"),
    ModelSpec("resnet20", resnet.resnet20, "CIFAR ResNet", "paper", _CIFAR_TABLE, 32, "0.27"),
    ModelSpec("resnet32", resnet.resnet32, "CIFAR ResNet", "paper", _CIFAR_TABLE, 32, "0.46"),
    ModelSpec("resnet44", resnet.resnet44, "CIFAR ResNet", "paper", _CIFAR_TABLE, 32, "0.66"),
    ModelSpec("resnet56", resnet.resnet56, "CIFAR ResNet", "paper", _CIFAR_TABLE, 32, "0.85"),
    ModelSpec("resnet110", resnet.resnet110, "CIFAR ResNet", "paper", _CIFAR_TABLE, 32, "1.7"),
]

_DENSENET_TABLE = "Huang et al. 2017, table 2"
_legacy = densenet.rename_legacy_keys  # torchvision's DenseNet checkpoints use pre-0.4 key names

_SPECS += [
    ModelSpec("densenet121", densenet.densenet121, "DenseNet", "torchvision", "densenet121", adapt_state_dict=_legacy),
    ModelSpec("densenet161", densenet.densenet161, "DenseNet", "torchvision", "densenet161", adapt_state_dict=_legacy),
    ModelSpec("densenet169", densenet.densenet169, "DenseNet", "torchvision", "densenet169", adapt_state_dict=_legacy),
    ModelSpec("densenet201", densenet.densenet201, "DenseNet", "torchvision", "densenet201", adapt_state_dict=_legacy),
    ModelSpec("densenet_bc_100", densenet.densenet_bc_100, "CIFAR DenseNet-BC", "paper", _DENSENET_TABLE, 32, "0.8"),
    ModelSpec("densenet_bc_250", densenet.densenet_bc_250, "CIFAR DenseNet-BC", "paper", _DENSENET_TABLE, 32, "15.3"),
    ModelSpec("densenet_bc_190", densenet.densenet_bc_190, "CIFAR DenseNet-BC", "paper", _DENSENET_TABLE, 32, "25.6"),
]

_SPECS += [
    # timm's legacy_seresnet18/34 keep r = 16 but pool differently (see refimpl/senet.py): counts only
    ModelSpec("se_resnet18", senet.se_resnet18, "SE-ResNet", "timm", "legacy_seresnet18", compare_outputs=False),
    ModelSpec("se_resnet34", senet.se_resnet34, "SE-ResNet", "timm", "legacy_seresnet34", compare_outputs=False),
    ModelSpec("se_resnet50", senet.se_resnet50, "SE-ResNet", "timm", "seresnet50"),
    ModelSpec("se_resnet101", senet.se_resnet101, "SE-ResNet", "timm", "seresnet101"),
    ModelSpec("se_resnet152", senet.se_resnet152, "SE-ResNet", "timm", "seresnet152"),
    ModelSpec("se_resnext50_32x4d", senet.se_resnext50_32x4d, "SE-ResNeXt", "timm", "seresnext50_32x4d"),
]
_REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def list_models() -> list[str]:
    """Names of every model, in the order of the tables on the site."""
    return list(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The registry entry of ``name``.

    Raises:
        ValueError: for an unknown name; the message names the closest known ones.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"known models: {', '.join(_REGISTRY)}"
        raise ValueError(f"unknown model {name!r}; {hint}") from None


def create_model(name: str, weights: str | None = None, **kwargs: Any) -> nn.Module:
    """Build a model by name, optionally with the official pretrained weights.

    Args:
        name: a name from ``list_models()``.
        weights: ``None`` for random initialisation, or the name of a published
            checkpoint of the reference: ``"DEFAULT"`` (the best one),
            ``"IMAGENET1K_V1"`` (what torchvision's old ``pretrained=True``
            gave) or ``"IMAGENET1K_V2"``; for the SE-Nets, timm's tag (``"a1_in1k"``).
            Loaded unchanged with ``strict=True``.
        **kwargs: passed to the builder (``num_classes``, ``zero_init_residual``, ...).

    Raises:
        ValueError: unknown model or weights, or options the weights cannot fit.
        refimpl.tools.weights.WeightsUnavailableError: the checkpoint is neither
            cached nor downloadable; the message says where to put the file.
    """
    spec = get_spec(name)
    if weights is None:
        return spec.builder(**kwargs)
    from refimpl.tools.weights import load_state_dict  # torchvision's weight enums are only needed here

    if kwargs.get("num_classes", 1000) != 1000 or kwargs.get("small_input", False):
        raise ValueError(
            "pretrained weights need num_classes=1000 and small_input=False; "
            "to fine-tune, load them and then replace the last layer (model.fc; model.classifier for DenseNet)"
        )
    model = spec.builder(**kwargs)
    model.load_state_dict(load_state_dict(spec, weights), strict=True)
    return model
