"""The template every model file follows, checked for every family in the specs.

A model file is what users copy: it must import only PyTorch (and the model
files it builds on), keep the template's sections in order, say which paper it
implements and how it deviates, give every network ``forward_features``, and
initialise every network so that, freshly built, it computes finite outputs.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
from pathlib import Path

import pytest
import torch
from helpers import ALL_MODELS, imagenet_or_own_size
from torch import nn

from refimpl import create_model, get_spec
from refimpl.specs import SPECS

FAMILIES = sorted({spec.family for spec in SPECS.values()})
SECTIONS = ["helpers", "blocks", "network", "ImageNet builders", "CIFAR variants", "checkpoint adapters"]
MODEL_FILES = {f"refimpl.{family}" for family in FAMILIES}


def _source(family: str) -> str:
    return Path(importlib.import_module(f"refimpl.{family}").__file__).read_text()


def _module_imports(tree: ast.Module) -> list[str]:
    """Modules imported at the top level of a file (not inside functions)."""
    names = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("family", FAMILIES)
def test_a_model_file_imports_only_pytorch_and_other_model_files(family: str) -> None:
    for name in _module_imports(ast.parse(_source(family))):
        top = name.split(".")[0]
        allowed = top in ("torch", "__future__") or top in sys.stdlib_module_names or name in MODEL_FILES
        assert allowed, f"refimpl/{family}.py imports {name}"


@pytest.mark.parametrize("family", FAMILIES)
def test_a_model_file_keeps_the_template_sections_in_order(family: str) -> None:
    found = re.findall(r"^# -{20,} \d\. (.+)$", _source(family), flags=re.MULTILINE)
    assert found == SECTIONS


@pytest.mark.parametrize("family", FAMILIES)
def test_a_model_file_names_its_paper_and_its_deviations(family: str) -> None:
    doc = importlib.import_module(f"refimpl.{family}").__doc__
    assert re.search(r"arXiv:\d{4}\.\d{4,5}", doc) and "Deviations from the paper" in doc


@pytest.mark.parametrize("name", list(SPECS))
def test_every_network_has_forward_features_then_its_head(name: str) -> None:
    spec = SPECS[name]
    with torch.device("meta"):
        model = spec.builder().eval()
        x = torch.empty(2, 3, spec.input_size, spec.input_size)
        features = model.forward_features(x)
        assert features.dim() == 4 and features.shape[1] == getattr(model, spec.classifier).in_features
        assert model(x).shape == (2, spec.num_classes)


@pytest.mark.parametrize("family", FAMILIES)
def test_blocks_with_a_residual_branch_own_their_zero_initialisation(family: str) -> None:
    """Every block class with a ``residual`` method says what zero_init_residual means for it."""
    module = importlib.import_module(f"refimpl.{family}")
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if issubclass(cls, nn.Module) and hasattr(cls, "residual"):
            assert callable(getattr(cls, "zero_init_last", None)), cls.__name__


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
    outputs (issue 25). One image is enough: in eval mode each is computed alone.
    """
    size = imagenet_or_own_size(get_spec(name))
    model = create_model(name).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, size, size))
    assert torch.isfinite(out).all(), f"{name} outputs {out.flatten()[:5].tolist()}..."
    assert out.abs().max().item() < LARGEST_OUTPUT
