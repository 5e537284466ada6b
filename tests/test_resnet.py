"""refimpl.resnet's ImageNet models beyond their parity with torchvision (in test_parity.py)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from helpers import block_inputs, names
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from refimpl import create_model, resnet
from refimpl.tools.verify import randomize_batch_norms

SIZE = 64  # small images keep the suite fast; the architecture is size-agnostic
# the ImageNet ResNets and ResNeXts; test_parity.py compares each with torchvision
RESNET_MODELS = names(lambda spec: spec.family == "resnet" and spec.reference.source == "torchvision")


@pytest.mark.parametrize("name", RESNET_MODELS)
def test_output_shape(name: str) -> None:
    with torch.device("meta"):  # shapes only: no arithmetic
        model = create_model(name, num_classes=7).eval()
        assert model(torch.empty(2, 3, SIZE, SIZE)).shape == (2, 7)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_gradients_are_finite(name: str) -> None:
    model = create_model(name, num_classes=10)
    loss = nn.functional.cross_entropy(model(torch.randn(4, 3, SIZE, SIZE)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("name", ["resnet18", "resnext50_32x4d"])
def test_channels_last_gives_the_same_output(name: str) -> None:
    model = create_model(name).eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        actual = model(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)


def _blocks(model: nn.Module) -> list[resnet.BasicBlock | resnet.Bottleneck]:
    return [m for m in model.modules() if isinstance(m, resnet.BasicBlock | resnet.Bottleneck)]


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnet20"])
def test_zero_init_residual_starts_every_block_as_identity(name: str) -> None:
    model = create_model(name, zero_init_residual=True).eval()
    blocks = _blocks(model)
    assert blocks
    inputs = block_inputs(model, blocks, torch.randn(2, 3, SIZE, SIZE))
    with torch.no_grad():
        for block in blocks:
            x = inputs[block]  # every block ran
            assert torch.count_nonzero(block.residual(x)) == 0
            identity = x if block.downsample is None else block.downsample(x)
            torch.testing.assert_close(block(x), torch.relu(identity))


def test_without_zero_init_the_residual_branches_are_not_zero() -> None:
    model = create_model("resnet18").eval()
    block = _blocks(model)[0]
    with torch.no_grad():
        assert torch.count_nonzero(block.residual(torch.randn(1, 64, 8, 8))) > 0


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_small_input_keeps_resolution_for_32x32_images(name: str) -> None:
    model = create_model(name, small_input=True, num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        features = model.forward_features(x)
        assert model(x).shape == (2, 10)
    # stride-1 stem, no max-pool: 32 / 2 / 2 / 2 = 4 after the last stage, not 1
    assert features.shape == (2, 512 * model.layer4[0].expansion, 4, 4)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, nn.Identity)


def test_stride_sits_on_the_3x3_convolution() -> None:
    """ResNet v1.5, as torchvision: the first block of layer2 strides its 3x3, not its first 1x1."""
    block = create_model("resnet50").layer2[0]
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2)


def test_resnext_uses_grouped_convolutions() -> None:
    block = create_model("resnext50_32x4d").layer1[0]
    assert block.conv2.groups == 32 and block.conv2.in_channels == 128


def test_bad_configurations_are_rejected() -> None:
    with pytest.raises(ValueError, match="4 block counts"):
        resnet.ResNet(resnet.BasicBlock, [2, 2, 2])
    with pytest.raises(ValueError, match="groups=1"):
        resnet.BasicBlock(64, 64, groups=32)


def test_every_block_zero_initialises_itself() -> None:
    """zero_init_residual asks each block (zero_init_last), so a new block type needs no change to the network."""
    calls = []

    class Counted(resnet.BasicBlock):
        def zero_init_last(self) -> None:
            calls.append(self)
            super().zero_init_last()

    model = resnet.ResNet(block=Counted, layers=(1, 1, 1, 1), zero_init_residual=True)
    assert len(calls) == 4 and all(torch.count_nonzero(block.bn2.weight) == 0 for block in calls)
    assert torch.count_nonzero(model.layer1[0].bn1.weight) > 0  # only the last BN of each branch


def test_blocks_keep_no_unused_attributes() -> None:
    """Every attribute a block stores is read by its forward (torchvision's blocks keep an unused ``stride``)."""
    block = create_model("resnet50").layer2[0]
    assert not hasattr(block, "stride")
    assert block.conv2.stride == (2, 2)


@pytest.mark.parametrize(
    ("name", "options", "output_stride"),
    [
        ("resnet50", {"replace_stride_with_dilation": (False, True, True)}, 8),  # DeepLab's
        (
            "resnext50_32x4d",
            {"replace_stride_with_dilation": (False, False, True), "norm_layer": FrozenBatchNorm2d},
            16,
        ),
        ("resnet18", {"norm_layer": FrozenBatchNorm2d}, 32),  # what torchvision's detection backbones pass
    ],
)
def test_backbone_options_compute_what_torchvisions_do(name: str, options: dict, output_stride: int) -> None:
    reference = randomize_batch_norms(torchvision.models.get_model(name, **options)).eval()
    if options.get("norm_layer") is FrozenBatchNorm2d:  # frozen BN holds buffers, which randomize_batch_norms skips
        for m in reference.modules():
            if isinstance(m, FrozenBatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    ours = getattr(resnet, name)(**options).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=0)
        assert ours.forward_features(x).shape[-1] == 64 // output_stride


def test_a_copied_resnet_serves_as_a_detection_backbone() -> None:
    """torchvision's feature pyramid on this file's ResNet-50 with frozen BN, as its detection builders make it."""
    from torchvision.models.detection.backbone_utils import BackboneWithFPN

    body = resnet.resnet50(norm_layer=FrozenBatchNorm2d)
    return_layers = {f"layer{i}": str(i - 1) for i in range(1, 5)}
    backbone = BackboneWithFPN(body, return_layers, [256, 512, 1024, 2048], out_channels=256).eval()
    with torch.no_grad():
        features = backbone(torch.randn(1, 3, 64, 64))
    assert [f.shape for f in features.values()] == [
        (1, 256, 16, 16),
        (1, 256, 8, 8),
        (1, 256, 4, 4),
        (1, 256, 2, 2),
        (1, 256, 1, 1),
    ]


def test_basic_blocks_refuse_dilation_as_torchvision_does() -> None:
    with pytest.raises(ValueError, match="dilation=1"):
        resnet.resnet18(replace_stride_with_dilation=(False, False, True))
