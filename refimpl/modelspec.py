"""What a model declaration holds: ``ModelSpec``, ``Reference`` and ``Preprocessing``.

The declarations themselves, one per model, are in ``refimpl/specs.py``. Code
elsewhere (the registry, the weights loader, verification, training, the
docs) reads a model's facts from its spec and from nowhere else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "ModelSpec", "Preprocessing", "Reference", "timm_preprocessing"]

#: the channel statistics of ImageNet's training set, in [0, 1] units, used by most checkpoints here
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Reference:
    """What a model is verified against.

    Build one with ``Reference.torchvision(name)``, ``Reference.timm(name)`` or
    ``Reference.paper(table, params)``.

    Args:
        source: ``"torchvision"`` or ``"timm"`` (an independent implementation:
            same weights, same outputs) or ``"paper"`` (a table of the paper).
        name: the torchvision or timm builder's name, or the paper's table
            ("He et al. 2015, table 6").
        params: for a paper, the parameter count in millions exactly as the
            paper prints it ("0.27"), so that its rounding is known.
        compare_outputs: ``False`` where the reference computes a slightly
            different function, so that only the parameter counts are compared
            (``verify`` then says so).
        exact: ``False`` where the reference computes the same function with
            other kernels (timm's ``resnetv2_50`` classifies with a 1x1
            convolution, refimpl with ``nn.Linear``), so that outputs,
            gradients and statistics agree to float32 rounding, not bit for bit.
        counts_norm: for a paper, whether its parameter count includes the
            normalisation layers' scales and shifts; ``False`` where it counts
            only convolution and fully connected weights (He et al. 2016's
            ResNet-1001: 10.2M without BN, 10.3M with it).
    """

    source: Literal["torchvision", "timm", "paper"]
    name: str
    params: str | None = None
    compare_outputs: bool = True
    exact: bool = True
    counts_norm: bool = True

    @classmethod
    def torchvision(cls, name: str) -> Reference:
        """torchvision's ``name`` builder, whose published weights load unchanged."""
        return cls("torchvision", name)

    @classmethod
    def timm(cls, name: str, compare_outputs: bool = True, exact: bool = True) -> Reference:
        """timm's ``name`` model."""
        return cls("timm", name, compare_outputs=compare_outputs, exact=exact)

    @classmethod
    def paper(cls, table: str, params: str, counts_norm: bool = True) -> Reference:
        """A paper's ``table``, which gives the parameter count ``params`` in millions."""
        return cls("paper", table, params=params, counts_norm=counts_norm)

    @property
    def is_model(self) -> bool:
        """Whether there is an implementation to compare with (not only a table)."""
        return self.source != "paper"

    def __str__(self) -> str:
        return self.name if self.source == "paper" else f"{self.source}.{self.name}"


@dataclass(frozen=True)
class Preprocessing:
    """How a checkpoint expects its images: resize, centre crop, normalise.

    The evaluation transform of torchvision's ``weights.transforms()`` and of
    timm's ``pretrained_cfg``: resize the shorter side to ``resize_size``,
    crop the centre ``crop_size`` square, scale to [0, 1] and normalise.

    Args:
        crop_size: side of the square the model sees.
        resize_size: the shorter side after resizing, before the crop.
        interpolation: ``"bilinear"`` (torchvision's checkpoints) or ``"bicubic"`` (timm's).
        mean: per-channel mean subtracted, in [0, 1] units.
        std: per-channel standard deviation divided by.
    """

    crop_size: int = 224
    resize_size: int = 256
    interpolation: Literal["bilinear", "bicubic"] = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def transforms(self) -> Callable[[Any], Any]:
        """The transform as torchvision callables: an image in, a normalised float tensor out.

        On a PIL image it gives what torchvision's ``weights.transforms()`` and
        timm's transform give (the tests compare them). An image tensor is
        accepted too; uint8 tensors are then resized in uint8, which differs
        from resizing the PIL image by up to one grey level. Anything else, a
        NumPy array included, is refused with a ``TypeError``, as torchvision's
        ``weights.transforms()`` refuses it (torchvision's v2 transforms would
        pass an array through unresized and uncropped).
        """
        import torch
        from torchvision.transforms import InterpolationMode, v2

        return v2.Compose(
            [
                _only_images,
                v2.Resize(self.resize_size, interpolation=InterpolationMode(self.interpolation), antialias=True),
                v2.CenterCrop(self.crop_size),
                v2.ToImage(),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(self.mean, self.std),
            ]
        )


def _only_images(*inputs: Any) -> Any:
    """The first input unchanged if it is a PIL image or a tensor; anything else raises ``TypeError``.

    torchvision's v2 transforms resize and crop only the types they know and
    return the others unchanged, so a NumPy array would come out at its own size.

    Raises:
        TypeError: the image is neither a PIL image nor a tensor; the message says how to convert an array.
    """
    import torch
    from PIL import Image

    image = inputs[0] if inputs else None
    if not isinstance(image, (Image.Image, torch.Tensor)):
        kind = f"{type(image).__module__}.{type(image).__qualname__}"
        raise TypeError(
            f"transforms() takes a PIL image or an image tensor (C, H, W), got {kind}; "
            "convert an (H, W, 3) uint8 array with PIL.Image.fromarray(array)"
        )
    return inputs[0] if len(inputs) == 1 else inputs


def timm_preprocessing(
    crop_size: int,
    crop_pct: float,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> Preprocessing:
    """timm's evaluation transform for an ImageNet checkpoint: bicubic, resize to floor(crop / crop_pct).

    Args:
        crop_size: timm's ``input_size`` side.
        crop_pct: timm's ``crop_pct``, the fraction of the resized image the crop keeps.
        mean: timm's ``mean`` (ImageNet's statistics for most checkpoints; (0.5, 0.5, 0.5) for some).
        std: timm's ``std``.
    """
    return Preprocessing(crop_size, math.floor(crop_size / crop_pct), "bicubic", mean, std)


@dataclass(frozen=True)
class ModelSpec:
    """Every fact about one model that code outside its model file needs.

    Args:
        name: the registry name, equal to the builder's name.
        builder: the keyword builder in the model's file.
        family: the model file the builder lives in (``"resnet"``, ``"densenet"``, ...).
        label: the architecture as tables show it ("ResNet", "ResNeXt", "CIFAR ResNet", ...).
        reference: what the model is verified against.
        input_size: the image side the model is built for (224 or 32).
        num_classes: the builder's default classifier size (1000 for ImageNet, 10 for CIFAR).
        classifier: the attribute holding the final ``nn.Linear`` (``"fc"``, or
            ``"classifier"`` for DenseNet), replaced when ``num_classes`` differs from the weights'.
        small_input: whether the builder takes ``small_input=True`` (a stem for 32x32 images).
        hub_weights: checkpoints published outside torchvision (timm's, on the
            Hugging Face hub), tag -> the preprocessing they expect; the first is
            ``"DEFAULT"``. Empty where the checkpoints are torchvision's: those are
            found through ``reference`` and carry their own preprocessing.
        adapt_state_dict: applied to a published checkpoint, and to the
            reference's ``state_dict`` in verification, before it is loaded:
            a checkpoint adapter from the model file, for keys that predate the
            current names (DenseNet) or that the model file names otherwise
            (timm's ``resnetv2``). Keys already in the model's names pass unchanged.
    """

    name: str
    builder: Callable[..., nn.Module]
    family: str
    label: str
    reference: Reference
    input_size: int = 224
    num_classes: int = 1000
    classifier: str = "fc"
    small_input: bool = False
    hub_weights: Mapping[str, Preprocessing] = field(default_factory=dict)
    adapt_state_dict: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def adapt(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        """``state_dict``, a checkpoint's or the reference's, in the model's names: ``adapt_state_dict`` applied."""
        return state_dict if self.adapt_state_dict is None else self.adapt_state_dict(state_dict)
