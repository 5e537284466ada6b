"""The site's generated tables (``docs/hooks/markers.py`` and the tables it calls), called directly: no docs build.

Markers with a path under ``docs/results/``, a marker left unreplaced, and every
ratio the tables print: computed from the numbers shown beside it, by one rule.
The tables computed from the code are in ``docs/hooks/computed.py``, those read
from result files in ``docs/hooks/measured.py``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import statistics
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from mkdocs.config import load_config
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File
from mkdocs.structure.pages import Page

from refimpl.tools.inspection import model_cost, zoo_rows

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RESULTS = DOCS / "results"


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    """The markers hook, loaded as MkDocs loads a hook."""
    spec = importlib.util.spec_from_file_location("markers_hook", DOCS / "hooks" / "markers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def computed(hook: ModuleType) -> ModuleType:
    """The tables computed from the code: the module the hook calls."""
    return sys.modules["computed"]


@pytest.fixture(scope="module")
def measured(hook: ModuleType) -> ModuleType:
    """The tables read from result files: the module the hook calls."""
    return sys.modules["measured"]


@pytest.fixture(scope="module")
def imagenet_rows(computed: ModuleType) -> None:
    """The zoo rows for the families the ImageNet tables read, only those: the whole zoo takes 4x as long."""
    from refimpl.specs import SPECS

    names = [n for n, s in SPECS.items() if s.family in computed.EFFICIENCY_FAMILIES and s.reference.is_model]
    computed.ROWS.update((row.spec.name, row) for row in zoo_rows(names))


@pytest.fixture(scope="module")
def config() -> Any:
    return load_config(str(ROOT / "mkdocs.yml"))


def _page(config: Any, src: str) -> Page:
    return Page(None, File(src, str(DOCS), str(ROOT / "site"), use_directory_urls=True), config)


def _render(hook: ModuleType, config: Any, markdown: str, src: str = "page.md") -> str:
    return hook.on_page_markdown(markdown, _page(config, src), config, None)


def _tables(markdown: str) -> list[list[dict[str, str]]]:
    """Every Markdown table in ``markdown``: a list of rows, each header -> cell."""

    def cells(line: str) -> list[str]:
        return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]

    tables, lines = [], markdown.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("| ") and (i == 0 or not lines[i - 1].startswith("|")):
            header, body = cells(line), []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                body.append(dict(zip(header, cells(row), strict=True)))
            tables.append(body)
    return tables


def _column(row: dict[str, str], start: str) -> str:
    """The cell of the one column whose title starts with ``start``."""
    (key,) = (k for k in row if k.startswith(start))
    return row[key]


def _number(text: str) -> float:
    return float(re.match(r"[+-]?[\d,.]+", text).group().replace(",", ""))


def _spread(text: str) -> tuple[float, float, float]:
    """``"11,834 (10,229–14,712)"`` -> median, low, high."""
    found = re.fullmatch(r"([\d,.]+) \(([\d,.]+)–([\d,.]+)\)", text)
    assert found, f"no median (min–max) in {text!r}"
    return tuple(float(g.replace(",", "")) for g in found.groups())


def _decimals(text: str) -> int:
    number = re.match(r"[\d,.]+", text).group()
    return len(number.partition(".")[2])


def _assert_ratio(shown: str, numerator: float, denominator: float) -> None:
    """A printed ratio (``"1.10×"``, ``"1.10× (...)"``) is numerator / denominator, as shown, to its decimals."""
    assert shown.startswith(f"{numerator / denominator:.2f}×"), (shown, numerator, denominator)


# ---------------------------------------------------------------- markers with a path, and what a page leaves behind
def test_a_marker_names_a_result_file_under_docs_results_by_its_relative_path(hook: ModuleType, config: Any) -> None:
    found = hook.MARKER.search("{{ result h200-baseline/forward_backward_cuda }}")
    assert found and found.group(2).split() == ["h200-baseline/forward_backward_cuda"]
    out = _render(hook, config, "# GPU\n\n{{ result h200-baseline/forward_backward_cuda }}\n")
    assert "{{" not in out and "| model |" in out and "NVIDIA H200" in out
    (table,) = _tables(out)
    assert not any("ratio" in title for title in table[0])  # the file's own ratios follow their own rule


@pytest.mark.parametrize("stem", ["../results/forward_backward_cpu", "/etc/passwd", "h200-baseline/../../hooks/x", ""])
def test_a_result_path_outside_docs_results_is_refused_in_one_line(measured: ModuleType, stem: str) -> None:
    with pytest.raises(PluginError, match=r"not a path under docs/results/") as error:
        measured.result(stem)
    assert "\n" not in str(error.value)


def test_a_link_out_of_docs_results_is_refused(measured: ModuleType, tmp_path: Path, monkeypatch) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text((RESULTS / "forward_backward_cpu.json").read_text())
    results = tmp_path / "results"
    results.mkdir()
    (results / "inside.json").symlink_to(outside)
    monkeypatch.setattr(measured, "RESULTS", results)
    with pytest.raises(PluginError, match=r"not a path under docs/results/"):
        measured.result("inside")


def test_every_gpu_table_the_results_page_promises_renders_with_its_machine_and_date(
    hook: ModuleType, config: Any
) -> None:
    source = (DOCS / "results.md").read_text()
    gpu = [m for m in hook.MARKER.finditer(source) if "h200-baseline/" in m.group(2)]
    assert len(gpu) == 4
    for marker in gpu:
        stem = marker.group(2).split()[-1]
        data = json.loads((RESULTS / f"{stem}.json").read_text())
        out = _render(hook, config, marker.group(0) + "\n")
        assert _tables(out), stem
        assert f"{data['measured_at'][:10]} on {data['machine']['gpu']}" in out, stem
        assert data["command"] in out, stem
    out = _render(hook, config, source, "results.md")
    assert "{{" not in out and out.count("on NVIDIA H200") == 4


def test_an_unreplaced_marker_fails_naming_the_page_the_text_and_the_known_markers(
    hook: ModuleType, config: Any
) -> None:
    for broken in ["- {{ se_cost }}", "see {{ summary resnet50 }} below", "{{ result a:b }}"]:
        with pytest.raises(PluginError) as error:
            _render(hook, config, f"# Page\n\n{broken}\n", "senet.md")
        message = str(error.value)
        assert "senet.md" in message and re.search(r"\{\{.*\}\}", broken).group() in message
        assert "model_zoo" in message and "densenet_memory" in message


def test_a_marker_with_the_wrong_arguments_fails_naming_the_page_and_the_marker(hook: ModuleType, config: Any) -> None:
    with pytest.raises(PluginError, match=r"^results\.md: \{\{ result a b \}\}: too many"):
        _render(hook, config, "{{ result a b }}\n", "results.md")


def test_braces_in_code_are_left_alone(hook: ModuleType, config: Any) -> None:
    markdown = (
        "# Page\n\nA marker reads `{{ model_zoo }}`, a set ``{{1}}``.\n\n"
        '```python\nprint(f"{{x}}")\n```\n\n'
        '=== "tab"\n\n    ~~~~text\n    {{ not a marker }}\n    ~~~~\n'
    )
    assert _render(hook, config, markdown) == markdown


def test_a_notebook_page_is_python_not_markdown(hook: ModuleType, config: Any) -> None:
    source = '# %%\nprint(f"{{x}} and {{y}}")\n'
    assert _render(hook, config, source, "notebooks/page.py") == source


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_no_page_leaves_braces_outside_code(hook: ModuleType, page: str) -> None:
    """Each page less its markers (each replaced by nothing) passes the check that follows the replacement."""
    markdown = hook.MARKER.sub("", (DOCS / page).read_text())
    hook.check_replaced(markdown, page)


# ---------------------------------------------------------------- ratios: computed from what is shown, one rule
@pytest.mark.parametrize("stem", ["densenet_memory_cpu", "h200-baseline/densenet_memory_cuda"])
def test_densenet_memory_ratios_are_ratios_of_the_medians_shown_with_their_spread(
    measured: ModuleType, stem: str
) -> None:
    data = json.loads((RESULTS / f"{stem}.json").read_text())
    out = measured.densenet_memory(stem)
    (table,) = _tables(out)
    assert any("ratio of medians" in key for key in table[0])
    plain: dict[str, dict[str, str]] = {}
    for row in table:
        key = (row["model"], row["batch"])
        if row["mode"] == "plain":
            plain[key] = row
            continue
        base = plain[key]
        (median, low, high), (base_median, base_low, base_high) = (_spread(_column(r, "step ms")) for r in (row, base))
        _assert_ratio(_column(row, "time vs plain"), median, base_median)
        _assert_ratio(row["memory vs plain"], _number(row["peak MiB"]), _number(base["peak MiB"]))
        overlap = low <= base_high and base_low <= high
        said = "within the run-to-run spread: no measurable difference" in _column(row, "time vs plain")
        assert said == overlap, row
    # the spread is the repeats' range, in the file's own numbers
    first = data["rows"][0]
    median, low, high = _spread(_column(table[0], "step ms"))
    decimals = _decimals(_column(table[0], "step ms"))
    steps = [1000 * s for s in first["plain"]["steps_s"]]
    assert (low, high) == (round(min(steps), decimals), round(max(steps), decimals))
    assert median == round(statistics.median(steps), decimals)


def test_the_cpu_densenet121_timings_say_the_spread_exceeds_the_difference(measured: ModuleType) -> None:
    """DenseNet-121's single CPU steps range over 9.7-14.7 s: wider than any mode's difference."""
    (table,) = _tables(measured.densenet_memory("densenet_memory_cpu"))
    rows = [r for r in table if r["model"] == "`densenet121`" and r["mode"] != "plain"]
    assert len(rows) == 2
    assert all("no measurable difference" in _column(r, "time vs plain") for r in rows)
    torchvision = next(r for r in rows if r["mode"].startswith("torchvision"))
    assert _column(torchvision, "time vs plain").startswith("1.10×")  # 13,057 ms against 11,834 ms


def test_the_pages_cite_only_columns_the_densenet_memory_table_has(measured: ModuleType) -> None:
    (table,) = _tables(measured.densenet_memory())
    header = list(table[0])
    for page in ("densenet.md", "results.md"):
        for cited in re.findall(r"""table's ["“]([^"”]+)["”]""", (DOCS / page).read_text()):
            assert any(title.startswith(cited) for title in header), (page, cited, header)


@pytest.mark.parametrize(
    "stem", ["train_throughput_cpu", "h200-baseline/train_throughput_cuda", "h200-baseline/train_throughput_cuda_bs512"]
)
def test_throughput_ratios_are_ratios_of_the_medians_shown(measured: ModuleType, stem: str) -> None:
    data = json.loads((RESULTS / f"{stem}.json").read_text())
    out = measured.throughput(stem)
    (table,) = _tables(out)
    assert "ratio of medians" in out
    notes = next(r for r in table if r["pipeline"] == "notes")
    base = _spread(_column(notes, "images/s"))
    for row, stored in zip(table, data["rows"], strict=True):
        median, low, high = _spread(_column(row, "images/s"))
        assert (low, high) == (round(min(stored["images_per_s"])), round(max(stored["images_per_s"])))
        _assert_ratio(_column(row, "vs notes"), median, base[0])
        if row is not notes:
            overlap = low <= base[2] and base[1] <= high
            assert ("no measurable difference" in _column(row, "vs notes")) == overlap, row


def test_the_loader_against_the_step_is_the_ratio_of_the_medians_shown(measured: ModuleType) -> None:
    data = json.loads((RESULTS / "folder_loader_cpu.json").read_text())
    out = measured.loader_vs_step("folder_loader_cpu")
    (table,) = _tables(out)
    (loader, step) = (_spread(_column(row, "images/s")) for row in table)
    for shown, stored in zip((loader, step), data["rows"], strict=True):
        assert shown[0] == pytest.approx(statistics.median(stored["images_per_s"]), abs=0.051)
    _assert_ratio(out.split("(a) / (b) = ")[1], loader[0], step[0])
    assert f"{data['measured_at'][:10]} on " in out and data["command"] in out


@pytest.mark.parametrize("stem", ["forward_backward_cpu", "h200-baseline/forward_backward_cuda"])
def test_forward_backward_ratio_is_the_ratio_of_the_medians_shown(measured: ModuleType, stem: str) -> None:
    data = json.loads((RESULTS / f"{stem}.json").read_text())
    out = measured.forward_backward(stem)
    (table,) = _tables(out)
    assert len(table) == len(data["rows"]) and "ratio of medians" in out
    for row in table:
        _assert_ratio(_column(row, "refimpl / reference"), _number(row["refimpl ms"]), _number(row["reference ms"]))
    assert f"{data['measured_at'][:10]} on " in out and data["command"] in out


def test_se_cost_extras_are_computed_from_the_counts_shown(computed: ModuleType) -> None:
    (table,) = _tables(computed.se_cost())
    base = table[0]
    for row in table[1:]:
        for count, extra in (("parameters", "extra parameters"), ("MACs", "extra MACs")):
            shown = _number(_column(row, count)) / _number(_column(base, count)) - 1
            decimals = _decimals(row[extra].lstrip("+"))
            assert row[extra] == f"+{100 * shown:.{decimals}f}%", (row, count)


@pytest.mark.usefixtures("imagenet_rows")
def test_efficiency_per_million_parameters_is_computed_from_the_numbers_shown(computed: ModuleType) -> None:
    (table,) = _tables(computed.efficiency())
    for row in table:
        if row["top-1 V1 (%)"] != "—":
            top1, params = _number(row["top-1 V1 (%)"]), _number(row["parameters (M)"])
            assert row["V1 top-1 per M parameters"] == f"{top1 / params:.1f}", row


# ---------------------------------------------------------------- ResNet by depth
#: He et al. 2015 (arXiv:1512.03385), tables 2, 3 and 4: top-1 / top-5 error (%) on ImageNet validation
PAPER_10_CROP = {"resnet18": "27.88", "resnet34": "24.52 / 7.46", "resnet50": "22.85 / 6.71"}
PAPER_TABLE_4 = {"resnet34": "21.84 / 5.71", "resnet101": "19.87 / 4.60", "resnet152": "19.38 / 4.49"}


@pytest.mark.usefixtures("imagenet_rows")
def test_resnet_depths_quotes_the_paper_beside_torchvisions_v1_weights_and_the_code(computed: ModuleType) -> None:
    from torchvision.models import get_model_weights

    out = computed.resnet_depths()
    (table,) = _tables(out)
    names = [row["model"].strip("`") for row in table]
    assert names == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
    header = " ".join(table[0])
    assert "10-crop" in header and "error (%)" in header and "1-crop" in header and "accuracy (%)" in header
    assert "not in table 4" in out and "arXiv:1512.03385" in out
    for name, row in zip(names, table, strict=True):
        metrics = get_model_weights(name)["IMAGENET1K_V1"].meta["_metrics"]["ImageNet-1K"]
        assert _column(row, "torchvision") == f"{metrics['acc@1']:.2f} / {metrics['acc@5']:.2f}"
        params, macs = model_cost(name)
        assert row["parameters"] == f"{params:,}" and _column(row, "GMACs") == f"{macs / 1e9:.2f}"
        if name in PAPER_10_CROP:
            assert _column(row, "paper, 10-crop").startswith(PAPER_10_CROP[name])
        if name in PAPER_TABLE_4:
            assert _column(row, "paper, table 4") == PAPER_TABLE_4[name]


# ---------------------------------------------------------------- the other hooks, as MkDocs loaded them
def test_an_embedded_section_gets_a_caption_linking_to_its_lines(config: Any) -> None:
    source = ROOT / "refimpl" / "resnet.py"
    lines = source.read_text().splitlines()
    section = re.search(r"\[start:([\w-]+)\]", next(line for line in lines if "--8<-- [start:" in line)).group(1)
    first = next(i for i, line in enumerate(lines, start=1) if f"[start:{section}]" in line) + 1
    last = next(i for i, line in enumerate(lines, start=1) if f"[end:{section}]" in line) - 1
    markdown = f'# Page\n\n=== "Tab"\n\n    ```python\n    --8<-- "refimpl/resnet.py:{section}"\n    ```\n'
    out = config.hooks["docs/hooks/source_links.py"].on_page_markdown(markdown, _page(config, "page.md"), config, None)
    caption = f"    Source: [`refimpl/resnet.py`, lines {first}–{last}]("
    assert out.startswith(markdown) and caption in out, out
    assert f"/blob/main/refimpl/resnet.py#L{first}-L{last})\n    {{: .source-link }}" in out


def test_a_notebook_page_links_its_source_and_its_stored_run(config: Any) -> None:
    hook = config.hooks["docs/hooks/notebook_links.py"]
    assert hook.ipynb_uri("notebooks/quick_tour.py") == "notebooks/quick_tour/quick_tour.ipynb"
    out = hook.on_page_content("<h1>Tour</h1><p>text</p>", _page(config, "notebooks/quick_tour.py"), config, None)
    assert out.startswith('<h1>Tour</h1><p class="notebook-links">Source: <a href="https://') and "download>" in out
    assert hook.on_page_content("<h1>Page</h1>", _page(config, "index.md"), config, None) == "<h1>Page</h1>"
