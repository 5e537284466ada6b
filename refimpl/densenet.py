"""DenseNet, one readable file.

Paper: Gao Huang, Zhuang Liu, Laurens van der Maaten, Kilian Q. Weinberger,
"Densely Connected Convolutional Networks", CVPR 2017, arXiv:1608.06993.
Memory-efficient mode: Geoff Pleiss et al., "Memory-Efficient Implementation
of DenseNets", 2017, arXiv:1707.06990.

Inside a dense block every layer receives the concatenation of the feature
maps of all earlier layers of the block, and adds k new ones (the growth rate
k). Features are reused instead of recomputed, which is where the parameter
efficiency comes from; the block's input, low-level features included, reaches
its output unchanged.

It needs only PyTorch: copy it alone. What it holds, top to bottom (the order of every
model file here):

1. helpers: ``init_weights`` and the context that keeps BN statistics
   through a recomputation;
2. blocks: ``DenseLayer`` (BN-ReLU-Conv1x1 to 4k channels, then
   BN-ReLU-Conv3x3 to k channels: the "B", bottleneck, of DenseNet-BC, with an
   optional memory-efficient mode), ``DenseBlock`` (layers that each see
   everything before them in the block) and ``Transition`` (BN-ReLU-Conv1x1
   that keeps a fraction theta of the channels, the "C", compression, then
   2x2 average pooling);
3. network: ``DenseNet``;
4. ImageNet builders: ``densenet121`` ... ``densenet201``;
5. CIFAR variants: ``densenet_bc_cifar(depth=..., growth_rate=...)``, a
   ``DenseNet(small_input=True)``, and the paper's DenseNet-BC models of
   table 2, ``densenet_bc_100``, ``densenet_bc_250`` and ``densenet_bc_190``;
6. checkpoint adapters: ``rename_legacy_keys``, which reads torchvision's
   published checkpoints.

Attribute names equal torchvision's ``state_dict`` keys, so the official
torchvision weights load with ``strict=True`` (after ``rename_legacy_keys``,
see there) and give the same outputs. Channel arguments: ``in_channels``
enter a module, ``out_channels`` leave it, and a dense layer adds
``growth_rate`` (k) of them.

Deviations from the paper, and why:

- All models here are DenseNet-BC (bottleneck and compression theta = 0.5),
  the variant the paper recommends and torchvision publishes; the plain
  DenseNet without bottleneck layers is left out.
- ``drop_rate`` applies dropout to the k new features of each layer only, as
  torchvision does; the authors' code also drops after the bottleneck and in
  the transitions. It is 0 by default: the paper uses dropout only on CIFAR
  without data augmentation.
- The memory-efficient mode does not count a batch twice in the running
  statistics of the recomputed BN. torchvision's does (PyTorch's checkpoint
  runs the BN again in the backward pass, pytorch/pytorch#96136), so after a
  training step in that mode its running statistics differ from the plain
  mode's; here they are equal.
- Convolutions are initialised as in the authors' code (He et al.,
  arXiv:1502.01852, fan-out); torchvision uses fan-in. This does not matter
  once weights are loaded.
- ``small_input`` builds the paper's CIFAR stem: one 3x3 convolution with
  stride 1 and no BN, ReLU or pooling (every dense layer starts with BN-ReLU
  anyway), as in the authors' code.
"""

import math
import re
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

__all__ = [
    "DenseBlock",
    "DenseLayer",
    "DenseNet",
    "Transition",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "densenet_bc_100",
    "densenet_bc_190",
    "densenet_bc_250",
    "densenet_bc_cifar",
    "init_weights",
    "rename_legacy_keys",
]


# ----------------------------------------------------------------------------- 1. helpers
@contextmanager
def _running_stats_frozen(norm: nn.BatchNorm2d) -> Iterator[None]:
    """Normalise with the batch's statistics but leave the running ones as they are (for a recomputation).

    With momentum 0 the update is running = 1 * running + 0 * batch, which
    leaves it exactly as it was, inside the same BN kernel: no copies to save
    and restore, so no extra kernels. Without ``num_batches_tracked`` the
    count is not incremented either.
    """
    momentum, tracked = norm.momentum, norm.num_batches_tracked
    norm.momentum, norm.num_batches_tracked = 0.0, None
    try:
        yield
    finally:
        norm.momentum, norm.num_batches_tracked = momentum, tracked


def init_weights(model: nn.Module) -> None:
    """The initialisation rule of every model file (``resnet.py``'s, copied so that this file copies alone).

    Convolutions: He et al.'s normal initialisation (arXiv:1502.01852) with the
    fan-out, as the authors' code. BN: the identity. Linear layers: PyTorch's
    default weights and a zero bias.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)


# ----------------------------------------------------------------------------- 2. blocks
# --8<-- [start:denselayer]
class DenseLayer(nn.Module):
    """One layer H_l of a dense block: x_l = H_l([x_0, x_1, ..., x_{l-1}]).

    H_l is BN-ReLU-Conv1x1 to ``bn_size * k`` channels (the bottleneck, which
    keeps the 3x3 cheap however wide the input has grown), then BN-ReLU-Conv3x3
    to k channels. Its output holds only the k new feature maps; the block
    concatenates them to the rest.

    Args:
        in_channels: channels of the concatenated input, k_0 + k * (l - 1).
        growth_rate: k, the number of feature maps each layer adds.
        bn_size: width of the bottleneck in multiples of k (4 in the paper: 4k).
        drop_rate: dropout probability on the k new feature maps (0: none).
        memory_efficient: do not store the concatenation and the bottleneck's
            BN-ReLU output, whose size grows with l, but recompute them in the
            backward pass (arXiv:1707.06990). Same outputs and gradients.
    """

    def __init__(
        self,
        in_channels: int,
        growth_rate: int,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        if not 0 <= drop_rate < 1:  # also refuses NaN
            raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
        width = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, growth_rate, kernel_size=3, padding=1, bias=False)
        self.drop_rate = float(drop_rate)
        self.memory_efficient = memory_efficient

    def bottleneck(self, *features: Tensor) -> Tensor:
        """Concatenate, then BN-ReLU-Conv1x1: l maps of (N, C_i, H, W) -> (N, 4k, H, W)."""
        x = torch.cat(features, 1)  # -> (N, k_0 + k * (l - 1), H, W): this is what grows
        return self.conv1(self.relu1(self.norm1(x)))

    def forward(self, features: list[Tensor]) -> Tensor:
        if self.memory_efficient and any(f.requires_grad for f in features):
            # keep only the inputs, which the block stores anyway, and recompute the rest;
            # the recomputation must not update norm1's running statistics a second time.
            # Nothing in the bottleneck is random, so no random state is saved and restored.
            out = checkpoint(
                self.bottleneck,
                *features,
                use_reentrant=False,
                preserve_rng_state=False,
                context_fn=lambda: (nullcontext(), _running_stats_frozen(self.norm1)),
            )
        else:
            out = self.bottleneck(*features)
        new = self.conv2(self.relu2(self.norm2(out)))  # (N, 4k, H, W) -> (N, k, H, W)
        if self.drop_rate > 0:
            new = F.dropout(new, p=self.drop_rate, training=self.training)
        return new


# --8<-- [end:denselayer]


# --8<-- [start:denseblock]
class DenseBlock(nn.ModuleDict):
    """Layers ``denselayer1`` ... ``denselayerL``, each fed all earlier feature maps.

    The block keeps a list of feature maps, starts it with its input x_0 and
    appends each layer's k new maps; layer l sees the concatenation of the
    list. The output is the whole list concatenated:
    (N, k_0, H, W) -> (N, k_0 + L * k, H, W).

    Args:
        num_layers: L, the number of layers in the block (the paper's table 1).
        in_channels: k_0, the channels entering the block.
        growth_rate: k.
        bn_size: bottleneck width in multiples of k.
        drop_rate: dropout on each layer's new feature maps.
        memory_efficient: see ``DenseLayer``.
    """

    def __init__(
        self,
        num_layers: int,
        in_channels: int,
        growth_rate: int,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        layer_args = {"bn_size": bn_size, "drop_rate": drop_rate, "memory_efficient": memory_efficient}
        for i in range(num_layers):
            layer = DenseLayer(in_channels + i * growth_rate, growth_rate, **layer_args)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))  # k new maps, computed from all earlier ones
        return torch.cat(features, 1)


# --8<-- [end:denseblock]


# --8<-- [start:transition]
class Transition(nn.Module):
    """Between two dense blocks: BN-ReLU-Conv1x1 to fewer channels, then 2x2 average pooling.

    (N, m, H, W) -> (N, floor(theta * m), H/2, W/2).

    Args:
        in_channels: m, the channels the block before it outputs.
        out_channels: floor(theta * m), with compression theta = 0.5 in DenseNet-BC.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.conv(self.relu(self.norm(x))))


# --8<-- [end:transition]


# ----------------------------------------------------------------------------- 3. network
# --8<-- [start:densenet]
class DenseNet(nn.Module):
    """DenseNet-BC: a stem, dense blocks joined by transitions, BN-ReLU, pooling, a classifier.

    Everything up to the last BN lives in ``features`` (``conv0``, ``norm0``,
    ``pool0``, ``denseblock1``, ``transition1``, ..., ``norm5``), the linear
    layer is ``classifier``, as in torchvision.

    Args:
        growth_rate: k, feature maps added by each layer (32 for DenseNet-121).
        block_config: L of each dense block (the paper's table 1), for example
            ``(6, 12, 24, 16)`` for DenseNet-121 or ``(16, 16, 16)`` for DenseNet-BC-100.
        num_init_features: channels of the stem, k_0 of the first block (2k in the paper).
        bn_size: bottleneck width in multiples of k (4: the bottleneck has 4k channels).
        compression: theta, the fraction of channels a transition keeps (0.5 in DenseNet-BC).
        drop_rate: dropout on each layer's new feature maps (0: none).
        num_classes: size of the classifier's output.
        memory_efficient: recompute concatenations and bottlenecks in the backward
            pass, so activation memory grows linearly with depth, not quadratically.
        small_input: the CIFAR stem of the paper (a 3x3 stride-1 convolution
            only) instead of the ImageNet one (7x7 stride 2, BN, ReLU, max-pool).
    """

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: tuple[int, ...] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        compression: float = 0.5,
        drop_rate: float = 0.0,
        num_classes: int = 1000,
        memory_efficient: bool = False,
        small_input: bool = False,
    ) -> None:
        super().__init__()
        if not 0 < compression <= 1:
            raise ValueError(f"compression theta must be in (0, 1], got {compression}")
        if small_input:  # (N, 3, 32, 32) -> (N, k_0, 32, 32)
            stem = [("conv0", nn.Conv2d(3, num_init_features, kernel_size=3, padding=1, bias=False))]
        else:  # (N, 3, 224, 224) -> (N, k_0, 112, 112), then max-pool to 56x56
            stem = [
                ("conv0", nn.Conv2d(3, num_init_features, kernel_size=7, stride=2, padding=3, bias=False)),
                ("norm0", nn.BatchNorm2d(num_init_features)),
                ("relu0", nn.ReLU(inplace=True)),
                ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
            ]
        self.features = nn.Sequential(OrderedDict(stem))

        channels = num_init_features
        layer_args = {"bn_size": bn_size, "drop_rate": drop_rate, "memory_efficient": memory_efficient}
        for i, num_layers in enumerate(block_config, start=1):
            block = DenseBlock(num_layers, channels, growth_rate, **layer_args)
            self.features.add_module(f"denseblock{i}", block)
            channels += num_layers * growth_rate
            if i < len(block_config):  # no transition after the last block
                out_channels = math.floor(compression * channels)
                self.features.add_module(f"transition{i}", Transition(channels, out_channels))
                channels = out_channels
        self.features.add_module("norm5", nn.BatchNorm2d(channels))  # torchvision's name, whatever the depth
        self.num_features = channels  # what the classifier sees, as timm names it
        self.reset_classifier(num_classes)
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        """Stem, blocks and the final BN-ReLU: (N, 3, H, W) -> (N, C, H/32, W/32) (H/4 for CIFAR)."""
        return F.relu(self.features(x), inplace=True)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pooling and the classifier: (N, C, h, w) -> (N, classes), or (N, C) with ``pre_logits``."""
        x = torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1)
        return x if pre_logits else self.classifier(x)

    def reset_classifier(self, num_classes: int) -> None:
        """A new classifier for ``num_classes`` classes (0: none, the network outputs its pooled features)."""
        self.classifier: nn.Module = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        init_weights(self.classifier)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


# --8<-- [end:densenet]


# ----------------------------------------------------------------------------- 4. ImageNet builders
# --8<-- [start:builders]
def densenet121(**kwargs: Any) -> DenseNet:
    """DenseNet-121: k = 32, blocks of (6, 12, 24, 16). Keyword arguments go to ``DenseNet``."""
    return DenseNet(growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64, **kwargs)


def densenet161(**kwargs: Any) -> DenseNet:
    """DenseNet-161: k = 48, blocks of (6, 12, 36, 24), a 96-channel stem."""
    return DenseNet(growth_rate=48, block_config=(6, 12, 36, 24), num_init_features=96, **kwargs)


def densenet169(**kwargs: Any) -> DenseNet:
    """DenseNet-169: k = 32, blocks of (6, 12, 32, 32). Keyword arguments go to ``DenseNet``."""
    return DenseNet(growth_rate=32, block_config=(6, 12, 32, 32), num_init_features=64, **kwargs)


def densenet201(**kwargs: Any) -> DenseNet:
    """DenseNet-201: k = 32, blocks of (6, 12, 48, 32). Keyword arguments go to ``DenseNet``."""
    return DenseNet(growth_rate=32, block_config=(6, 12, 48, 32), num_init_features=64, **kwargs)


# --8<-- [end:builders]


# ----------------------------------------------------------------------------- 5. CIFAR variants
# --8<-- [start:cifar]
def densenet_bc_cifar(*, depth: int, growth_rate: int = 12, num_classes: int = 10, **kwargs: Any) -> DenseNet:
    """DenseNet-BC for 32x32 images: three blocks of (depth - 4) / 6 layers, a 2k stem.

    The depth L counts the weighted layers: two per dense layer, the stem, the
    two transitions and the classifier.

    Args:
        depth: L, 6n + 4 (100, 190, 250, ...).
        growth_rate: k (12, as DenseNet-BC-100).
        num_classes: size of the classifier's output (10 for CIFAR-10).
        **kwargs: further arguments of ``DenseNet`` (``memory_efficient``, ``drop_rate``).
    """
    if depth < 10 or (depth - 4) % 6 != 0:
        raise ValueError(f"DenseNet-BC depth must be 6n + 4 (100, 190, 250, ...), got {depth}")
    n = (depth - 4) // 6
    return DenseNet(
        growth_rate=growth_rate,
        block_config=(n, n, n),
        num_init_features=2 * growth_rate,
        num_classes=num_classes,
        small_input=True,
        **kwargs,
    )


def densenet_bc_100(**kwargs: Any) -> DenseNet:
    """DenseNet-BC (L = 100, k = 12) for CIFAR: 16 layers per block, 0.8M parameters in the paper."""
    return densenet_bc_cifar(depth=100, growth_rate=12, **kwargs)


def densenet_bc_250(**kwargs: Any) -> DenseNet:
    """DenseNet-BC (L = 250, k = 24) for CIFAR: 41 layers per block, 15.3M parameters in the paper."""
    return densenet_bc_cifar(depth=250, growth_rate=24, **kwargs)


def densenet_bc_190(**kwargs: Any) -> DenseNet:
    """DenseNet-BC (L = 190, k = 40) for CIFAR: 31 layers per block, 25.6M parameters in the paper."""
    return densenet_bc_cifar(depth=190, growth_rate=40, **kwargs)


# --8<-- [end:cifar]


# ----------------------------------------------------------------------------- 6. checkpoint adapters
# --8<-- [start:legacy]
# Before PyTorch 0.4 a dense layer's modules were named "norm.1", "conv.2", ...;
# module names may no longer hold dots, and torchvision's published DenseNet
# checkpoints still use those keys. This pattern finds them.
_LEGACY_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12])\.(weight|bias|running_mean|running_var)$")

_V = TypeVar("_V")


def rename_legacy_keys(state_dict: Mapping[str, _V]) -> OrderedDict[str, _V]:
    """Rename old-style keys (``...denselayer1.norm.1.weight`` -> ``...denselayer1.norm1.weight``).

    torchvision's own loader does the same to its published checkpoints; load
    the result with ``model.load_state_dict(..., strict=True)``. Keys that are
    already new-style are kept, and the order is kept.

    Args:
        state_dict: a DenseNet state dict, old-style or not.
    """
    return OrderedDict((_LEGACY_KEY.sub(r"\1\2.\3", key), value) for key, value in state_dict.items())


# --8<-- [end:legacy]
