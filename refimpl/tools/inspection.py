"""Counting parameters and multiply-accumulates, and torchinfo summaries.

Units: ``count_macs`` returns multiply-accumulates (MACs). PyTorch's
``FlopCounterMode`` counts a multiply-accumulate as 2 FLOPs, so MACs = FLOPs / 2.
torchvision's weights metadata call the same quantity "GFLOPS"; they are GMACs,
and that is the unit of every table on the site. Like torchvision, only
convolutions and matrix products are counted (BN, ReLU, pooling and additions
are not).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchinfo import ModelStatistics
from torchinfo import summary as torchinfo_summary

from refimpl.tools.registry import get_spec

__all__ = ["count_macs", "count_parameters", "model_cost", "summary"]


def count_parameters(model: nn.Module) -> int:
    """Exact number of parameters, each shared parameter counted once.

    torchinfo 1.8.0 counts a shared parameter once per use; this does not.
    """
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_size: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass (FLOPs / 2).

    Runs on the model's device; a model on the ``meta`` device is counted
    without any arithmetic, which takes milliseconds even for ResNet-152.

    Args:
        model: the network, in any mode (it is counted in eval mode).
        input_size: shape of the input batch, for example ``(1, 3, 224, 224)``.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(input_size, device=device))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def model_cost(name: str, image_size: int | None = None, **kwargs: Any) -> tuple[int, int]:
    """Parameters and MACs of a registered model for one image, built on ``meta``.

    Args:
        name: a registered model name.
        image_size: side of the square input; defaults to the model's own (224 or 32).
        **kwargs: passed to the builder.
    """
    spec = get_spec(name)
    size = image_size or spec.input_size
    with torch.device("meta"):
        model = spec.builder(**kwargs)
    return count_parameters(model), count_macs(model, (1, 3, size, size))


def summary(
    model: nn.Module, input_size: tuple[int, ...], depth: int = 3, device: str | torch.device = "cpu"
) -> ModelStatistics:
    """The torchinfo summary with input and output shapes, parameters and MACs.

    Args:
        model: the network.
        input_size: shape of the input batch, for example ``(1, 3, 224, 224)``.
        depth: how many levels of nested modules to show.
        device: where the forward pass runs; ``"meta"`` (for a model built on
            ``meta``) gives the same table without any arithmetic.
    """
    return torchinfo_summary(
        model,
        input_size=input_size,
        depth=depth,
        col_names=("input_size", "output_size", "num_params", "mult_adds"),
        row_settings=("var_names",),
        verbose=0,
        device=device,
    )
