"""Numbers on the site, computed while it is built.

A page asks for generated content with a marker on a line of its own::

    {{ model_zoo }}
    {{ summary resnet50 }}
    {{ result forward_backward_cpu }}

Each marker is replaced by Markdown made from the tested code (``refimpl``),
from torchvision's weights metadata, or from a committed result file under
``docs/results/`` (which records how, when and where it was measured). An
unknown marker or a missing result file fails the build.

The hook also keys mkdocs-jupyter's cache on the code the notebooks import,
and turns that cache off in CI.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

from refimpl import get_spec, list_models
from refimpl.tools.inspection import count_parameters, model_cost, summary
from refimpl.tools.results import read_result

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"
MARKER = re.compile(r"^\{\{[ \t]*(\w+)((?:[ \t]+[\w.-]+)*)[ \t]*\}\}[ \t]*$", re.MULTILINE)


# ---------------------------------------------------------------- the cache
def on_config(config: MkDocsConfig) -> MkDocsConfig:
    jupyter = config.plugins.get("mkdocs-jupyter")
    if jupyter is not None:
        if os.environ.get("CI"):
            jupyter.config["cache"] = False
        else:
            digest = hashlib.sha256()
            sources = [*sorted((ROOT / "refimpl").rglob("*.py")), *sorted((ROOT / "docs" / "notebooks").glob("_*.py"))]
            for path in [*sources, *sorted(RESULTS.glob("*.json"))]:
                digest.update(path.read_bytes())
            base = jupyter.config["cache_dir"]
            jupyter.config["cache_dir"] = str(Path(base) / digest.hexdigest()[:16])
    return config


# ---------------------------------------------------------------- helpers
def _table(header: list[str], rows: list[list[Any]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = [header, rule, *[[str(c) for c in row] for row in rows]]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def _top1(name: str) -> dict[str, float]:
    """Official ImageNet top-1 of each torchvision checkpoint, from its metadata."""
    spec = get_spec(name)
    if spec.reference != "torchvision":
        return {}
    from torchvision.models import get_model_weights

    return {w.name: w.meta["_metrics"]["ImageNet-1K"]["acc@1"] for w in get_model_weights(spec.reference_name)}


def _reference(name: str) -> str:
    spec = get_spec(name)
    if spec.reference == "paper":
        return spec.reference_name
    return spec.reference if spec.reference_name == name else f"{spec.reference} `{spec.reference_name}`"


# ---------------------------------------------------------------- generators
def _measured_on(data: dict[str, Any]) -> str:
    m = data["machine"]
    where = m.get("gpu") or f"{m['cpu']} ({m['cpu_threads']} threads)"
    return f"{data['measured_at'][:10]} on {where}, {m['device']}, torch {m['torch']}"


def model_zoo() -> str:
    """Every registered model: size, cost, reference and official accuracy."""
    rows = []
    for name in list_models():
        spec = get_spec(name)
        params, macs = model_cost(name)
        top1 = _top1(name)
        v1, v2 = (f"{top1[k]:.2f}" if k in top1 else "—" for k in ("IMAGENET1K_V1", "IMAGENET1K_V2"))
        size = f"{spec.input_size}²"
        rows.append([f"`{name}`", spec.family, f"{params:,}", f"{macs / 1e9:.3f}", size, _reference(name), v1, v2])
    header = ["model", "family", "parameters", "GMACs", "input", "verified against", "top-1 V1", "top-1 V2"]
    return _table(header, rows, "llrrllrr") + (
        "\n\nGMACs: billions of multiply-accumulates for one image at the input size shown "
        "(torchvision's metadata call them GFLOPS; 1 MAC = 2 FLOPs). Top-1: ImageNet-1K validation accuracy in % "
        "of torchvision's official checkpoints, read from torchvision's weights metadata; "
        "V1 is what the deprecated `pretrained=True` loads."
    )


def resnet_stages() -> str:
    """The ImageNet ResNets' configuration, read off the built models."""
    rows = []
    for name in list_models():
        spec = get_spec(name)
        if spec.family not in ("ResNet", "ResNeXt"):
            continue
        with torch.device("meta"):
            model = spec.builder()
        stages = [len(getattr(model, f"layer{i}")) for i in range(1, 5)]
        block = type(model.layer1[0]).__name__
        weighted = sum(
            isinstance(m, torch.nn.Conv2d | torch.nn.Linear) for n, m in model.named_modules() if "downsample" not in n
        )
        params, macs = model_cost(name)
        rows.append([f"`{name}`", block, " / ".join(map(str, stages)), weighted, f"{params:,}", f"{macs / 1e9:.2f}"])
    header = ["model", "block", "blocks per stage (conv2_x … conv5_x)", "weighted layers", "parameters", "GMACs (224²)"]
    return _table(header, rows, "llcrrr".replace("c", "l"))


def paper_table(prefix: str) -> str:
    """Models built from a paper's table (names starting with ``prefix``) against that table."""
    from refimpl.tools.verify import paper_params_match

    rows = []
    for name in list_models():
        spec = get_spec(name)
        if spec.reference != "paper" or not name.startswith(prefix):
            continue
        params, macs = model_cost(name)
        ok = "✓" if paper_params_match(params, spec.paper_params or "") else "✗"
        rows.append([f"`{name}`", f"{params:,}", f"{spec.paper_params}M", ok, f"{macs / 1e6:.1f}", spec.reference_name])
    if not rows:
        raise PluginError(f"no paper-table model starts with {prefix!r}")
    header = ["model", "parameters", "paper", "rounds to paper", "MMACs (32²)", "source"]
    return _table(header, rows, "lrrlrl")


def densenet_configs() -> str:
    """The ImageNet DenseNets' configuration, read off the built models."""
    rows = []
    for name in list_models():
        if get_spec(name).family != "DenseNet":
            continue
        with torch.device("meta"):
            model = get_spec(name).builder()
        blocks = [m for n, m in model.features.named_children() if n.startswith("denseblock")]
        k = blocks[0].denselayer1.conv2.out_channels
        k0 = model.features.conv0.out_channels
        layers = " / ".join(str(len(b)) for b in blocks)
        params, macs = model_cost(name)
        rows.append([f"`{name}`", k, k0, layers, model.classifier.in_features, f"{params:,}", f"{macs / 1e9:.2f}"])
    header = ["model", "growth rate k", "stem channels", "layers per block", "final channels", "parameters",
              "GMACs (224²)"]  # fmt: skip
    return _table(header, rows, "lrrlrrr")


def efficiency() -> str:
    """DenseNet vs ResNet: parameters, GMACs and official top-1 (from docs/results/efficiency.json)."""
    data = read_result(RESULTS / "efficiency.json")
    rows = []
    for row in data["rows"]:
        top1 = row["imagenet1k"]
        v1, v2 = (f"{top1[k]['top1']:.2f}" if k in top1 else "—" for k in ("IMAGENET1K_V1", "IMAGENET1K_V2"))
        per_m = top1["IMAGENET1K_V1"]["top1"] / (row["params"] / 1e6)
        rows.append([f"`{row['model']}`", f"{row['params'] / 1e6:.2f}", f"{row['gmacs']:.2f}", v1, v2, f"{per_m:.1f}"])
    header = ["model", "parameters (M)", "GMACs (224²)", "top-1 V1 (%)", "top-1 V2 (%)", "V1 top-1 per M parameters"]
    return _table(header, rows) + (
        f"\n\n*Written by `{data['command']}` ({_measured_on(data)}); top-1 from {data['source']}. "
        "Compare V1 with V1: the V2 weights come from a newer training recipe, which DenseNet never got.*"
    )


def densenet_memory() -> str:
    """Plain vs memory-efficient training step (from docs/results/densenet_memory_cpu.json)."""
    data = read_result(RESULTS / "densenet_memory_cpu.json")
    rows = []
    for row in data["rows"]:
        plain, eff = row["plain"], row["memory_efficient"]
        rows.append([
            f"`{row['model']}`", f"{row['batch_size']} × {row['image_size']}²",
            f"{plain['peak_mib']:,.0f}", f"{eff['peak_mib']:,.0f}", f"{row['memory_ratio']:.2f}×",
            f"{row['stored_activations_ratio']:.2f}×", f"{plain['step_s']:.2f}", f"{eff['step_s']:.2f}",
            f"{row['time_ratio']:.2f}×",
        ])  # fmt: skip
    header = ["model", "batch", "peak MiB, plain", "peak MiB, efficient", "memory ratio", "stored activations ratio",
              "step s, plain", "step s, efficient", "time ratio"]  # fmt: skip
    goal = data["goal"]
    return _table(header, rows) + (
        f"\n\n*Measured {_measured_on(data)} with `{data['command']}`. Memory: {data['memory_method']}. "
        f"Stored activations: what autograd keeps for the backward pass, counted by the script. "
        f"Goal: at most {goal['memory_ratio']}× the memory at {goal['time_ratio']}× the time.*"
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


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def result(stem: str) -> str:
    """A committed result file: its rows as a table, then how, when and where it was measured."""
    path = RESULTS / f"{stem}.json"
    if not path.is_file():
        raise PluginError(f"result file {path.relative_to(ROOT)} is missing; run the benchmark that writes it")
    data = read_result(path)
    rows = data["rows"]
    keys = list(rows[0])
    table = _table([k.replace("_", " ") for k in keys], [[_fmt(row[k]) for k in keys] for row in rows])
    settings = ", ".join(f"{k} = {v}" for k, v in data.get("settings", {}).items())
    return (
        f"{table}\n\n*Measured {_measured_on(data)}"
        + (f"; {settings}" if settings else "")
        + f". Command: `{data['command']}`.*"
    )


def se_cost() -> str:
    """What SE costs ResNet-50, over the reduction ratio r (from docs/results/se_cost.json)."""
    data = read_result(RESULTS / "se_cost.json")
    base = data["resnet50"]
    rows = [["ResNet-50", "—", f"{base['params']:,}", f"{base['gmacs']:.3f}", "—", "—"]]
    for row in data["se_resnet50"]:
        rows.append([
            "SE-ResNet-50", row["reduction"], f"{row['params']:,}", f"{row['gmacs']:.3f}",
            f"+{row['extra_params_percent']:.1f}%", f"+{row['extra_gmacs_percent']:.3f}%",
        ])  # fmt: skip
    header = ["model", "r", "parameters", "GMACs (224²)", "extra parameters", "extra GMACs"]
    return _table(header, rows) + (
        f"\n\n*Computed by `{data['command']}` on the meta device ({_measured_on(data)}). "
        "GMACs count convolutions and matrix products only, as torchvision does.*"
    )


def se_paper() -> str:
    """The paper's published figures, quoted with their source."""
    paper = read_result(RESULTS / "se_cost.json")["paper"]
    err, flops = paper["top1_error_percent"], paper["gflops"]
    rows = [
        ["ResNet-50", err["resnet50"], flops["resnet50"]],
        ["SE-ResNet-50", err["se_resnet50"], flops["se_resnet50"]],
    ]
    return _table(["model (paper's re-implementation)", "top-1 error (%)", "GFLOPs (paper's counting)"], rows) + (
        f"\n\n*Quoted from {paper['source']}, {err['table']}. {paper['note'][0].upper()}{paper['note'][1:]}.*"
    )


def throughput(stem: str) -> str:
    """The notes' input pipeline against refimpl's (from a train_throughput result file)."""
    import statistics

    data = read_result(RESULTS / f"{stem}.json")
    rows = [
        [row["path"], row["settings"], f"{statistics.median(row['images_per_s']):,.0f}", len(row["images_per_s"])]
        for row in data["rows"]
    ]
    table = _table(["pipeline", "what it does", "images/s (median)", "rounds"], rows, "llrr")
    settings = ", ".join(f"{k} = {v}" for k, v in data["settings"].items())
    return table + (
        f"\n\n**Ratio refimpl / notes: {data['median_ratio']:.2f}×** (median of the per-round ratios; "
        f"the goal of {data['goal']:.0f}× is for a GPU). *Measured {_measured_on(data)}; {settings}. "
        f"Command: `{data['command']}`.*"
    )


GENERATORS: dict[str, Callable[..., str]] = {
    "throughput": throughput,
    "se_cost": se_cost,
    "se_paper": se_paper,
    "model_zoo": model_zoo,
    "resnet_stages": resnet_stages,
    "paper_table": paper_table,
    "densenet_configs": densenet_configs,
    "efficiency": efficiency,
    "densenet_memory": densenet_memory,
    "summary": summary_block,
    "result": result,
}


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    def replace(match: re.Match[str]) -> str:
        name, args = match.group(1), match.group(2).split()
        if name not in GENERATORS:
            raise PluginError(f"{page.file.src_path}: unknown marker {{{{ {name} }}}}; known: {', '.join(GENERATORS)}")
        return GENERATORS[name](*args)

    return MARKER.sub(replace, markdown)
