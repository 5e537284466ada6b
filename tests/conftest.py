"""Shared test helpers. Everything runs on the CPU and nothing touches the network."""

from __future__ import annotations

import pytest
import torch

from refimpl import get_spec, list_models

IMAGENET_MODELS = [n for n in list_models() if get_spec(n).reference == "torchvision"]
PAPER_MODELS = [n for n in list_models() if get_spec(n).reference == "paper"]
RESNET_MODELS = [n for n in IMAGENET_MODELS if get_spec(n).family in ("ResNet", "ResNeXt")]
DENSENET_MODELS = [n for n in IMAGENET_MODELS if get_spec(n).family == "DenseNet"]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to download a checkpoint fails loudly instead of reaching the network."""

    def refuse(url: str, *args: object, **kwargs: object) -> None:
        raise OSError(f"test tried to download {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
