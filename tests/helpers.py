"""What several test modules share: the models grouped by contract, and an exact comparison of two models.

The groups are read from the declarations in ``refimpl/specs.py``, so a model
or a family added there is tested by every contract it declares without a
line of test code. Fixtures live in ``conftest.py``; this module holds plain
functions and constants, imported with ``from helpers import ...``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from refimpl.modelspec import ModelSpec
from refimpl.specs import SPECS
from refimpl.tools.verify import RTOL

__all__ = [
    "ALL_MODELS",
    "HUB_WEIGHTS_MODELS",
    "MODEL_REFERENCE_MODELS",
    "OUTPUT_REFERENCE_MODELS",
    "PAPER_REFERENCE_MODELS",
    "SMALL_SIZE",
    "TORCHVISION_REFERENCE_MODELS",
    "RunsCode",
    "assert_same_function",
    "block_inputs",
    "imagenet_or_own_size",
    "names",
    "stop_after_first_epoch",
    "write_image_folder",
]

#: side of the random test images for ImageNet models: small keeps the suite fast, the networks are size-agnostic
SMALL_SIZE = 64


def names(where: Callable[[ModelSpec], bool] = lambda spec: True) -> list[str]:
    """Names of the declared models whose spec satisfies ``where``, in the declarations' order."""
    return [name for name, spec in SPECS.items() if where(spec)]


ALL_MODELS = names()
#: verified against an implementation (torchvision or timm): at least the parameter count is compared
MODEL_REFERENCE_MODELS = names(lambda spec: spec.reference.is_model)
#: ... and that implementation computes the same function with the same state-dict keys
OUTPUT_REFERENCE_MODELS = names(lambda spec: spec.reference.is_model and spec.reference.compare_outputs)
TORCHVISION_REFERENCE_MODELS = names(lambda spec: spec.reference.source == "torchvision")
#: verified against a table of a paper: the parameter count at the paper's precision
PAPER_REFERENCE_MODELS = names(lambda spec: spec.reference.source == "paper")
#: with checkpoints published outside torchvision (timm's, on the Hugging Face hub)
HUB_WEIGHTS_MODELS = names(lambda spec: bool(spec.hub_weights))


def imagenet_or_own_size(spec: ModelSpec) -> int:
    """The side of test images for ``spec``: ``SMALL_SIZE`` for ImageNet models, the model's own for CIFAR ones."""
    return min(spec.input_size, SMALL_SIZE)


class RunsCode:
    """Unpickling it creates the folder ``marker``: what a malicious checkpoint does, made harmless and visible.

    ``torch.save({"fc.weight": RunsCode(marker)}, path)`` writes a file that runs
    ``os.mkdir(marker)`` when read with ``torch.load(..., weights_only=False)``.
    """

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return os.mkdir, (str(self.marker),)


def _assert_equal(actual: torch.Tensor, expected: torch.Tensor, exact: bool, msg: str = "") -> None:
    """Bit for bit, or (``exact=False``) up to ``RTOL`` (``verify``'s tolerance) of the expected tensor's scale."""
    tol = 0.0 if exact else RTOL * expected.abs().max().item()
    torch.testing.assert_close(actual, expected, rtol=0, atol=tol, msg=msg or None)


def assert_same_function(
    expected: nn.Module,
    actual: nn.Module,
    x: torch.Tensor,
    adapt: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    exact: bool = True,
) -> None:
    """Two models holding the same weights compute the same thing, exactly.

    Compares outputs in eval mode (running statistics) and in train mode (batch
    statistics), the gradients of the input and of every parameter, and the BN
    running statistics that train mode updated.

    Args:
        expected: the reference.
        actual: the model under test.
        x: the input batch.
        adapt: maps the reference's keys to the model's (``ModelSpec.adapt``).
        exact: ``False`` where the reference computes the same function with other
            kernels (``Reference.exact``): equal up to float32 rounding.
    """
    adapt = adapt or (lambda state: state)
    for train in (False, True):
        expected.train(train)
        actual.train(train)
        x_expected, x_actual = x.clone().requires_grad_(), x.clone().requires_grad_()
        out_expected, out_actual = expected(x_expected), actual(x_actual)
        _assert_equal(out_actual, out_expected, exact)
        out_expected.square().sum().backward()
        out_actual.square().sum().backward()
        _assert_equal(x_actual.grad, x_expected.grad, exact)
    gradients = {key: p.grad for key, p in actual.named_parameters()}
    expected_gradients = adapt({key: p.grad for key, p in expected.named_parameters()})
    assert gradients.keys() == expected_gradients.keys()
    for key, grad in expected_gradients.items():
        _assert_equal(gradients[key], grad, exact, msg=key)
    torch.testing.assert_close(actual.state_dict(), adapt(expected.state_dict()), rtol=0, atol=0)


def block_inputs(model: nn.Module, blocks: list[nn.Module], images: torch.Tensor) -> dict[nn.Module, torch.Tensor]:
    """The input each of ``blocks`` receives when ``model`` (in eval mode) sees ``images``, without gradients."""
    inputs: dict[nn.Module, torch.Tensor] = {}
    hooks = [
        block.register_forward_pre_hook(lambda m, args: inputs.__setitem__(m, args[0].clone())) for block in blocks
    ]
    try:
        with torch.no_grad():
            model(images)
    finally:
        for hook in hooks:
            hook.remove()
    return inputs


def write_image_folder(
    root: Path, classes: tuple[str, ...] = ("cat", "dog"), train: int = 6, val: int = 2, seed: int = 0
) -> Path:
    """A data set in torchvision's ImageFolder layout (``root/train/CLASS``, ``root/val/CLASS``); returns ``root``.

    Images of several sizes, JPEG and PNG in turn, each class with its own
    colour channel turned up, so that a model can tell them apart.
    """
    from PIL import Image

    generator = torch.Generator().manual_seed(seed)
    for split, count in (("train", train), ("val", val)):
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = (torch.rand(36 + 2 * i, 44, 3, generator=generator) * 128).to(torch.uint8)
                pixels[..., label % 3] += 127
                Image.fromarray(pixels.numpy()).save(folder / f"{i}.{'jpg' if i % 2 == 0 else 'png'}")
    return root


def stop_after_first_epoch(monkeypatch: Any, argv: list[str]) -> None:
    """Run ``python -m refimpl`` with ``argv`` (2 epochs or more), stopped as by Ctrl-C when epoch 2 begins.

    Leaves a run with the checkpoint of epoch 1, to resume.
    """
    from refimpl.tools.cli import main
    from refimpl.tools.train import fitting

    real = fitting.train_epoch
    calls = []

    def first_only(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(fitting, "train_epoch", first_only)
    assert main(argv) == 130
    monkeypatch.setattr(fitting, "train_epoch", real)
