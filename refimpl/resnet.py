"""ResNet, one readable file.

Paper: Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun,
"Deep Residual Learning for Image Recognition", CVPR 2016, arXiv:1512.03385.
ResNeXt: Saining Xie et al., "Aggregated Residual Transformations for Deep
Neural Networks", CVPR 2017, arXiv:1611.05431.
Wide ResNet: Sergey Zagoruyko, Nikos Komodakis, "Wide Residual Networks",
BMVC 2016, arXiv:1605.07146.

It needs only PyTorch. What it holds, top to bottom (the order of every
model file here):

1. helpers: ``conv3x3``, ``conv1x1``, the two shortcuts (projection, option B;
   zero padding, option A), ``make_layer``, which stacks blocks into a stage,
   ``init_weights``, the initialisation rule of every model file, and
   ``linear_head``, the head's linear layer;
2. blocks: ``BasicBlock`` (two 3x3 convolutions, ResNet-18/34),
   ``Bottleneck`` (1x1 reduce, 3x3, 1x1 expand; ResNet-50/101/152) and
   ``PlainBlock`` (a ``BasicBlock`` without its skip connection, for the
   paper's plain twins). Each block computes its residual branch F(x) in
   ``residual``, zeroes its own last BN in ``zero_init_last``, and says how
   many weighted layers it has (``depth``) and whether it has a skip
   connection (``has_skip``);
3. network: ``ResNet``, the ImageNet network;
4. ImageNet builders: ``resnet18`` ... ``resnet152``, ``resnext50_32x4d``,
   ``resnext101_32x8d``, ``resnext101_64x4d``, ``wide_resnet50_2`` and
   ``wide_resnet101_2``;
5. CIFAR variants: ``CifarResNet``, the 6n+2-layer CIFAR-10 networks of the
   paper's section 4.2, built by ``resnet_cifar(depth=...)`` (the one way to
   build a CIFAR network in every model file), and the paper's depths
   ``resnet20`` ... ``resnet110``;
6. checkpoint adapters: none, torchvision's checkpoints load as they are.

Every network has timm's surface: ``forward_features(x)`` (the feature map),
``forward_head(x, pre_logits=False)`` (pooling and classifier) and
``reset_classifier(num_classes)``; ``forward`` is the first two.

Attribute names equal torchvision's ``state_dict`` keys, so the official
torchvision weights load with ``strict=True`` and give the same outputs.
Channel arguments are named alike in every file: ``in_channels`` enter a
module, ``channels`` is a block's inner width (the paper's and torchvision's
"planes") and ``out_channels`` leave it.

Deviations from the paper, and why:

- The stride of a downsampling ``Bottleneck`` sits on the 3x3 convolution, not
  on the first 1x1 ("ResNet v1.5"). A strided 1x1 convolution skips three
  quarters of its input; torchvision made this change and its weights need it.
  It costs a little more compute and gains about 0.5% top-1.
- ImageNet shortcuts that change shape are projections (1x1 convolution + BN,
  the paper's option B); all others are identities. This is what the paper's
  ImageNet results and torchvision use.
- Batch normalisation follows every convolution and there is no dropout, as in
  the paper. ``zero_init_residual`` (Goyal et al. 2017, arXiv:1706.02677) is
  an option the paper did not have; it is off by default.
- ``small_input`` is not in the paper: it swaps the 7x7 stride-2 stem and the
  max-pool for one 3x3 stride-1 convolution, so that a 32x32 image leaves the
  last stage as a 4x4 map instead of 1x1.
- ``replace_stride_with_dilation`` and ``norm_layer`` are torchvision's, not
  the paper's: detection backbones freeze BN (``FrozenBatchNorm2d``) and
  segmentation ones (DeepLab) dilate the last stages instead of striding, so
  this file can stand in for torchvision's there.
"""

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "CifarResNet",
    "PadShortcut",
    "PlainBlock",
    "ResNet",
    "conv1x1",
    "conv3x3",
    "init_weights",
    "linear_head",
    "make_layer",
    "projection_shortcut",
    "resnet18",
    "resnet20",
    "resnet32",
    "resnet34",
    "resnet44",
    "resnet50",
    "resnet56",
    "resnet101",
    "resnet110",
    "resnet152",
    "resnet_cifar",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "wide_resnet50_2",
    "wide_resnet101_2",
]


# ----------------------------------------------------------------------------- 1. helpers
# --8<-- [start:helpers]
def conv3x3(in_channels: int, out_channels: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution that keeps the size at stride 1 (padding = dilation), no bias (a BN follows it)."""
    return nn.Conv2d(
        in_channels, out_channels, 3, stride=stride, padding=dilation, groups=groups, dilation=dilation, bias=False
    )


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution with no bias (a BN follows it)."""
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


def projection_shortcut(
    in_channels: int, out_channels: int, stride: int, norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d
) -> nn.Module:
    """Option B of the paper: a 1x1 convolution and BN that match the shape."""
    return nn.Sequential(conv1x1(in_channels, out_channels, stride), norm_layer(out_channels))


class PadShortcut(nn.Module):
    """Option A of the paper: a parameter-free shortcut.

    It subsamples the input by ``stride`` and fills the extra channels with
    zeros, so the identity still reaches every deeper layer at no cost.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output (at least ``in_channels``).
        stride: spatial subsampling factor.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        if out_channels < in_channels:
            raise ValueError(f"PadShortcut can only add channels, got {in_channels} -> {out_channels}")
        super().__init__()
        self.stride = stride
        extra = out_channels - in_channels
        # zeros split before and after the existing channels, fixed here so the graph holds no shape arithmetic
        self.padding = (0, 0, 0, 0, extra // 2, extra - extra // 2)

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # (N, C_in, H, W) -> (N, C_in, H/s, W/s)
        return F.pad(x, self.padding)  # -> (N, C_out, H/s, W/s)


def make_layer(
    block: "type[BasicBlock | Bottleneck]",
    in_channels: int,
    channels: int,
    blocks: int,
    stride: int = 1,
    shortcut: Callable[[int, int, int], nn.Module] = projection_shortcut,
    dilation: int = 1,
    first_dilation: int | None = None,
    **block_args: Any,
) -> nn.Sequential:
    """Stack ``blocks`` residual blocks into one stage (``layer1`` ... ``layer4``).

    Only the first block may change the resolution (``stride``) or the width;
    its identity then goes through ``shortcut``. The others keep the shape.
    A block without a skip connection (``has_skip`` false: ``PlainBlock``) gets
    no shortcut, so the stage holds no weight that its forward pass never uses.

    Args:
        block: a block class of any model file here (``BasicBlock``, ``Bottleneck``,
            SE-Net's and the pre-activation ones).
        in_channels: channels entering the stage.
        channels: the blocks' inner width; the stage outputs ``channels * block.expansion``.
        blocks: number of blocks in the stage (the paper's table 1 "x n").
        stride: stride of the first block (2 halves the resolution).
        shortcut: builds the shortcut of a block whose shape changes.
        dilation: dilation of the blocks' 3x3 convolutions (1 unless the stage
            dilates instead of striding).
        first_dilation: the first block's, where a dilated stage follows a less
            dilated one; ``None``: ``dilation``.
        **block_args: keyword arguments of every block (``groups``, ``base_width``,
            ``norm_layer``, SE-Net's ``reduction``).
    """
    out_channels = channels * block.expansion
    downsample = None
    if block.has_skip and (stride != 1 or in_channels != out_channels):
        downsample = shortcut(in_channels, out_channels, stride)
    first = dilation if first_dilation is None else first_dilation
    layers = [block(in_channels, channels, stride, downsample, dilation=first, **block_args)]
    layers += [block(out_channels, channels, dilation=dilation, **block_args) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def init_weights(model: nn.Module, zero_init_residual: bool = False) -> None:
    """The initialisation rule of every model file here.

    Convolutions: He et al.'s normal initialisation (arXiv:1502.01852) with the
    fan-out, as the authors' Torch code of ResNet and DenseNet. BN: the
    identity (gamma 1, beta 0). Linear layers: PyTorch's default weights and a
    zero bias. ``densenet.py`` holds a copy of this rule, so that it copies alone.

    Args:
        model: the network to initialise in place.
        zero_init_residual: ask every block to zero the last BN of its residual
            branch (``zero_init_last``), so that each starts as the identity
            (arXiv:1706.02677). Each block decides what that means for it.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in model.modules():
            if hasattr(m, "zero_init_last"):
                m.zero_init_last()


def linear_head(num_features: int, num_classes: int) -> nn.Module:
    """The head's linear layer, initialised by ``init_weights``'s rule; 0 classes: none (features out, as timm)."""
    if num_classes == 0:
        return nn.Identity()
    fc = nn.Linear(num_features, num_classes)
    init_weights(fc)
    return fc


# --8<-- [end:helpers]


# ----------------------------------------------------------------------------- 2. blocks
# --8<-- [start:basicblock]
class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a skip connection: y = ReLU(F(x) + x).

    Used by ResNet-18/34 and by the CIFAR ResNets.

    Args:
        in_channels: channels of the input x.
        channels: channels of both convolutions and of the output.
        stride: stride of the first convolution (2 where a stage starts).
        downsample: shortcut that matches x to F(x) when their shapes differ;
            ``None`` means the identity.
        groups: must be 1 (kept so all blocks share one signature).
        base_width: must be 64 (same reason).
        dilation: must be 1 (same reason; torchvision's BasicBlock has no dilation either).
        norm_layer: the normalisation after each convolution (``nn.BatchNorm2d``;
            detection backbones pass torchvision's ``FrozenBatchNorm2d``).
    """

    expansion: int = 1  # output channels per unit of ``channels``
    depth: int = 2  # weighted layers, as the paper counts a network's depth
    has_skip: bool = True

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        if groups != 1 or base_width != 64 or dilation != 1:
            raise ValueError(
                f"BasicBlock accepts only groups=1, base_width=64 and dilation=1, got {groups}, {base_width}, {dilation}"
            )
        self.conv1 = conv3x3(in_channels, channels, stride)
        self.bn1 = norm_layer(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(channels, channels)
        self.bn2 = norm_layer(channels)
        self.downsample = downsample

    def residual(self, x: Tensor) -> Tensor:
        """The residual function F(x): conv-BN-ReLU-conv-BN."""
        out = self.relu(self.bn1(self.conv1(x)))  # (N, C_in, H, W) -> (N, C, H/s, W/s)
        return self.bn2(self.conv2(out))

    def forward(self, x: Tensor) -> Tensor:
        out = self.residual(x)
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)

    def zero_init_last(self) -> None:
        """Zero the last BN's gamma: F(x) = 0 and the block starts as y = ReLU(x)."""
        nn.init.zeros_(self.bn2.weight)


# --8<-- [end:basicblock]


# --8<-- [start:bottleneck]
class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand, with a skip connection.

    The 1x1 convolutions shrink the channels four-fold around the expensive
    3x3 and widen them back, so a 50-layer network costs about what a 34-layer
    one does. With ``groups > 1`` the 3x3 is a grouped convolution (ResNeXt).

    Args:
        in_channels: channels of the input x.
        channels: inner width of ResNet; the block outputs ``4 * channels``.
        stride: stride of the 3x3 convolution (v1.5; the paper strides the first 1x1).
        downsample: shortcut that matches x to F(x) when their shapes differ;
            ``None`` means the identity.
        groups: cardinality C of ResNeXt (1 for ResNet).
        base_width: width per group d of ResNeXt; 64 gives ResNet.
        dilation: dilation of the 3x3 convolution (1; segmentation backbones dilate instead of striding).
        norm_layer: the normalisation after each convolution (``nn.BatchNorm2d``).
    """

    expansion: int = 4
    depth: int = 3
    has_skip: bool = True

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        width = int(channels * (base_width / 64.0)) * groups  # ResNeXt-50 32x4d: 4 * 32 = 128 in layer1
        self.conv1 = conv1x1(in_channels, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, channels * self.expansion)
        self.bn3 = norm_layer(channels * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def residual(self, x: Tensor) -> Tensor:
        """The residual function F(x): 1x1 reduce, 3x3, 1x1 expand, each with BN."""
        out = self.relu(self.bn1(self.conv1(x)))  # (N, C_in, H, W) -> (N, w, H, W)
        out = self.relu(self.bn2(self.conv2(out)))  # -> (N, w, H/s, W/s)
        return self.bn3(self.conv3(out))  # -> (N, 4C, H/s, W/s)

    def forward(self, x: Tensor) -> Tensor:
        out = self.residual(x)
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)

    def zero_init_last(self) -> None:
        """Zero the last BN's gamma: F(x) = 0 and the block starts as y = ReLU(x)."""
        nn.init.zeros_(self.bn3.weight)


# --8<-- [end:bottleneck]


# --8<-- [start:plainblock]
class PlainBlock(BasicBlock):
    """The paper's plain baseline: a ``BasicBlock`` without its skip connection, y = ReLU(F(x)).

    Same layers as ``BasicBlock``; the addition of the identity is gone, and
    with it the projection where a stage starts (``make_layer`` builds none).
    The paper's plain networks (figure 6) are ResNets built from these.
    """

    has_skip: bool = False

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.residual(x))

    def zero_init_last(self) -> None:
        """Nothing: without a skip connection, a zero branch would cut the signal, not pass it on."""


# --8<-- [end:plainblock]


# ----------------------------------------------------------------------------- 3. network
# --8<-- [start:resnet]
class ResNet(nn.Module):
    """The ImageNet ResNet: a stem, four stages of residual blocks, a classifier.

    Args:
        block: ``BasicBlock`` (ResNet-18/34) or ``Bottleneck`` (ResNet-50 and deeper).
        layers: number of blocks in each of the four stages (the paper's table 1),
            for example ``(3, 4, 6, 3)`` for ResNet-50.
        num_classes: size of the classifier's output.
        zero_init_residual: start every block as the identity by zeroing the last
            BN gamma of its residual branch (arXiv:1706.02677).
        groups: cardinality C of ResNeXt (1 for ResNet).
        width_per_group: width per group d of ResNeXt (64 for ResNet).
        replace_stride_with_dilation: for ``layer2`` ... ``layer4``, whether to
            keep the resolution and dilate the 3x3 convolutions instead of
            striding (DeepLab's output stride 8 or 16; Bottleneck only).
        norm_layer: the normalisation after each convolution (``nn.BatchNorm2d``;
            torchvision's detection backbones pass ``FrozenBatchNorm2d``).
        small_input: use a 3x3 stride-1 stem without max-pool, for 32x32 images.
        block_args: further keyword arguments of every block, for block subclasses
            (SE-Net's ``{"reduction": r}``).
    """

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        replace_stride_with_dilation: Sequence[bool] = (False, False, False),
        norm_layer: Callable[[int], nn.Module] | None = None,
        small_input: bool = False,
        block_args: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if len(layers) != 4 or len(replace_stride_with_dilation) != 3:
            raise ValueError(
                f"layers must give 4 block counts and replace_stride_with_dilation 3 flags, "
                f"got {layers!r} and {replace_stride_with_dilation!r}"
            )
        norm_layer = norm_layer or nn.BatchNorm2d
        if small_input:  # (N, 3, 32, 32) -> (N, 64, 32, 32)
            self.conv1 = conv3x3(3, 64)
            self.maxpool: nn.Module = nn.Identity()
        else:  # (N, 3, 224, 224) -> (N, 64, 112, 112), then max-pool to 56x56
            self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = norm_layer(64)
        self.relu = nn.ReLU(inplace=True)

        stage = {"groups": groups, "base_width": width_per_group, "norm_layer": norm_layer, **(block_args or {})}
        shortcut = partial(projection_shortcut, norm_layer=norm_layer)
        channels, dilation = 64, 1
        dilate = (False, *replace_stride_with_dilation)
        for i, (width, blocks) in enumerate(zip((64, 128, 256, 512), layers, strict=True), start=1):
            stride, first_dilation = (1 if i == 1 else 2), dilation
            if dilate[i - 1]:  # keep the resolution; the 3x3 convolutions see as far as a stride would make them
                stride, dilation = 1, dilation * stride
            layer = make_layer(block, channels, width, blocks, stride, shortcut, dilation, first_dilation, **stage)
            self.add_module(f"layer{i}", layer)  # layer1 ... layer4, as in torchvision
            channels = width * block.expansion

        self.num_features = channels  # what the classifier sees, as timm names it
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = linear_head(channels, num_classes)
        init_weights(self, zero_init_residual)

    def forward_features(self, x: Tensor) -> Tensor:
        """Stem and the four stages: (N, 3, H, W) -> (N, 512 * expansion, H/32, W/32)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pooling and the classifier: (N, C, h, w) -> (N, classes), or (N, C) with ``pre_logits``."""
        x = torch.flatten(self.avgpool(x), 1)
        return x if pre_logits else self.fc(x)

    def reset_classifier(self, num_classes: int) -> None:
        """A new classifier for ``num_classes`` classes (0: none, the network outputs its pooled features)."""
        self.fc = linear_head(self.num_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


# --8<-- [end:resnet]


# ----------------------------------------------------------------------------- 4. ImageNet builders
# --8<-- [start:builders]
def resnet18(**kwargs: Any) -> ResNet:
    """ResNet-18: BasicBlock, stages of (2, 2, 2, 2). Keyword arguments go to ``ResNet``."""
    return ResNet(block=BasicBlock, layers=(2, 2, 2, 2), **kwargs)


def resnet34(**kwargs: Any) -> ResNet:
    """ResNet-34: BasicBlock, stages of (3, 4, 6, 3). Keyword arguments go to ``ResNet``."""
    return ResNet(block=BasicBlock, layers=(3, 4, 6, 3), **kwargs)


def resnet50(**kwargs: Any) -> ResNet:
    """ResNet-50: Bottleneck, stages of (3, 4, 6, 3). Keyword arguments go to ``ResNet``."""
    return ResNet(block=Bottleneck, layers=(3, 4, 6, 3), **kwargs)


def resnet101(**kwargs: Any) -> ResNet:
    """ResNet-101: Bottleneck, stages of (3, 4, 23, 3). Keyword arguments go to ``ResNet``."""
    return ResNet(block=Bottleneck, layers=(3, 4, 23, 3), **kwargs)


def resnet152(**kwargs: Any) -> ResNet:
    """ResNet-152: Bottleneck, stages of (3, 8, 36, 3). Keyword arguments go to ``ResNet``."""
    return ResNet(block=Bottleneck, layers=(3, 8, 36, 3), **kwargs)


def resnext50_32x4d(**kwargs: Any) -> ResNet:
    """ResNeXt-50 (32x4d): the stages of ResNet-50, with grouped 3x3 convolutions of 32 groups of width 4.

    Its blocks are twice as wide inside as ResNet-50's (128 channels in the
    first stage instead of 64), split into 32 groups of 4.
    """
    return ResNet(block=Bottleneck, layers=(3, 4, 6, 3), groups=32, width_per_group=4, **kwargs)


def resnext101_32x8d(**kwargs: Any) -> ResNet:
    """ResNeXt-101 (32x8d): the stages of ResNet-101, with grouped 3x3 convolutions of 32 groups of width 8."""
    return ResNet(block=Bottleneck, layers=(3, 4, 23, 3), groups=32, width_per_group=8, **kwargs)


def resnext101_64x4d(**kwargs: Any) -> ResNet:
    """ResNeXt-101 (64x4d): the stages of ResNet-101, with grouped 3x3 convolutions of 64 groups of width 4."""
    return ResNet(block=Bottleneck, layers=(3, 4, 23, 3), groups=64, width_per_group=4, **kwargs)


def wide_resnet50_2(**kwargs: Any) -> ResNet:
    """Wide ResNet-50-2: the stages of ResNet-50, with bottlenecks twice as wide inside (128 channels in layer1).

    The blocks' outputs keep ResNet-50's widths (256 ... 2048); only the 1x1
    reduction and the 3x3 convolution between them are doubled.
    """
    return ResNet(block=Bottleneck, layers=(3, 4, 6, 3), width_per_group=128, **kwargs)


def wide_resnet101_2(**kwargs: Any) -> ResNet:
    """Wide ResNet-101-2: the stages of ResNet-101, with bottlenecks twice as wide inside."""
    return ResNet(block=Bottleneck, layers=(3, 4, 23, 3), width_per_group=128, **kwargs)


# --8<-- [end:builders]


# ----------------------------------------------------------------------------- 5. CIFAR variants
# --8<-- [start:cifar]
class CifarResNet(nn.Module):
    """The CIFAR-10 ResNets of the paper's section 4.2: 6n + 2 weighted layers.

    A 3x3 convolution with 16 filters, then three stages of n ``BasicBlock`` s
    with 16, 32 and 64 filters on 32x32, 16x16 and 8x8 maps, global average
    pooling and a fully connected layer. Shortcuts are identities, and where
    the shape changes they subsample and zero-pad (option A): no parameter is
    spent on them.

    Args:
        depth: number of weighted layers, 3 n ``block.depth`` + 2 (6n + 2 for
            ``BasicBlock``: 20, 32, 44, 56, 110, ...).
        num_classes: size of the classifier's output (10 for CIFAR-10).
        zero_init_residual: start every block as the identity (arXiv:1706.02677).
        block: ``BasicBlock``, or a subclass: ``PlainBlock`` gives the paper's
            plain twin, SE-Net's ``SEBasicBlock`` an SE-ResNet for CIFAR.
        block_args: further keyword arguments of every block (SE-Net's ``{"reduction": r}``).
    """

    def __init__(
        self,
        depth: int,
        num_classes: int = 10,
        zero_init_residual: bool = False,
        block: type[BasicBlock | Bottleneck] = BasicBlock,
        block_args: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        per_stage = 3 * block.depth  # weighted layers that one more block in each stage adds
        if depth < per_stage + 2 or (depth - 2) % per_stage != 0:
            raise ValueError(
                f"depth must be {per_stage}n + 2 with n >= 1 for {block.__name__} (20, 32, 44, 56, 110, ...), "
                f"got {depth}"
            )
        n = (depth - 2) // per_stage
        e = block.expansion
        self.conv1 = conv3x3(3, 16)  # (N, 3, 32, 32) -> (N, 16, 32, 32)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        stage = {"shortcut": PadShortcut, **(block_args or {})}
        self.layer1 = make_layer(block, 16, 16, n, stride=1, **stage)  # -> (N, 16e, 32, 32)
        self.layer2 = make_layer(block, 16 * e, 32, n, stride=2, **stage)  # -> (N, 32e, 16, 16)
        self.layer3 = make_layer(block, 32 * e, 64, n, stride=2, **stage)  # -> (N, 64e, 8, 8)
        self.num_features = 64 * e
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = linear_head(64 * e, num_classes)
        init_weights(self, zero_init_residual)

    def forward_features(self, x: Tensor) -> Tensor:
        """Stem and the three stages: (N, 3, 32, 32) -> (N, 64, 8, 8)."""
        x = self.relu(self.bn1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(x)))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pooling and the classifier: (N, 64, 8, 8) -> (N, classes), or (N, 64) with ``pre_logits``."""
        x = torch.flatten(self.avgpool(x), 1)
        return x if pre_logits else self.fc(x)

    def reset_classifier(self, num_classes: int) -> None:
        """A new classifier for ``num_classes`` classes (0: none, the network outputs its pooled features)."""
        self.fc = linear_head(self.num_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def resnet_cifar(*, depth: int, **kwargs: Any) -> CifarResNet:
    """A CIFAR ResNet of any depth 6n + 2: ``resnet_cifar(depth=20)``, ``resnet_cifar(depth=56, block=PlainBlock)``.

    Every model file builds its CIFAR networks this way (``preact_resnet_cifar``,
    ``densenet_bc_cifar``, ``se_resnet_cifar``).

    Args:
        depth: number of weighted layers.
        **kwargs: further arguments of ``CifarResNet`` (``num_classes``, ``block``, ...).
    """
    return CifarResNet(depth=depth, **kwargs)


def resnet20(**kwargs: Any) -> CifarResNet:
    """ResNet-20 for CIFAR-10 (n = 3, 0.27M parameters in the paper)."""
    return resnet_cifar(depth=20, **kwargs)


def resnet32(**kwargs: Any) -> CifarResNet:
    """ResNet-32 for CIFAR-10 (n = 5, 0.46M parameters in the paper)."""
    return resnet_cifar(depth=32, **kwargs)


def resnet44(**kwargs: Any) -> CifarResNet:
    """ResNet-44 for CIFAR-10 (n = 7, 0.66M parameters in the paper)."""
    return resnet_cifar(depth=44, **kwargs)


def resnet56(**kwargs: Any) -> CifarResNet:
    """ResNet-56 for CIFAR-10 (n = 9, 0.85M parameters in the paper)."""
    return resnet_cifar(depth=56, **kwargs)


def resnet110(**kwargs: Any) -> CifarResNet:
    """ResNet-110 for CIFAR-10 (n = 18, 1.7M parameters in the paper)."""
    return resnet_cifar(depth=110, **kwargs)


# --8<-- [end:cifar]


# ----------------------------------------------------------------------------- 6. checkpoint adapters
# None: torchvision's ResNet checkpoints use this file's names and load with strict=True as they are.
