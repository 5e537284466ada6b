"""Data for training: CIFAR-10 as the lecture notes load it, and a faster way.

The notes' code practice, which stays the documented default::

    transform = Compose([ToTensor(), Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    train_set = torchvision.datasets.CIFAR10(root="./", download=True, transform=transform)
    loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=2)

What this file holds, top to bottom:

1. the two normalisations: the notes' ImageNet statistics (default) and
   CIFAR-10's own channel statistics;
2. ``pil_transforms``: the notes' per-image PIL transforms, with the training
   augmentation (random crop with 4 pixels of padding, horizontal flip);
3. ``load_dataset``: ``cifar10`` through ``torchvision.datasets.CIFAR10``
   (downloaded only when asked), and two data sets that need no network:
   ``digits`` (scikit-learn's 1,797 real handwritten digits, upsampled to
   32x32 RGB) and ``fake`` (torchvision's ``FakeData``, noise for plumbing);
4. the two loaders: ``WorkerLoader``, the notes' pipeline (a ``DataLoader``
   running ``pil_transforms`` in worker processes), chosen by
   ``loader="dataloader"``; and ``DeviceLoader``, chosen by ``loader="device"``:
   the whole uint8 data set moved to the training device (GPU or CPU) once,
   augmented there and sliced into batches, with no worker processes;
   ``make_loaders`` builds either pair, for training and for testing, and
   the pair of a folder of your own images (``"folder"``, read by
   ``refimpl.tools.folder`` in ``WorkerLoader``'s workers).

Why a second loader: the notes' ``DataLoader`` decodes, augments and
normalises every image in Python with PIL, in two worker processes. A GPU
trains a CIFAR-sized ResNet faster than that, so it waits for data. The whole
CIFAR-10 training set is 150 MB as uint8, which fits on any GPU; cropping,
flipping and normalising a batch there costs a few tensor operations.

Each epoch's order and augmentation come from a generator seeded with (seed,
epoch) alone (only ``WorkerLoader`` without workers augments with the process's
random state, which training checkpoints save), so a run resumed at an epoch
sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from refimpl.modelspec import IMAGENET_MEAN, IMAGENET_STD
from refimpl.tools.errors import first_line, os_reason

if TYPE_CHECKING:  # torchvision takes a second to import: the functions import it when called
    from torchvision import datasets, transforms

__all__ = [
    "CIFAR10_STATS",
    "CLASSES",
    "DATASETS",
    "IMAGENET_STATS",
    "DataUnavailableError",
    "DeviceLoader",
    "Digits",
    "WorkerLoader",
    "channel_stats",
    "epoch_seed",
    "load_dataset",
    "make_loaders",
    "pil_transforms",
    "random_crop_flip",
    "to_tensors",
]

# (mean, std) per channel, of images scaled to [0, 1]
IMAGENET_STATS = (IMAGENET_MEAN, IMAGENET_STD)  # the notes' choice
CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))  # the training set's own
NORMALIZATIONS = {"imagenet": IMAGENET_STATS, "cifar10": CIFAR10_STATS}
#: a normalisation: a name of ``NORMALIZATIONS``, or (mean, std) per channel (a checkpoint's own)
Normalization = str | tuple[tuple[float, float, float], tuple[float, float, float]]

DATASETS = ("cifar10", "digits", "fake", "folder")
NUM_CLASSES = 10  # cifar10, digits and fake have ten classes; a folder has its own
CLASSES = {
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    "digits": tuple("0123456789"),
    "fake": tuple("0123456789"),
}
PAD = 4  # pixels of padding of the random crop
HFLIP = {"cifar10": True, "fake": True, "digits": False, "folder": True}  # a mirrored digit is another symbol
FAKE_SIZES = {True: 512, False: 128}  # images in FakeData's train and test split


class DataUnavailableError(RuntimeError):
    """CIFAR-10 is not on disk and cannot be downloaded; the message says how to get it."""


def epoch_seed(seed: int, epoch: int) -> int:
    """A seed of its own for every (seed, epoch) pair, for the data order and augmentation."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def channel_stats(normalize: Normalization) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of a normalisation's name, or the pair itself."""
    return NORMALIZATIONS[normalize] if isinstance(normalize, str) else normalize


# --8<-- [start:pil_transforms]
def pil_transforms(
    normalize: Normalization = "imagenet", augment: bool = False, hflip: bool = True, image_size: int = 32
) -> transforms.Compose:
    """The lecture notes' per-image PIL transforms: ``ToTensor`` and ``Normalize``, augmented for training.

    Args:
        normalize: ``"imagenet"`` (the notes' statistics), ``"cifar10"``, or (mean, std).
        augment: put a random 32x32 crop of the image padded by 4 pixels, and a
            random horizontal flip, in front (for the training set).
        hflip: whether the augmentation flips (not for digits).
        image_size: resize the 32x32 images to this size (bilinear) after the
            augmentation, for a model pretrained on larger images.
    """
    from torchvision import transforms

    mean, std = channel_stats(normalize)
    steps: list[Callable[[Any], Any]] = []
    if augment:
        steps.append(transforms.RandomCrop(32, padding=PAD))
        if hflip:
            steps.append(transforms.RandomHorizontalFlip())
    if image_size != 32:
        steps.append(transforms.Resize(image_size))
    steps += [transforms.ToTensor(), transforms.Normalize(mean=mean, std=std)]
    return transforms.Compose(steps)


# --8<-- [end:pil_transforms]


class Digits(Dataset):
    """scikit-learn's handwritten digits (UCI), as 32x32 RGB images.

    1,797 real 8x8 grey images of the digits 0-9 ship with scikit-learn, so
    this data set needs no network and really can be learnt. The images are
    upsampled bilinearly to 32x32, scaled from 0..16 to 0..255 and repeated
    over three channels; a fixed, stratified split keeps 360 for testing.
    It mirrors ``CIFAR10``: ``data`` is (N, 32, 32, 3) uint8, ``targets`` a list.

    Args:
        train: the 1,437 training images, or else the 360 test images.
        transform: applied to each PIL image, as in ``CIFAR10``.
    """

    test_size = 360

    def __init__(self, train: bool = True, transform: Callable[[Image.Image], Any] | None = None) -> None:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        self.transform = transform
        digits = load_digits()
        images = torch.from_numpy(digits.images).float()[:, None]  # (1797, 1, 8, 8), values 0..16
        images = F.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False)
        images = (images * (255 / 16)).round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1)
        split = train_test_split(
            images.permute(0, 2, 3, 1).numpy(),
            digits.target,
            test_size=self.test_size,
            stratify=digits.target,
            random_state=0,
        )
        data, targets = (split[0], split[2]) if train else (split[1], split[3])
        self.data: np.ndarray = np.ascontiguousarray(data)  # (N, 32, 32, 3) uint8
        self.targets: list[int] = targets.tolist()

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = Image.fromarray(self.data[index])
        return (image if self.transform is None else self.transform(image)), self.targets[index]

    def __len__(self) -> int:
        return len(self.data)


def _cifar10(root: Path, train: bool, download: bool, transform: transforms.Compose | None) -> datasets.CIFAR10:
    from torchvision.datasets import CIFAR10

    folder = root / CIFAR10.base_folder
    how = (
        f"run with --download, or download {CIFAR10.url} "
        f"and unpack it into {root} (the archive holds {CIFAR10.base_folder}/)"
    )
    if download:
        try:
            CIFAR10(root, train=train, download=True)  # torchvision checks the archive's MD5
        except (OSError, RuntimeError) as err:  # no network, or a damaged archive
            reason = first_line(err)
            raise DataUnavailableError(f"could not download CIFAR-10 into {root} ({reason}); {how}") from None
    try:
        return CIFAR10(root, train=train, transform=transform)  # checks each file's MD5
    except RuntimeError:
        raise DataUnavailableError(f"CIFAR-10 not found (or incomplete) in {folder}; {how}") from None
    except OSError as err:  # there, but unreadable (permissions, an I/O error)
        reason = os_reason(err)
        where = f" ({err.filename})" if err.filename else ""
        raise DataUnavailableError(f"cannot read CIFAR-10 in {folder}: {reason}{where}") from None


def load_dataset(
    name: str,
    root: str | Path = ".",
    train: bool = True,
    download: bool = False,
    transform: transforms.Compose | None = None,
) -> Dataset:
    """One split of ``cifar10``, ``digits`` or ``fake``, returning PIL images.

    Args:
        name: ``"cifar10"``, ``"digits"`` or ``"fake"``.
        root: the folder that holds ``cifar-10-batches-py/`` (``cifar10`` only).
        train: the training split, or else the test split.
        download: fetch CIFAR-10 if it is missing (about 170 MB).
        transform: applied to each PIL image, for example ``pil_transforms()``.

    Raises:
        DataUnavailableError: CIFAR-10 is missing and was not (or could not be)
            downloaded, or cannot be read; the one-line message names the
            folder and how to fix it, or why it cannot be read.
    """
    if name == "cifar10":
        return _cifar10(Path(root).expanduser().resolve(), train, download, transform)
    if name == "digits":
        return Digits(train, transform)
    if name == "fake":  # a different seed offset keeps the test images apart from the training ones
        from torchvision.datasets import FakeData

        return FakeData(FAKE_SIZES[train], (3, 32, 32), NUM_CLASSES, transform, random_offset=0 if train else 10**6)
    raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")


def to_tensors(dataset: Dataset) -> tuple[Tensor, Tensor]:
    """All images of a data set as one (N, 3, H, W) uint8 tensor, and the (N,) int64 labels.

    ``CIFAR10`` and ``Digits`` already hold a (N, H, W, 3) uint8 array; other
    data sets (``FakeData``) are read image by image, without a transform.
    """
    if hasattr(dataset, "data"):
        images = torch.from_numpy(np.asarray(dataset.data)).permute(0, 3, 1, 2)  # (N, H, W, 3) -> (N, 3, H, W)
        return images.contiguous(), torch.as_tensor(dataset.targets, dtype=torch.int64)
    if dataset.transform is not None:
        raise ValueError("to_tensors needs the data set without a transform")
    pairs = [(np.asarray(image), label) for image, label in dataset]
    images = torch.from_numpy(np.stack([p[0] for p in pairs])).permute(0, 3, 1, 2)
    return images.contiguous(), torch.tensor([p[1] for p in pairs], dtype=torch.int64)


# --8<-- [start:device_loader]
def random_crop_flip(images: Tensor, pad: int, hflip: bool, generator: torch.Generator) -> Tensor:
    """A random crop of each image padded by ``pad`` zeros, and a random horizontal flip.

    The same augmentation as ``RandomCrop(32, padding=pad)`` and
    ``RandomHorizontalFlip()``, for a whole batch at once on its device: every
    output pixel is gathered from the padded batch with per-image row and
    column indices, and a flip just reverses an image's column indices.

    Args:
        images: (B, C, H, W), any dtype.
        pad: padding on each side; offsets are drawn from 0 .. 2 * pad.
        hflip: flip half of the images, left to right.
        generator: the source of randomness, on the images' device.
    """
    b, c, h, w = images.shape
    device = images.device
    padded = F.pad(images, (pad, pad, pad, pad))  # (B, C, H + 2p, W + 2p), zeros around
    top = torch.randint(0, 2 * pad + 1, (b, 1), device=device, generator=generator)
    left = torch.randint(0, 2 * pad + 1, (b, 1), device=device, generator=generator)
    rows = top + torch.arange(h, device=device)  # (B, H)
    cols = left + torch.arange(w, device=device)  # (B, W)
    if hflip:
        flip = torch.rand(b, 1, device=device, generator=generator) < 0.5
        cols = torch.where(flip, cols.flip(1), cols)
    batch = torch.arange(b, device=device)[:, None, None, None]
    channel = torch.arange(c, device=device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]  # (B, C, H, W)


class DeviceLoader:
    """Batches sliced from a data set that lives on the training device.

    The uint8 images move to ``device`` once; each batch is then gathered,
    augmented, converted to float and normalised there, with no worker
    processes. Iterating yields ``(images, labels)`` like a ``DataLoader``:
    float32 (B, 3, H, W) images, in channels_last layout if asked, and int64 labels.

    Args:
        images: (N, 3, H, W) uint8 images.
        labels: (N,) int64 labels.
        batch_size: images per batch.
        device: where the data set and the batches live.
        normalize: ``"imagenet"`` or ``"cifar10"`` statistics, or (mean, std).
        train: shuffle, augment and drop the last incomplete batch (which could
            hold a single image, too few for batch normalisation).
        hflip: whether the training augmentation flips.
        seed: with the epoch, seeds the order and the augmentation.
        channels_last: hand out batches in channels_last memory layout.
        image_size: resize each batch to this side (bilinear) after the
            augmentation; ``None`` keeps the images' own size.
        rank: this process's place among ``world_size`` (``torchrun``): a
            training batch is its slice of the global batch of ``batch_size``
            images, which every rank draws and augments alike, so that N
            processes train on what one process would.
        world_size: the number of processes; ``batch_size`` must divide by it.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        batch_size: int,
        device: torch.device | str = "cpu",
        normalize: Normalization = "imagenet",
        train: bool = False,
        hflip: bool = True,
        seed: int = 0,
        channels_last: bool = False,
        image_size: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} does not divide among {world_size} processes")
        self.rank, self.world_size = rank, world_size
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        mean, std = channel_stats(normalize)
        self.image_size = None if image_size == images.shape[-1] else image_size
        # scaled by 255, so that uint8 pixels normalise in one step
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1) * 255
        self.batch_size = batch_size
        self.train = train
        self.hflip = hflip
        self.seed = seed
        self.epoch = 0
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order and augmentation the next iteration gives."""
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.train else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        generator = torch.Generator(self.device).manual_seed(epoch_seed(self.seed, self.epoch))
        n = len(self.labels)
        order = torch.randperm(n, device=self.device, generator=generator) if self.train else None
        for i in range(len(self)):
            index = slice(i * self.batch_size, (i + 1) * self.batch_size)
            if order is not None:
                index = order[index]
            x, y = self.images[index], self.labels[index]  # (B, 3, H, W) uint8, (B,)
            if self.train:
                x = random_crop_flip(x, PAD, self.hflip, generator)
                if self.world_size > 1:  # the global batch drawn and augmented as one process would: our slice
                    share = self.batch_size // self.world_size
                    x, y = (t[self.rank * share : (self.rank + 1) * share] for t in (x, y))
            x = x.float()
            if self.image_size is not None:  # (B, 3, 32, 32) -> (B, 3, S, S), as Resize on each image
                x = F.interpolate(x, size=(self.image_size,) * 2, mode="bilinear", antialias=True)
            x = (x - self.mean) / self.std  # ToTensor + Normalize, up to rounding
            yield x.contiguous(memory_format=self.memory_format), y


# --8<-- [end:device_loader]


class GlobalBatches(Sampler[list[int]]):
    """Each global batch of a shuffled epoch, or this rank's slice of it: the order one process would train on.

    Args:
        size: images in the data set.
        batch_size: the global batch; the last incomplete one is dropped.
        generator: draws the epoch's permutation (the loader reseeds it every epoch).
        rank: which slice of each batch this process takes.
        world_size: into how many slices a batch is cut.
    """

    def __init__(self, size: int, batch_size: int, generator: torch.Generator, rank: int = 0, world_size: int = 1):
        self.size, self.batch_size, self.generator = size, batch_size, generator
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return self.size // self.batch_size

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.size, generator=self.generator).tolist()
        share = self.batch_size // self.world_size
        for i in range(len(self)):
            start = i * self.batch_size + self.rank * share
            yield order[start : start + share]


class WorkerLoader(DataLoader):
    """A ``DataLoader`` that runs PIL transforms in worker processes, reseeded each epoch.

    The lecture notes' pipeline (``loader="dataloader"``): each worker decodes,
    augments and normalises its images with ``pil_transforms``.

    Args:
        dataset: a data set with PIL transforms (``pil_transforms``).
        batch_size: images per batch (the notes use 64).
        train: shuffle, and drop the last incomplete batch.
        num_workers: worker processes (the notes use 2; 0 loads in this process).
        seed: with the epoch, seeds the order and the workers' augmentation.
        pin_memory: page-locked batches, for faster copies to a GPU.
        rank: this process's place among ``world_size``: a training batch is
            its slice of each global batch (``GlobalBatches``).
        world_size: the number of processes; ``batch_size`` must divide by it.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 64,
        train: bool = True,
        num_workers: int = 2,
        seed: int = 0,
        pin_memory: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} does not divide among {world_size} processes")
        generator = torch.Generator()
        if train and world_size > 1:
            batches = GlobalBatches(len(dataset), batch_size, generator, rank, world_size)
            options: dict[str, Any] = {"batch_sampler": batches}
        else:
            options = {"batch_size": batch_size, "shuffle": train, "drop_last": train}
        super().__init__(dataset, num_workers=num_workers, pin_memory=pin_memory, generator=generator, **options)
        self.seed = seed

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order and augmentation the next iteration gives."""
        # the generator gives the order and seeds each worker's augmentation; with no
        # workers, augmentation draws from this process's RNG (a checkpoint saves it)
        self.generator.manual_seed(epoch_seed(self.seed, epoch))


def make_loaders(
    name: str,
    batch_size: int,
    device: torch.device,
    loader: str = "device",
    root: str | Path = ".",
    download: bool = False,
    normalize: Normalization = "imagenet",
    seed: int = 0,
    num_workers: int = 2,
    channels_last: bool = False,
    image_size: int | None = None,
    resize_size: int | None = None,
    interpolation: str = "bilinear",
    rank: int = 0,
    world_size: int = 1,
) -> tuple[DeviceLoader | WorkerLoader, DeviceLoader | WorkerLoader]:
    """The training and the test loader of a data set; training batches are augmented.

    Both loaders get a ``classes`` attribute: the class names, in label order.

    Args:
        name: ``"cifar10"``, ``"digits"``, ``"fake"`` or ``"folder"`` (your own
            images, see ``refimpl.tools.folder``; ``loader="dataloader"`` only).
        batch_size: images per batch.
        device: the training device (where ``DeviceLoader`` keeps the data).
        loader: ``"device"`` for ``DeviceLoader`` (on whatever ``device`` is, GPU
            or CPU), or ``"dataloader"`` for ``WorkerLoader``, the notes' pipeline.
        root: the folder that holds (or will hold) CIFAR-10's ``cifar-10-batches-py``,
            or, for ``"folder"``, the one that holds ``train/`` and ``val/``.
        download: fetch CIFAR-10 into ``root`` if it is missing (see ``load_dataset``).
        normalize: ``"imagenet"`` or ``"cifar10"`` statistics, or (mean, std).
        seed: seeds the order and augmentation of each epoch, with the epoch.
        num_workers: ``WorkerLoader``'s worker processes.
        channels_last: ``DeviceLoader`` hands out channels_last batches.
        image_size: the side of the images the model sees: the 32x32 data sets
            are resized to it after their augmentation (``None``: 32); a folder's
            images are cropped to it (``None``: 224).
        resize_size: a folder's test images are resized to it before the centre
            crop (``None``: ``image_size * 256 / 224``).
        interpolation: of a folder's resizing, ``"bilinear"`` or ``"bicubic"``.
        rank: this process's place among ``world_size`` (``torchrun``): its
            training batches are its slices of the global batches of
            ``batch_size`` images; the test loader is the whole test set.
        world_size: the number of processes.

    Raises:
        ValueError: an unknown data set or loader, or ``"folder"`` with ``loader="device"``.
        DataUnavailableError: see ``load_dataset``, and ``refimpl.tools.folder`` for a folder.
    """
    if name not in DATASETS:  # before HFLIP[name]: a KeyError would not say what is known
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    if loader not in ("device", "dataloader"):
        raise ValueError(f"unknown loader {loader!r}; known: device, dataloader")
    hflip = HFLIP[name]
    pair: tuple[DeviceLoader | WorkerLoader, DeviceLoader | WorkerLoader]
    if name == "folder":
        pair, classes = _folder_loaders(
            root,
            batch_size,
            device,
            loader,
            normalize,
            seed,
            num_workers,
            image_size,
            resize_size,
            interpolation,
            {"rank": rank, "world_size": world_size},
        )
    elif loader == "device":
        train_set, test_set = (load_dataset(name, root, split, download and split) for split in (True, False))
        common = {
            "batch_size": batch_size,
            "device": device,
            "normalize": normalize,
            "channels_last": channels_last,
            "image_size": image_size,
        }
        pair = (
            DeviceLoader(
                *to_tensors(train_set), train=True, hflip=hflip, seed=seed, rank=rank, world_size=world_size, **common
            ),
            DeviceLoader(*to_tensors(test_set), **common),
        )
        classes = CLASSES[name]
    else:
        size = image_size or 32
        augmented = pil_transforms(normalize, augment=True, hflip=hflip, image_size=size)
        train_set = load_dataset(name, root, True, download, augmented)
        test_set = load_dataset(name, root, False, False, pil_transforms(normalize, image_size=size))
        common = {"num_workers": num_workers, "pin_memory": device.type == "cuda"}
        pair = (
            WorkerLoader(train_set, batch_size, train=True, seed=seed, rank=rank, world_size=world_size, **common),
            WorkerLoader(test_set, batch_size, train=False, **common),
        )
        classes = CLASSES[name]
    for each in pair:
        each.classes = list(classes)
    return pair


def _folder_loaders(
    root: str | Path,
    batch_size: int,
    device: torch.device,
    loader: str,
    normalize: Normalization,
    seed: int,
    num_workers: int,
    image_size: int | None,
    resize_size: int | None,
    interpolation: str,
    ranks: dict[str, int],
) -> tuple[tuple[WorkerLoader, WorkerLoader], tuple[str, ...]]:
    """A folder's loaders (see ``make_loaders``) and its class names; it reports the files it skipped."""
    from refimpl.tools.folder import FolderImages, folder_transforms, scan_image_folder

    if loader != "dataloader":
        raise ValueError(
            "a folder of images is read by DataLoader workers (loader='dataloader'): "
            "images of many sizes cannot be kept on the device as one tensor"
        )
    train_split, val_split = scan_image_folder(root)
    for split in (train_split, val_split):
        note = split.describe_skipped()
        if note and ranks["rank"] == 0:  # one process says it
            print(f"note: {note}", flush=True)
    size = image_size or 224
    mean, std = channel_stats(normalize)
    sets = [
        FolderImages(split, folder_transforms(size, split is train_split, mean, std, resize_size, interpolation))
        for split in (train_split, val_split)
    ]
    common = {"num_workers": num_workers, "pin_memory": device.type == "cuda"}
    loaders = (
        WorkerLoader(sets[0], batch_size, train=True, seed=seed, **ranks, **common),
        WorkerLoader(sets[1], batch_size, train=False, **common),
    )
    return loaders, train_split.classes
