"""Verification against an independent reference.

For a torchvision (or timm) reference: build the reference with random
weights, load its ``state_dict`` (through the spec's ``adapt_state_dict``, if
any) into the refimpl model with ``strict=True``,
and compare parameter counts and outputs in eval mode (running statistics)
and in train mode (batch statistics). For a paper reference: compare the
parameter count with the paper's table at the paper's precision. Where the
reference computes a slightly different function (``compare_outputs=False``
in the spec), only the parameter counts are compared, and the result says so.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import torch
from torch import nn

from refimpl.modelspec import ModelSpec, Reference
from refimpl.tools.errors import first_line
from refimpl.tools.inspection import count_parameters
from refimpl.tools.registry import get_spec

__all__ = [
    "Verification",
    "paper_count",
    "paper_params_match",
    "randomize_batch_norms",
    "reference_model",
    "verify",
]

#: the largest output difference accepted, relative to the outputs' scale: a reference that runs other kernels
#: (``Reference.exact`` false) differs by float32 rounding, about 1e-6; the others agree bit for bit
RTOL = 1e-5


@dataclass(frozen=True)
class Verification:
    """The outcome of ``verify``.

    Args:
        name: the model verified.
        reference: what it was verified against, in words.
        params: refimpl's parameter count (for a paper, counted as the paper counts).
        reference_params: the reference's count ("0.27M" style for a paper table).
        max_abs_diff: the largest output difference over eval and train mode,
            or ``None`` when there are no reference outputs.
        status: ``"ok"``, ``"FAIL"``, ``"skipped"`` (timm is missing) or
            ``"unfit"`` (the reference itself cannot run at the image size asked
            for: nothing was compared).
        detail: why, in a few words.
    """

    name: str
    reference: str
    params: int
    reference_params: str
    max_abs_diff: float | None
    status: str
    detail: str = ""


def paper_params_match(params: int, paper: str) -> bool:
    """Whether ``params`` rounds to the paper's figure in millions, at the paper's precision."""
    decimals = len(paper.partition(".")[2])
    return f"{params / 1e6:.{decimals}f}" == paper


def paper_count(model: nn.Module, reference: Reference) -> int:
    """The parameters of ``model`` counted as the paper of ``reference`` counts them.

    All of them, or (``reference.counts_norm`` false) all but the scales and
    shifts of the normalisation layers.
    """
    if reference.counts_norm:
        return count_parameters(model)
    norms = (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)
    in_norms = sum(p.numel() for m in model.modules() if isinstance(m, norms) for p in m.parameters(recurse=False))
    return count_parameters(model) - in_norms


def randomize_batch_norms(model: nn.Module) -> nn.Module:
    """Give every BN layer random affine parameters and running statistics, in place.

    timm zero-initialises the last BN of each residual branch, which silences the
    branch, and with it the SE block, in a comparison of outputs: random values
    make every layer count.
    """
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    return model


def reference_model(spec: ModelSpec) -> nn.Module | None:
    """The independent implementation of ``spec`` with random weights (``None`` if timm is missing)."""
    if spec.reference.source == "torchvision":
        import torchvision

        return torchvision.models.get_model(spec.reference.name, weights=None)
    if spec.reference.source == "timm":
        if importlib.util.find_spec("timm") is None:
            return None
        import timm

        return randomize_batch_norms(timm.create_model(spec.reference.name, pretrained=False))
    raise ValueError(f"{spec.name} is verified against a paper table, not a model")


def verify(name: str | ModelSpec, image_size: int | None = None, batch_size: int = 2, seed: int = 0) -> Verification:
    """Verify one model against its reference.

    An image size the reference itself cannot run at (too small for its
    pooling, or too large for the memory) gives ``"unfit"``; one that only
    refimpl's model cannot run at is a ``"FAIL"``.

    Args:
        name: a registered model name, or a spec (for a model not registered).
        image_size: side of the random test images; defaults to the model's own.
        batch_size: images per batch (at least 2, for batch statistics).
        seed: seeds the reference's initialisation and the test images.
    """
    spec = name if isinstance(name, ModelSpec) else get_spec(name)
    name, ref = spec.name, spec.reference
    torch.manual_seed(seed)
    if not ref.is_model:
        assert ref.params is not None
        params = paper_count(spec.builder(), ref)
        ok = paper_params_match(params, ref.params)
        detail = "" if ok else "parameter count does not round to the paper's"
        if not ref.counts_norm:
            detail = ", ".join(filter(None, [detail, "counted without normalisation layers, as the paper counts"]))
        return Verification(name, ref.name, params, f"{ref.params}M", None, "ok" if ok else "FAIL", detail)

    reference = reference_model(spec)
    ours = spec.builder()
    if reference is None:
        return Verification(name, str(ref), count_parameters(ours), "-", None, "skipped", "timm not installed")
    ref_params, params = count_parameters(reference), count_parameters(ours)
    if ref_params != params:
        return Verification(name, str(ref), params, f"{ref_params:,}", None, "FAIL", "parameter counts differ")
    if not ref.compare_outputs:  # no output comparison was made, and the result must not suggest one
        return Verification(name, str(ref), params, f"{ref_params:,}", None, "ok", "parameter count only")
    ours.load_state_dict(spec.adapt(reference.state_dict()), strict=True)

    size = image_size or spec.input_size
    worst, scale = 0.0, 0.0
    for train in (False, True):
        reference.train(train)
        ours.train(train)
        with torch.no_grad():
            try:  # shape errors are RuntimeErrors, batch norm's "more than 1 value per channel" a ValueError
                x = torch.randn(batch_size, 3, size, size)
                expected = reference(x)
            except (RuntimeError, ValueError) as err:
                detail = f"image size {size} does not fit: {first_line(err)}"
                return Verification(name, str(ref), params, f"{ref_params:,}", None, "unfit", detail)
            try:
                actual = ours(x)
            except (RuntimeError, ValueError) as err:  # the reference runs, so ours must
                detail = f"raised {type(err).__name__} where the reference runs: {first_line(err)}"
                return Verification(name, str(ref), params, f"{ref_params:,}", None, "FAIL", detail)
        worst = max(worst, (expected - actual).abs().max().item())
        scale = max(scale, expected.abs().max().item())
    ok = worst <= RTOL * max(scale, 1.0)
    return Verification(
        name, str(ref), params, f"{ref_params:,}", worst, "ok" if ok else "FAIL", "" if ok else "outputs differ"
    )
