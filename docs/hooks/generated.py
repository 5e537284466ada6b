"""Numbers on the site, computed while it is built.

A page asks for generated content with a marker on a line of its own::

    {{ model_zoo }}
    {{ paper_table resnet }}
    {{ summary resnet50 }}
    {{ result forward_backward_cpu }}
    {{ api_model_files }}

Each marker is replaced by Markdown. What is deterministic (parameter counts,
multiply-accumulates, the accuracy torchvision's weights metadata publish) is
computed from the tested code (``refimpl``) here, at every build; only
measurements (time, memory, throughput) come from a committed result file
under ``docs/results/``, which records how, when and where it was measured.
An unknown marker or a missing result file fails the build. Models are
selected by their declaration (``spec.family``, ``spec.reference``), never by
their names.

Every fenced code block that embeds a file with pymdownx.snippets
(``--8<-- "refimpl/resnet.py:bottleneck"``) gets a caption that links to that
file, at the embedded lines, on the repository (``repo_url``); every notebook
page gets links to its source and to a Jupyter notebook (``.ipynb``) that is
generated from that source while the site is built.

The hook also prepares the notebooks' kernels, which inherit this process's
environment: the repository and ``docs/notebooks`` go on ``PYTHONPATH`` (so
``import refimpl`` and ``from _common import ...`` just work) and progress
bars are off. It keys mkdocs-jupyter's cache on the code the notebooks import,
and turns that cache off in CI.
"""

from __future__ import annotations

import fnmatch
import hashlib
import html
import os
import re
import statistics
from collections.abc import Callable, Iterable
from pathlib import Path
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
MARKER = re.compile(r"^\{\{[ \t]*(\w+)((?:[ \t]+[\w.-]+)*)[ \t]*\}\}[ \t]*$", re.MULTILINE)

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
        "ResNet v1 (stride on the first 1x1 convolution), refimpl v1.5; and refimpl's GMACs count only convolutions "
        "and matrix products (as torchvision does), not SE's pooling and channel scaling, so they rise by less"
    ),
}


# ---------------------------------------------------------------- the notebooks' kernels and cache
def _prepend_to_pythonpath(*folders: Path) -> None:
    """Put ``folders`` first on ``PYTHONPATH`` (once, however often the config is loaded)."""
    current = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    ours = [str(f) for f in folders]
    os.environ["PYTHONPATH"] = os.pathsep.join([*ours, *(p for p in current if p not in ours)])


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    # read by the kernels mkdocs-jupyter starts, which inherit os.environ
    _prepend_to_pythonpath(ROOT, NOTEBOOKS)
    os.environ["TQDM_DISABLE"] = "1"  # no progress bars in the executed pages; read when tqdm loads
    _ROWS.clear()  # `mkdocs serve` rebuilds in this process
    jupyter = config.plugins.get("mkdocs-jupyter")
    if jupyter is not None:
        if os.environ.get("CI"):
            jupyter.config["cache"] = False
        else:
            digest = hashlib.sha256(f"torch {torch.__version__} torchvision {torchvision.__version__}".encode())
            sources = [*sorted((ROOT / "refimpl").rglob("*.py")), *sorted(NOTEBOOKS.glob("_*.py"))]
            for path in [*sources, *sorted(RESULTS.glob("*.json"))]:
                digest.update(path.read_bytes())
            base = jupyter.config["cache_dir"]
            jupyter.config["cache_dir"] = str(Path(base) / digest.hexdigest()[:16])
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
            v1, v2 = (f"{row.top1[k]:.2f}" if k in row.top1 else "" for k in ("IMAGENET1K_V1", "IMAGENET1K_V2"))
            per_m = f"{row.top1['IMAGENET1K_V1'] / (row.params / 1e6):.1f}" if v1 else ""
            rows.append([f"`{row.spec.name}`", f"{row.params / 1e6:.2f}", f"{row.gmacs:.2f}", v1, v2, per_m])
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
    rows = [[f"`{SE_BASE}`", "", f"{base_params:,}", f"{base_macs / 1e9:.3f}", "", ""]]
    for r in SE_REDUCTIONS:
        params, macs = model_cost(SE_MODEL, reduction=r)
        extra = [f"+{100 * (params / base_params - 1):.1f}%", f"+{100 * (macs / base_macs - 1):.3f}%"]
        rows.append([f"`{SE_MODEL}`", r, f"{params:,}", f"{macs / 1e9:.3f}", *extra])
    header = ["model", "r", "parameters", "GMACs (224²)", "extra parameters", "extra GMACs"]
    return _table(header, rows) + (
        "\n\n*Computed from the code when this site was built, on the meta device. "
        "GMACs count convolutions and matrix products only, as torchvision does.*"
    )


def se_paper() -> str:
    """The SE paper's published figures, quoted with their source."""
    header = ["model (paper's re-implementation)", "top-1 error (%)", "GFLOPs (paper's counting)"]
    return _table(header, [list(row) for row in SE_PAPER["rows"]]) + (
        f"\n\n*Quoted from {SE_PAPER['source']}, {SE_PAPER['table']}. {SE_PAPER['note']}.*"
    )


# ---------------------------------------------------------------- measured, from docs/results/
def _read(stem: str) -> dict[str, Any]:
    path = RESULTS / f"{stem}.json"
    if not path.is_file():
        raise PluginError(f"result file {path.relative_to(ROOT)} is missing; run the benchmark that writes it")
    return read_result(path)


#: how a densenet_memory result file names the modes, and how the site does
MEMORY_MODES = {
    "plain": "plain",
    "memory_efficient": "refimpl, memory-efficient",
    "torchvision_memory_efficient": "torchvision, memory-efficient",
}


def densenet_memory(stem: str = "densenet_memory_cpu") -> str:
    """Plain vs memory-efficient training steps (from a densenet_memory result file), torchvision's where measured."""
    data = _read(stem)
    rows = []
    for row in data["rows"]:
        batch = f"{row['batch_size']} × {row['image_size']}²"
        for mode, label in MEMORY_MODES.items():
            if mode not in row:
                continue
            m = row[mode]
            # files written before the third mode keep the memory-efficient ratios on the row itself
            ratios = m if "memory_ratio" in m else row
            memory = "" if mode == "plain" else f"{ratios['memory_ratio']:.2f}×"
            time_ratio = "" if mode == "plain" else f"{ratios['time_ratio']:.2f}×"
            step = f"{m['step_s'] * 1000:,.0f}"
            rows.append([f"`{row['model']}`", batch, label, f"{m['peak_mib']:,.0f}", memory, step, time_ratio])
    header = ["model", "batch", "mode", "peak MiB", "memory vs plain", "step ms", "time vs plain"]
    return _table(header, rows, "llllrrr") + (
        f"\n\n*{data['note'] + ' ' if 'note' in data else ''}Measured {_measured_on(data)} with "
        f"`{data['command']}`. Memory: {data['memory_method']}.*"
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


#: keys of a result file that hold the project's own targets, not measurements: never shown to readers
INTERNAL_KEY = re.compile(r"goal|limit|target|threshold")


def result(stem: str) -> str:
    """A committed result file: its rows as a table, then how, when and where it was measured."""
    data = _read(stem)
    rows = data["rows"]
    keys = [k for k in rows[0] if not INTERNAL_KEY.search(k)]
    table = _table([k.replace("_", " ") for k in keys], [[_fmt(row[k]) for k in keys] for row in rows])
    settings = ", ".join(f"{k} = {v}" for k, v in data.get("settings", {}).items())
    return (
        f"{table}\n\n*{data['note'] + ' ' if 'note' in data else ''}Measured {_measured_on(data)}"
        + (f"; {settings}" if settings else "")
        + f". Command: `{data['command']}`.*"
    )


def throughput(stem: str) -> str:
    """The notes' input pipeline against refimpl's (from a train_throughput result file)."""
    data = _read(stem)
    rows = []
    for row in data["rows"]:
        speed = statistics.median(row["images_per_s"])
        ratio = row.get("ratio_to_notes", data["median_ratio"] if row["path"] == "refimpl" else None)
        tflops = f"{row['tflops']:.1f}" if "tflops" in row else "–"
        share = f"{row['peak_share']:.0%}" if "peak_share" in row else "–"
        times = "1.00×" if row["path"] == "notes" else f"{ratio:.2f}×"
        rows.append([row["path"], row["settings"], f"{speed:,.0f}", times, tflops, share])
    header = ["pipeline", "what it does", "images/s (median)", "vs notes", "TFLOP/s", "of bf16 peak"]
    table = _table(header, rows, "llrrrr")
    settings = ", ".join(f"{k} = {v}" for k, v in data["settings"].items())
    peak = data.get("peak_bf16_tflops")
    notes = [f"Ratios: medians of the per-round ratios, {len(data['rows'][0]['images_per_s'])} rounds."]
    if "flops_method" in data:
        notes.append(f"TFLOP/s: {data['flops_per_image'] / 1e9:.2f} GFLOP per image ({data['flops_method']}).")
    if peak:
        notes.append(f"Peak: {peak:g} TFLOP/s, the device's dense bfloat16 figure from NVIDIA's datasheet.")
    if "note" in data:
        notes.append(data["note"])
    return table + (f"\n\n*{' '.join(notes)} Measured {_measured_on(data)}; {settings}. Command: `{data['command']}`.*")


GENERATORS: dict[str, Callable[..., str]] = {
    "api_model_files": api_model_files,
    "model_zoo": model_zoo,
    "resnet_stages": resnet_stages,
    "paper_table": paper_table,
    "densenet_configs": densenet_configs,
    "efficiency": efficiency,
    "summary": summary_block,
    "feature_nodes": feature_nodes,
    "se_cost": se_cost,
    "se_paper": se_paper,
    "densenet_memory": densenet_memory,
    "result": result,
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


def link_sources(markdown: str, base: str) -> str:
    """After every fenced block that embeds files with snippets, a caption that links to them."""
    out: list[str] = []
    fence: re.Match[str] | None = None
    embeds: list[tuple[str, str | None]] = []
    for line in markdown.split("\n"):
        out.append(line)
        opened = FENCE.match(line)
        if fence is None:
            if opened:
                fence, embeds = opened, []
            continue
        if (snippet := SNIPPET.match(line)) is not None:
            embeds.append((snippet.group("path"), snippet.group("section")))
        elif opened and opened.group("fence").startswith(fence.group("fence")) and not line[opened.end() :].strip():
            if embeds:
                indent = fence.group("indent")
                out += ["", *(indent + line for line in _caption(embeds, base))]
            fence = None
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    def replace(match: re.Match[str]) -> str:
        name, args = match.group(1), match.group(2).split()
        if name not in GENERATORS:
            raise PluginError(f"{page.file.src_path}: unknown marker {{{{ {name} }}}}; known: {', '.join(GENERATORS)}")
        return GENERATORS[name](*args)

    return MARKER.sub(replace, link_sources(markdown, source_base(config)))


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
    import jupytext

    for file in list(files):
        if file.src_uri.endswith(".py") and _is_notebook(file.src_uri, config):
            notebook = jupytext.reads(Path(file.abs_src_path).read_text(), fmt="py:percent")
            content = jupytext.writes(notebook, fmt="ipynb")
            files.append(File.generated(config, ipynb_uri(file.src_uri), content=content))
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
        f" (not executed; it imports <code>refimpl</code>{needs}: run it in <code>docs/notebooks/</code>"
        " of a clone, after <code>pip install -e .</code>)</p>"
    )
    head = re.search(r"</h1>", html_)
    return html_[: head.end()] + links + html_[head.end() :] if head else links + html_
