"""Counting parameters and multiply-accumulates, torchinfo summaries, and the model-zoo table.

Units: ``count_macs`` returns multiply-accumulates (MACs). PyTorch's
``FlopCounterMode`` counts a multiply-accumulate as 2 FLOPs, so MACs = FLOPs / 2.
torchvision's weights metadata call the same quantity "GFLOPS"; they are GMACs,
and that is the unit of every table on the site. Like torchvision, only
convolutions and matrix products are counted (BN, ReLU, pooling and additions
are not).

The model-zoo table (``zoo_rows`` and ``model_zoo_table``) is the one that
``python -m refimpl list`` prints and the site shows: every number in it is
computed from the code or read from torchvision's weights metadata when it is
shown, none is typed in.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchinfo import ModelStatistics
from torchinfo import summary as torchinfo_summary

from refimpl.modelspec import ModelSpec
from refimpl.tools.registry import get_spec, list_models
from refimpl.tools.weights import available_weights

__all__ = [
    "ZooRow",
    "count_macs",
    "count_parameters",
    "format_table",
    "model_cost",
    "model_zoo_table",
    "summary",
    "torchvision_accuracy",
    "zoo_rows",
]


def count_parameters(model: nn.Module) -> int:
    """Exact number of parameters, each shared parameter counted once.

    torchinfo 1.8.0 counts a shared parameter once per use; this does not.
    """
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_size: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass (FLOPs / 2).

    Runs on the model's device; a model on the ``meta`` device is counted
    without any arithmetic, which takes milliseconds even for ResNet-152.

    Args:
        model: the network, in any mode (it is counted in eval mode).
        input_size: shape of the input batch, for example ``(1, 3, 224, 224)``.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(input_size, device=device))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def model_cost(name: str, image_size: int | None = None, **kwargs: Any) -> tuple[int, int]:
    """Parameters and MACs of a registered model for one image, built on ``meta``.

    Args:
        name: a registered model name.
        image_size: side of the square input; defaults to the model's own (224 or 32).
        **kwargs: passed to the builder.
    """
    spec = get_spec(name)
    size = image_size or spec.input_size
    with torch.device("meta"):
        model = spec.builder(**kwargs)
    return count_parameters(model), count_macs(model, (1, 3, size, size))


def summary(
    model: nn.Module, input_size: tuple[int, ...], depth: int = 3, device: str | torch.device = "cpu"
) -> ModelStatistics:
    """The torchinfo summary with input and output shapes, parameters and MACs.

    Args:
        model: the network.
        input_size: shape of the input batch, for example ``(1, 3, 224, 224)``.
        depth: how many levels of nested modules to show.
        device: where the forward pass runs; ``"meta"`` (for a model built on
            ``meta``) gives the same table without any arithmetic.
    """
    return torchinfo_summary(
        model,
        input_size=input_size,
        depth=depth,
        col_names=("input_size", "output_size", "num_params", "mult_adds"),
        row_settings=("var_names",),
        verbose=0,
        device=device,
    )


def torchvision_accuracy(spec: ModelSpec, top: int = 1) -> dict[str, float]:
    """ImageNet-1K top-1 (or top-5) accuracy (%) of each checkpoint torchvision publishes for the model.

    Read from torchvision's weights metadata, so it is what the installed
    torchvision says; empty for a model whose reference is not torchvision's.

    Args:
        spec: the model's declaration.
        top: 1 for top-1 accuracy, 5 for top-5.

    Returns:
        Checkpoint name (``"IMAGENET1K_V1"``, ``"IMAGENET1K_V2"``) -> accuracy in %.

    Raises:
        ValueError: ``top`` is neither 1 nor 5 (torchvision publishes no other).
    """
    if top not in (1, 5):
        raise ValueError(f"torchvision publishes top-1 and top-5 accuracy, not top-{top}")
    if spec.reference.source != "torchvision":
        return {}
    from torchvision.models import get_model_weights

    metric = f"acc@{top}"
    return {w.name: w.meta["_metrics"]["ImageNet-1K"][metric] for w in get_model_weights(spec.reference.name)}


@dataclass(frozen=True)
class ZooRow:
    """One model of the model-zoo table.

    Args:
        spec: the model's declaration: its name, label, family, input size and reference.
        params: exact parameter count.
        macs: multiply-accumulates of one image at ``spec.input_size``.
        weights: the tags of its published checkpoints (empty when there are none).
        top1: torchvision checkpoint -> its published ImageNet-1K top-1 (%), see ``torchvision_accuracy``.
    """

    spec: ModelSpec
    params: int
    macs: int
    weights: tuple[str, ...]
    top1: Mapping[str, float]

    @property
    def gmacs(self) -> float:
        """Billions of multiply-accumulates of one image."""
        return self.macs / 1e9


def zoo_rows(names: Iterable[str] | None = None) -> list[ZooRow]:
    """Parameters, GMACs, checkpoints and published top-1 of each model, computed now.

    The models are built on the ``meta`` device, so this takes a few seconds for all of them.

    Args:
        names: registered model names; default: every model, in the registry's order.

    Raises:
        ValueError: an unknown name.
    """
    rows = []
    for name in list_models() if names is None else names:
        spec = get_spec(name)
        params, macs = model_cost(name)
        rows.append(ZooRow(spec, params, macs, tuple(available_weights(spec)), torchvision_accuracy(spec)))
    return rows


def format_table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "", markdown: bool = False) -> str:
    """Rows as a Markdown table or as aligned plain text, the same cells either way.

    Args:
        header: the column titles.
        rows: one sequence of cells per row; a cell is shown as ``str(cell)``,
            an empty one as a dash.
        align: one letter per column, ``"l"`` or ``"r"``; default: the first
            column left, the others right.
        markdown: a Markdown (GitHub) table; otherwise plain text with the
            columns padded to their width and a rule under the header.
    """
    align = align or "l" + "r" * (len(header) - 1)
    if len(align) != len(header):
        raise ValueError(f"align {align!r} has {len(align)} letters for {len(header)} columns")
    dash = "—" if markdown else "-"
    body = [[str(c) or dash for c in row] for row in rows]
    if markdown:
        rule = ["---:" if a == "r" else "---" for a in align]
        lines = [list(header), rule, *body]
        return "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in lines)
    lines = [list(header), *body]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def fmt(line: list[str]) -> str:
        cells = [c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(line, widths, align, strict=True)]
        return "  ".join(cells).rstrip()

    return "\n".join([fmt(lines[0]), fmt(["-" * w for w in widths]), *map(fmt, body)])


#: the torchvision checkpoints whose top-1 the zoo table shows
TOP1_COLUMNS = ("IMAGENET1K_V1", "IMAGENET1K_V2")

ZOO_NOTE = (
    "GMACs: billions of multiply-accumulates for one image at the input size shown "
    "(torchvision's metadata call them GFLOPS; 1 MAC = 2 FLOPs). "
    "Top-1 V1, V2: ImageNet-1K validation accuracy (%) of torchvision's checkpoints IMAGENET1K_V1 and "
    "IMAGENET1K_V2, from torchvision's weights metadata; V1 is what the deprecated pretrained=True loads."
)


def model_zoo_table(rows: Iterable[ZooRow], markdown: bool = False) -> str:
    """The model-zoo table with its note: what ``python -m refimpl list`` prints and the site shows.

    One row per model: name, torchvision's top-1 where published (next to the
    name, so that a phone shows it without scrolling sideways), label,
    parameters, GMACs, input size, what it is verified against (``"(params
    only)"`` where only the counts are compared) and its published checkpoints.

    Args:
        rows: from ``zoo_rows``.
        markdown: a Markdown table (names as code) instead of plain text.
    """
    cells = []
    for row in rows:
        spec, ref, size = row.spec, row.spec.reference, row.spec.input_size
        name = f"`{spec.name}`" if markdown else spec.name
        cost = [f"{row.params:,}", f"{row.gmacs:.3f}", f"{size}x{size}"]
        reference = str(ref) + ("" if ref.compare_outputs else " (params only)")
        top1 = [f"{row.top1[k]:.2f}" if k in row.top1 else "" for k in TOP1_COLUMNS]
        cells.append([name, *top1, spec.label, *cost, reference, ", ".join(row.weights)])
    header = ["model", *(f"top-1 {k.rpartition('_')[2]}" for k in TOP1_COLUMNS)]
    header += ["architecture", "parameters", "GMACs", "input", "verified against", "weights"]
    note = ZOO_NOTE if markdown else textwrap.fill(ZOO_NOTE, width=100)
    return format_table(header, cells, "lrrlrrlll", markdown) + "\n\n" + note
