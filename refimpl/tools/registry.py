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

from refimpl.modelspec import ModelSpec, Preprocessing
from refimpl.specs import SPECS

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


def _check_num_classes(num_classes: object) -> None:
    # bool is an int in Python, and nn.Linear accepts 0 outputs without complaint
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")


def _refuse_pretrained(spec: ModelSpec) -> TypeError:
    """torchvision's old ``pretrained=True``: what to write instead, for this model."""
    from refimpl.tools.weights import available_weights

    names = available_weights(spec)
    if not names:
        return TypeError(
            f"pretrained is torchvision's old flag, not an argument of create_model, and {spec.name} has no "
            "published weights: leave weights=None (random initialisation)"
        )
    if "IMAGENET1K_V1" in names:
        instead = 'weights="IMAGENET1K_V1" (what pretrained=True meant) or weights="DEFAULT" (the best)'
    else:  # timm's checkpoints: pretrained=True meant timm's default tag
        instead = f'weights="DEFAULT" (what timm\'s pretrained=True meant: {names[0]})'
    return TypeError(
        f"pretrained is torchvision's old flag, not an argument of create_model: write {instead}, or leave "
        f"weights=None for random initialisation; {spec.name} accepts DEFAULT, {', '.join(names)}"
    )


def _refuse_small_input(spec: ModelSpec) -> ValueError:
    """``small_input`` given to a model whose builder does not take it (the CIFAR models)."""
    takers = [name for name, other in SPECS.items() if other.small_input]
    return ValueError(
        f"{spec.name} takes no small_input: it is built for {spec.input_size}x{spec.input_size} inputs already; "
        f"small_input=True gives the models built for larger ones ({', '.join(takers[:3])}, ...) a stem for "
        "32x32 images"
    )


def create_model(name: str, weights: str | None = None, **kwargs: Any) -> nn.Module:
    """Build a model by name, optionally with the official pretrained weights.

    Args:
        name: a name from ``list_models()``.
        weights: ``None`` for random initialisation, or the name of a published
            checkpoint: ``"DEFAULT"`` (the best one), ``"IMAGENET1K_V1"`` (what
            torchvision's old ``pretrained=True`` gave) or ``"IMAGENET1K_V2"``;
            for the SE-Nets, timm's tag (``"a1_in1k"``). Loaded unchanged with
            ``strict=True``; the model gets the checkpoint's ``preprocessing``.
            The file is checked before use (see ``refimpl.tools.weights``).
        **kwargs: passed to the builder (``num_classes``, ``zero_init_residual``,
            ...). With ``weights`` and a ``num_classes`` other than the
            checkpoint's 1000, the classifier is replaced by a new one, ready
            for fine-tuning, as timm does.

    Raises:
        ValueError: unknown model or weights, a ``num_classes`` that is not a
            positive integer, ``small_input`` for a model that does not take it
            (the CIFAR models), or options the weights cannot fit.
        TypeError: ``weights`` is not a name (``True``), or ``pretrained=``, the
            habit of torchvision's old flag; the message lists the accepted names.
        refimpl.tools.weights.WeightsUnavailableError: the checkpoint is neither
            cached nor downloadable; the message says where to put the file.
        refimpl.tools.weights.BadCheckpointError: the cached file fails a check
            (hash, tensors only, finite values, the model's keys and shapes); the
            message names the file and says what to do.
    """
    spec = get_spec(name)
    if "pretrained" in kwargs:  # the builders would say only "unexpected keyword argument"
        raise _refuse_pretrained(spec)
    if "small_input" in kwargs and not spec.small_input:  # DenseNet-BC's builder would say "multiple values"
        raise _refuse_small_input(spec)
    if "num_classes" in kwargs:
        _check_num_classes(kwargs["num_classes"])
    if weights is None:
        return spec.builder(**kwargs)
    from refimpl.tools.weights import checkpoint_preprocessing, load_pretrained

    if kwargs.get("small_input"):
        raise ValueError("pretrained weights need small_input=False: the 3x3 stem has other weights than the 7x7 one")
    num_classes = kwargs.pop("num_classes", spec.num_classes)
    prep = checkpoint_preprocessing(spec, weights)  # fails on an unknown tag before any download
    model = spec.builder(**kwargs)
    load_pretrained(model, spec, weights)
    if num_classes != spec.num_classes:
        model.reset_classifier(num_classes)  # a fresh head; the rest keeps the checkpoint's weights
    model.preprocessing = prep
    return model
