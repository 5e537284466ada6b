"""Using the models outside this project: torch.export, ONNX, TorchScript, feature extraction, the docs' snippets.

The export contract: every model exports with ``torch.export`` and through
the dynamo ONNX exporter with a dynamic batch dimension, and the exported
program and the ONNX model (run by onnxruntime) compute what the eager model
computes, at batch sizes other than the traced one. The default run checks
``torch.export`` on the first model of each architecture (``label``: ResNet,
ResNeXt, CIFAR ResNet, ...) and ONNX on those of them that bring layers of
their own (marked ``quick``); ``pytest -m export`` runs every model, both paths.

TorchScript is not supported (``torch.jit`` is deprecated in PyTorch):
``test_torchscript_is_unsupported`` pins what is true today, so that a change
fails here and the docs (``docs/elsewhere.md``) get updated.
"""

from __future__ import annotations

import copy
import functools
import re
import warnings
from pathlib import Path

import onnxruntime
import pytest
import torch
import torchvision
from helpers import ALL_MODELS, imagenet_or_own_size
from torch import nn
from torch.export import Dim, ExportedProgram
from torch.nn import functional as F
from torchvision.models.feature_extraction import create_feature_extractor

from refimpl import create_model, get_spec
from refimpl.specs import SPECS
from refimpl.tools.verify import randomize_batch_norms

ROOT = Path(__file__).resolve().parents[1]
ELSEWHERE = ROOT / "docs" / "elsewhere.md"

# --- torch.export and ONNX -----------------------------------------------------------------------------------------


def _first_per_label() -> list[str]:
    """The first declared model of each architecture (``label``: ResNet, ResNeXt, CIFAR ResNet, ...)."""
    first: dict[str, str] = {}
    for name, spec in SPECS.items():
        first.setdefault(spec.label, name)
    return list(first.values())


#: checked by default, so that a new family is covered without a line here
DEFAULT_EXPORT_MODELS = _first_per_label()
#: default models whose ONNX check is left to ``-m export``: ONNX takes seconds per model (tracing, not computing,
#: so smaller images do not help), and these add no layer that another default model does not export
ONNX_UNDER_MARKER = {
    "densenet121": "the layers of densenet_bc_100, after a stem as ResNet's",
    "se_resnext50_32x4d": "the blocks of se_resnet18 and resnext50_32x4d combined",
    "preact_resnet50": "resnet50's layers (convolution, BN, ReLU, addition) in another order",
    "preact_resnet110": "resnet20's layers, option-A shortcut included, in another order",
    "wide_resnet50_2": "resnet50's layers, wider",
}
#: (model, path) -> why that export cannot work; each becomes a strict xfail, so a fix is noticed. None today.
UNSUPPORTED: dict[tuple[str, str], str] = {}
PATHS = ("torch.export", "onnx")


def _export_cases() -> list:
    """(model, path) for every model and both paths, all marked ``export``, the default set ``quick`` too."""
    cases = []
    for name in ALL_MODELS:  # the outer loop: both paths of a model run one after the other, on one export
        for path in PATHS:
            default = name in DEFAULT_EXPORT_MODELS and not (path == "onnx" and name in ONNX_UNDER_MARKER)
            marks = [pytest.mark.export, *([pytest.mark.quick] if default else [])]
            if (name, path) in UNSUPPORTED:
                marks.append(pytest.mark.xfail(reason=UNSUPPORTED[name, path], strict=True))
            cases.append(pytest.param(name, path, marks=marks, id=f"{name}-{path}"))
    return cases


TRACED_BATCH, OTHER_BATCHES = 2, (3, 1)


def _with_batch_statistics(model: nn.Module, size: int) -> nn.Module:
    """Random BN affine parameters, and running statistics measured on a random batch; returns it in eval mode.

    The initial statistics (mean 0, variance 1) let activations grow with
    depth: deep networks then output up to 1e15 (DenseNet-BC-250), and some
    (SE-ResNet-152) turn chaotic, their float32 and float64 outputs 10% apart.
    Measured statistics keep every output near 1, as in a trained network.
    A convolution that starts at zero (the last of each pre-activation branch,
    ``zero_init_residual``) is drawn as the others are, so that every branch
    counts in the comparison, as in a trained network too.
    """
    for conv in model.modules():
        if isinstance(conv, nn.Conv2d) and not conv.weight.any():
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    norms = [m for m in randomize_batch_norms(model).modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: after one batch, that batch's statistics
    with torch.no_grad():
        model.train()(torch.randn(8, 3, size, size))
    for norm in norms:
        norm.momentum = 0.1
    return model.eval()


@functools.lru_cache(maxsize=1)  # the ONNX test of a model reuses its torch.export program; one model at a time
def _exported(name: str) -> tuple[nn.Module, ExportedProgram]:
    """The model in eval mode with realistic BN statistics, and its program exported with a dynamic batch."""
    size = imagenet_or_own_size(get_spec(name))
    torch.manual_seed(0)
    model = _with_batch_statistics(create_model(name), size)
    x = torch.randn(TRACED_BATCH, 3, size, size)
    program = torch.export.export(model, (x,), dynamic_shapes=({0: Dim("batch", min=1)},))
    return model, program


def _float32_error(model: nn.Module, inputs: list[torch.Tensor]) -> float:
    """How far float32 rounding alone moves the outputs: the largest difference from a float64 run."""
    model64 = copy.deepcopy(model).double()
    with torch.no_grad():
        return max((model(x).double() - model64(x.double())).abs().max().item() for x in inputs)


@pytest.mark.parametrize(("name", "path"), _export_cases())
def test_export_matches_eager(name: str, path: str, tmp_path: Path) -> None:
    """The exported model, at batch sizes other than the traced one, computes what the eager model computes."""
    model, program = _exported(name)
    size = imagenet_or_own_size(get_spec(name))
    if path == "torch.export":
        run = program.module()
    else:
        # the ExportedProgram stands for the model: torch.onnx.export(model, (x,), dynamic_shapes=...) would
        # export it again, the same way (the docs' snippet does that, see the last test)
        torch.onnx.export(program, f=tmp_path / "model.onnx", dynamo=True, verbose=False)
        session = onnxruntime.InferenceSession(tmp_path / "model.onnx", providers=["CPUExecutionProvider"])
        (onnx_input,) = session.get_inputs()
        assert isinstance(onnx_input.shape[0], str), f"the batch dimension is fixed: {onnx_input.shape}"

        def run(x: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(session.run(None, {onnx_input.name: x.numpy()})[0])

    inputs = [torch.randn(batch, 3, size, size) for batch in OTHER_BATCHES]
    # torch.export runs eager's ATen kernels: equal but for the order of additions. ONNX Runtime has its own: as
    # close as float32 allows, at most 4x eager's own rounding error (1e-3 for ResNet-152 at random weights)
    rtol = 1e-5 if path == "torch.export" else 1e-4
    atol = rtol if path == "torch.export" else max(rtol, 4 * _float32_error(model, inputs))
    for batch, x in zip(OTHER_BATCHES, inputs, strict=True):
        with torch.no_grad():
            actual, expected = run(x), model(x)
        message = functools.partial("batch {}: {}".format, batch)
        torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol, msg=message)


# --- TorchScript: unsupported ----------------------------------------------------------------------------------------

#: model -> what ``torch.jit.script`` says about it today; the others script, with a deprecation warning
SCRIPT_ERRORS = {
    # the memory_efficient branch hands torch.utils.checkpoint a lambda
    "densenet_bc_100": "Lambda aren't supported",
    # the SEResidual mixin calls super().residual(x)
    "se_resnet18": "has no attribute or method 'residual'",
}
UPDATE_DOCS = "update docs/elsewhere.md (TorchScript is declared unsupported there) and this test"


@pytest.mark.parametrize("name", ["resnet20", *SCRIPT_ERRORS])
def test_torchscript_is_unsupported(name: str) -> None:
    """``torch.jit.script`` is deprecated, and fails on DenseNet and SE-ResNet; ``torch.export`` is the way."""
    if not callable(getattr(torch.jit, "script", None)):
        pytest.fail(f"torch.jit.script is gone from PyTorch {torch.__version__}: {UPDATE_DOCS}")
    model = create_model(name).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            torch.jit.script(model)
            error = None
        except Exception as e:  # noqa: BLE001  (TorchScript's frontend raises errors of several types)
            error = str(e)
    deprecated = any(issubclass(w.category, FutureWarning) and "deprecated" in str(w.message) for w in caught)
    assert deprecated, f"torch.jit.script no longer warns that it is deprecated: {UPDATE_DOCS}"
    if name in SCRIPT_ERRORS:
        assert error is not None, f"torch.jit.script now compiles {name}: {UPDATE_DOCS}"
        assert SCRIPT_ERRORS[name] in error, f"torch.jit.script fails on {name} for another reason: {error}"
    else:
        assert error is None, f"torch.jit.script no longer compiles {name} ({error}): {UPDATE_DOCS}"


# --- feature extraction --------------------------------------------------------------------------------------------

#: model -> input side, then torchvision's return nodes -> (channels, side) of their output; the docs' tables
FEATURE_NODES = {
    "resnet18": (224, {"layer1": (64, 56), "layer2": (128, 28), "layer3": (256, 14), "layer4": (512, 7)}),
    "resnet50": (224, {"layer1": (256, 56), "layer2": (512, 28), "layer3": (1024, 14), "layer4": (2048, 7)}),
    "resnet20": (32, {"layer1": (16, 32), "layer2": (32, 16), "layer3": (64, 8)}),
    "densenet121": (
        224,
        {
            "features.denseblock1": (256, 56),
            "features.transition1": (128, 28),
            "features.denseblock2": (512, 28),
            "features.denseblock3": (1024, 14),
            "features.denseblock4": (1024, 7),
            "features.norm5": (1024, 7),
        },
    ),
    "se_resnet50": (224, {"layer1": (256, 56), "layer2": (512, 28), "layer3": (1024, 14), "layer4": (2048, 7)}),
}


@pytest.mark.parametrize("name", FEATURE_NODES)
def test_feature_extraction_by_stage(name: str) -> None:
    """torchvision's ``create_feature_extractor`` traces every family; its last stage is ``forward_features``."""
    size, nodes = FEATURE_NODES[name]
    model = randomize_batch_norms(create_model(name)).eval()
    extractor = create_feature_extractor(model, return_nodes=list(nodes))
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        features = extractor(x)
        expected = model.forward_features(x)
    assert {node: tuple(out.shape) for node, out in features.items()} == {
        node: (1, channels, side, side) for node, (channels, side) in nodes.items()
    }
    last = features[list(nodes)[-1]]
    if get_spec(name).family == "densenet":  # forward_features ends with the ReLU after features.norm5
        last = F.relu(last)
    torch.testing.assert_close(last, expected, rtol=0, atol=0)


# --- the docs' page "Use it elsewhere" -----------------------------------------------------------------------------


def _snippets() -> list[str]:
    """The ```python blocks of docs/elsewhere.md, in order."""
    return re.findall(r"^```python\n(.*?)^```$", ELSEWHERE.read_text(), flags=re.DOTALL | re.MULTILINE)


def test_the_snippets_on_use_it_elsewhere_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_checkpoint
) -> None:
    """Every code block of docs/elsewhere.md runs, in order, in one namespace, offline.

    The page's setting is prepared here: a clone of the repository in
    ``./refimpl`` (a link to this checkout) and a cached resnet18 checkpoint
    (random, as downloads fail in the tests).
    """
    snippets = _snippets()
    assert len(snippets) >= 5, "the page lost its examples, or the pattern no longer finds them"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "refimpl").symlink_to(ROOT, target_is_directory=True)
    cache_checkpoint("resnet18", "DEFAULT", torchvision.models.resnet18().state_dict())  # TORCH_HOME: ./torch
    namespace: dict[str, object] = {"__name__": "elsewhere"}
    for i, code in enumerate(snippets, start=1):
        exec(compile(code, f"{ELSEWHERE.name}, block {i}", "exec"), namespace)  # noqa: S102  (the page's own code)
