"""The Python API refuses bad arguments with one clear message, before any work."""

from __future__ import annotations

import pytest

from refimpl import create_model
from refimpl.densenet import DenseLayer, densenet121
from refimpl.senet import SqueezeExcitation, se_resnet50


@pytest.mark.parametrize("num_classes", ["10", 0, -1, 2.5, True])
def test_num_classes_must_be_a_positive_integer(num_classes: object) -> None:
    with pytest.raises(ValueError, match=rf"num_classes must be a positive integer, got {num_classes!r}$"):
        create_model("resnet18", num_classes=num_classes)


def test_weights_true_names_the_accepted_checkpoints() -> None:
    """The habit of pretrained=True: refused, naming what to write instead."""
    with pytest.raises(TypeError, match="got True; for resnet50 accepted: DEFAULT, IMAGENET1K_V1, IMAGENET1K_V2$"):
        create_model("resnet50", weights=True)


def test_a_weights_tag_of_another_model_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown weights 'ResNet18_Weights.IMAGENET1K_V1' for resnet50"):
        create_model("resnet50", weights="ResNet18_Weights.IMAGENET1K_V1")
    with pytest.raises(ValueError, match="unknown weights 'seresnext50_32x4d.racm_in1k' for se_resnet50"):
        create_model("se_resnet50", weights="seresnext50_32x4d.racm_in1k")


@pytest.mark.parametrize("reduction", [0, -4, 2.0, True])
def test_se_reduction_must_be_a_positive_integer(reduction: object) -> None:
    with pytest.raises(ValueError, match="the reduction ratio r must be a positive integer"):
        SqueezeExcitation(64, reduction)
    with pytest.raises(ValueError, match="the reduction ratio r must be a positive integer"):
        se_resnet50(reduction=reduction)


@pytest.mark.parametrize("drop_rate", [-0.1, 1.0, float("nan")])
def test_densenet_drop_rate_must_be_a_probability_below_1(drop_rate: float) -> None:
    with pytest.raises(ValueError, match=r"drop_rate must be in \[0, 1\)"):
        DenseLayer(16, 4, drop_rate=drop_rate)
    with pytest.raises(ValueError, match=r"drop_rate must be in \[0, 1\)"):
        densenet121(drop_rate=drop_rate)
