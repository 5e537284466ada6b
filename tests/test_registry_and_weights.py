"""The registry and the official-weights loader, with every download faked."""

from __future__ import annotations

import os

import pytest
import torch
import torchvision

from refimpl import create_model, get_spec, list_models
from refimpl.tools.weights import WeightsUnavailableError, available_weights, cache_path, resolve_weights


def test_every_model_is_listed_once_and_builds() -> None:
    names = list_models()
    assert len(names) == len(set(names))
    for name in names:
        assert get_spec(name).name == name
        with torch.device("meta"):
            create_model(name)


def test_unknown_model_names_the_closest() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'resnet5'; did you mean .*resnet50"):
        create_model("resnet5")


def test_builder_options_pass_through() -> None:
    assert create_model("resnet18", num_classes=3).fc.out_features == 3


def test_default_weights_are_v2_where_they_exist() -> None:
    """torchvision's old `pretrained=True` meant V1; DEFAULT is the better V2."""
    assert resolve_weights(get_spec("resnet50"), "DEFAULT") is torchvision.models.ResNet50_Weights.IMAGENET1K_V2
    assert resolve_weights(get_spec("resnet18"), "DEFAULT") is torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    assert resolve_weights(get_spec("resnet50"), "ResNet50_Weights.IMAGENET1K_V1").name == "IMAGENET1K_V1"
    assert available_weights(get_spec("resnet50")) == ["IMAGENET1K_V1", "IMAGENET1K_V2"]


def test_unknown_weights_say_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="accepted: DEFAULT, IMAGENET1K_V1$"):
        create_model("resnet18", weights="IMAGENET1K_V9")
    with pytest.raises(ValueError, match="no published weights"):
        create_model("resnet20", weights="DEFAULT")


def test_weights_refuse_a_different_head() -> None:
    with pytest.raises(ValueError, match="num_classes=1000"):
        create_model("resnet18", weights="DEFAULT", num_classes=10)


def test_offline_without_cache_names_the_missing_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    entry = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    with pytest.raises(WeightsUnavailableError) as info:
        create_model("resnet18", weights="IMAGENET1K_V1")
    message = str(info.value)
    expected = os.path.join(str(tmp_path), "hub", "checkpoints", "resnet18-f37072fd.pth")
    assert cache_path(entry) == expected
    assert expected in message and entry.url in message and "\n" not in message


def test_cached_checkpoint_loads_without_network(tmp_path, monkeypatch) -> None:
    """A checkpoint in torch.hub's cache is read as torchvision would, unchanged."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    reference = torchvision.models.resnet18().eval()
    path = cache_path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
    os.makedirs(os.path.dirname(path))
    torch.save(reference.state_dict(), path)

    model = create_model("resnet18", weights="DEFAULT").eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)
