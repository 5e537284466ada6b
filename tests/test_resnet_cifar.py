"""The CIFAR-10 ResNets of He et al. 2015 (section 4.2) against the paper's table 6."""

from __future__ import annotations

import pytest
import torch
from helpers import PAPER_REFERENCE_MODELS
from torch import nn

from refimpl import create_model, get_spec
from refimpl.resnet import CifarResNet, PadShortcut, PlainBlock
from refimpl.tools.inspection import count_parameters

# Table 6 of arXiv:1512.03385: depth -> parameters, as printed
PAPER_TABLE = {20: "0.27", 32: "0.46", 44: "0.66", 56: "0.85", 110: "1.7"}


def test_the_specs_declare_the_paper_table() -> None:
    """Every row, with the count as printed; test_paper_tables.py checks that the models have it."""
    declared = {n: get_spec(n).reference for n in PAPER_REFERENCE_MODELS if get_spec(n).family == "resnet"}
    assert {n: ref.params for n, ref in declared.items()} == {f"resnet{d}": p for d, p in PAPER_TABLE.items()}
    assert {ref.name for ref in declared.values()} == {"He et al. 2015, table 6"}


@pytest.mark.parametrize("depth", sorted(PAPER_TABLE))
def test_depth_counts_the_weighted_layers(depth: int) -> None:
    """6n + 2 weighted layers: the shortcuts (option A) add none."""
    model = create_model(f"resnet{depth}")
    weighted = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert len(weighted) == depth


def test_shapes_on_32x32_images() -> None:
    model = create_model("resnet20").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert model(x).shape == (2, 10)
        h = model.relu(model.bn1(model.conv1(x)))
        assert model.layer1(h).shape == (2, 16, 32, 32)
        assert model.layer2(model.layer1(h)).shape == (2, 32, 16, 16)
        assert model.layer3(model.layer2(model.layer1(h))).shape == (2, 64, 8, 8)


def test_pad_shortcut_subsamples_and_zero_pads() -> None:
    shortcut = PadShortcut(16, 32, stride=2)
    x = torch.randn(2, 16, 8, 8)
    y = shortcut(x)
    assert y.shape == (2, 32, 4, 4) and not list(shortcut.parameters())
    torch.testing.assert_close(y[:, 8:24], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, :8]) == 0 and torch.count_nonzero(y[:, 24:]) == 0


def test_bad_depth_is_rejected() -> None:
    with pytest.raises(ValueError, match="6n \\+ 2"):
        CifarResNet(21)
    with pytest.raises(ValueError, match="only add channels"):
        PadShortcut(32, 16, 2)


def test_plain_twin_has_the_same_layers_but_no_skip_connections() -> None:
    """The paper's plain baseline: identical parameters; a block's output is ReLU(F(x)) alone."""
    resnet, plain = create_model("resnet20"), CifarResNet(20, block=PlainBlock)
    assert count_parameters(plain) == count_parameters(resnet)
    plain.load_state_dict(resnet.state_dict(), strict=True)
    resnet.eval()
    plain.eval()
    x = torch.randn(2, 16, 32, 32)
    with torch.no_grad():
        block, twin = resnet.layer1[0], plain.layer1[0]
        torch.testing.assert_close(twin(x), torch.relu(block.residual(x)))
        assert not torch.allclose(twin(x), block(x))
        images = torch.randn(2, 3, 32, 32)
        assert not torch.allclose(plain(images), resnet(images))


def test_zero_init_residual_keeps_a_plain_twin_alive() -> None:
    """Each block owns its zero_init_last: a plain block has no identity to fall back on, so it zeroes nothing.

    Before blocks owned their initialisation, every BasicBlock subclass was zeroed, and a plain
    network with zero_init_residual=True output its classifier's bias whatever the input.
    """
    plain = CifarResNet(20, block=PlainBlock, zero_init_residual=True).eval()
    with torch.no_grad():
        outputs = plain(torch.randn(2, 3, 32, 32))
    assert not torch.allclose(outputs[0], outputs[1])
    assert not torch.allclose(outputs[0], plain.fc.bias)
    assert all(torch.count_nonzero(block.bn2.weight) > 0 for block in plain.modules() if isinstance(block, PlainBlock))


def test_cifar_resnet_has_forward_features() -> None:
    model = create_model("resnet20").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (2, 64, 8, 8)
        torch.testing.assert_close(model.fc(features.mean((2, 3))), model(x))
