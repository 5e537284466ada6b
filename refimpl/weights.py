"""Official pretrained weights, loaded unchanged into the refimpl models.

torchvision's checkpoints are reached through torchvision's own weight enums,
so the URL and the hash check are exactly torchvision's; files are cached by
``torch.hub`` under ``$TORCH_HOME/hub/checkpoints``. Without network access and
without a cached file, loading fails with a message that names the missing file
and where to put it.

Note that torchvision's deprecated ``pretrained=True`` (used by many tutorials,
the lecture notes included) means the ``IMAGENET1K_V1`` weights; ``"DEFAULT"``
gives the better ``IMAGENET1K_V2`` where one exists (ResNet-50: 76.13% vs
80.86% top-1).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

import torch
from torchvision.models import WeightsEnum, get_model_weights

from refimpl.registry import ModelSpec

__all__ = ["WeightsUnavailableError", "available_weights", "cache_path", "load_state_dict", "resolve_weights"]


class WeightsUnavailableError(RuntimeError):
    """The checkpoint is neither in the local cache nor downloadable."""


def _enum(spec: ModelSpec) -> type[WeightsEnum] | None:
    if spec.reference != "torchvision":
        return None
    return get_model_weights(spec.reference_name)


def available_weights(spec: ModelSpec) -> list[str]:
    """Names of the published checkpoints of a model (empty when there are none)."""
    enum = _enum(spec)
    return [] if enum is None else [w.name for w in enum]


def resolve_weights(spec: ModelSpec, weights: str) -> WeightsEnum:
    """The torchvision weights entry for ``"DEFAULT"``, ``"IMAGENET1K_V1"``, ...

    Raises:
        ValueError: the model has no published weights, or not under that name.
    """
    enum = _enum(spec)
    names = available_weights(spec)
    if enum is None or not names:
        raise ValueError(f"{spec.name} has no published weights (it is verified against {spec.reference_name})")
    key = weights.rsplit(".", 1)[-1]  # accept "ResNet50_Weights.IMAGENET1K_V2" as well
    if key == "DEFAULT":
        return enum.DEFAULT  # type: ignore[attr-defined]
    if key not in names:
        raise ValueError(f"unknown weights {weights!r} for {spec.name}; accepted: DEFAULT, {', '.join(names)}")
    return enum[key]


def cache_path(entry: WeightsEnum) -> str:
    """Where ``torch.hub`` keeps (or would keep) the checkpoint file."""
    filename = os.path.basename(urlparse(entry.url).path)
    return os.path.join(torch.hub.get_dir(), "checkpoints", filename)


def load_state_dict(spec: ModelSpec, weights: str) -> dict[str, Any]:
    """The official state dict of ``spec`` under the name ``weights``.

    Downloads through torchvision (hash-checked) unless the file is cached, and
    applies ``spec.adapt_state_dict`` where the checkpoint's keys need renaming.

    Raises:
        ValueError: unknown weights name.
        WeightsUnavailableError: no cached file and the download failed.
    """
    entry = resolve_weights(spec, weights)
    try:
        state_dict = entry.get_state_dict(progress=True, check_hash=True)
    except (OSError, RuntimeError) as err:  # URLError is an OSError; a hash mismatch a RuntimeError
        path = cache_path(entry)
        raise WeightsUnavailableError(
            f"cannot load {entry} for {spec.name}: {path} is not cached and downloading {entry.url} failed "
            f"({err}); download that file where you have network access and put it at {path} "
            "(set TORCH_HOME to use another cache folder)"
        ) from err
    return state_dict if spec.adapt_state_dict is None else spec.adapt_state_dict(state_dict)
