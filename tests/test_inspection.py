"""Counting parameters and MACs, summaries and the model-zoo table.

That the counts equal torchvision's published weights metadata is checked for every model in test_parity.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from refimpl import create_model
from refimpl.tools.inspection import (
    count_macs,
    count_parameters,
    format_table,
    model_cost,
    model_zoo_table,
    summary,
    zoo_rows,
)


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


# --- the model-zoo table (``python -m refimpl list``, the site's home page and the model zoo notebook) ---


def test_format_table_renders_the_same_cells_as_text_or_markdown() -> None:
    header, rows = ["model", "params"], [["a", "1,000"], ["b|c", ""]]
    assert format_table(header, rows).splitlines() == [
        "model  params",
        "-----  ------",
        "a       1,000",
        "b|c         -",
    ]
    assert format_table(header, rows, markdown=True).splitlines() == [
        "| model | params |",
        "| --- | ---: |",
        "| a | 1,000 |",
        "| b\\|c | — |",  # a | would end the cell; an empty cell is a dash
    ]
    with pytest.raises(ValueError, match="align 'l' has 1 letters for 2 columns"):
        format_table(header, rows, "l")


def test_zoo_rows_hold_cost_checkpoints_and_torchvision_top1() -> None:
    r50, r20, se50 = zoo_rows(["resnet50", "resnet20", "se_resnet50"])
    assert (r50.params, r50.macs) == model_cost("resnet50")
    assert r50.weights == ("IMAGENET1K_V1", "IMAGENET1K_V2")
    assert r50.top1 == {"IMAGENET1K_V1": 76.13, "IMAGENET1K_V2": 80.858}  # torchvision's weights metadata
    assert (r20.weights, r20.top1) == ((), {})  # a paper's model: no checkpoint
    assert se50.weights == ("a1_in1k", "a2_in1k", "a3_in1k", "ra2_in1k") and se50.top1 == {}  # timm's checkpoints


def test_model_zoo_table_marks_count_only_references() -> None:
    rows = zoo_rows(["resnet50", "se_resnet18"])
    text = model_zoo_table(rows).splitlines()
    assert text[0].split()[:5] == ["model", "top-1", "V1", "top-1", "V2"]  # top-1 next to the name: seen on a phone
    expected = "resnet50 76.13 80.86 ResNet 25,557,032 4.089 224x224 torchvision.resnet50 IMAGENET1K_V1, IMAGENET1K_V2"
    assert text[2].split() == expected.split()
    assert "timm.legacy_seresnet18 (params only)" in text[3]
    assert "GMACs: billions of multiply-accumulates" in model_zoo_table(rows)
    markdown = model_zoo_table(rows, markdown=True)
    assert "| `resnet50` | 76.13 | 80.86 | ResNet | 25,557,032 | 4.089 | 224x224 | torchvision.resnet50 |" in markdown
    assert "| `se_resnet18` | — | — | SE-ResNet |" in markdown  # no torchvision checkpoint: dashes
