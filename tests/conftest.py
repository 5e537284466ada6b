"""Fixtures for every test: seeded, offline, CPU only. Shared helpers are in ``helpers.py``."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

import refimpl.specs
from refimpl.modelspec import ModelSpec
from refimpl.tools.weights import HubWeights, cache_path, resolve_weights


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test`` runs two workers), split the cores between the workers."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The docs build first, the notebooks' smoke runs next, then the test files with the most tests.

    pytest-xdist hands out whole test files in collection order (``--dist loadfile
    --no-loadscope-reorder``), each to the next free worker. The build (one session
    fixture in tests/test_docs.py) and the smoke runs of the notebooks are the longest
    pieces, so they start at once, on the two workers, and run beside the rest; long
    files handed out last would leave one worker finishing alone.
    """
    per_file = Counter(item.path for item in items)

    def order(item: pytest.Item) -> tuple[int, int]:
        first = 0 if item.get_closest_marker("docs") else 1 if item.get_closest_marker("notebooks") else 2
        return first, -per_file[item.path]

    items.sort(key=order)  # stable


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
        "train_images": images[:20],
        "train_labels": np.array(labels[:20]),
        "test_images": images[20:],
        "test_labels": np.array(labels[20:]),
    }


@pytest.fixture
def swap_spec(monkeypatch: pytest.MonkeyPatch) -> Callable[[ModelSpec], ModelSpec]:
    """Registers a replaced declaration under its name for one test: ``swap_spec(replace(get_spec(name), ...))``.

    The registry, the CLI and ``verify`` all read ``refimpl.specs.SPECS``, so
    they see the replacement; it is undone when the test ends.
    """

    def swap(spec: ModelSpec) -> ModelSpec:
        if spec.name not in refimpl.specs.SPECS:  # a typo would register a new model and test nothing
            raise KeyError(f"no declared model {spec.name!r} to replace")
        monkeypatch.setitem(refimpl.specs.SPECS, spec.name, spec)
        return spec

    return swap


@pytest.fixture
def cache_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str, object], Path]:
    """Puts a fake checkpoint where ``create_model(name, weights=...)`` finds it: ``cache_checkpoint(name, weights, sd)``.

    The third argument is a state dict (or any object: ``torch.save`` writes
    it) or the file's bytes. ``TORCH_HOME`` becomes ``tmp_path / "torch"``.
    torchvision's files are named by a prefix of their SHA-256
    (``resnet18-f37072fd.pth``), which the loader checks before it reads one; a
    fake file cannot have the real hash, so for the test the weights entry's URL
    names the file by its own hash, as torchvision names its files. Hugging
    Face's files carry no hash and keep their names. Returns the file's path.
    """
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def cache(name: str, weights: str, content: object) -> Path:
        entry = resolve_weights(refimpl.specs.SPECS[name], weights)
        if isinstance(content, bytes):
            data = content
        else:
            buffer = io.BytesIO()
            torch.save(content, buffer)
            data = buffer.getvalue()
        if not isinstance(entry, HubWeights):
            digest = hashlib.sha256(data).hexdigest()
            url, count = re.subn(r"-[0-9a-f]+(\.\w+)$", rf"-{digest[:8]}\1", entry.url)
            assert count == 1, f"no hash in {entry.url}"
            monkeypatch.setattr(entry.value, "url", url)  # DEFAULT is an alias: the same value, patched once
        path = Path(cache_path(entry))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    return cache
