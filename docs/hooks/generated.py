"""Numbers on the site, computed while it is built.

A page asks for generated content with a marker on a line of its own::

    {{ model_zoo }}
    {{ paper_table resnet }}
    {{ summary resnet50 }}
    {{ forward_backward h200-baseline/forward_backward_cuda }}
    {{ api_model_files }}

Each marker is replaced by Markdown. A result file is named by its path under
``docs/results/``, without ``.json``. What is deterministic (parameter counts,
multiply-accumulates, the accuracy torchvision's weights metadata publish) is
computed from the tested code (``refimpl``) here, at every build; only
measurements (time, memory, throughput) come from a committed result file
under ``docs/results/``, which records how, when and where it was measured.
An unknown marker, a missing result file, or any ``{{ ... }}`` left on a page
outside code after the replacement fails the build. Models are selected by
their declaration (``spec.family``, ``spec.reference``), never by their names.

Every ratio of measurements a table prints is computed from the figures it
prints beside it, by one rule (``RATIO_RULE``, the ratio of medians); where the
two compared ranges of repeats overlap, the table says the difference is within
the run-to-run spread.

Every fenced code block that embeds a file with pymdownx.snippets
(``--8<-- "refimpl/resnet.py:bottleneck"``) gets a caption that links to that
file, at the embedded lines, on the repository (``repo_url``); every notebook
page gets links to its source and to its stored run as a Jupyter notebook
(``.ipynb``, outputs included; see ``docs/experiments.py``).
"""

from __future__ import annotations

import fnmatch
import html
import inspect
import math
import re
import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import torch
import torchvision
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

from refimpl import get_spec
from refimpl.tools.inspection import (
    ZooRow,
    count_parameters,
    format_table,
    model_cost,
    model_zoo_table,
    summary,
    zoo_rows,
)
from refimpl.tools.modelspec import ModelSpec
from refimpl.tools.results import read_result
from refimpl.tools.verify import paper_count, paper_params_match

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "docs" / "notebooks"
RESULTS = ROOT / "docs" / "results"
# arguments are model names, node names (features.denseblock1) and result files (h200-baseline/forward_backward_cuda)
MARKER = re.compile(r"^\{\{[ \t]*(\w+)((?:[ \t]+[\w./-]+)*)[ \t]*\}\}[ \t]*$", re.MULTILINE)

#: the families the DenseNet page compares, in the order of its table
EFFICIENCY_FAMILIES = ("densenet", "resnet")

#: SE's cost is shown for SE-ResNet-50 against ResNet-50, the paper's pair, at these reduction ratios
SE_MODEL, SE_BASE, SE_REDUCTIONS = "se_resnet50", "resnet50", (2, 4, 8, 16, 32)

#: quoted from the SE paper, not computed here; numbers as strings, at the paper's precision
SE_PAPER = {
    "source": "Hu et al., Squeeze-and-Excitation Networks, arXiv:1709.01507",
    "table": "table 2",
    "rows": [("ResNet-50", "24.80", "3.86"), ("SE-ResNet-50", "23.29", "3.87")],
    "note": (
        "Top-1 error: single-crop, ImageNet validation, ResNet-50 as re-implemented by the authors; GFLOPs as the "
        "paper counts them, for one 224x224 image. Not comparable one to one with the table above: the paper counts "
        "ResNet v1 (stride on the first 1x1 convolution), refimpl v1.5; and refimpl's MACs count only convolutions "
        "and matrix products (as torchvision does), not SE's pooling and channel scaling, so they rise by less"
    ),
}

#: quoted from the ResNet paper, not computed here; top-1 / top-5 error (%) on ImageNet validation, as strings at the
#: paper's precision, for the torchvision model each row stands beside: (10-crop testing, table 4)
RESNET_PAPER = {
    "source": "He et al., Deep Residual Learning for Image Recognition, arXiv:1512.03385",
    "rows": {
        "resnet18": ("27.88 / –", "not in table 4"),
        "resnet34": ("24.52 / 7.46", "21.84 / 5.71"),
        "resnet50": ("22.85 / 6.71", "20.74 / 5.25"),
        "resnet101": ("21.75 / 6.05", "19.87 / 4.60"),
        "resnet152": ("21.43 / 5.71", "19.38 / 4.49"),
    },
    "note": (
        "10-crop: table 3, and for ResNet-18 table 2, which gives top-1 only and has zero-padding shortcuts "
        "(option A). Table 4: the paper's best single-model results, from its testing for best results (fully "
        "convolutional, scores averaged over five scales, shorter side 224 to 640), so not 10-crop, and lower. "
        "ResNet-34 is option B (projections only where the dimensions grow), as in torchvision; with projections on "
        "every shortcut (option C) the paper has 24.19 / 7.40 (table 3) and 21.53 / 5.60 (table 4). The paper's "
        "ResNet-50, 101 and 152 are v1 (stride on the first 1x1 convolution), torchvision's and refimpl's v1.5 "
        "(stride on the 3x3)"
    ),
}

#: the one rule by which a table turns two measurements into a ratio; the tables' headers and captions name it
RATIO_RULE = "ratio of medians"
#: what a ratio says where the ranges of the two measurements' repeats overlap
NO_DIFFERENCE = "within the run-to-run spread: no measurable difference"


# ---------------------------------------------------------------- a build of its own
def on_config(config: MkDocsConfig) -> MkDocsConfig:
    _ROWS.clear()  # `mkdocs serve` rebuilds in this process
    return config


# ---------------------------------------------------------------- helpers
_ROWS: dict[str, ZooRow] = {}


def _rows() -> dict[str, ZooRow]:
    """Every model's zoo row, computed once per build (several tables read them)."""
    if not _ROWS:
        _ROWS.update((row.spec.name, row) for row in zoo_rows())
    return _ROWS


def _select(family: str, model_reference: bool) -> list[ZooRow]:
    """The rows of one family whose reference is a model (``True``) or a paper's table (``False``)."""
    return [r for r in _rows().values() if r.spec.family == family and r.spec.reference.is_model == model_reference]


def _table(header: list[str], rows: Iterable[list[Any]], align: str = "") -> str:
    return format_table(header, rows, align, markdown=True)


def _meta(spec: ModelSpec) -> torch.nn.Module:
    """The model built on the ``meta`` device: its structure without any memory or arithmetic."""
    with torch.device("meta"):
        return spec.builder()


def _measured_on(data: dict[str, Any]) -> str:
    m = data["machine"]
    where = m.get("gpu") or f"{m['cpu']} ({m['cpu_threads']} threads)"
    return f"{data['measured_at'][:10]} on {where}, {m['device']}, torch {m['torch']}"


def _provenance(data: dict[str, Any], *notes: str) -> str:
    """The caption under a measured table: ``notes``, the file's own note, when and where, its settings, its command."""
    settings = ", ".join(f"{k} = {v}" for k, v in data.get("settings", {}).items())
    text = " ".join([*notes, *([data["note"]] if "note" in data else [])])
    where = f"Measured {_measured_on(data)}" + (f"; {settings}" if settings else "")
    return f"\n\n*{text + ' ' if text else ''}{where}. Command: `{data['command']}`.*"


@dataclass(frozen=True)
class Repeats:
    """Repeated measurements of one quantity as a table prints them, each figure rounded as printed.

    Ratios are computed from these rounded figures, so that a reader who divides the numbers shown gets the ratio
    shown.

    Args:
        median: the median of the repeats.
        low: the smallest repeat; ``None`` where there is one figure only (a lone measurement, or a file that kept
            only the median), whose spread is unknown.
        high: the largest repeat; ``None`` likewise.
        decimals: the decimals printed.
    """

    median: float
    low: float | None
    high: float | None
    decimals: int

    @classmethod
    def of(cls, values: float | Sequence[float], decimals: int, scale: float = 1.0) -> Repeats:
        """From the repeats (a sequence) or one figure (a number), times ``scale``, rounded to ``decimals``."""
        figures = [v * scale for v in values] if isinstance(values, Sequence) else [values * scale]
        median = round(statistics.median(figures), decimals)
        if len(figures) < 2:
            return cls(median, None, None, decimals)
        return cls(median, round(min(figures), decimals), round(max(figures), decimals), decimals)

    def __str__(self) -> str:
        median = f"{self.median:,.{self.decimals}f}"
        if self.low is None:
            return median
        return f"{median} ({self.low:,.{self.decimals}f}–{self.high:,.{self.decimals}f})"

    def overlaps(self, other: Repeats) -> bool:
        """Whether both ranges are known and overlap: the run-to-run spread is then larger than the difference."""
        if self.low is None or other.low is None:
            return False
        return self.low <= other.high and other.low <= self.high


def _versus(measured: Repeats, base: Repeats) -> str:
    """``measured / base`` by ``RATIO_RULE``, from the medians as printed, saying so where the ranges overlap."""
    ratio = f"{measured.median / base.median:.2f}×"
    return f"{ratio} ({NO_DIFFERENCE})" if measured.overlaps(base) else ratio


def _decimals(medians: Iterable[float]) -> int:
    """Decimals that print the smallest of ``medians`` with three significant digits (none from 100 up)."""
    return max(0, 2 - math.floor(math.log10(min(medians))))


def _torchvision_accuracy(spec: ModelSpec, weights: str) -> tuple[float, float]:
    """Top-1 and top-5 ImageNet-1K accuracy (%) of one torchvision checkpoint, from torchvision's weights metadata."""
    from torchvision.models import get_model_weights

    metrics = get_model_weights(spec.reference.name)[weights].meta["_metrics"]["ImageNet-1K"]
    return metrics["acc@1"], metrics["acc@5"]


# ---------------------------------------------------------------- computed at build time
def model_zoo() -> str:
    """Every registered model: size, cost, reference, checkpoints and official accuracy."""
    return model_zoo_table(_rows().values(), markdown=True)


def resnet_stages() -> str:
    """The ImageNet ResNets' configuration (family "resnet", verified against a model), read off the models."""
    rows = []
    for row in _select("resnet", model_reference=True):
        model = _meta(row.spec)
        stages = [len(getattr(model, f"layer{i}")) for i in range(1, 5)]
        block = type(model.layer1[0]).__name__
        weighted = sum(
            isinstance(m, torch.nn.Conv2d | torch.nn.Linear) for n, m in model.named_modules() if "downsample" not in n
        )
        stages = " / ".join(map(str, stages))
        rows.append([f"`{row.spec.name}`", block, stages, weighted, f"{row.params:,}", f"{row.gmacs:.2f}"])
    header = ["model", "block", "blocks per stage (conv2_x … conv5_x)", "weighted layers", "parameters", "GMACs (224²)"]
    return _table(header, rows, "lllrrr")


def resnet_depths() -> str:
    """ResNet by depth (family "resnet", label "ResNet"): the paper's errors beside torchvision's V1 accuracy and cost."""
    rows = []
    for row in _select("resnet", model_reference=True):
        if row.spec.label != "ResNet":  # ResNeXt is a later paper's
            continue
        quoted = RESNET_PAPER["rows"].get(row.spec.reference.name)
        if quoted is None:
            raise PluginError(f"{row.spec.name}: no row of the ResNet paper to show; add it to RESNET_PAPER")
        top1, top5 = _torchvision_accuracy(row.spec, "IMAGENET1K_V1")
        rows.append([f"`{row.spec.name}`", f"{row.params:,}", f"{row.gmacs:.2f}", *quoted, f"{top1:.2f} / {top5:.2f}"])
    header = [
        "model",
        "parameters",
        "GMACs (224²)",
        "paper, 10-crop: top-1 / top-5 error (%)",
        "paper, table 4: top-1 / top-5 error (%)",
        "torchvision V1, 1-crop: top-1 / top-5 accuracy (%)",
    ]
    return _table(header, rows, "lrrrrr") + (
        f"\n\n*Paper: error on ImageNet validation, quoted from {RESNET_PAPER['source']}. {RESNET_PAPER['note']}. "
        "torchvision: accuracy (100 less the error) of the IMAGENET1K_V1 weights on one 224² center crop, from the "
        f"weights metadata of torchvision {torchvision.__version__.split('+')[0]}. Parameters and GMACs computed from "
        "the code when this site was built.*"
    )


def paper_table(family: str) -> str:
    """The models of ``family`` built from a paper's table, against that table."""
    rows = []
    for row in _select(family, model_reference=False):
        ref = row.spec.reference
        counted = paper_count(_meta(row.spec), ref)  # as the paper counts: with BN's parameters, or without
        ok = "✓" if paper_params_match(counted, ref.params or "") else "✗"
        params = f"{row.params:,}" + ("" if ref.counts_norm else f" ({counted:,} without BN)")
        rows.append([f"`{row.spec.name}`", params, f"{ref.params}M", ok, f"{row.macs / 1e6:.1f}", ref.name])
    if not rows:
        raise PluginError(f"no model of family {family!r} is verified against a paper's table")
    header = ["model", "parameters", "paper", "rounds to paper", "MMACs (32²)", "source"]
    return _table(header, rows, "lrrlrl")


def api_model_files() -> str:
    """One API section per model file (family), in the order of the declarations: a new family needs no line here."""
    from refimpl.specs import SPECS

    families: dict[str, str] = {}
    for spec in SPECS.values():
        families.setdefault(spec.family, spec.label)  # the first model's label names the family: "ResNet", ...
    options = "    options:\n      show_root_heading: false\n      show_root_toc_entry: false"
    return "\n\n".join(
        f"## {label}: `refimpl.{family}` {{ #refimpl-{family} }}\n\n::: refimpl.{family}\n{options}"
        for family, label in families.items()
    )


def densenet_configs() -> str:
    """The ImageNet DenseNets' configuration (family "densenet", verified against a model), read off the models."""
    rows = []
    for row in _select("densenet", model_reference=True):
        model = _meta(row.spec)
        blocks = [m for n, m in model.features.named_children() if n.startswith("denseblock")]
        k = blocks[0].denselayer1.conv2.out_channels
        k0 = model.features.conv0.out_channels
        layers = " / ".join(str(len(b)) for b in blocks)
        final = model.classifier.in_features
        rows.append([f"`{row.spec.name}`", k, k0, layers, final, f"{row.params:,}", f"{row.gmacs:.2f}"])
    header = ["model", "growth rate k", "stem channels", "layers per block", "final channels", "parameters"]
    return _table([*header, "GMACs (224²)"], rows, "lrrlrrr")


def efficiency() -> str:
    """DenseNet vs ResNet: parameters, GMACs and torchvision's top-1, for every model with torchvision's weights."""
    rows = []
    for family in EFFICIENCY_FAMILIES:
        for row in _select(family, model_reference=True):
            if not row.top1:
                continue
            # rounded as printed, so that the quotient is that of the figures beside it
            params = round(row.params / 1e6, 2)
            v1, v2 = (round(row.top1[k], 2) if k in row.top1 else None for k in ("IMAGENET1K_V1", "IMAGENET1K_V2"))
            top1 = [f"{v:.2f}" if v is not None else "" for v in (v1, v2)]
            per_m = f"{v1 / params:.1f}" if v1 is not None else ""
            rows.append([f"`{row.spec.name}`", f"{params:.2f}", f"{row.gmacs:.2f}", *top1, per_m])
    header = ["model", "parameters (M)", "GMACs (224²)", "top-1 V1 (%)", "top-1 V2 (%)", "V1 top-1 per M parameters"]
    return _table(header, rows) + (
        "\n\n*Parameters and GMACs computed from the code when this site was built; top-1 on ImageNet-1K from the "
        f"weights metadata of torchvision {torchvision.__version__.split('+')[0]}. Compare V1 with V1: the V2 weights "
        "come from a newer training recipe, which DenseNet never got.*"
    )


def summary_block(name: str) -> str:
    """The torchinfo summary of a model, folded."""
    spec = get_spec(name)
    model = spec.builder()
    size = spec.input_size
    stats = summary(model, (1, 3, size, size), depth=3)
    body = "\n".join("    " + line for line in f"{stats}".splitlines())
    title = f"torchinfo summary of {name} ({count_parameters(model):,} parameters, input 1x3x{size}x{size})"
    return f'??? abstract "{title}"\n\n    ```text\n{body}\n    ```'


def feature_nodes(name: str, *nodes: str) -> str:
    """The return nodes of torchvision's ``create_feature_extractor`` for a model, with their output shapes.

    Traced with ``torch.fx`` and run on the meta device at the model's input size.
    """
    from torchvision.models.feature_extraction import create_feature_extractor

    spec = get_spec(name)
    size = spec.input_size
    extractor = create_feature_extractor(_meta(spec).eval(), return_nodes=list(nodes))
    outputs = extractor(torch.empty(1, 3, size, size, device="meta"))
    rows = [
        [f"`{node}`", " × ".join(map(str, out.shape[1:])), f"1/{size // out.shape[-1]}"]
        for node, out in outputs.items()
    ]
    table = _table(["return node", f"output (C × H × W) at {size}²", "resolution"], rows, "llr")
    return table + f"\n\n*Traced from `{name}` while the site was built.*"


def se_cost() -> str:
    """What SE costs ResNet-50, over the reduction ratio r, counted on the meta device."""
    base_params, base_macs = model_cost(SE_BASE)
    rows = [[f"`{SE_BASE}`", "", f"{base_params:,}", f"{base_macs:,}", "", ""]]
    for r in SE_REDUCTIONS:
        params, macs = model_cost(SE_MODEL, reduction=r)
        # exact counts, not GMACs to three decimals: the extra MACs are a few in ten thousand, below that rounding
        extra = [f"+{100 * (params / base_params - 1):.1f}%", f"+{100 * (macs / base_macs - 1):.3f}%"]
        rows.append([f"`{SE_MODEL}`", r, f"{params:,}", f"{macs:,}", *extra])
    header = ["model", "r", "parameters", "MACs (224²)", "extra parameters", "extra MACs"]
    return _table(header, rows) + (
        "\n\n*Computed from the code when this site was built, on the meta device. Extra: the count over "
        f"`{SE_BASE}`'s, less one. MACs count convolutions and matrix products only, as torchvision does.*"
    )


def se_paper() -> str:
    """The SE paper's published figures, quoted with their source."""
    header = ["model (paper's re-implementation)", "top-1 error (%)", "GFLOPs (paper's counting)"]
    return _table(header, [list(row) for row in SE_PAPER["rows"]]) + (
        f"\n\n*Quoted from {SE_PAPER['source']}, {SE_PAPER['table']}. {SE_PAPER['note']}.*"
    )


# ---------------------------------------------------------------- measured, from docs/results/
def _read(stem: str) -> dict[str, Any]:
    """The result file ``docs/results/<stem>.json``; ``stem`` may name a subfolder (``h200-baseline/...``)."""
    relative = PurePosixPath(stem)
    path = (RESULTS / f"{stem}.json").resolve()
    # a page names files to show, never files elsewhere: no absolute path, no "..", no link that leads out
    if not stem or relative.is_absolute() or ".." in relative.parts or not path.is_relative_to(RESULTS.resolve()):
        raise PluginError(f"result {stem!r} is not a path under docs/results/ (relative, without '..', no link out)")
    if not path.is_file():
        raise PluginError(f"result file docs/results/{stem}.json is missing; run the benchmark that writes it")
    return read_result(path)


#: how a densenet_memory result file names the modes, and how the site does
MEMORY_MODES = {
    "plain": "plain",
    "memory_efficient": "refimpl, memory-efficient",
    "torchvision_memory_efficient": "torchvision, memory-efficient",
}


def densenet_memory(stem: str = "densenet_memory_cpu") -> str:
    """Plain vs memory-efficient training steps (from a densenet_memory result file), torchvision's where measured.

    Each mode's peak memory (one measurement) and step time (median and range of the repeats), each against the
    plain mode's by ``RATIO_RULE``, and the activations it stores for the backward pass, where counted.
    """
    data = _read(stem)
    decimals = _decimals(1000 * row[mode]["step_s"] for row in data["rows"] for mode in MEMORY_MODES if mode in row)

    def measured(mode: dict[str, Any]) -> tuple[Repeats, Repeats]:
        return Repeats.of(mode["peak_mib"], 0), Repeats.of(mode.get("steps_s", mode["step_s"]), decimals, 1000)

    rows = []
    for row in data["rows"]:
        batch = f"{row['batch_size']} × {row['image_size']}²"
        stored = row.get("stored_activations_mib_per_image", {})
        plain_peak, plain_step = measured(row["plain"])
        for mode, label in MEMORY_MODES.items():
            if mode not in row:
                continue
            peak, step = measured(row[mode])
            kept = f"{stored[mode]['total']:.1f}" if mode in stored else ""
            ratios = ["", ""] if mode == "plain" else [_versus(peak, plain_peak), _versus(step, plain_step)]
            rows.append([f"`{row['model']}`", batch, label, kept, f"{peak}", ratios[0], f"{step}", ratios[1]])
    header = ["model", "batch", "mode", "stored activations (MiB per image)", "peak MiB", "memory vs plain"]
    header += ["step ms: median (min–max)", f"time vs plain ({RATIO_RULE})"]
    return _table(header, rows, "llllrrrr") + _provenance(
        data,
        f"A step: forward pass, loss and backward pass; {data['settings']['repeats']} timed per mode, the modes "
        f"alternating step by step. Peak memory: one step, {data['memory_method']}. Stored activations: what autograd "
        "keeps for the backward pass, counted for one image (not for torchvision's mode). Every ratio is the mode's "
        f"figure over the plain mode's, as printed: the {RATIO_RULE} (a peak is one measurement). Where two modes' "
        f"ranges of step times overlap, the difference is {NO_DIFFERENCE}.",
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


#: keys of a result file that hold the project's own targets, not measurements: never shown to readers
INTERNAL_KEY = re.compile(r"goal|limit|target|threshold")
#: a ratio a benchmark stored follows its own rule over figures a generic table may not show: the site prints only
#: ratios it computes from the figures it prints (forward_backward, throughput, densenet_memory)
STORED_RATIO = re.compile(r"ratio")


def result(stem: str) -> str:
    """A committed result file: its rows as a table, then how, when and where it was measured."""
    data = _read(stem)
    rows = data["rows"]
    keys = [k for k in rows[0] if not INTERNAL_KEY.search(k) and not STORED_RATIO.search(k)]
    table = _table([k.replace("_", " ") for k in keys], [[_fmt(row[k]) for k in keys] for row in rows])
    return table + _provenance(data)


def forward_backward(stem: str) -> str:
    """refimpl against its reference, one training step each (from a forward_backward result file)."""
    data = _read(stem)
    # files written before the timm references name none: they compare with torchvision only
    times = [(row["refimpl_ms"], row.get("reference_ms", row.get("torchvision_ms"))) for row in data["rows"]]
    decimals = _decimals(t for pair in times for t in pair)
    rows = []
    for row, pair in zip(data["rows"], times, strict=True):
        ours, theirs = (Repeats.of(t, decimals) for t in pair)
        rows.append(
            [f"`{row['model']}`", row.get("reference", "torchvision"), f"{ours}", f"{theirs}", _versus(ours, theirs)]
        )
    header = ["model", "reference", "refimpl ms", "reference ms", f"refimpl / reference ({RATIO_RULE})"]
    return _table(header, rows, "llrrr") + _provenance(
        data,
        f"One training step (forward and backward), median of {data['settings']['repeats']} steps each, the two "
        "models alternating with the same weights; 1.00 is equally fast, below it refimpl is faster. The file keeps "
        "the medians only, so the run-to-run spread is not shown.",
    )


def throughput(stem: str) -> str:
    """The notes' input pipeline against refimpl's (from a train_throughput result file)."""
    data = _read(stem)
    decimals = _decimals(statistics.median(row["images_per_s"]) for row in data["rows"])
    notes = next(Repeats.of(row["images_per_s"], decimals) for row in data["rows"] if row["path"] == "notes")
    peak = data.get("peak_bf16_tflops")
    rows = []
    for row in data["rows"]:
        speed = Repeats.of(row["images_per_s"], decimals)
        times = "1.00×" if row["path"] == "notes" else _versus(speed, notes)
        tflops = round(row["tflops"], 1) if "tflops" in row else None
        share = f"{tflops / peak:.0%}" if tflops is not None and peak else "–"  # of the TFLOP/s printed
        rows.append([row["path"], row["settings"], f"{speed}", times, "–" if tflops is None else f"{tflops}", share])
    header = ["pipeline", "what it does", "images/s: median (min–max)", f"vs notes ({RATIO_RULE})", "TFLOP/s"]
    table = _table([*header, "of bf16 peak"], rows, "llrrrr")
    rounds = data["settings"]["rounds"]
    spread = f"median and range over {rounds} rounds" if rounds > 1 else "one round, so no range"
    captions = [
        f"Images/s: {spread}. Ratios: a pipeline's median over the notes' ({RATIO_RULE}); where their ranges "
        + f"overlap, the difference is {NO_DIFFERENCE}."
    ]
    if "flops_method" in data:
        captions.append(f"TFLOP/s: {data['flops_per_image'] / 1e9:.2f} GFLOP per image ({data['flops_method']}).")
    if peak:
        captions.append(f"Peak: {peak:g} TFLOP/s, the device's dense bfloat16 figure from NVIDIA's datasheet.")
    return table + _provenance(data, *captions)


GENERATORS: dict[str, Callable[..., str]] = {
    "api_model_files": api_model_files,
    "model_zoo": model_zoo,
    "resnet_stages": resnet_stages,
    "resnet_depths": resnet_depths,
    "paper_table": paper_table,
    "densenet_configs": densenet_configs,
    "efficiency": efficiency,
    "summary": summary_block,
    "feature_nodes": feature_nodes,
    "se_cost": se_cost,
    "se_paper": se_paper,
    "densenet_memory": densenet_memory,
    "result": result,
    "forward_backward": forward_backward,
    "throughput": throughput,
}


# ---------------------------------------------------------------- links to the source on the repository
SNIPPET = re.compile(r"""^[ \t]*-+8<-+[ \t]+(["'])(?P<path>[^"':]+)(?::(?P<section>[\w-]+))?\1[ \t]*$""")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})")


def source_base(config: MkDocsConfig) -> str:
    """The URL under which the repository shows its files: ``repo_url``, then ``edit_uri`` less the docs folder.

    ``edit_uri: blob/main/docs/`` names the branch once; a file ``refimpl/resnet.py`` is then at
    ``{repo_url}/blob/main/refimpl/resnet.py``.
    """
    docs = Path(config.docs_dir).relative_to(ROOT).as_posix()
    edit = (config.edit_uri or "").strip("/")
    if not config.repo_url or not edit.endswith(f"/{docs}"):
        raise PluginError(f"mkdocs.yml needs repo_url and an edit_uri ending in {docs}/ (got {config.edit_uri!r})")
    return f"{config.repo_url.rstrip('/')}/{edit.removesuffix(docs)}"


def _section_lines(path: Path, section: str) -> tuple[int, int]:
    """The first and last line (1-based) between ``--8<-- [start:section]`` and ``--8<-- [end:section]``."""
    lines = path.read_text().splitlines()
    marks = {}
    for number, line in enumerate(lines, start=1):
        found = re.search(r"-+8<-+\s*\[(start|end):([\w-]+)\]", line)
        if found and found.group(2) == section:
            marks[found.group(1)] = number
    if set(marks) != {"start", "end"}:
        raise PluginError(f"{path.relative_to(ROOT)} has no section {section!r}")
    return marks["start"] + 1, marks["end"] - 1


def _caption(embeds: list[tuple[str, str | None]], base: str) -> list[str]:
    """A paragraph of Markdown under a code block: each embedded file, linked at its lines."""
    links = []
    for path, section in dict.fromkeys(embeds):
        url, where = f"{base}{path}", ""
        if section:
            first, last = _section_lines(ROOT / path, section)
            url, where = f"{url}#L{first}-L{last}", f", lines {first}–{last}"
        links.append(f"[`{path}`{where}]({url})")
    return [f"Source: {'; '.join(links)}", "{: .source-link }"]


def _fences(lines: list[str]) -> Iterator[tuple[int, int, str]]:
    """Each fenced code block: the index of its opening line, of its closing one (``len(lines)`` if unclosed), its indent.

    A block closes on a line of its fence's character, at least as long, with nothing after it.
    """
    start = 0
    while start < len(lines):
        opened = FENCE.match(lines[start])
        if opened is None:
            start += 1
            continue
        end = start + 1
        while end < len(lines):
            closing = FENCE.match(lines[end])
            if (
                closing
                and closing.group("fence").startswith(opened.group("fence"))
                and not lines[end][closing.end() :].strip()
            ):
                break
            end += 1
        yield start, end, opened.group("indent")
        start = end + 1


def link_sources(markdown: str, base: str) -> str:
    """After every fenced block that embeds files with snippets, a caption that links to them."""
    lines = markdown.split("\n")
    out: list[str] = []
    done = 0
    for start, end, indent in _fences(lines):
        embeds = [(s.group("path"), s.group("section")) for line in lines[start:end] if (s := SNIPPET.match(line))]
        out += lines[done : end + 1]
        done = end + 1
        if embeds and end < len(lines):
            out += ["", *(indent + line for line in _caption(embeds, base))]
    return "\n".join(out + lines[done:])


#: a marker's braces: any left on a page after the replacement are a marker the hook did not recognise
LEFTOVER = re.compile(r"\{\{.*?\}\}")
#: inline code, `x` or ``x``: it may show braces
INLINE_CODE = re.compile(r"(`+).+?(?<!`)\1(?!`)")


def check_replaced(markdown: str, where: str) -> None:
    """Fail on any ``{{ ... }}`` left outside code: a marker not replaced (indented, or with text beside it) shows raw.

    Args:
        markdown: a page's Markdown after the replacement.
        where: the page, for the message.

    Raises:
        PluginError: naming the page, the line, the text and the known markers.
    """
    lines = markdown.split("\n")
    code = {i for start, end, _ in _fences(lines) for i in range(start, end + 1)}
    for number, line in enumerate(lines, start=1):
        left = None if number - 1 in code else LEFTOVER.search(INLINE_CODE.sub("", line))
        if left:
            raise PluginError(
                f"{where}:{number}: {left.group()} was not replaced: a marker stands alone on its line, as "
                f"{{{{ name args }}}}, with a known name: {', '.join(GENERATORS)}"
            )


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    def replace(match: re.Match[str]) -> str:
        name, args = match.group(1), match.group(2).split()
        if name not in GENERATORS:
            raise PluginError(f"{page.file.src_path}: unknown marker {{{{ {name} }}}}; known: {', '.join(GENERATORS)}")
        try:
            inspect.signature(GENERATORS[name]).bind(*args)
        except TypeError as error:
            raise PluginError(f"{page.file.src_path}: {match.group().strip()}: {error}") from None
        return GENERATORS[name](*args)

    markdown = MARKER.sub(replace, link_sources(markdown, source_base(config)))
    if not _is_notebook(page.file.src_uri, config):  # a notebook's source is Python, which mkdocs-jupyter renders
        check_replaced(markdown, page.file.src_path)
    return markdown


# ---------------------------------------------------------------- the notebooks: source and .ipynb
def _notebook_patterns(config: MkDocsConfig) -> list[str]:
    jupyter = config.plugins.get("mkdocs-jupyter")
    return list(jupyter.config["include"]) if jupyter is not None else []


def _is_notebook(src_uri: str, config: MkDocsConfig) -> bool:
    return any(fnmatch.fnmatch(src_uri, pattern) for pattern in _notebook_patterns(config))


def ipynb_uri(src_uri: str) -> str:
    """Where a notebook's ``.ipynb`` goes: next to its page, as mkdocs-jupyter's ``include_source`` puts the ``.py``."""
    path = Path(src_uri)
    return (path.with_suffix("") / path.with_suffix(".ipynb").name).as_posix()


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Next to each notebook page, its stored run as a ``.ipynb`` to download, outputs included."""
    for file in list(files):
        if file.src_uri.endswith(".py") and _is_notebook(file.src_uri, config):
            stored = NOTEBOOKS / "runs" / Path(file.src_uri).with_suffix(".ipynb").name
            if stored.is_file():  # a missing run fails the build when the page is rendered (docs/hooks/notebooks.py)
                files.append(File.generated(config, ipynb_uri(file.src_uri), abs_src_path=str(stored)))
    return files


def on_page_content(html_: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Under a notebook page's title: its source on the repository and the notebook to download."""
    src = page.file.src_uri
    if not (src.endswith(".py") and _is_notebook(src, config)):
        return html_
    notebook = get_relative_url(ipynb_uri(src), page.url)
    source = f"{source_base(config)}{Path(config.docs_dir).relative_to(ROOT).as_posix()}/{src}"
    needs = " and <code>_common.py</code>" if "_common" in Path(page.file.abs_src_path).read_text() else ""
    links = (
        f'<p class="notebook-links">Source: <a href="{html.escape(source)}"><code>docs/{html.escape(src)}</code></a>'
        f' · Download: <a href="{html.escape(notebook)}" download><code>{html.escape(Path(notebook).name)}</code></a>'
        f" (the stored run, outputs included; to run it again it imports <code>refimpl</code>{needs}: run it in <code>docs/notebooks/</code>"
        " of a clone, after <code>pip install -e .</code>)</p>"
    )
    head = re.search(r"</h1>", html_)
    return html_[: head.end()] + links + html_[head.end() :] if head else links + html_
