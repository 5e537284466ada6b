"""refimpl.preact_resnet beyond its parity with timm (test_parity.py) and the paper's table (test_paper_tables.py)."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import block_inputs
from torch import nn

from refimpl import create_model
from refimpl.preact_resnet import PreActBasicBlock, PreActBottleneck

SIZE = 64  # for the ImageNet network: small images keep the suite fast, the architecture is size-agnostic


def _blocks(model: nn.Module) -> list[PreActBasicBlock | PreActBottleneck]:
    return [m for m in model.modules() if isinstance(m, PreActBasicBlock | PreActBottleneck)]


def _last_conv(block: PreActBasicBlock | PreActBottleneck) -> nn.Conv2d:
    return block.conv3 if isinstance(block, PreActBottleneck) else block.conv2


@pytest.mark.parametrize(
    ("name", "size"), [("preact_resnet50", SIZE), ("preact_resnet110", 32), ("preact_resnet164", 32)]
)
def test_by_default_every_block_starts_as_its_shortcut(name: str, size: int) -> None:
    """x_{l+1} = h(x_l) exactly: the identity, or the shortcut of BN-ReLU(x_l) where the shape changes."""
    model = create_model(name).eval()
    blocks = _blocks(model)
    inputs = block_inputs(model, blocks, torch.randn(2, 3, size, size))
    with torch.no_grad():
        for block in blocks:
            x = inputs[block]  # every block ran
            shortcut = x if block.downsample is None else block.downsample(block.relu(block.bn1(x)))
            torch.testing.assert_close(block(x), shortcut, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["preact_resnet110", "preact_resnet164"])
def test_zero_init_residual_false_is_the_papers_he_initialisation(name: str) -> None:
    """Every last convolution drawn like the others: normal, standard deviation sqrt(2 / fan_out)."""
    for block in _blocks(create_model(name, zero_init_residual=False)):
        conv = _last_conv(block)
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        # n >= 1,024 weights a convolution: the sample deviation's relative error is 1/sqrt(2n) <= 2.2%; 10% is 4.5 sigma
        assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / fan_out), rel=0.1)
