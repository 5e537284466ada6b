"""The template every model file follows, checked for every family in the specs.

A model file is what users copy: it must import only PyTorch (and the model
files it builds on), keep the template's sections in order, say which paper it
implements and how it deviates, and give every network ``forward_features``.
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
from torch import nn

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
