"""Official pretrained weights, loaded unchanged into the refimpl models, and never trusted before they are checked.

torchvision's checkpoints are found through torchvision's own weight enums
(their URLs and file names); timm's, for the SE-Nets and the pre-activation
ResNets, are declared by their tags in the model's spec (``hub_weights``) and
read from the Hugging Face hub. timm itself is not needed. Files are cached
under ``$TORCH_HOME/hub/checkpoints``, where ``torch.hub`` keeps them.

Every file, downloaded or found in the cache, is checked before it is used:

- torchvision's file names carry a prefix of the file's SHA-256
  (``resnet18-f37072fd.pth``). ``torch.hub`` checks it only while it
  downloads; here the cached file's hash is checked too, before anything in
  it is unpickled, so a replaced or damaged file is refused unread. Hugging
  Face's file names carry no hash: for timm's checkpoints only the checks
  below stand (they refuse a file of NaNs, not one of other finite weights).
- The file is read with ``torch.load(..., weights_only=True)``, always: it
  may hold tensors and plain containers only, so a file that would run code
  when unpickled is refused (torchvision's own ``get_state_dict`` unpickles
  everything).
- It must be a state dict of tensors, every floating-point value finite,
  with exactly the model's keys and shapes.

A file that fails a check, or that cannot be read at all, is refused with a
one-line ``BadCheckpointError`` that names it and says what to do (delete it
to download it again, or put the right file there); nothing is deleted.
Without network access and without a cached file, loading fails with a
``WeightsUnavailableError`` that names the missing file and where to put it.

Note that torchvision's deprecated ``pretrained=True`` (used by many tutorials,
the lecture notes included) means the ``IMAGENET1K_V1`` weights; ``"DEFAULT"``
gives the better ``IMAGENET1K_V2`` where one exists (ResNet-50: 76.13% vs
80.86% top-1).
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.models import WeightsEnum, get_model_weights

from refimpl.modelspec import ModelSpec, Preprocessing
from refimpl.tools.errors import first_sentence

__all__ = [
    "BadCheckpointError",
    "HubWeights",
    "WeightsUnavailableError",
    "available_weights",
    "cache_path",
    "checkpoint_preprocessing",
    "expected_hash",
    "hub_weights",
    "load_pretrained",
    "load_state_dict",
    "load_weights_file",
    "resolve_weights",
]


class WeightsUnavailableError(RuntimeError):
    """The checkpoint cannot be had: it is neither in the local cache nor downloadable, or the cached file is bad."""


class BadCheckpointError(WeightsUnavailableError):
    """The file in the cache is not the published checkpoint: wrong hash, unreadable, or not the model's tensors."""


@dataclass(frozen=True)
class HubWeights:
    """A checkpoint published outside torchvision, downloaded and cached as ``torch.hub`` does.

    It offers what a torchvision weights entry offers: ``url`` and
    ``get_state_dict``. Unlike torchvision's files, Hugging Face's carry no hash
    in their names, so there is no hash to check: the file is read with
    ``weights_only=True``, and its values must be finite and its keys and shapes
    the model's.

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
        """Download (or read from the cache) and load the state dict, tensors only, checked as the module says.

        Args:
            progress: show a progress bar while downloading.
            check_hash: kept for the signature of torchvision's entries; a
                Hugging Face file has no hash in its name to check.

        Raises:
            WeightsUnavailableError: not cached, and the download failed.
            BadCheckpointError: the cached file is not a state dict of finite tensors.
        """
        return _read_checkpoint(self, str(self), progress)


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


def expected_hash(entry: WeightsEnum | HubWeights) -> str | None:
    """The prefix of the file's SHA-256 that its name carries (``resnet18-f37072fd.pth``), or ``None`` without one.

    Read from the name as ``torch.hub`` reads it for its download check
    (``torch.hub.HASH_REGEX``), so that both checks expect the same hash.
    """
    if isinstance(entry, HubWeights):  # Hugging Face's names carry none
        return None
    match = torch.hub.HASH_REGEX.search(os.path.basename(cache_path(entry)))
    return (match.group(1) or None) if match else None


def _download(entry: WeightsEnum | HubWeights, what: str, path: str, progress: bool) -> None:
    """Download ``entry`` to ``path``, as ``torch.hub`` does: to a temporary file, moved there once its hash checks.

    Raises:
        WeightsUnavailableError: the download failed; the message says where to put the file instead.
    """
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        sys.stderr.write(f'Downloading: "{entry.url}" to {path}\n')  # what torch.hub prints
        torch.hub.download_url_to_file(entry.url, path, hash_prefix=expected_hash(entry), progress=progress)
    except (OSError, RuntimeError) as err:  # URLError is an OSError; a hash mismatch a RuntimeError
        raise WeightsUnavailableError(
            f"cannot load {what}: {path} is not cached and downloading {entry.url} failed "
            f"({first_sentence(err)}); download that file where you have network access and put it at {path} "
            "(set TORCH_HOME to use another cache folder)"
        ) from err


def _read_checkpoint(entry: WeightsEnum | HubWeights, what: str, progress: bool = True) -> dict[str, torch.Tensor]:
    """The state dict in ``entry``'s cached file (downloaded first if missing), checked before use.

    The hash in the file's name is checked before anything is unpickled, the
    file is read with ``weights_only=True``, and it must hold a dict of tensors
    with finite floating-point values.

    Raises:
        WeightsUnavailableError: not cached, and the download failed.
        BadCheckpointError: the file fails a check or cannot be read.
    """
    path = cache_path(entry)
    if not os.path.exists(path):
        _download(entry, what, path, progress)

    def refuse(problem: str) -> BadCheckpointError:
        return BadCheckpointError(
            f"cannot load {what}: {path} {problem}; delete it to download it again, "
            f"or put the file from {entry.url} there"
        )

    prefix = expected_hash(entry)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as file:  # hashed before anything is unpickled: a replaced file is never read
            digest = hashlib.file_digest(file, "sha256").hexdigest() if prefix else None
    except OSError as err:  # a folder, or no permission
        raise refuse(f"cannot be read ({first_sentence(err)})") from err
    if size == 0:
        raise refuse("is empty")
    if prefix and digest and not digest.startswith(prefix):
        raise refuse(f"is not the published file: its SHA-256 begins {digest[: len(prefix)]}, its name says {prefix}")
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged file fails in torch.load with any of a dozen types (KeyError on garbage)
        raise refuse(f"cannot be read as a checkpoint of tensors ({first_sentence(err)})") from err
    if not isinstance(state_dict, dict):
        raise refuse(f"holds a {type(state_dict).__name__}, not a state dict")
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise refuse(f"holds a {type(value).__name__} under {key!r}, not a state dict of tensors only")
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise refuse(f"holds NaN or infinite values in {key}")
    return state_dict


def load_state_dict(spec: ModelSpec, weights: str) -> dict[str, Any]:
    """The official state dict of ``spec`` under the name ``weights``, checked as the module says.

    Downloads the file unless it is cached, and applies ``spec.adapt_state_dict``
    where the checkpoint's keys need renaming.

    Raises:
        ValueError: unknown weights name.
        WeightsUnavailableError: no cached file and the download failed.
        BadCheckpointError: the file fails a check or cannot be read; the message
            names it and says what to do.
    """
    entry = resolve_weights(spec, weights)
    state_dict = _read_checkpoint(entry, f"{entry} for {spec.name}")
    return spec.adapt(state_dict)


def _listed(keys: list[str]) -> str:
    """At most three of ``keys`` and how many more, for a one-line message."""
    return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def load_pretrained(model: nn.Module, spec: ModelSpec, weights: str) -> None:
    """Load the official checkpoint ``weights`` into ``model``, a fresh ``spec.builder()`` model, strictly.

    Every key and every shape must be the model's, as ``strict=True`` demands;
    on an error the model may be partly loaded, as with ``strict=True``.

    Raises:
        ValueError: unknown weights name.
        WeightsUnavailableError: no cached file and the download failed.
        BadCheckpointError: the file fails a check, cannot be read, or its keys or
            shapes are not the model's (one line, where ``nn.Module.load_state_dict``
            would print every key).
    """
    state_dict = load_state_dict(spec, weights)
    ours = model.state_dict()
    reshaped = [key for key in ours if key in state_dict and state_dict[key].shape != ours[key].shape]
    missing: list[str] = []
    unexpected: list[str] = []
    if not reshaped:  # PyTorch says which keys are missing: BN fills in num_batches_tracked, absent in old files
        missing, unexpected = model.load_state_dict(state_dict, strict=False)
    if missing or unexpected or reshaped:
        entry = resolve_weights(spec, weights)
        found = {"missing": missing, "unexpected": unexpected, "of another shape": reshaped}
        problems = "; ".join(f"{kind}: {_listed(keys)}" for kind, keys in found.items() if keys)
        raise BadCheckpointError(
            f"cannot load {entry} for {spec.name}: {cache_path(entry)} does not fit the model ({problems}); "
            f"delete it to download it again, or put the file from {entry.url} there"
        )


#: where checkpoints of other trainers keep their state dict: torchvision's reference and this project ("model"),
#: timm's train.py ("state_dict", "state_dict_ema")
_NESTED = ("model", "state_dict")
#: prefixes that wrappers add to every key: DistributedDataParallel's, torch.compile's
_WRAPPERS = ("module.", "_orig_mod.")


def _state_dict_in(content: Any, path: str) -> dict[str, torch.Tensor]:
    """The state dict a checkpoint file holds: itself, or nested under ``model`` or ``state_dict``, unwrapped."""
    for key in _NESTED:
        if isinstance(content, dict) and isinstance(content.get(key), dict):
            content = content[key]
            break
    if not isinstance(content, dict) or not all(isinstance(v, torch.Tensor) for v in content.values()):
        kind = type(content).__name__
        raise BadCheckpointError(f"{path} holds a {kind} that is not a state dict of tensors (nor one under 'model')")
    for prefix in _WRAPPERS:
        if content and all(str(key).startswith(prefix) for key in content):
            content = {key[len(prefix) :]: value for key, value in content.items()}
    bad = [key for key, value in content.items() if value.is_floating_point() and not torch.isfinite(value).all()]
    if bad:
        raise BadCheckpointError(f"{path} holds NaN or infinite values in {_listed(bad)}")
    return content


def load_weights_file(model: nn.Module, spec: ModelSpec, path: str | os.PathLike[str]) -> str | None:
    """Load a local checkpoint file into ``model``, a ``spec`` model, for fine-tuning; returns a note or ``None``.

    For a user without network access (the published file, downloaded
    elsewhere) or with weights of their own pretraining. The file is read with
    ``weights_only=True``; it may be a state dict, or a checkpoint that holds
    one under ``model`` (torchvision's reference, this project's ``train``) or
    ``state_dict`` (timm's ``train.py``), with DDP's ``module.`` prefix or
    not. The spec's checkpoint adapter is applied where the file has the
    reference's names. Every key and shape must fit the model, except the
    classifier's: a classifier for another number of classes is left out, and
    the model keeps its new one (the note says so).

    Raises:
        BadCheckpointError: the file cannot be read, is no state dict of finite
            tensors, or does not fit the model (naming the first keys that differ).
    """
    path = os.fspath(os.path.expanduser(path))
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as err:
        raise BadCheckpointError(f"cannot read {path}: {first_sentence(err)}") from None
    except Exception as err:  # noqa: BLE001  (damaged, or holding objects other than tensors and containers)
        raise BadCheckpointError(f"cannot read {path} as a checkpoint of tensors ({first_sentence(err)})") from None
    state_dict = _state_dict_in(content, path)
    ours = model.state_dict()
    if spec.adapt_state_dict is not None and not set(state_dict) <= set(ours):
        state_dict = spec.adapt(state_dict)  # the reference's names (timm's), as the published files have them
    head = [f"{spec.classifier}.{name}" for name, _ in getattr(model, spec.classifier).named_parameters()]
    note = None
    if any(key in state_dict and state_dict[key].shape != ours[key].shape for key in head):
        classes = state_dict[f"{spec.classifier}.weight"].shape[0]
        note = f"the classifier ({spec.classifier}) is new: {path} has one for {classes} classes"
        state_dict = {key: value for key, value in state_dict.items() if key not in head}
        ours = {key: value for key, value in ours.items() if key not in head}
    reshaped = [key for key in ours if key in state_dict and state_dict[key].shape != ours[key].shape]
    missing: list[str] = []
    unexpected: list[str] = []
    if not reshaped:  # PyTorch says which keys are missing: BN fills in num_batches_tracked, absent in old files
        missing, unexpected = model.load_state_dict(state_dict, strict=False)
        missing = [key for key in missing if note is None or key not in head]  # a new head is not missing
    found = {"missing": missing, "unexpected": unexpected, "of another shape": reshaped}
    if any(found.values()):
        problems = "; ".join(f"{kind}: {_listed(keys)}" for kind, keys in found.items() if keys)
        raise BadCheckpointError(f"{path} does not fit {spec.name} ({problems})")
    return note
