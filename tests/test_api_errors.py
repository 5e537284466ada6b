"""The Python API refuses bad arguments with one clear message, before any work."""

from __future__ import annotations

import pytest
from helpers import names

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


@pytest.mark.parametrize(
    ("name", "advice"),
    [
        ("resnet50", 'weights="IMAGENET1K_V1" (what pretrained=True meant) or weights="DEFAULT" (the best)'),
        ("se_resnet50", 'weights="DEFAULT" (what timm\'s pretrained=True meant: a1_in1k)'),
        ("resnet20", "resnet20 has no published weights: leave weights=None"),
    ],
)
@pytest.mark.parametrize("pretrained", [True, False])
def test_pretrained_names_the_weights_to_ask_for(name: str, advice: str, pretrained: bool) -> None:
    """torchvision's old flag: the builders would only say "unexpected keyword argument 'pretrained'"."""
    with pytest.raises(
        TypeError, match=r"^pretrained is torchvision's old flag, not an argument of create_model"
    ) as info:
        create_model(name, pretrained=pretrained)
    message = str(info.value)
    assert advice in message and "\n" not in message, message
    if name == "resnet50":
        assert message.endswith("; resnet50 accepts DEFAULT, IMAGENET1K_V1, IMAGENET1K_V2")


@pytest.mark.parametrize("name", names(lambda spec: not spec.small_input))
@pytest.mark.parametrize("small_input", [True, False])
def test_small_input_is_refused_by_the_models_built_for_32x32(name: str, small_input: bool) -> None:
    """The CIFAR models: their builders would say "unexpected keyword argument" or (DenseNet-BC) "multiple values"."""
    with pytest.raises(
        ValueError, match=rf"^{name} takes no small_input: it is built for 32x32 inputs already; "
    ) as info:
        create_model(name, small_input=small_input)
    assert "(resnet18, resnet34, resnet50, ...)" in str(info.value)


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
