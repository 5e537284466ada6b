"""Pre-activation ResNet, one readable file: ResNet with BN-ReLU moved before the weights.

Paper: Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun,
"Identity Mappings in Deep Residual Networks", ECCV 2016, arXiv:1603.05027.

The original residual unit computes x_{l+1} = ReLU(x_l + F(x_l)): the ReLU after
the addition sits on the shortcut path, so the identity is not one. The
pre-activation unit moves BN and ReLU into the residual branch, before each
convolution, and leaves nothing after the addition:

    x_{l+1} = x_l + F(x_l),   F = conv(BN-ReLU(conv(BN-ReLU(x_l))))  (basic)

so x_L = x_l + sum_{i=l}^{L-1} F(x_i) for any deeper unit L, and the gradient
reaching x_l always holds dLoss/dx_L unchanged.

It needs PyTorch and ``resnet.py`` beside it: copy both files into one folder
(or keep them in the ``refimpl`` package). What it holds, top to bottom (the
order of every model file here):

1. helpers: ``resnet.py``'s: the convolutions, option A (``PadShortcut``),
   ``make_layer``, the initialisation rule ``init_weights`` and ``linear_head``;
2. blocks: ``PreActBasicBlock`` (BN-ReLU-conv twice) and ``PreActBottleneck``
   (BN-ReLU-conv three times: 1x1 reduce, 3x3, 1x1 expand); where the shape
   changes, the projection shortcut takes the pre-activated input. Each
   computes F in ``residual`` and zeroes its last convolution in ``zero_init_last``;
3. network: ``PreActResNet``, the ImageNet network, with the final BN-ReLU
   that the last unit's sum needs before pooling;
4. ImageNet builders: ``preact_resnet50`` and ``preact_resnet101``, timm's
   ``resnetv2_50`` and ``resnetv2_101``;
5. CIFAR variants: ``PreActCifarResNet``, built by
   ``preact_resnet_cifar(depth=...)``, and the paper's ``preact_resnet110``
   (basic blocks), ``preact_resnet164`` and ``preact_resnet1001`` (bottlenecks);
6. checkpoint adapters: ``rename_timm_keys``, which maps timm's ``state_dict``
   keys (``stages.0.blocks.0.norm1``, ``head.fc``, ...) to this file's.

Attribute names read like torchvision's ResNet (``conv1``, ``layer1`` ...
``layer4``, ``bn1`` ... ``bn3`` and ``downsample`` in a block, ``fc``), not
like timm's; timm's ``resnetv2_50/101`` weights load with ``strict=True``
after ``rename_timm_keys`` and give the same outputs.

Deviations from the paper, and why:

- The stride of a downsampling ``PreActBottleneck`` sits on the 3x3
  convolution ("ResNet v1.5", see ``refimpl.resnet``), as in timm; the
  authors' code strides the first 1x1. The parameters are the same.
- ImageNet: timm's ``resnetv2_50/101`` (He et al.'s figure 1(b) unit, with
  timm's stem: a 7x7 stride-2 convolution and a max-pool, no BN-ReLU, since
  the first block pre-activates). The paper's ImageNet models are
  ResNet-152/200 trained in Torch; their weights are not published here.
- Pretrained weights are timm's (``resnetv2_50.a1h_in1k`` and
  ``resnetv2_101.a1h_in1k``, trained with timm's "ResNet strikes back"
  recipe, arXiv:2110.00476), not the paper's.
- timm's classifier is a 1x1 convolution on the pooled map; here it is an
  ``nn.Linear`` (``fc``), as in every model of the project. On a 1x1 map both
  compute W z + b, and ``rename_timm_keys`` reshapes the weight, but the
  kernels add in another order: outputs agree to float32 rounding, not bit
  for bit.
- CIFAR: the paper does not say which shortcut its basic-block ResNet-110
  uses where the shape changes; here it is option A (subsample and pad with
  zeros), as in the original CIFAR ResNet-110 the paper compares it with.
  ResNet-164 and ResNet-1001 use 1x1 projections there, as the authors' code.
- ``small_input`` is not in the paper (see ``refimpl.resnet``).
- Every block starts as the identity, x_{l+1} = x_l: ``zero_init_residual``
  is on by default and zeroes the last convolution of each branch (no BN
  follows it). The paper, and timm's ``resnetv2`` by default, He-initialise
  that convolution like the others; ``zero_init_residual=False`` does that.
  Why: a freshly built BN holds running statistics of mean 0 and variance 1,
  so in eval mode it is the identity and every branch F(x_l) grows with its
  input; the sum x_L grows geometrically with depth, to 1e6-1e7 in the
  outputs of ResNet-110 and ResNet-164, and overflows float32 (NaN) in
  ResNet-1001. With zero branches, x_L = x_l.
  Training mode normalises by the batch and is finite either way; loaded
  weights replace the initialisation (the parity with timm is unchanged).
"""

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

try:  # inside the refimpl package
    from .resnet import PadShortcut, conv1x1, conv3x3, init_weights, linear_head, make_layer
except ImportError:  # copied into a folder beside resnet.py
    from resnet import PadShortcut, conv1x1, conv3x3, init_weights, linear_head, make_layer

__all__ = [
    "PreActBasicBlock",
    "PreActBottleneck",
    "PreActCifarResNet",
    "PreActResNet",
    "preact_resnet50",
    "preact_resnet101",
    "preact_resnet110",
    "preact_resnet164",
    "preact_resnet1001",
    "preact_resnet_cifar",
    "rename_timm_keys",
]

_V = TypeVar("_V")


# ----------------------------------------------------------------------------- 1. helpers
# resnet.py's, imported above: a stage of pre-activation blocks is built by the same make_layer as
# ResNet's, with a 1x1 convolution without BN (conv1x1) or option A (PadShortcut) as its shortcut.


# ----------------------------------------------------------------------------- 2. blocks
# --8<-- [start:preact_basic]
class PreActBasicBlock(nn.Module):
    """Two BN-ReLU-conv steps, nothing after the addition: x_{l+1} = x_l + F(x_l).

    Used by the paper's CIFAR ResNet-110.

    Args:
        in_channels: channels of the input x_l.
        channels: channels of both convolutions and of the output.
        stride: stride of the first convolution (2 where a stage starts).
        downsample: the shortcut h where the shape changes; it takes the
            pre-activated input BN-ReLU(x_l). ``None`` means the identity, h(x_l) = x_l.
    """

    expansion: int = 1  # output channels per unit of ``channels``
    depth: int = 2  # weighted layers
    has_skip: bool = True

    def __init__(
        self, in_channels: int, channels: int, stride: int = 1, downsample: nn.Module | None = None, dilation: int = 1
    ) -> None:
        super().__init__()
        if dilation != 1:  # the argument keeps make_layer's one signature for every block
            raise ValueError(f"PreActBasicBlock accepts only dilation=1, got {dilation}")
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = conv3x3(in_channels, channels, stride)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv2 = conv3x3(channels, channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def residual(self, x: Tensor) -> Tensor:
        """F after the pre-activation that it shares with the shortcut: conv, BN-ReLU, conv."""
        out = self.conv1(x)  # (N, C_in, H, W) -> (N, C, H/s, W/s)
        return self.conv2(self.relu(self.bn2(out)))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(x))  # pre-activation; a new tensor, so x itself stays untouched for the identity
        shortcut = x if self.downsample is None else self.downsample(out)  # a projection sees BN-ReLU(x)
        return self.residual(out) + shortcut  # no ReLU after the sum: the shortcut path is a pure identity

    def zero_init_last(self) -> None:
        """Zero the last convolution (no BN follows it): F(x) = 0 and the block starts as y = x."""
        nn.init.zeros_(self.conv2.weight)


# --8<-- [end:preact_basic]


# --8<-- [start:preact_bottleneck]
class PreActBottleneck(nn.Module):
    """Three BN-ReLU-conv steps (1x1 reduce, 3x3, 1x1 expand), nothing after the addition.

    Used by the ImageNet networks and the paper's CIFAR ResNet-164 and ResNet-1001.

    Args:
        in_channels: channels of the input x_l.
        channels: inner width; the block outputs ``4 * channels``.
        stride: stride of the 3x3 convolution (v1.5; the authors' code strides the first 1x1).
        downsample: the shortcut h where the shape changes; it takes the
            pre-activated input BN-ReLU(x_l). ``None`` means the identity, h(x_l) = x_l.
    """

    expansion: int = 4
    depth: int = 3
    has_skip: bool = True

    def __init__(
        self, in_channels: int, channels: int, stride: int = 1, downsample: nn.Module | None = None, dilation: int = 1
    ) -> None:
        super().__init__()
        if dilation != 1:
            raise ValueError(f"PreActBottleneck accepts only dilation=1, got {dilation}")
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = conv1x1(in_channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv2 = conv3x3(channels, channels, stride)
        self.bn3 = nn.BatchNorm2d(channels)
        self.conv3 = conv1x1(channels, channels * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def residual(self, x: Tensor) -> Tensor:
        """F after the pre-activation that it shares with the shortcut: 1x1, BN-ReLU, 3x3, BN-ReLU, 1x1."""
        out = self.conv1(x)  # (N, C_in, H, W) -> (N, C, H, W)
        out = self.conv2(self.relu(self.bn2(out)))  # -> (N, C, H/s, W/s)
        return self.conv3(self.relu(self.bn3(out)))  # -> (N, 4C, H/s, W/s)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(x))  # pre-activation, shared with a projection shortcut
        shortcut = x if self.downsample is None else self.downsample(out)
        return self.residual(out) + shortcut  # no ReLU after the sum

    def zero_init_last(self) -> None:
        """Zero the last convolution (no BN follows it): F(x) = 0 and the block starts as y = x."""
        nn.init.zeros_(self.conv3.weight)


# --8<-- [end:preact_bottleneck]


# ----------------------------------------------------------------------------- 3. network
# --8<-- [start:network]
class PreActResNet(nn.Module):
    """The ImageNet pre-activation ResNet: a stem, four stages, a final BN-ReLU, a classifier.

    The stem has no BN-ReLU of its own: the first block pre-activates its
    input. The last block's sum, in turn, has never been normalised, so a
    final BN-ReLU follows the last stage.

    Args:
        block: ``PreActBottleneck`` (timm's ``resnetv2_50/101``) or ``PreActBasicBlock``.
        layers: number of blocks in each of the four stages, ``(3, 4, 6, 3)`` for 50 layers.
        num_classes: size of the classifier's output.
        zero_init_residual: start every block as the identity by zeroing the
            last convolution of its branch (arXiv:1706.02677; not in the paper,
            nor timm's default). On by default, so that a freshly built network
            stays finite in eval mode; ``False`` is the paper's He initialisation.
        small_input: use a 3x3 stride-1 stem without max-pool, for 32x32 images.
    """

    def __init__(
        self,
        block: type[PreActBasicBlock | PreActBottleneck],
        layers: tuple[int, int, int, int],
        num_classes: int = 1000,
        zero_init_residual: bool = True,
        small_input: bool = False,
    ) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"layers must give 4 block counts, got {layers!r}")
        if small_input:  # (N, 3, 32, 32) -> (N, 64, 32, 32)
            self.conv1 = conv3x3(3, 64)
            self.maxpool: nn.Module = nn.Identity()
        else:  # (N, 3, 224, 224) -> (N, 64, 112, 112), then max-pool to 56x56
            self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        channels = 64
        for i, (width, blocks) in enumerate(zip((64, 128, 256, 512), layers, strict=True), start=1):
            layer = make_layer(block, channels, width, blocks, stride=1 if i == 1 else 2, shortcut=conv1x1)
            self.add_module(f"layer{i}", layer)
            channels = width * block.expansion
        self.bn_final = nn.BatchNorm2d(channels)  # the sum of the last block, normalised once
        self.relu = nn.ReLU(inplace=True)
        self.num_features = channels
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = linear_head(channels, num_classes)
        init_weights(self, zero_init_residual)

    def forward_features(self, x: Tensor) -> Tensor:
        """Stem, the four stages and the final BN-ReLU: (N, 3, H, W) -> (N, 512 * expansion, H/32, W/32)."""
        x = self.maxpool(self.conv1(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.relu(self.bn_final(x))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pooling and the classifier: (N, C, h, w) -> (N, classes), or (N, C) with ``pre_logits``."""
        x = torch.flatten(self.avgpool(x), 1)
        return x if pre_logits else self.fc(x)

    def reset_classifier(self, num_classes: int) -> None:
        """A new classifier for ``num_classes`` classes (0: none, the network outputs its pooled features)."""
        self.fc = linear_head(self.num_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


# --8<-- [end:network]


# ----------------------------------------------------------------------------- 4. ImageNet builders
# --8<-- [start:builders]
def preact_resnet50(**kwargs: Any) -> PreActResNet:
    """Pre-activation ResNet-50, timm's ``resnetv2_50``. Keyword arguments go to ``PreActResNet``."""
    return PreActResNet(block=PreActBottleneck, layers=(3, 4, 6, 3), **kwargs)


def preact_resnet101(**kwargs: Any) -> PreActResNet:
    """Pre-activation ResNet-101, timm's ``resnetv2_101``. Keyword arguments go to ``PreActResNet``."""
    return PreActResNet(block=PreActBottleneck, layers=(3, 4, 23, 3), **kwargs)


# --8<-- [end:builders]


# ----------------------------------------------------------------------------- 5. CIFAR variants
# --8<-- [start:cifar]
class PreActCifarResNet(nn.Module):
    """The paper's CIFAR networks: a 3x3 convolution, three stages on 32, 16 and 8 pixels, BN-ReLU, a classifier.

    With ``PreActBasicBlock`` (two layers a block) the depth is 6n + 2 and the
    stages have 16, 32 and 64 channels (ResNet-110: n = 18); with
    ``PreActBottleneck`` (three layers a block) it is 9n + 2 and the stages
    output 64, 128 and 256 channels around inner widths of 16, 32 and 64
    (ResNet-164: n = 18, ResNet-1001: n = 111).

    Args:
        depth: number of weighted layers, 6n + 2 (basic) or 9n + 2 (bottleneck).
        num_classes: size of the classifier's output (10 for CIFAR-10).
        zero_init_residual: start every block as the identity, as
            ``PreActResNet`` (on by default; ``False`` is the paper's initialisation).
        block: ``PreActBasicBlock`` or ``PreActBottleneck`` (or a subclass). Where
            the shape changes, basic blocks take option A (parameter-free, as the
            CIFAR ResNet-110 of the 2015 paper), bottlenecks a 1x1 projection
            (their stage widens four-fold, as in the authors' code).
    """

    def __init__(
        self,
        depth: int,
        num_classes: int = 10,
        zero_init_residual: bool = True,
        block: type[PreActBasicBlock | PreActBottleneck] = PreActBasicBlock,
    ) -> None:
        super().__init__()
        per_stage = 3 * block.depth  # weighted layers that one more block in each stage adds
        if depth < per_stage + 2 or (depth - 2) % per_stage != 0:
            raise ValueError(f"depth must be {per_stage}n + 2 with n >= 1 for {block.__name__}, got {depth}")
        n = (depth - 2) // per_stage
        shortcut = PadShortcut if block.expansion == 1 else conv1x1
        self.conv1 = conv3x3(3, 16)  # (N, 3, 32, 32) -> (N, 16, 32, 32); the first block pre-activates it
        e = block.expansion
        self.layer1 = make_layer(block, 16, 16, n, stride=1, shortcut=shortcut)  # -> (N, 16e, 32, 32)
        self.layer2 = make_layer(block, 16 * e, 32, n, stride=2, shortcut=shortcut)  # -> (N, 32e, 16, 16)
        self.layer3 = make_layer(block, 32 * e, 64, n, stride=2, shortcut=shortcut)  # -> (N, 64e, 8, 8)
        self.bn_final = nn.BatchNorm2d(64 * e)
        self.relu = nn.ReLU(inplace=True)
        self.num_features = 64 * e
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = linear_head(64 * e, num_classes)
        init_weights(self, zero_init_residual)

    def forward_features(self, x: Tensor) -> Tensor:
        """Stem, the three stages and the final BN-ReLU: (N, 3, 32, 32) -> (N, 64e, 8, 8)."""
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        return self.relu(self.bn_final(x))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pooling and the classifier: (N, C, h, w) -> (N, classes), or (N, C) with ``pre_logits``."""
        x = torch.flatten(self.avgpool(x), 1)
        return x if pre_logits else self.fc(x)

    def reset_classifier(self, num_classes: int) -> None:
        """A new classifier for ``num_classes`` classes (0: none, the network outputs its pooled features)."""
        self.fc = linear_head(self.num_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def preact_resnet_cifar(*, depth: int, **kwargs: Any) -> PreActCifarResNet:
    """A pre-activation CIFAR ResNet of any depth: ``preact_resnet_cifar(depth=164, block=PreActBottleneck)``.

    Args:
        depth: number of weighted layers, 6n + 2 (basic blocks) or 9n + 2 (bottlenecks).
        **kwargs: further arguments of ``PreActCifarResNet`` (``num_classes``, ``block``, ...).
    """
    return PreActCifarResNet(depth=depth, **kwargs)


def preact_resnet110(**kwargs: Any) -> PreActCifarResNet:
    """Pre-activation ResNet-110 for CIFAR (basic blocks, n = 18, option A shortcuts; 1.7M parameters)."""
    return preact_resnet_cifar(depth=110, block=PreActBasicBlock, **kwargs)


def preact_resnet164(**kwargs: Any) -> PreActCifarResNet:
    """Pre-activation ResNet-164 for CIFAR (bottlenecks, n = 18, projection shortcuts; 1.7M parameters)."""
    return preact_resnet_cifar(depth=164, block=PreActBottleneck, **kwargs)


def preact_resnet1001(**kwargs: Any) -> PreActCifarResNet:
    """Pre-activation ResNet-1001 for CIFAR (bottlenecks, n = 111, projection shortcuts; 10.2M parameters)."""
    return preact_resnet_cifar(depth=1001, block=PreActBottleneck, **kwargs)


# --8<-- [end:cifar]


# ----------------------------------------------------------------------------- 6. checkpoint adapters
# --8<-- [start:adapter]
def _layer(match: re.Match[str]) -> str:
    """``stages.{i}.blocks.{j}.`` -> ``layer{i+1}.{j}.``: timm counts stages from 0, torchvision's layers from 1."""
    return f"layer{int(match.group(1)) + 1}.{match.group(2)}."


#: timm's key pattern -> this file's, applied in order to every key
_TIMM_KEYS: list[tuple[str, str | Callable[[re.Match[str]], str]]] = [
    (r"^stem\.conv\.", "conv1."),
    (r"\.downsample\.conv\.", ".downsample."),  # timm's DownsampleConv holds the 1x1 convolution (and no norm)
    (r"\.norm(\d)\.", r".bn\1."),  # a block's norm1 ... norm3
    (r"^stages\.(\d+)\.blocks\.(\d+)\.", _layer),
    (r"^norm\.", "bn_final."),
    (r"^head\.fc\.", "fc."),
]


def rename_timm_keys(state_dict: Mapping[str, _V]) -> dict[str, _V]:
    """timm's ``resnetv2_50/101`` state dict with this file's keys.

    ``stem.conv`` -> ``conv1``, ``stages.{i}.blocks.{j}`` -> ``layer{i+1}.{j}``
    (in a block ``norm{k}`` -> ``bn{k}``, ``downsample.conv`` -> ``downsample``),
    ``norm`` -> ``bn_final`` and ``head.fc`` -> ``fc``, whose weight, a 1x1
    convolution's (classes, C, 1, 1) in timm, becomes the matrix (classes, C).
    A state dict already in this file's names comes back unchanged.

    Args:
        state_dict: timm's ``model.state_dict()``, or its checkpoint file's contents.
    """
    renamed: dict[str, _V] = {}
    for key, value in state_dict.items():
        for pattern, replacement in _TIMM_KEYS:
            key = re.sub(pattern, replacement, key)
        if key == "fc.weight" and isinstance(value, Tensor) and value.dim() == 4:
            value = value.flatten(1)  # (classes, C, 1, 1) -> (classes, C)
        renamed[key] = value
    return renamed


# --8<-- [end:adapter]
