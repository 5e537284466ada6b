"""The template every model file follows, checked for every family in the specs.

A model file is what users copy: it must import only PyTorch (and the model
files it names), work when copied into a folder of its own, keep the template's
sections in order, say which paper it implements and how it deviates, give
every network timm's surface (``forward_features``, ``forward_head``,
``reset_classifier``), build its CIFAR networks one way, give every residual
block ``residual``, ``zero_init_last``, ``depth`` and ``has_skip``, and
initialise every network by one rule so that, freshly built, it computes finite
outputs.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import shutil
import subprocess
import sys
import typing
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from helpers import ALL_MODELS
from torch import nn

from refimpl import create_model
from refimpl.specs import SPECS

FAMILIES = sorted({spec.family for spec in SPECS.values()})
SECTIONS = ["helpers", "blocks", "network", "ImageNet builders", "CIFAR variants", "checkpoint adapters"]
MODEL_FILES = {f"refimpl.{family}" for family in FAMILIES}


def _source(family: str) -> str:
    return Path(importlib.import_module(f"refimpl.{family}").__file__).read_text()


def _module_imports(tree: ast.Module) -> list[str]:
    """Modules imported at the top level of a file, or in a top-level ``try`` (the fallback of a copied file).

    A relative import is given as ``.name``.
    """
    nodes = list(tree.body)
    for node in tree.body:
        if isinstance(node, ast.Try):
            nodes += [*node.body, *(stmt for handler in node.handlers for stmt in handler.body)]
    names = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append("." * node.level + node.module)
    return names


def _companions(family: str) -> set[str]:
    """The other model files that ``refimpl/<family>.py`` needs beside it (its relative imports)."""
    return {name[1:] for name in _module_imports(ast.parse(_source(family))) if name.startswith(".")}


@pytest.mark.parametrize("family", FAMILIES)
def test_a_model_file_imports_only_pytorch_and_other_model_files(family: str) -> None:
    for name in _module_imports(ast.parse(_source(family))):
        top = name.split(".")[0]
        other_file = name.lstrip(".") in FAMILIES
        allowed = top in ("torch", "__future__") or top in sys.stdlib_module_names or other_file
        assert allowed, f"refimpl/{family}.py imports {name}"


#: run with one folder per family, each holding copies of the files that family needs, and the refimpl
#: package made unimportable; one process for every family (importing torch costs seconds)
_BUILD_FROM_COPIES = """
import sys
sys.modules["refimpl"] = None  # as on a machine where the package is not installed
import importlib, torch
for folder, family, builders, companions in {jobs!r}:
    sys.path.insert(0, folder)
    module = importlib.import_module(family)
    forwarded = set()
    for name in builders:
        with torch.device("meta"):
            model = getattr(module, name)()
            if type(model) not in forwarded:  # one forward per network class: the builders differ in numbers only
                forwarded.add(type(model))
                assert model(torch.empty(2, 3, 32, 32)).shape[0] == 2, name
    print(family, "built", len(builders))
    for name in (family, *companions):  # the next family imports its own copies
        del sys.modules[name]
    sys.path.remove(folder)
"""


def test_a_model_file_works_copied_with_the_files_its_docstring_names(tmp_path: Path) -> None:
    """The home page's promise: copy the file (and the files it names) into a folder, import it, build every model."""
    jobs = []
    for family in FAMILIES:
        doc = importlib.import_module(f"refimpl.{family}").__doc__
        companions = _companions(family)
        for other in companions:
            assert f"``{other}.py`` beside it" in doc, (
                f"refimpl/{family}.py needs {other}.py but its docstring does not say so"
            )
        if not companions:
            assert "copy it alone" in doc or "It needs only PyTorch" in doc
        folder = tmp_path / family
        folder.mkdir()
        for name in {family, *companions}:
            shutil.copy(Path(importlib.import_module(f"refimpl.{name}").__file__), folder / f"{name}.py")
        builders = [spec.builder.__name__ for spec in SPECS.values() if spec.family == family]
        jobs.append((str(folder), family, builders, sorted(companions)))
    code = _BUILD_FROM_COPIES.format(jobs=jobs)
    run = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr.strip().splitlines()[-1:]
    assert run.stdout.split("\n")[:-1] == [f"{family} built {len(builders)}" for _, family, builders, _ in jobs]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_model_file_keeps_the_template_sections_in_order(family: str) -> None:
    found = re.findall(r"^# -{20,} \d\. (.+)$", _source(family), flags=re.MULTILINE)
    assert found == SECTIONS


@pytest.mark.parametrize("family", FAMILIES)
def test_a_model_file_names_its_paper_and_its_deviations(family: str) -> None:
    doc = importlib.import_module(f"refimpl.{family}").__doc__
    assert re.search(r"arXiv:\d{4}\.\d{4,5}", doc) and "Deviations from the paper" in doc


def _one_per_network_class() -> list[str]:
    """The first model of each family for each network class (what its builder returns) and input size.

    The surface is a class's code: the deeper and wider models of a class add
    time, not cases (ResNet-1001 alone took 5 s on meta).
    """
    first: dict[tuple[str, type, int], str] = {}
    for name, spec in SPECS.items():
        first.setdefault((spec.family, typing.get_type_hints(spec.builder)["return"], spec.input_size), name)
    return list(first.values())


@pytest.mark.parametrize("name", _one_per_network_class())
def test_every_network_has_timms_surface(name: str) -> None:
    """forward = forward_head(forward_features(x)); reset_classifier(n) gives n outputs, 0 the pooled features."""
    spec = SPECS[name]
    with torch.device("meta"):
        model = spec.builder().eval()
        x = torch.empty(2, 3, spec.input_size, spec.input_size)
        features = model.forward_features(x)
        assert features.dim() == 4 and features.shape[1] == model.num_features
        assert model.forward_head(features, pre_logits=True).shape == (2, model.num_features)
        assert model(x).shape == model.forward_head(features).shape == (2, spec.num_classes)
        assert getattr(model, spec.classifier).out_features == spec.num_classes  # the head the spec names
        model.reset_classifier(5)
        assert model(x).shape == (2, 5) and getattr(model, spec.classifier).out_features == 5
        model.reset_classifier(0)
        assert model(x).shape == (2, model.num_features)


def _blocks(family: str) -> list[type[nn.Module]]:
    """The residual block classes a model file defines (those with an ``expansion``)."""
    module = importlib.import_module(f"refimpl.{family}")
    return [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, nn.Module) and cls.__module__ == module.__name__ and hasattr(cls, "expansion")
    ]


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "densenet"])
def test_every_residual_block_splits_its_branch_and_zeroes_it(family: str) -> None:
    """Each block computes F in ``residual`` and zero_init_last makes F = 0, so zero_init_residual starts it as a
    shortcut; a block without a skip connection (PlainBlock) keeps its branch."""
    blocks = _blocks(family)
    assert blocks
    for cls in blocks:
        assert isinstance(cls.depth, int) and isinstance(cls.has_skip, bool), cls.__name__
        block = cls(16 * cls.expansion, 16).eval()
        x = torch.randn(2, 16 * cls.expansion, 8, 8)
        block.zero_init_last()
        with torch.no_grad():
            branch = block.residual(x)
        if cls.has_skip:
            assert torch.count_nonzero(branch) == 0, cls.__name__
        else:
            assert torch.count_nonzero(branch) > 0, cls.__name__


def _weighted_layers(model: nn.Module) -> int:
    """Convolutions and linear layers, as the papers count depth: not the shortcuts' projections, not SE's gates."""
    skip = {id(m) for name, sub in model.named_modules() if name.endswith(("downsample", ".se")) for m in sub.modules()}
    return sum(isinstance(m, (nn.Conv2d, nn.Linear)) and id(m) not in skip for m in model.modules())


def _cifar_builder(family: str) -> Callable[..., nn.Module]:
    """The one function of a model file that builds its CIFAR networks (``resnet_cifar``, ...)."""
    module = importlib.import_module(f"refimpl.{family}")
    builders = [f for name, f in inspect.getmembers(module, inspect.isfunction) if name.endswith("_cifar")]
    assert len(builders) == 1, [f.__name__ for f in builders]
    return builders[0]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_subclassed_block_builds_the_depth_asked_for(family: str) -> None:
    """The CIFAR builder reads the layers per block from the block (``depth``), so a subclass counts the same."""
    for cls in _blocks(family):
        sub = type(f"My{cls.__name__}", (cls,), {})  # how SE-Net and users extend a block
        depth = 3 * 2 * cls.depth + 2  # two blocks a stage
        with torch.device("meta"):
            model = _cifar_builder(family)(depth=depth, block=sub)
        assert _weighted_layers(model) == depth, f"depth={depth}, block={sub.__name__}"


def test_a_block_without_a_skip_connection_gets_no_shortcut() -> None:
    """ResNet(block=PlainBlock): no projection is built, so every parameter gets a gradient (what DDP requires)."""
    from refimpl import resnet

    for model in (
        resnet.ResNet(block=resnet.PlainBlock, layers=(1, 1, 1, 1)),
        resnet.resnet_cifar(depth=8, block=resnet.PlainBlock),
    ):
        model(torch.randn(2, 3, 32, 32)).sum().backward()
        unused = [name for name, p in model.named_parameters() if p.grad is None]
        assert not unused, unused[:3]
        assert not [name for name, _ in model.named_modules() if name.endswith("downsample")]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_builds_its_cifar_networks_one_way(family: str) -> None:
    """One ``*_cifar(depth=...)`` builder, depth keyword only, and every CIFAR model of the family built by it."""
    build = _cifar_builder(family)
    assert inspect.signature(build).parameters["depth"].kind is inspect.Parameter.KEYWORD_ONLY
    with pytest.raises(ValueError, match="depth must be"):
        build(depth=7)
    for spec in SPECS.values():
        if spec.family == family and spec.input_size == 32:
            assert f"{build.__name__}(depth=" in inspect.getsource(spec.builder), spec.name


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_initialises_by_one_rule(family: str) -> None:
    """BN the identity, linear biases zero, convolutions He-normal with the fan-out: std sqrt(2 / fan_out)."""
    model = _cifar_builder(family)(depth=20 if family != "densenet" else 22)  # the smallest of each form
    model.reset_classifier(7)  # a new head follows the rule too
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert bool((m.weight == 1).all() and (m.bias == 0).all())
        elif isinstance(m, nn.Linear):
            assert torch.count_nonzero(m.bias) == 0
    convs = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d) and torch.count_nonzero(m.weight) > 0]
    scaled = torch.cat([w.flatten() / (2 / (w.shape[0] * w[0, 0].numel())) ** 0.5 for w in convs if w.numel() >= 4096])
    assert abs(scaled.std().item() - 1) < 0.05, scaled.std().item()


#: the largest output a freshly built model may give: squared, as a squared-error loss squares it, it is still a
#: finite float32 (whose largest is 3.4e38). In eval mode the deepest post-activation networks reach 1e16
#: (DenseNet-BC-250, 6e8 for the CIFAR ResNet-110), the pre-activation ones 0.3 (every block the identity)
LARGEST_OUTPUT = torch.finfo(torch.float32).max ** 0.5


@pytest.mark.parametrize("name", ALL_MODELS)
def test_a_freshly_built_network_gives_finite_outputs_in_eval_mode(name: str) -> None:
    """The initialisation alone must keep the activations in range over the whole depth.

    Freshly built, each BN's running statistics are mean 0 and variance 1, so in
    eval mode it is the identity and normalises nothing. A He-initialised
    pre-activation branch then grows with its input, and ResNet-1001's 333
    blocks overflowed float32: NaN, which also broke every comparison of two
    outputs (issue 25). One image is enough: in eval mode each is computed alone,
    and 32x32 pixels are enough: the depth, not the map, makes the range.
    """
    size = 32
    model = create_model(name).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, size, size))
    assert torch.isfinite(out).all(), f"{name} outputs {out.flatten()[:5].tolist()}..."
    assert out.abs().max().item() < LARGEST_OUTPUT
