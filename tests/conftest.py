"""Shared test helpers. Everything runs on the CPU and nothing touches the network."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

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
    """Any attempt to download a checkpoint or a data set fails loudly instead of reaching the network."""

    def refuse(url: str, *args: object, **kwargs: object) -> None:
        raise OSError(f"test tried to download {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torchvision.datasets.utils, "download_url", refuse)


@pytest.fixture
def cifar10_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, np.ndarray]]:
    """A tiny CIFAR-10 folder in the real format: 5 training batches of 4 images, 4 test images.

    As in the real files, each is a pickled dict whose "data" holds (N, 3072)
    uint8 rows (1024 red, 1024 green, then 1024 blue pixels) and "labels" a
    list; the keys are Python 2 strings there, plain strings here (what
    torchvision's latin-1 unpickling turns both into). Only the integrity check
    is adapted: torchvision's expected MD5s become those of these files.
    Returns the root and what was written: (N, 3, 32, 32) images and labels.
    """
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    cifar = torchvision.datasets.CIFAR10

    def write(name: str, content: dict) -> list[str]:
        (folder / name).write_bytes(pickle.dumps(content, protocol=2))
        return [name, hashlib.md5((folder / name).read_bytes()).hexdigest()]

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (24, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, 24).tolist()
    batches = [(f"data_batch_{i + 1}", slice(4 * i, 4 * i + 4)) for i in range(5)] + [("test_batch", slice(20, 24))]
    files = [write(name, {"data": images[rows], "labels": labels[rows]}) for name, rows in batches]
    _, meta_md5 = write("batches.meta", {"label_names": [f"class{i}" for i in range(10)]})
    monkeypatch.setattr(cifar, "train_list", files[:5])
    monkeypatch.setattr(cifar, "test_list", files[5:])
    monkeypatch.setattr(cifar, "meta", {**cifar.meta, "md5": meta_md5})
    images = images.reshape(-1, 3, 32, 32)
    return tmp_path, {
        "train_images": images[:20], "train_labels": np.array(labels[:20]),
        "test_images": images[20:], "test_labels": np.array(labels[20:]),
    }  # fmt: skip


def assert_same_function(expected: torch.nn.Module, actual: torch.nn.Module, x: torch.Tensor) -> None:
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
    for (key, p), q in zip(expected.named_parameters(), actual.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=0, atol=0, msg=key)
    torch.testing.assert_close(actual.state_dict(), expected.state_dict(), rtol=0, atol=0)
