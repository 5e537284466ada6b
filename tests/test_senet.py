"""refimpl.senet against timm (the independent reference), torchvision's GoogLeNet and closed forms."""

from __future__ import annotations

import ast
import os
from dataclasses import replace
from pathlib import Path

import pytest
import timm
import torch
import torchvision
from torch import nn
from torchvision.models import resnet as tv_resnet
from torchvision.models.googlenet import Inception

from refimpl import create_model, get_spec, list_models, senet
from refimpl.resnet import BasicBlock, Bottleneck, ResNet
from refimpl.tools.cli import main
from refimpl.tools.inspection import count_parameters
from refimpl.tools.verify import randomize_batch_norms
from refimpl.tools.weights import WeightsUnavailableError, cache_path, load_state_dict, resolve_weights

SIZE = 64  # small images keep the suite fast; the architecture is size-agnostic
SE_MODELS = [n for n in list_models() if n.startswith("se_")]
# the models whose timm reference computes the same function with the same state-dict keys
TIMM_TWINS = [n for n in SE_MODELS if get_spec(n).reference.compare_outputs]


def _se_params(channels: int, reduction: int = 16) -> int:
    """The issue's closed form for one SE block: W1 and W2 with their biases."""
    return 2 * channels * channels // reduction + channels // reduction + channels


def _block_channels(model: nn.Module) -> list[int]:
    """Output channels of every block of a torchvision ResNet: where SE-ResNet puts its SE blocks."""
    blocks = [m for m in model.modules() if isinstance(m, tv_resnet.BasicBlock | tv_resnet.Bottleneck)]
    return [b.bn3.num_features if isinstance(b, tv_resnet.Bottleneck) else b.bn2.num_features for b in blocks]


def test_the_registry_has_the_se_models() -> None:
    assert SE_MODELS == [f"se_resnet{depth}" for depth in (18, 34, 50, 101, 152)] + ["se_resnext50_32x4d"]
    assert TIMM_TWINS == ["se_resnet50", "se_resnet101", "se_resnet152", "se_resnext50_32x4d"]
    assert all(get_spec(n).reference.source == "timm" for n in SE_MODELS)


@pytest.mark.parametrize("name", SE_MODELS)
def test_output_shape(name: str) -> None:
    with torch.device("meta"):  # shapes without arithmetic; test_parity.py checks outputs against timm
        model = create_model(name, num_classes=7).eval()
        assert model(torch.randn(2, 3, SIZE, SIZE)).shape == (2, 7)


@pytest.mark.parametrize(
    ("name", "legacy", "expected"),
    [("se_resnet18", "legacy_seresnet18", 11_778_592), ("se_resnet34", "legacy_seresnet34", 21_958_868)],
)
def test_paper_exact_se_resnet18_34_counts(name: str, legacy: str, expected: int) -> None:
    """r = 16 exactly: timm's legacy models agree, and so does ResNet plus the closed form per block."""
    with torch.device("meta"):
        model = create_model(name)
        plain = torchvision.models.get_model(name.removeprefix("se_"))
        assert count_parameters(model) == count_parameters(timm.create_model(legacy)) == expected
        assert count_parameters(model) == count_parameters(plain) + sum(map(_se_params, _block_channels(plain)))
        # timm's own seresnet18/34 round C/16 = 4 up to 8 in layer1: a different count
        assert count_parameters(timm.create_model(name.replace("_", ""))) != expected
    assert model.layer1[0].se.fc1.out_channels == 64 // 16


@pytest.mark.parametrize("reduction", [2, 4, 8, 16, 32])
def test_reduction_ratio_adds_the_closed_form(reduction: int) -> None:
    with torch.device("meta"):
        plain = torchvision.models.resnet50()
        model = senet.se_resnet50(reduction=reduction)
    expected = count_parameters(plain) + sum(_se_params(c, reduction) for c in _block_channels(plain))
    assert count_parameters(model) == expected
    se_blocks = [m for m in model.modules() if isinstance(m, senet.SqueezeExcitation)]
    assert len(se_blocks) == 16
    assert all(se.fc1.out_channels == se.fc1.in_channels // reduction for se in se_blocks)  # C / r, no rounding


def test_se_sits_on_the_residual_branch_before_the_addition() -> None:
    block = senet.SEBottleneck(256, 64).eval()
    x = torch.randn(2, 256, 8, 8)
    with torch.no_grad():
        branch = Bottleneck.residual(block, x)  # F(x) without SE
        torch.testing.assert_close(block(x), torch.relu(block.se(branch) + x))
        assert not torch.allclose(block(x), torch.relu(branch + x))


def test_a_reduction_that_does_not_divide_is_refused() -> None:
    with pytest.raises(ValueError, match="not divisible"):
        senet.SqueezeExcitation(100, 16)


def test_gates_lie_in_0_1_and_have_shape_n_c_1_1() -> None:
    model = create_model("se_resnet50").train()
    gates = senet.record_gates(model, torch.randn(3, 3, SIZE, SIZE))
    blocks = {n: m for n, m in model.named_modules() if isinstance(m, Bottleneck)}
    assert list(gates) == [f"{n}.se" for n in blocks]  # every block, in the order they run
    for name, s in gates.items():
        channels = blocks[name.removesuffix(".se")].bn3.num_features
        assert s.shape == (3, channels, 1, 1)
        assert ((s > 0) & (s < 1)).all(), name
    assert model.training  # the mode is restored
    assert all(not m.gate._forward_hooks for m in model.modules() if isinstance(m, senet.SqueezeExcitation))


def test_closed_gates_turn_every_block_into_its_shortcut() -> None:
    """With every fc2 bias at -1e4 all gates are 0: the network = a ResNet whose residual branches are zero."""
    se_model = randomize_batch_norms(create_model("se_resnet18")).eval()
    plain = create_model("resnet18").eval()
    plain.load_state_dict({k: v for k, v in se_model.state_dict().items() if ".se." not in k}, strict=True)
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert not torch.allclose(se_model(x), plain(x))  # open gates: the SE blocks matter
        for m in se_model.modules():
            if isinstance(m, senet.SqueezeExcitation):
                m.fc2.bias.fill_(-1e4)
        for m in plain.modules():
            if isinstance(m, BasicBlock | Bottleneck):  # the last BN of the branch
                last_bn = m.bn3 if isinstance(m, Bottleneck) else m.bn2
                last_bn.weight.zero_()
                last_bn.bias.zero_()
        assert all((s == 0).all() for s in senet.record_gates(se_model, x).values())
        torch.testing.assert_close(se_model(x), plain(x), rtol=0, atol=0)


def _inception_channels(module: nn.Module) -> int:
    """C of a torchvision Inception module: the sum of its four branches' output channels."""
    last_convs = [module.branch1.conv, module.branch2[-1].conv, module.branch3[-1].conv, module.branch4[-1].conv]
    return sum(conv.out_channels for conv in last_convs)


def test_se_googlenet_adds_the_closed_form_parameters() -> None:
    with torch.device("meta"):
        plain = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)
        model = senet.se_googlenet()
    inceptions = {n: m for n, m in plain.named_children() if isinstance(m, Inception)}
    assert len(inceptions) == 9
    delta = sum(_se_params(_inception_channels(m)) for m in inceptions.values())
    assert count_parameters(model) - count_parameters(plain) == delta
    for name in inceptions:
        assert isinstance(getattr(model, name), senet.SEInception)


def test_se_googlenet_runs_and_its_gates_follow_each_inception_module() -> None:
    with torch.device("meta"):  # shapes only: the SE block's arithmetic is tested on SE-ResNet
        model = senet.se_googlenet(num_classes=5).eval()
        x = torch.randn(2, 3, SIZE, SIZE)
        assert model(x).shape == (2, 5)
        gates = senet.record_gates(model, x)
    assert list(gates) == [f"{n}.se" for n in senet.GOOGLENET_INCEPTION_CHANNELS]
    for name, s in gates.items():
        assert s.shape == (2, _inception_channels(getattr(model, name.removesuffix(".se")).module), 1, 1)


# --- pretrained weights: timm's checkpoints on the Hugging Face hub, without timm ---
# (that they are timm's published ones, with timm's preprocessing: test_registry_and_weights.py)


def test_se_models_without_published_weights_say_so() -> None:
    for name in ("se_resnet18", "se_resnet101", "se_resnet152"):
        with pytest.raises(ValueError, match="no published weights"):
            resolve_weights(get_spec(name), "DEFAULT")
    with pytest.raises(ValueError, match="accepted: DEFAULT, a1_in1k, a2_in1k, a3_in1k, ra2_in1k$"):
        resolve_weights(get_spec("se_resnet50"), "IMAGENET1K_V1")


def test_offline_without_cache_names_the_missing_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailableError) as info:
        create_model("se_resnext50_32x4d", weights="DEFAULT")
    message = str(info.value)
    path = os.path.join(str(tmp_path), "hub", "checkpoints", "timm_seresnext50_32x4d.racm_in1k.bin")
    url = "https://huggingface.co/timm/seresnext50_32x4d.racm_in1k/resolve/main/pytorch_model.bin"
    assert path in message and url in message and "\n" not in message


def test_cached_checkpoint_loads_without_network_and_gives_timms_outputs(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    reference = randomize_batch_norms(timm.create_model("seresnet50")).eval()
    entry = resolve_weights(get_spec("se_resnet50"), "seresnet50.a2_in1k")  # timm's full name works too
    os.makedirs(os.path.dirname(cache_path(entry)))
    torch.save(reference.state_dict(), cache_path(entry))

    model = create_model("se_resnet50", weights="a2_in1k").eval()
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)
    with pytest.raises(WeightsUnavailableError, match="timm_seresnet50.a1_in1k.bin"):  # DEFAULT is a1, not cached
        load_state_dict(get_spec("se_resnet50"), "DEFAULT")


def test_refimpl_imports_timm_only_inside_verify_reference_model() -> None:
    """timm is a test-only dependency: models, weights and the CLI work without it."""
    package = Path(senet.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text())
        # the enclosing function of every node (the outermost one, since ast.walk goes breadth first)
        functions: dict[int, str] = {}
        for f in ast.walk(tree):
            if isinstance(f, ast.FunctionDef):
                for n in ast.walk(f):
                    functions.setdefault(id(n), f.name)
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            if any(n == "timm" or n.startswith("timm.") for n in names):
                found.append((path.name, functions.get(id(node))))
    assert found == [("verify.py", "reference_model")]


# --- python -m refimpl verify ---


def test_verify_compares_outputs_with_timm_and_says_when_it_did_not(capsys) -> None:
    assert main(["verify", "se_resnet50", "se_resnet18", "--image-size", str(SIZE)]) == 0
    lines = capsys.readouterr().out.splitlines()
    se50 = next(line for line in lines if line.startswith("se_resnet50 "))
    se18 = next(line for line in lines if line.startswith("se_resnet18 "))
    assert "timm.seresnet50" in se50 and "28,088,024" in se50 and se50.endswith("ok")
    assert "timm.legacy_seresnet18" in se18 and "11,778,592" in se18 and se18.endswith("ok (parameter count only)")
    assert " - " in se18  # no output difference is claimed
    assert "2 of 2 verified" in lines[-1]


class _SEIgnored(senet.SEBottleneck):
    """Has SE's parameters but skips the block: only an output comparison can tell."""

    residual = Bottleneck.residual


def test_verify_catches_a_skipped_se_block(swap_spec, capsys) -> None:
    """Only because verify randomises timm's BN statistics: its zero-initialised last BNs would hide this."""
    swap_spec(replace(get_spec("se_resnet50"), builder=lambda: ResNet(_SEIgnored, [3, 4, 6, 3])))
    assert main(["verify", "se_resnet50", "--image-size", str(SIZE)]) == 1
    assert "outputs differ" in capsys.readouterr().out


def test_list_marks_the_count_only_references(monkeypatch, capsys) -> None:
    monkeypatch.setattr("refimpl.tools.cli.list_models", lambda: ["se_resnet18", "se_resnet50"])
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "timm.legacy_seresnet18 (params only)" in out.splitlines()[2] and "a1_in1k, a2_in1k" in out.splitlines()[3]
