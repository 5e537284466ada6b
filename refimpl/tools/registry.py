"""The registry: models by name, built from their declarations in ``refimpl/specs.py``.

``create_model(name, weights=...)`` builds a model and loads an official
checkpoint; ``preprocessing(name, weights)`` says how that checkpoint expects
its images, as torchvision's ``weights.transforms()`` and timm's
``pretrained_cfg`` do.
"""

from __future__ import annotations

import difflib
from typing import Any

from torch import nn

from refimpl.specs import SPECS
from refimpl.tools.modelspec import ModelSpec, Preprocessing

__all__ = ["create_model", "get_spec", "list_models", "preprocessing"]


def list_models() -> list[str]:
    """Names of every model, in the order of the tables on the site."""
    return list(SPECS)


def get_spec(name: str) -> ModelSpec:
    """The declaration of ``name``.

    Raises:
        ValueError: for an unknown name; the message names the closest known ones.
        TypeError: the name is not a string.
    """
    if not isinstance(name, str):
        raise TypeError(f"a model name must be a string, got {name!r}; known models: {', '.join(SPECS)}")
    try:
        return SPECS[name]
    except KeyError:
        close = difflib.get_close_matches(name, SPECS, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"known models: {', '.join(SPECS)}"
        raise ValueError(f"unknown model {name!r}; {hint}") from None


def preprocessing(name: str, weights: str = "DEFAULT") -> Preprocessing:
    """How the checkpoint ``weights`` of model ``name`` expects its images.

    ``preprocessing("resnet50", "IMAGENET1K_V2").transforms()`` is the
    evaluation transform of torchvision's ``ResNet50_Weights.IMAGENET1K_V2``
    (resize to 232, crop 224); for timm's checkpoints it is timm's (bicubic,
    its own crop fraction). ``create_model(..., weights=...)`` also attaches
    it to the model as ``model.preprocessing``.

    Raises:
        ValueError: unknown model, or no such checkpoint.
    """
    from refimpl.tools.weights import checkpoint_preprocessing

    return checkpoint_preprocessing(get_spec(name), weights)


def _replace_classifier(model: nn.Module, spec: ModelSpec, num_classes: int) -> None:
    """A fresh ``nn.Linear`` head for ``num_classes`` classes in place of the checkpoint's."""
    old = getattr(model, spec.classifier)
    head = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)
    nn.init.zeros_(head.bias)  # the networks' own initialisation of a linear layer's bias
    setattr(model, spec.classifier, head)


def _check_num_classes(num_classes: object) -> None:
    # bool is an int in Python, and nn.Linear accepts 0 outputs without complaint
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")


def create_model(name: str, weights: str | None = None, **kwargs: Any) -> nn.Module:
    """Build a model by name, optionally with the official pretrained weights.

    Args:
        name: a name from ``list_models()``.
        weights: ``None`` for random initialisation, or the name of a published
            checkpoint: ``"DEFAULT"`` (the best one), ``"IMAGENET1K_V1"`` (what
            torchvision's old ``pretrained=True`` gave) or ``"IMAGENET1K_V2"``;
            for the SE-Nets, timm's tag (``"a1_in1k"``). Loaded unchanged with
            ``strict=True``; the model gets the checkpoint's ``preprocessing``.
        **kwargs: passed to the builder (``num_classes``, ``zero_init_residual``,
            ...). With ``weights`` and a ``num_classes`` other than the
            checkpoint's 1000, the classifier is replaced by a new one, ready
            for fine-tuning, as timm does.

    Raises:
        ValueError: unknown model or weights, a ``num_classes`` that is not a
            positive integer, or options the weights cannot fit.
        TypeError: ``weights`` is not a name (``True``, the habit of
            ``pretrained=True``); the message lists the accepted names.
        refimpl.tools.weights.WeightsUnavailableError: the checkpoint is neither
            cached nor downloadable; the message says where to put the file.
    """
    spec = get_spec(name)
    if "num_classes" in kwargs:
        _check_num_classes(kwargs["num_classes"])
    if weights is None:
        return spec.builder(**kwargs)
    from refimpl.tools.weights import checkpoint_preprocessing, load_state_dict

    if kwargs.get("small_input"):
        raise ValueError("pretrained weights need small_input=False: the 3x3 stem has other weights than the 7x7 one")
    num_classes = kwargs.pop("num_classes", spec.num_classes)
    prep = checkpoint_preprocessing(spec, weights)  # fails on an unknown tag before any download
    model = spec.builder(**kwargs)
    model.load_state_dict(load_state_dict(spec, weights), strict=True)
    if num_classes != spec.num_classes:
        _replace_classifier(model, spec, num_classes)
    model.preprocessing = prep
    return model
