"""refimpl.densenet beyond its parity with torchvision and the paper's table 2 (test_parity, test_paper_tables)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch
import torchvision
from helpers import PAPER_REFERENCE_MODELS, assert_same_function, names
from torch import nn

from refimpl import create_model, densenet, get_spec
from refimpl.densenet import DenseBlock, DenseLayer, DenseNet, Transition, densenet_bc_100, rename_legacy_keys
from refimpl.tools.weights import cache_path

ROOT = Path(__file__).resolve().parents[1]
SIZE = 64  # small images keep the suite fast; 64 / 32 leaves a 2x2 map after the last block

# Table 2 of arXiv:1608.06993, DenseNet-BC rows: (depth L, growth rate k) -> parameters, as printed
PAPER_TABLE = {(100, 12): "0.8", (250, 24): "15.3", (190, 40): "25.6"}
DENSENET_MODELS = names(lambda spec: spec.family == "densenet" and spec.reference.source == "torchvision")


def _legacy(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What torchvision's published checkpoints look like: 'norm.1' style keys, no num_batches_tracked."""
    old = {}
    for key, value in state_dict.items():
        if not key.endswith("num_batches_tracked"):
            old[re.sub(r"(denselayer\d+)\.(norm|conv)([12])\.", r"\1.\2.\3.", key)] = value
    return old


def test_registry_lists_the_torchvision_densenets() -> None:
    assert DENSENET_MODELS == ["densenet121", "densenet161", "densenet169", "densenet201"]


@pytest.mark.parametrize("name", DENSENET_MODELS)
def test_output_shape(name: str) -> None:
    model = create_model(name, num_classes=7).eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert model(x).shape == (2, 7)
        assert model.forward_features(x).shape == (2, model.classifier.in_features, SIZE // 32, SIZE // 32)


def test_block_and_transition_shapes() -> None:
    """DenseNet-121 on 64x64: each block adds L * k channels, each transition halves channels and side."""
    model = create_model("densenet121").eval()
    shapes = {}
    for name in ("denseblock1", "transition1", "denseblock2", "transition2", "denseblock3", "transition3"):
        getattr(model.features, name).register_forward_hook(lambda m, a, out, n=name: shapes.__setitem__(n, out.shape))
    with torch.no_grad():
        model(torch.randn(1, 3, SIZE, SIZE))
    assert shapes == {
        "denseblock1": (1, 64 + 6 * 32, 16, 16),
        "transition1": (1, 128, 8, 8),
        "denseblock2": (1, 128 + 12 * 32, 8, 8),
        "transition2": (1, 256, 4, 4),
        "denseblock3": (1, 256 + 24 * 32, 4, 4),
        "transition3": (1, 512, 2, 2),
    }
    assert model.classifier.in_features == 512 + 16 * 32


def test_each_layer_sees_every_earlier_feature_map() -> None:
    """The dense connectivity: the block's output starts with its input, unchanged, then each layer's k maps."""
    block = DenseBlock(num_layers=3, in_channels=5, growth_rate=4).eval()
    x = torch.randn(2, 5, 6, 6)
    with torch.no_grad():
        out = block(x)
        torch.testing.assert_close(out[:, :5], x, rtol=0, atol=0)
        features = [x]
        for i, layer in enumerate(block.values()):
            assert layer.norm1.num_features == 5 + 4 * i
            new = layer(features)
            torch.testing.assert_close(out[:, 5 + 4 * i : 9 + 4 * i], new)
            features.append(new)
    assert out.shape == (2, 5 + 3 * 4, 6, 6)


def test_layer_and_transition_widths() -> None:
    layer = DenseLayer(in_channels=100, growth_rate=12)
    assert layer.conv1.out_channels == 4 * 12 and layer.conv2.out_channels == 12  # the "B": 4k, then k
    assert layer.conv2.kernel_size == (3, 3) and layer.conv1.kernel_size == (1, 1)
    transition = Transition(100, 50)
    assert transition(torch.randn(1, 100, 8, 8)).shape == (1, 50, 4, 4)


def test_compression_is_floored_as_in_the_authors_code() -> None:
    model = DenseNet(growth_rate=3, block_config=(3, 3), num_init_features=8, compression=0.5, small_input=True)
    assert model.features.transition1.conv.out_channels == (8 + 3 * 3) // 2
    with pytest.raises(ValueError, match="compression"):
        DenseNet(compression=0.0)


# --- torchvision's published checkpoints --------------------------------------------------------------------------


def test_legacy_keys_are_renamed() -> None:
    reference = torchvision.models.densenet121()
    old = _legacy(reference.state_dict())
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    assert "features.denseblock4.denselayer16.conv.2.weight" in old
    ours = create_model("densenet121")
    with pytest.raises(RuntimeError, match="Unexpected key"):  # so the renaming below is needed
        ours.load_state_dict(old, strict=True)
    renamed = rename_legacy_keys(old)
    assert list(renamed) == [k for k in reference.state_dict() if not k.endswith("num_batches_tracked")]
    ours.load_state_dict(renamed, strict=True)  # BN fills in the missing num_batches_tracked, as in torchvision
    new_style = reference.state_dict()
    assert rename_legacy_keys(new_style).keys() == new_style.keys()


def test_cached_legacy_checkpoint_loads_as_torchvision_loads_it(cache_checkpoint) -> None:
    """A legacy checkpoint in torch.hub's cache (named by its hash, as torchvision's files are), read by both loaders."""
    assert os.path.basename(cache_path(torchvision.models.DenseNet121_Weights.IMAGENET1K_V1)) == (
        "densenet121-a639ec97.pth"
    )
    source = torchvision.models.densenet121()
    cache_checkpoint("densenet121", "IMAGENET1K_V1", _legacy(source.state_dict()))

    ours = create_model("densenet121", weights="IMAGENET1K_V1").eval()
    reference = torchvision.models.densenet121(weights="IMAGENET1K_V1").eval()
    torch.testing.assert_close(ours.state_dict(), reference.state_dict(), rtol=0, atol=0)
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=0)
        torch.testing.assert_close(ours(x), source.eval()(x), rtol=0, atol=0)


# --- memory-efficient mode -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["densenet121", "densenet_bc_100"])
def test_memory_efficient_gives_the_same_outputs_and_gradients(name: str) -> None:
    """Also: the recomputation did not count a batch twice in norm1's running statistics."""
    size = min(get_spec(name).input_size, SIZE)
    plain = create_model(name)
    efficient = create_model(name, memory_efficient=True)
    efficient.load_state_dict(plain.state_dict(), strict=True)
    assert_same_function(plain, efficient, torch.randn(2, 3, size, size))


def test_memory_efficient_keeps_a_cumulative_average_exact() -> None:
    """BN with ``momentum=None`` averages over ``num_batches_tracked``: the recomputation must not count."""
    plain = create_model("densenet_bc_100")
    efficient = create_model("densenet_bc_100", memory_efficient=True)
    efficient.load_state_dict(plain.state_dict(), strict=True)
    for model in (plain, efficient):
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = None
    for _ in range(2):  # the second step averages with the first
        x = torch.randn(2, 3, 32, 32)
        plain(x).sum().backward()
        efficient(x).sum().backward()
    for (name, a), b in zip(plain.named_buffers(), efficient.buffers(), strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=name)
    assert all(m.momentum is None for m in efficient.modules() if isinstance(m, nn.BatchNorm2d))


def _saved_bytes(module: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct activations autograd keeps for the backward pass of ``module(x)``."""
    weights = {p.untyped_storage().data_ptr() for p in module.parameters()}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.untyped_storage().data_ptr() not in weights:
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return sum(storages.values())


@pytest.mark.parametrize("num_layers", [6, 12])
def test_memory_efficient_stores_linearly_many_activations(num_layers: int) -> None:
    """Doubling a block's depth: plain mode stores more than 2.5x as much (quadratic), efficient mode 2x (linear)."""
    x = torch.randn(2, 24, 8, 8, requires_grad=True)
    plain = [_saved_bytes(DenseBlock(n, 24, 12), x) for n in (num_layers, 2 * num_layers)]
    efficient = [_saved_bytes(DenseBlock(n, 24, 12, memory_efficient=True), x) for n in (num_layers, 2 * num_layers)]
    assert plain[1] / plain[0] > 2.5
    assert efficient[1] / efficient[0] == pytest.approx(2.0, rel=0.02)
    assert efficient[1] < plain[1] / 2


def test_memory_efficient_checkpoints_only_when_gradients_flow(monkeypatch) -> None:
    calls = []
    original = densenet.checkpoint
    monkeypatch.setattr(densenet, "checkpoint", lambda *a, **kw: calls.append(1) or original(*a, **kw))
    model = create_model("densenet_bc_100", memory_efficient=True)
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert not calls  # inference: nothing to recompute
    model(torch.randn(2, 3, 32, 32))
    assert len(calls) == 48  # one per dense layer


# --- the paper's CIFAR DenseNet-BC (table 2) -----------------------------------------------------------------------


def _bc_name(depth: int) -> str:
    return f"densenet_bc_{depth}"


def test_the_specs_declare_the_paper_table() -> None:
    """Every DenseNet-BC row, with the count as printed; test_paper_tables.py checks that the models have it."""
    declared = {n: get_spec(n).reference for n in PAPER_REFERENCE_MODELS if get_spec(n).family == "densenet"}
    assert {n: ref.params for n, ref in declared.items()} == {_bc_name(d): p for (d, _), p in PAPER_TABLE.items()}
    assert {ref.name for ref in declared.values()} == {"Huang et al. 2017, table 2"}


@pytest.mark.parametrize(("depth", "k"), sorted(PAPER_TABLE))
def test_structure_follows_the_paper(depth: int, k: int) -> None:
    """L weighted layers, growth rate k, a 2k-channel 3x3 stem, three blocks, compression 0.5."""
    with torch.device("meta"):
        model = create_model(_bc_name(depth))
    weighted = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert len(weighted) == depth
    stem = model.features.conv0
    assert stem.out_channels == 2 * k and stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    assert not hasattr(model.features, "pool0") and not hasattr(model.features, "denseblock4")
    layers = [m for m in model.modules() if isinstance(m, DenseLayer)]
    assert len(layers) == (depth - 4) // 2 and {m.conv2.out_channels for m in layers} == {k}
    for i in (1, 2):
        transition = getattr(model.features, f"transition{i}")
        assert transition.conv.out_channels == transition.conv.in_channels // 2


def test_cifar_shapes() -> None:
    model = densenet_bc_100().eval()
    x = torch.randn(2, 3, 32, 32)
    shapes = {}
    for name in ("denseblock1", "denseblock2", "denseblock3"):
        getattr(model.features, name).register_forward_hook(lambda m, a, out, n=name: shapes.__setitem__(n, out.shape))
    with torch.no_grad():
        assert model(x).shape == (2, 10)
    # 24 + 16 * 12 = 216 -> 108 after transition1, + 192 = 300 -> 150, + 192 = 342
    assert shapes == {"denseblock1": (2, 216, 32, 32), "denseblock2": (2, 300, 16, 16), "denseblock3": (2, 342, 8, 8)}


def test_bad_depth_is_rejected() -> None:
    with pytest.raises(ValueError, match="6n \\+ 4"):
        densenet.densenet_bc_cifar(depth=101)
