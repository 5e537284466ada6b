"""SE-Net, one readable file: ResNet, plus squeeze-and-excitation.

Paper: Jie Hu, Li Shen, Samuel Albanie, Gang Sun, Enhua Wu,
"Squeeze-and-Excitation Networks", CVPR 2018 and TPAMI 2019, arXiv:1709.01507.

An SE block recalibrates the channels of a feature map U (N, C, H, W):

- squeeze: global average pooling summarises each channel in one number, z = mean(U) (N, C);
- excitation: two fully connected layers turn that summary into one gate per
  channel, s = sigmoid(W2 ReLU(W1 z)), with W1: C -> C/r and W2: C/r -> C;
- scale: every channel of U is multiplied by its gate, U * s.

The block adds only 2C^2/r + C/r + C parameters and works on the output of any
layer, so "it can be applied to various DNN architectures".

It needs PyTorch and ``resnet.py`` beside it: copy both files into one folder
(or keep them in the ``refimpl`` package); ``se_googlenet`` alone also needs
torchvision. What it holds, top to bottom (the order of every model file here):

1. helpers: ``record_gates``, the excitation of every SE block for a batch, to
   study the role of excitation (the paper's section 7.2);
2. blocks: ``SqueezeExcitation``, the SE block; ``SEResidual``, which adds it
   to a ResNet block's residual branch, after its last BN and before the
   identity is added (the SE-ResNet module, the paper's figure 3), making
   ``SEBasicBlock`` and ``SEBottleneck``; ``SEInception`` (figure 2);
3. network: ``refimpl.resnet``'s ``ResNet`` with these blocks, and
   torchvision's GoogLeNet for SE-Inception;
4. ImageNet builders: ``se_resnet18`` ... ``se_resnet152``,
   ``se_resnext50_32x4d`` and ``se_googlenet``;
5. CIFAR variants: ``se_resnet_cifar(depth=...)``, ``resnet.py``'s
   ``CifarResNet`` with ``SEBasicBlock``;
6. checkpoint adapters: none, timm's checkpoints load as they are.

Attribute names equal timm's ``state_dict`` keys (``layer1.0.se.fc1.weight``
...), so timm's ``seresnet50/101/152`` and ``seresnext50_32x4d`` weights load
with ``strict=True`` and give the same outputs.

Deviations from the paper, and why:

- The two fully connected layers are 1x1 convolutions with bias (``fc1``,
  ``fc2``), as in timm. On the pooled (N, C, 1, 1) tensor a 1x1 convolution
  computes W z + b, exactly a fully connected layer, and timm's weights keep
  their shapes.
- The stride of a downsampling bottleneck sits on the 3x3 convolution
  ("ResNet v1.5", see ``refimpl.resnet``), as in timm's ``seresnet50``; the
  paper's Caffe models stride the first 1x1.
- Pretrained weights are timm's (trained with timm's recipes, for example
  "ResNet strikes back" A1, arXiv:2110.00476), not the paper's Caffe models.
- SE-ResNet-18/34 keep r = 16 exactly (C/16 = 4 channels in ``layer1``). timm's
  ``seresnet18/34`` round C/r up to a multiple of 8, and timm's
  ``legacy_seresnet18/34``, which keep C/16, use a max-pool with ``ceil_mode``
  and no padding (for Caffe weights): neither computes the same function, so
  these two models are checked by their parameter count only.
- The SE-Inception module is shown on torchvision's GoogLeNet (Inception v1
  with BN after every convolution); the paper's SE-Inception network is built
  on BN-Inception (arXiv:1502.03167), which torchvision does not provide.
"""

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

try:  # inside the refimpl package
    from .resnet import BasicBlock, Bottleneck, CifarResNet, ResNet
except ImportError:  # copied into a folder beside resnet.py
    from resnet import BasicBlock, Bottleneck, CifarResNet, ResNet

__all__ = [
    "GOOGLENET_INCEPTION_CHANNELS",
    "SEBasicBlock",
    "SEBottleneck",
    "SEInception",
    "SEResidual",
    "SqueezeExcitation",
    "record_gates",
    "se_googlenet",
    "se_resnet18",
    "se_resnet34",
    "se_resnet50",
    "se_resnet101",
    "se_resnet152",
    "se_resnet_cifar",
    "se_resnext50_32x4d",
]


# ----------------------------------------------------------------------------- 1. helpers
# --8<-- [start:gates]
def record_gates(model: nn.Module, images: Tensor) -> dict[str, Tensor]:
    """The gates s of every SE block for one batch, in the order the blocks run.

    The model runs in eval mode without gradients; its mode is restored after.
    To plot the distribution of gates per class and depth, as the paper's
    figure on the role of excitation does, average ``gates[name].flatten(1)``
    over the images of each class.

    Args:
        model: a network with ``SqueezeExcitation`` blocks.
        images: the input batch, for example (N, 3, 224, 224).

    Returns:
        block name (``"layer1.0.se"``) -> gates of shape (N, C, 1, 1), each in (0, 1).
    """
    gates: dict[str, Tensor] = {}
    handles = [
        module.gate.register_forward_hook(lambda _m, _args, s, name=name: gates.__setitem__(name, s.detach()))
        for name, module in model.named_modules()
        if isinstance(module, SqueezeExcitation)
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(images)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return gates


# --8<-- [end:gates]


# ----------------------------------------------------------------------------- 2. blocks
# --8<-- [start:se]
class SqueezeExcitation(nn.Module):
    """The SE block: squeeze (global average pooling), excitation (two FC layers), scale.

    Args:
        channels: number of channels C of the feature map it recalibrates.
        reduction: the reduction ratio r; the hidden layer has C / r units,
            exactly (the paper's r = 16 by default, no rounding).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        if not isinstance(reduction, int) or isinstance(reduction, bool) or reduction < 1:
            raise ValueError(f"the reduction ratio r must be a positive integer, got {reduction!r}")
        if channels % reduction != 0:
            raise ValueError(f"channels C = {channels} is not divisible by the reduction ratio r = {reduction}")
        # 1x1 convolutions on the (N, C, 1, 1) summary are the paper's FC layers W1, W2 (with bias)
        self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1)  # W1: C -> C/r
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1)  # W2: C/r -> C
        self.gate = nn.Sigmoid()  # its output s is what ``record_gates`` records

    def forward(self, u: Tensor) -> Tensor:
        z = u.mean((2, 3), keepdim=True)  # squeeze: (N, C, H, W) -> (N, C, 1, 1)
        s = self.gate(self.fc2(self.relu(self.fc1(z))))  # excitation: one gate in (0, 1) per channel
        return u * s  # scale: (N, C, H, W) * (N, C, 1, 1) -> (N, C, H, W)


# --8<-- [end:se]


# --8<-- [start:seblocks]
class SEResidual:
    """Squeeze-and-excitation on a ResNet block's residual branch: y = ReLU(SE(F(x)) + x).

    Mixed in before a block of ``refimpl.resnet``, it takes the block's
    arguments plus the reduction ratio r, adds ``se`` after the branch's last
    BN and recalibrates F(x) before ``forward`` adds the identity. Everything
    else (layers, ``forward``, ``zero_init_last``) is the block's own.

    Args:
        in_channels: channels of the input x.
        channels: the block's inner width; SE gates its C = ``channels * expansion`` outputs.
        stride: stride of the block.
        downsample: shortcut for x when its shape differs from F(x); ``None`` is the identity.
        groups: cardinality of ResNeXt (1 for ResNet).
        base_width: width per group of ResNeXt (64 for ResNet).
        dilation: dilation of the block's 3x3 convolution.
        norm_layer: the block's normalisation.
        reduction: the SE reduction ratio r.
    """

    expansion: int

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
        reduction: int = 16,
    ) -> None:
        # the ResNet block
        super().__init__(in_channels, channels, stride, downsample, groups, base_width, dilation, norm_layer)
        self.se = SqueezeExcitation(channels * self.expansion, reduction)

    def residual(self, x: Tensor) -> Tensor:
        """F(x) of the ResNet block, recalibrated by SE."""
        return self.se(super().residual(x))


class SEBasicBlock(SEResidual, BasicBlock):
    """ResNet's ``BasicBlock`` with SE on the residual branch (SE-ResNet-18/34)."""


class SEBottleneck(SEResidual, Bottleneck):
    """ResNet's ``Bottleneck`` with SE on the residual branch (SE-ResNet-50 and deeper, SE-ResNeXt)."""


# --8<-- [end:seblocks]


# --8<-- [start:inception]
class SEInception(nn.Module):
    """The SE-Inception module: an Inception module, then SE on its concatenated output.

    Args:
        module: the Inception module (any module that outputs ``channels`` channels).
        channels: C, the channels of the module's output (the sum over its branches).
        reduction: the SE reduction ratio r.
    """

    def __init__(self, module: nn.Module, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.module = module
        self.se = SqueezeExcitation(channels, reduction)

    def forward(self, x: Tensor) -> Tensor:
        return self.se(self.module(x))  # (N, C_in, H, W) -> (N, C, H, W), recalibrated


# --8<-- [end:inception]


# ----------------------------------------------------------------------------- 3. network
# refimpl.resnet's ResNet and CifarResNet take the blocks above; torchvision's GoogLeNet takes SEInception.


# ----------------------------------------------------------------------------- 4. ImageNet builders
# --8<-- [start:builders]
def se_resnet18(reduction: int = 16, **kwargs: Any) -> ResNet:
    """SE-ResNet-18: ResNet-18 with SE in every block. Keyword arguments go to ``ResNet``."""
    return ResNet(block=SEBasicBlock, layers=(2, 2, 2, 2), block_args={"reduction": reduction}, **kwargs)


def se_resnet34(reduction: int = 16, **kwargs: Any) -> ResNet:
    """SE-ResNet-34: ResNet-34 with SE in every block. Keyword arguments go to ``ResNet``."""
    return ResNet(block=SEBasicBlock, layers=(3, 4, 6, 3), block_args={"reduction": reduction}, **kwargs)


def se_resnet50(reduction: int = 16, **kwargs: Any) -> ResNet:
    """SE-ResNet-50: ResNet-50 with SE in every block. Keyword arguments go to ``ResNet``."""
    return ResNet(block=SEBottleneck, layers=(3, 4, 6, 3), block_args={"reduction": reduction}, **kwargs)


def se_resnet101(reduction: int = 16, **kwargs: Any) -> ResNet:
    """SE-ResNet-101: ResNet-101 with SE in every block. Keyword arguments go to ``ResNet``."""
    return ResNet(block=SEBottleneck, layers=(3, 4, 23, 3), block_args={"reduction": reduction}, **kwargs)


def se_resnet152(reduction: int = 16, **kwargs: Any) -> ResNet:
    """SE-ResNet-152: ResNet-152 with SE in every block. Keyword arguments go to ``ResNet``."""
    return ResNet(block=SEBottleneck, layers=(3, 8, 36, 3), block_args={"reduction": reduction}, **kwargs)


def se_resnext50_32x4d(reduction: int = 16, **kwargs: Any) -> ResNet:
    """SE-ResNeXt-50 (32x4d): ResNeXt-50 with SE in every block."""
    se = {"block_args": {"reduction": reduction}}
    return ResNet(block=SEBottleneck, layers=(3, 4, 6, 3), groups=32, width_per_group=4, **se, **kwargs)


# --8<-- [end:builders]


# --8<-- [start:googlenet]
#: output channels of GoogLeNet's nine Inception modules (Szegedy et al., arXiv:1409.4842, table 1)
GOOGLENET_INCEPTION_CHANNELS: dict[str, int] = {
    "inception3a": 256,
    "inception3b": 480,
    "inception4a": 512,
    "inception4b": 512,
    "inception4c": 512,
    "inception4d": 528,
    "inception4e": 832,
    "inception5a": 832,
    "inception5b": 1024,
}


def se_googlenet(reduction: int = 16, num_classes: int = 1000) -> nn.Module:
    """torchvision's GoogLeNet (without auxiliary classifiers) with SE after each Inception module.

    Args:
        reduction: the SE reduction ratio r.
        num_classes: size of the classifier's output.
    """
    from torchvision.models import GoogLeNet  # only this builder needs torchvision

    model = GoogLeNet(num_classes=num_classes, aux_logits=False, init_weights=True)
    for name, channels in GOOGLENET_INCEPTION_CHANNELS.items():
        setattr(model, name, SEInception(getattr(model, name), channels, reduction))
    return model


# --8<-- [end:googlenet]


# ----------------------------------------------------------------------------- 5. CIFAR variants
# --8<-- [start:cifar]
def se_resnet_cifar(
    *, depth: int, reduction: int = 16, block: type[SEBasicBlock | SEBottleneck] = SEBasicBlock, **kwargs: Any
) -> CifarResNet:
    """An SE-ResNet for CIFAR: the paper's 6n + 2-layer CIFAR ResNet with SE in every block.

    Args:
        depth: number of weighted layers, 6n + 2 with ``SEBasicBlock`` (20, 32, 44, 56, 110, ...).
        reduction: the SE reduction ratio r; it must divide 16, the first stage's width.
        block: ``SEBasicBlock``, or ``SEBottleneck`` (depth 9n + 2).
        **kwargs: further arguments of ``CifarResNet`` (``num_classes``, ``zero_init_residual``).
    """
    return CifarResNet(depth=depth, block=block, block_args={"reduction": reduction}, **kwargs)


# --8<-- [end:cifar]


# ----------------------------------------------------------------------------- 6. checkpoint adapters
# None: timm's SE-ResNet checkpoints use this file's names and load with strict=True as they are.
