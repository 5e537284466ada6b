"""Parameter and MAC counts against torchvision's published weights metadata."""

from __future__ import annotations

import pytest
import torch
import torchvision
from conftest import IMAGENET_MODELS
from torch import nn

from refimpl import create_model
from refimpl.tools.inspection import count_macs, count_parameters, model_cost, summary


@pytest.mark.parametrize("name", IMAGENET_MODELS)
def test_cost_matches_torchvision_metadata(name: str) -> None:
    """torchvision's "GFLOPS" (`_ops`) are GMACs at 224x224, rounded to 3 decimals."""
    params, macs = model_cost(name)
    for weights in torchvision.models.get_model_weights(name):
        assert params == weights.meta["num_params"]
        assert round(macs / 1e9, 3) == pytest.approx(weights.meta["_ops"], abs=1e-9)


def test_macs_are_half_the_flops_by_hand() -> None:
    """A 1x1 convolution 3 -> 4 channels on a 2x2 image: 3 * 4 * 2 * 2 = 48 MACs."""
    conv = nn.Conv2d(3, 4, 1, bias=False)
    assert count_macs(conv, (1, 3, 2, 2)) == 48
    assert count_macs(nn.Linear(5, 6), (2, 5)) == 2 * 5 * 6


def test_count_macs_keeps_the_training_mode() -> None:
    model = create_model("resnet20")
    count_macs(model, (1, 3, 32, 32))
    assert model.training


def test_count_parameters_counts_shared_weights_once() -> None:
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert count_parameters(model) == 20


def test_summary_totals_equal_the_exact_count() -> None:
    model = create_model("resnet20")
    stats = summary(model, (1, 3, 32, 32))
    assert stats.total_params == count_parameters(model)
    assert "layer3" in str(stats) and "Mult-Adds" in str(stats)
    assert stats.total_mult_adds == count_macs(model, (1, 3, 32, 32)) + _bn_and_fc_extras(model)


def test_summary_on_meta_equals_the_summary_on_cpu() -> None:
    """The model zoo notebook summarises every model on ``meta``: same table, no arithmetic."""
    with torch.device("meta"):
        meta = create_model("resnet20")
    on_meta = summary(meta, (1, 3, 32, 32), device="meta")
    on_cpu = summary(create_model("resnet20"), (1, 3, 32, 32))
    assert (on_meta.total_params, on_meta.total_mult_adds) == (on_cpu.total_params, on_cpu.total_mult_adds)
    assert str(on_meta) == str(on_cpu)


def _bn_and_fc_extras(model: nn.Module) -> int:
    """torchinfo also counts one mult-add per BN parameter and the FC bias; FlopCounterMode does not."""
    return sum(m.weight.numel() + m.bias.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d)) + (
        model.fc.bias.numel()
    )
