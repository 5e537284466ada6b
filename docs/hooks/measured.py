"""Tables of measurements, read from the result files under ``docs/results/``, each with its provenance.

Time, memory and throughput are not computed while the site is built: they
come from a committed result file (``refimpl.tools.results.write_result``),
named by its path under ``docs/results/`` without ``.json``
(``{{ forward_backward h200-baseline/forward_backward_cuda }}``). A missing
file, or a path that leads out of ``docs/results/``, fails the build. Each
table says under it how, when and on what machine it was measured.

Every ratio of measurements a table prints is computed from the figures it
prints beside it, by one rule (``RATIO_RULE``, the ratio of medians); where the
two compared ranges of repeats overlap, the table says the difference is within
the run-to-run spread.

Not a hook (``mkdocs.yml`` does not list it): ``markers.py`` imports it.
"""

from __future__ import annotations

import html
import math
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mkdocs.exceptions import PluginError

from refimpl.tools.inspection import format_table
from refimpl.tools.results import read_result

RESULTS = Path(__file__).resolve().parents[1] / "results"

#: the one rule by which a table turns two measurements into a ratio; the tables' headers and captions name it
RATIO_RULE = "ratio of medians"
#: what a ratio says where the ranges of the two measurements' repeats overlap
NO_DIFFERENCE = "within the run-to-run spread: no measurable difference"


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
    return format_table(header, rows, "llllrrrr", markdown=True) + _provenance(
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
    table = format_table(
        [k.replace("_", " ") for k in keys], [[_fmt(row[k]) for k in keys] for row in rows], markdown=True
    )
    return table + _provenance(data)


def forward_backward(stem: str) -> str:
    """refimpl against its reference, one training step each (from a forward_backward result file)."""
    data = _read(stem)
    # a row names its reference (reference, reference_ms), or compares with torchvision (torchvision_ms)
    times = [(row["refimpl_ms"], row.get("reference_ms", row.get("torchvision_ms"))) for row in data["rows"]]
    decimals = _decimals(t for pair in times for t in pair)
    rows = []
    for row, pair in zip(data["rows"], times, strict=True):
        ours, theirs = (Repeats.of(t, decimals) for t in pair)
        rows.append(
            [f"`{row['model']}`", row.get("reference", "torchvision"), f"{ours}", f"{theirs}", _versus(ours, theirs)]
        )
    header = ["model", "reference", "refimpl ms", "reference ms", f"refimpl / reference ({RATIO_RULE})"]
    return format_table(header, rows, "llrrr", markdown=True) + _provenance(
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
    table = format_table([*header, "of bf16 peak"], rows, "llrrrr", markdown=True)
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


def loader_vs_step(stem: str) -> str:
    """The folder loader's images/s against the training step's (from a folder_loader result file)."""
    data = _read(stem)
    rates = {row["rate"]: row for row in data["rows"]}
    decimals = _decimals(statistics.median(row["images_per_s"]) for row in data["rows"])
    loader, step = (Repeats.of(rates[name]["images_per_s"], decimals) for name in ("loader", "step"))
    rows = [
        ["(a) loader", rates["loader"]["settings"], f"{loader}"],
        ["(b) training step", rates["step"]["settings"], f"{step}"],
    ]
    table = format_table(["rate", "what it does", "images/s: median (min–max)"], rows, "llr", markdown=True)
    rounds = data["settings"]["rounds"]
    return table + _provenance(
        data,
        f"Median and range over {rounds} rounds, batch {data['settings']['batch_size']}. (a) / (b) = "
        f"{_versus(loader, step)} ({RATIO_RULE}): at 1 or above the step never waits for its data.",
    )


GENERATORS: dict[str, Callable[..., str]] = {
    "loader_vs_step": loader_vs_step,
    "densenet_memory": densenet_memory,
    "result": result,
    "forward_backward": forward_backward,
    "throughput": throughput,
}
