"""Data: the CIFAR-10 reader on a folder in the real format, the offline error, both loaders, digits."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar

from refimpl.tools.data import (
    IMAGENET_STATS,
    DataUnavailableError,
    DeviceLoader,
    WorkerLoader,
    load_dataset,
    make_loaders,
    pil_transforms,
    random_crop_flip,
    to_tensors,
)

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


def test_cifar10_reader_returns_the_images_and_labels_written(cifar10_root) -> None:
    root, written = cifar10_root
    for split, prefix in ((True, "train"), (False, "test")):
        images, labels = to_tensors(load_dataset("cifar10", root, train=split))
        assert images.dtype == torch.uint8
        np.testing.assert_array_equal(images.numpy(), written[f"{prefix}_images"])
        np.testing.assert_array_equal(labels.numpy(), written[f"{prefix}_labels"])


def test_pil_transforms_are_totensor_and_imagenet_normalize(cifar10_root) -> None:
    root, written = cifar10_root
    image, label = load_dataset("cifar10", root, train=False, transform=pil_transforms())[1]
    mean, std = (np.array(s, dtype=np.float32)[:, None, None] for s in IMAGENET_STATS)
    expected = (written["test_images"][1] / np.float32(255) - mean) / std  # (3, 32, 32)
    np.testing.assert_allclose(image.numpy(), expected, rtol=0, atol=1e-6)
    assert label == written["test_labels"][1]


def test_both_test_loaders_give_the_same_batches(cifar10_root) -> None:
    root, _ = cifar10_root
    loaders = {
        kind: make_loaders("cifar10", 3, torch.device("cpu"), kind, root, num_workers=0, normalize="cifar10")[1]
        for kind in ("device", "dataloader")
    }
    pairs = list(zip(*loaders.values(), strict=True))
    assert len(pairs) == 2  # 4 test images in batches of 3: the last one is kept
    for (x_device, y_device), (x_dl, y_dl) in pairs:
        torch.testing.assert_close(x_device, x_dl, rtol=0, atol=1e-5)
        assert torch.equal(y_device, y_dl)


def test_an_unknown_loader_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown loader 'gpu'; known: device, dataloader"):
        make_loaders("fake", 8, torch.device("cpu"), "gpu")


def test_missing_cifar10_is_one_line_naming_the_folder_and_how_to_download(tmp_path) -> None:
    with pytest.raises(DataUnavailableError) as info:
        load_dataset("cifar10", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "cifar-10-batches-py") in message
    assert "--download" in message and URL in message and len(message.splitlines()) == 1


def test_a_corrupted_cifar10_file_counts_as_missing(cifar10_root) -> None:
    root, _ = cifar10_root
    path = root / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataUnavailableError, match="not found \\(or incomplete\\)"):
        load_dataset("cifar10", root)


def test_an_unreadable_cifar10_is_one_line_naming_the_reason(cifar10_root, monkeypatch) -> None:
    root, _ = cifar10_root
    folder = root / "cifar-10-batches-py"

    def denied(path: str, md5: str | None = None) -> bool:  # root reads every file: the error is injected
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)

    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", denied)
    with pytest.raises(DataUnavailableError) as info:
        load_dataset("cifar10", root)
    assert str(info.value) == f"cannot read CIFAR-10 in {folder}: Permission denied ({folder / 'data_batch_1'})"


def test_a_failed_download_is_one_line(tmp_path) -> None:
    with pytest.raises(DataUnavailableError) as info:  # conftest makes every download raise
        load_dataset("cifar10", tmp_path, download=True)
    message = str(info.value)
    assert message.startswith(f"could not download CIFAR-10 into {tmp_path}") and "test tried to download" in message
    assert len(message.splitlines()) == 1


def _crops(image: torch.Tensor, pad: int) -> list[tuple[int, int, bool, torch.Tensor]]:
    """Every crop of the zero-padded image, and its mirror: (top, left, flipped, crop)."""
    c, h, w = image.shape
    padded = torch.zeros(c, h + 2 * pad, w + 2 * pad, dtype=image.dtype)
    padded[:, pad : pad + h, pad : pad + w] = image
    out = []
    for top in range(2 * pad + 1):
        for left in range(2 * pad + 1):
            crop = padded[:, top : top + h, left : left + w]
            out += [(top, left, False, crop), (top, left, True, crop.flip(2))]
    return out


@pytest.mark.parametrize("hflip", [True, False])
def test_random_crop_flip_gives_shifted_and_mirrored_copies(hflip: bool) -> None:
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    out = random_crop_flip(images, 2, hflip, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    seen = set()
    for image, augmented in zip(images, out, strict=True):
        matches = [(t, l, f) for t, l, f, crop in _crops(image, 2) if torch.equal(crop, augmented)]
        assert len(matches) == 1, "each output must be exactly one crop (or mirrored crop) of its input"
        seen.add(matches[0])
    assert any(f for _, _, f in seen) == hflip and (not hflip or not all(f for _, _, f in seen))
    assert len({(t, l) for t, l, _ in seen}) > 10  # the offsets vary


def test_device_loader_visits_every_image_once_in_an_order_fixed_by_seed_and_epoch() -> None:
    n, batch = 50, 8
    images = torch.zeros(n, 3, 4, 4, dtype=torch.uint8)
    labels = torch.arange(n)  # the labels identify the images
    loader = DeviceLoader(images, labels, batch, train=True, seed=1)

    def order(epoch: int) -> list[int]:
        loader.set_epoch(epoch)
        return torch.cat([y for _, y in loader]).tolist()

    assert len(loader) == n // batch == len(list(loader))  # the incomplete batch is dropped
    first = order(0)
    assert len(first) == len(set(first)) == 48
    assert order(0) == first and order(1) != first
    test = DeviceLoader(images, labels, batch)
    assert torch.cat([y for _, y in test]).tolist() == list(range(n))  # in order, all kept


def test_worker_loader_order_is_fixed_by_seed_and_epoch() -> None:
    dataset = load_dataset("fake", transform=pil_transforms(augment=True))
    loader = WorkerLoader(dataset, 16, train=True, num_workers=0, seed=3)

    def first_batch(epoch: int) -> torch.Tensor:
        loader.set_epoch(epoch)
        torch.manual_seed(epoch)  # with no workers, augmentation uses the global RNG
        return next(iter(loader))[0]

    assert torch.equal(first_batch(0), first_batch(0))
    assert not torch.equal(first_batch(0), first_batch(1))


def test_digits_are_32x32_rgb_with_a_stratified_split() -> None:
    train, test = load_dataset("digits", train=True), load_dataset("digits", train=False)
    assert len(train) == 1437 and len(test) == 360
    assert train.data.shape == (1437, 32, 32, 3) and train.data.dtype == np.uint8
    assert set(np.bincount(test.targets, minlength=10)) <= {35, 36, 37}  # a fifth of each class, stratified
    assert (train.data[..., 0] == train.data[..., 2]).all() and train.data.max() == 255
