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

Checkpoints published elsewhere (the SE-Nets' are timm's, on the Hugging Face
hub) are declared by their tags in the model's spec (``hub_weights``) and
reached the same way: ``torch.hub`` downloads and caches them, and the same
offline error applies. timm itself is not needed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import torch
from torchvision.models import WeightsEnum, get_model_weights

from refimpl.tools.modelspec import ModelSpec, Preprocessing

__all__ = [
    "HubWeights",
    "WeightsUnavailableError",
    "available_weights",
    "cache_path",
    "checkpoint_preprocessing",
    "hub_weights",
    "load_state_dict",
    "resolve_weights",
]


class WeightsUnavailableError(RuntimeError):
    """The checkpoint is neither in the local cache nor downloadable."""


@dataclass(frozen=True)
class HubWeights:
    """A checkpoint published outside torchvision, downloaded and cached by ``torch.hub``.

    It offers what ``load_state_dict`` uses of a torchvision weights entry: ``url``
    and ``get_state_dict``. Unlike torchvision's files, Hugging Face's carry no
    hash in their names, so ``check_hash`` has nothing to check; the strict load
    still checks every key and shape.

    Args:
        name: the publisher's name for it, for example ``"timm/seresnet50.a1_in1k"``.
        url: where to download the file.
        file_name: its name in the cache, unique across models (every Hugging Face
            checkpoint is called ``pytorch_model.bin``).
    """

    name: str
    url: str
    file_name: str

    def __str__(self) -> str:
        return self.name

    def get_state_dict(self, progress: bool = True, check_hash: bool = False) -> dict[str, Any]:
        """Download (or read from the cache) and load the state dict, tensors only."""
        return torch.hub.load_state_dict_from_url(
            self.url, progress=progress, check_hash=check_hash, file_name=self.file_name, weights_only=True
        )


def hub_weights(spec: ModelSpec, tag: str) -> HubWeights:
    """The checkpoint ``tag`` of ``spec``'s timm model on the Hugging Face hub, as timm loads it without safetensors."""
    repo = f"timm/{spec.reference.name}.{tag}"
    return HubWeights(
        repo, f"https://huggingface.co/{repo}/resolve/main/pytorch_model.bin", f"timm_{spec.reference.name}.{tag}.bin"
    )


def _enum(spec: ModelSpec) -> type[WeightsEnum] | None:
    if spec.reference.source != "torchvision":
        return None
    return get_model_weights(spec.reference.name)


def available_weights(spec: ModelSpec) -> list[str]:
    """Names of the published checkpoints of a model (empty when there are none)."""
    if spec.hub_weights:
        return list(spec.hub_weights)
    enum = _enum(spec)
    return [] if enum is None else [w.name for w in enum]


def resolve_weights(spec: ModelSpec, weights: str) -> WeightsEnum | HubWeights:
    """The weights entry for ``"DEFAULT"``, ``"IMAGENET1K_V1"``, ... (or timm's tag, ``"a1_in1k"``).

    Raises:
        ValueError: the model has no published weights, or not under that name.
        TypeError: ``weights`` is not a string (``True``, the habit of ``pretrained=True``).
    """
    names = available_weights(spec)
    if not isinstance(weights, str):  # the habit of pretrained=True
        accepted = f"accepted: DEFAULT, {', '.join(names)}" if names else "it has none"
        raise TypeError(f"weights must be a checkpoint's name, got {weights!r}; for {spec.name} {accepted}")
    if not names:
        raise ValueError(f"{spec.name} has no published weights (it is verified against {spec.reference})")
    prefix, _, key = weights.rpartition(".")  # "seresnet50.a1_in1k" and "ResNet50_Weights.IMAGENET1K_V2" work too
    if key not in {"DEFAULT", *names} or prefix not in ("", *_prefixes(spec)):
        raise ValueError(f"unknown weights {weights!r} for {spec.name}; accepted: DEFAULT, {', '.join(names)}")
    if spec.hub_weights:
        return hub_weights(spec, names[0] if key == "DEFAULT" else key)
    enum = _enum(spec)
    assert enum is not None  # names came from it
    if key == "DEFAULT":
        return enum.DEFAULT  # type: ignore[attr-defined]
    return enum[key]


def _prefixes(spec: ModelSpec) -> tuple[str, ...]:
    """The prefixes a full checkpoint name may carry: timm's model name, or torchvision's enum."""
    enum = _enum(spec)
    return (spec.reference.name,) if enum is None else (enum.__name__,)


def checkpoint_preprocessing(spec: ModelSpec, weights: str) -> Preprocessing:
    """How the checkpoint ``weights`` of ``spec`` expects its images (see ``refimpl.preprocessing``).

    Raises:
        ValueError: the model has no published weights, or not under that name.
    """
    entry = resolve_weights(spec, weights)
    if isinstance(entry, HubWeights):
        return spec.hub_weights[entry.name.rpartition(".")[2]]
    options = entry.transforms.keywords  # torchvision: partial(ImageClassification, crop_size=..., ...)
    return Preprocessing(crop_size=options["crop_size"], resize_size=options.get("resize_size", 256))


def cache_path(entry: WeightsEnum | HubWeights) -> str:
    """Where ``torch.hub`` keeps (or would keep) the checkpoint file."""
    filename = entry.file_name if isinstance(entry, HubWeights) else os.path.basename(urlparse(entry.url).path)
    return os.path.join(torch.hub.get_dir(), "checkpoints", filename)


def load_state_dict(spec: ModelSpec, weights: str) -> dict[str, Any]:
    """The official state dict of ``spec`` under the name ``weights``.

    Downloads through torchvision (hash-checked), or for a ``HubWeights`` entry
    through ``torch.hub``, unless the file is cached, and applies
    ``spec.adapt_state_dict`` where the checkpoint's keys need renaming.

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
