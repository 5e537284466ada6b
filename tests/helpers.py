"""What several test modules share: the models grouped by contract, and an exact comparison of two models.

The groups are read from the declarations in ``refimpl/specs.py``, so a model
or a family added there is tested by every contract it declares without a
line of test code. Fixtures live in ``conftest.py``; this module holds plain
functions and constants, imported with ``from helpers import ...``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from refimpl.specs import SPECS
from refimpl.tools.modelspec import ModelSpec

__all__ = [
    "ALL_MODELS",
    "HUB_WEIGHTS_MODELS",
    "MODEL_REFERENCE_MODELS",
    "OUTPUT_REFERENCE_MODELS",
    "PAPER_REFERENCE_MODELS",
    "SMALL_SIZE",
    "TORCHVISION_REFERENCE_MODELS",
    "assert_same_function",
    "imagenet_or_own_size",
    "names",
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


def assert_same_function(expected: nn.Module, actual: nn.Module, x: torch.Tensor) -> None:
    """Two models holding the same weights compute the same thing, exactly.

    Compares outputs in eval mode (running statistics) and in train mode (batch
    statistics), the gradients of the input and of every parameter, and the BN
    running statistics that train mode updated.
    """
    for train in (False, True):
        expected.train(train)
        actual.train(train)
        x_expected, x_actual = x.clone().requires_grad_(), x.clone().requires_grad_()
        out_expected, out_actual = expected(x_expected), actual(x_actual)
        torch.testing.assert_close(out_actual, out_expected, rtol=0, atol=0)
        out_expected.square().sum().backward()
        out_actual.square().sum().backward()
        torch.testing.assert_close(x_actual.grad, x_expected.grad, rtol=0, atol=0)
    gradients = {key: p.grad for key, p in actual.named_parameters()}
    assert gradients.keys() == dict(expected.named_parameters()).keys()
    for key, p in expected.named_parameters():
        torch.testing.assert_close(gradients[key], p.grad, rtol=0, atol=0, msg=key)
    torch.testing.assert_close(actual.state_dict(), expected.state_dict(), rtol=0, atol=0)
