"""Your own images: a folder in torchvision's ``ImageFolder`` layout, for ``--dataset folder``.

    DIR/train/CLASS/IMAGE      the training images, one folder per class
    DIR/val/CLASS/IMAGE        the validation images, the same class folders

Class names are the folder names, sorted (as ``ImageFolder`` orders them), so
class ``i`` is the ``i``-th name; the run writes them into its folder
(``classes.json``) and its checkpoint. Images may sit deeper inside a class
folder, and may be of any size and of ``ImageFolder``'s formats (JPEG, PNG,
WebP, BMP, TIFF, PPM, PGM). They are decoded by Pillow in ``DataLoader``
worker processes, as ``ImageFolder`` decodes them (``torchvision.io``'s
decoders are deprecated since torchvision 0.29), and transformed as uint8
tensors by torchvision's v2 transforms: the training images by a random
resized crop and a horizontal flip, the validation images by a resize and a
centre crop, as torchvision's classification reference does.

What is refused, in one line: a missing ``train/`` or ``val/``, fewer than two
classes, a class folder without images, a class folder whose name is not valid
UTF-8 (the names go into JSON files), and a ``val/`` whose classes differ from
``train/``'s. Files whose extension is not an image's are skipped and counted
(a ``README.txt``, a ``.DS_Store``); a file with an image's extension that
cannot be decoded stops the run, naming the file, when a worker reaches it.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from refimpl.tools.data import DataUnavailableError
from refimpl.tools.errors import os_reason

__all__ = [
    "IMAGE_EXTENSIONS",
    "FolderError",
    "FolderImages",
    "ImageFolderSplit",
    "folder_transforms",
    "scan_image_folder",
]

#: the extensions ``torchvision.datasets.ImageFolder`` takes for images
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
SPLITS = ("train", "val")


class FolderError(DataUnavailableError):
    """The folder does not hold a usable data set; the message says what is wrong and what is expected."""


@dataclass(frozen=True)
class ImageFolderSplit:
    """One split of the folder: its class names, its (image path, class index) pairs, what was skipped.

    Attributes:
        folder: ``DIR/train`` or ``DIR/val``.
        classes: the class folders' names, sorted.
        samples: (path, class index) of every image, in a fixed order.
        skipped: files skipped for their extension, by extension (``""``: none).
    """

    folder: Path
    classes: tuple[str, ...]
    samples: tuple[tuple[str, int], ...]
    skipped: Counter[str]

    def describe_skipped(self) -> str | None:
        """ "skipped 3 files that are not images (.txt 2, .bmp 1) in DIR/train", or ``None``."""
        if not self.skipped:
            return None
        kinds = ", ".join(f"{ext or 'no extension'} {n}" for ext, n in self.skipped.most_common())
        total = sum(self.skipped.values())
        return f"skipped {total} file{'s'[: total > 1]} that {'are' if total > 1 else 'is'} not an image ({kinds}) in {self.folder}"


def _layout(root: Path) -> str:
    return f"expected {root}/train/CLASS/IMAGE and {root}/val/CLASS/IMAGE (torchvision's ImageFolder layout)"


def _scan_split(root: Path, split: str) -> ImageFolderSplit:
    folder = root / split
    if not folder.is_dir():
        raise FolderError(f"{root} has no {split}/ folder; {_layout(root)}")
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    except OSError as err:
        raise FolderError(f"cannot read {folder}: {os_reason(err)}") from None
    for name in names:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:  # os.scandir gives undecodable bytes as surrogates
            raw = os.fsencode(name)
            raise FolderError(
                f"{folder} has a class folder whose name is not valid UTF-8 ({raw!r}); rename it: "
                "class names are written into the run's classes.json and checkpoint"
            ) from None
    if len(names) < 2:
        found = f"found {len(names)}" + (f" ({names[0]})" if names else "")
        raise FolderError(f"{folder} needs a folder for each of at least 2 classes, {found}; {_layout(root)}")
    samples: list[tuple[str, int]] = []
    skipped: Counter[str] = Counter()
    for index, name in enumerate(names):
        images = 0
        for parent, dirs, files in os.walk(folder / name, followlinks=True):
            dirs.sort()
            for file in sorted(files):
                ext = os.path.splitext(file)[1].lower()
                if ext in IMAGE_EXTENSIONS:
                    samples.append((os.path.join(parent, file), index))
                    images += 1
                else:
                    skipped[ext] += 1
        if images == 0:
            raise FolderError(
                f"{folder / name} holds no images ({', '.join(IMAGE_EXTENSIONS)}); add some, or remove the folder"
            )
    skipped[""] += sum(1 for entry in os.scandir(folder) if entry.is_file())  # files beside the class folders
    skipped = +skipped  # drop the zero counts
    return ImageFolderSplit(folder, tuple(names), tuple(samples), skipped)


def scan_image_folder(root: str | Path) -> tuple[ImageFolderSplit, ImageFolderSplit]:
    """The training and validation splits of ``root``, checked as the module says.

    Raises:
        FolderError: a missing folder, fewer than two classes, an empty class,
            a class name that is not valid UTF-8, or validation classes other
            than the training ones; one line that names the folder.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FolderError(f"no folder {root} (--data-root); {_layout(root)}")
    train, val = (_scan_split(root, split) for split in SPLITS)
    if train.classes != val.classes:
        lacks = sorted(set(train.classes) - set(val.classes))
        extra = sorted(set(val.classes) - set(train.classes))
        parts = ([f"val/ lacks {', '.join(lacks)}"] if lacks else []) + (
            [f"val/ has {', '.join(extra)}, which train/ has not"] if extra else []
        )
        raise FolderError(f"the classes of {root}/val differ from those of {root}/train: {'; '.join(parts)}")
    return train, val


def folder_transforms(
    image_size: int,
    train: bool,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    resize_size: int | None = None,
    interpolation: str = "bilinear",
) -> Callable[[Tensor], Tensor]:
    """torchvision's classification transforms for uint8 image tensors, in its v2 API.

    Training: a random resized crop to ``image_size`` and a horizontal flip.
    Evaluation: the shorter side resized to ``resize_size`` (``image_size *
    256 / 224`` by default) and the centre ``image_size`` square. Both end
    with scaling to [0, 1] and normalising by ``mean`` and ``std``.
    """
    from torchvision.transforms import InterpolationMode, v2

    how = InterpolationMode(interpolation)
    if train:
        steps: list[Any] = [
            v2.RandomResizedCrop(image_size, interpolation=how, antialias=True),
            v2.RandomHorizontalFlip(),
        ]
    else:
        resize = resize_size or round(image_size * 256 / 224)
        steps = [v2.Resize(resize, interpolation=how, antialias=True), v2.CenterCrop(image_size)]
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=list(mean), std=list(std))]
    return v2.Compose(steps)


class FolderImages(Dataset):
    """The images of one split, decoded by Pillow as RGB and transformed as uint8 tensors.

    Args:
        split: from ``scan_image_folder``.
        transform: applied to each (3, H, W) uint8 image (``folder_transforms``).
    """

    def __init__(self, split: ImageFolderSplit, transform: Callable[[Tensor], Tensor]) -> None:
        self.split = split
        self.classes = list(split.classes)
        self.samples = list(split.samples)
        self.targets = [label for _, label in self.samples]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        from PIL import Image, UnidentifiedImageError
        from torchvision.transforms.v2.functional import pil_to_tensor

        path, label = self.samples[index]
        try:
            with Image.open(path) as file:
                image = pil_to_tensor(file.convert("RGB"))  # (3, H, W) uint8; grey, palette and RGBA made RGB
        except UnidentifiedImageError:
            raise FolderError(f"cannot decode {path}: not an image Pillow can read; replace or remove it") from None
        except OSError as err:  # unreadable, or a truncated image (no errno)
            why = os_reason(err) if err.errno else f"a damaged image ({err})"
            raise FolderError(f"cannot read {path}: {why}; replace or remove it") from None
        return self.transform(image), label
