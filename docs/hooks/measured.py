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

Each table takes ``lang``, the edition's language (``"en"`` or ``"ko"``). In
Korean, what the result file says in English (a row's settings, its note, how
memory was measured) is translated too (``KO``, ``SETTINGS_KO``); a text
without its Korean fails the Korean build, so that none shows in English there.

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

import i18n
from mkdocs.exceptions import PluginError

from refimpl.tools.inspection import format_table
from refimpl.tools.results import read_result

RESULTS = Path(__file__).resolve().parents[1] / "results"

#: the one rule by which a table turns two measurements into a ratio; the tables' headers and captions name it
RATIO_RULE = "ratio of medians"
#: what a ratio says where the ranges of the two measurements' repeats overlap
NO_DIFFERENCE = "within the run-to-run spread: no measurable difference"

#: Korean for the English a table shows in its header, its cells or its notes, its own or its result file's: a text
#: without its entry fails the Korean build (a new column, a changed note)
KO = {
    # headers
    "model": "모델",
    "reference": "비교 대상",
    "refimpl ms": "refimpl ms",
    "reference ms": "비교 대상 ms",
    f"refimpl / reference ({RATIO_RULE})": "refimpl / 비교 대상(중앙값의 비율)",
    "batch": "배치",
    "mode": "모드",
    "stored activations (MiB per image)": "저장된 활성값(이미지당 MiB)",
    "peak MiB": "최대 MiB",
    "memory vs plain": "메모리, 일반 모드 대비",
    "step ms: median (min–max)": "스텝 ms: 중앙값(최소–최대)",
    f"time vs plain ({RATIO_RULE})": "시간, 일반 모드 대비(중앙값의 비율)",
    "pipeline": "파이프라인",
    "what it does": "하는 일",
    "images/s: median (min–max)": "images/s: 중앙값(최소–최대)",
    f"vs notes ({RATIO_RULE})": "강의 노트 대비(중앙값의 비율)",
    "TFLOP/s": "TFLOP/s",
    "of bf16 peak": "bf16 최고 성능 대비",
    "rate": "측정 대상",
    # the generic table's headers: a result file's keys (result)
    "batch size": "배치 크기",
    "image size": "이미지 크기",
    "plain": "일반",
    "memory efficient": "메모리 효율",
    "torchvision memory efficient": "torchvision 메모리 효율",
    "stored activations mib per image": "이미지당 저장된 활성값 MiB",
    "faster than torchvision": "torchvision보다 빠름",
    "torchvision ms": "torchvision ms",
    "settings": "설정",
    "images per s": "images/s",
    "path": "파이프라인",
    "tflops": "TFLOP/s",
    # cells
    NO_DIFFERENCE: "실행 간 편차 이내: 측정할 수 있는 차이 없음",
    "refimpl, memory-efficient": "refimpl, 메모리 효율",
    "torchvision, memory-efficient": "torchvision, 메모리 효율",
    "notes": "강의 노트",
    "refimpl": "refimpl",
    "recipe": "레시피",
    "(a) loader": "(a) 로더",
    "(b) training step": "(b) 훈련 스텝",
    # what result files say (benchmarks/*.py, and a note by hand)
    (
        "peak resident memory (VmHWM) minus resident memory (VmRSS) after building the model and input, "
        "one fresh process per configuration"
    ): (
        "최대 상주 메모리(VmHWM)에서 모델과 입력을 만든 뒤의 상주 메모리(VmRSS)를 뺀 값이며, 구성마다 새 프로세스 "
        "하나에서 쟀습니다"
    ),
    (
        "torch.cuda.max_memory_allocated minus memory_allocated after building the model and input, "
        "one fresh process per configuration"
    ): (
        "torch.cuda.max_memory_allocated에서 모델과 입력을 만든 뒤의 memory_allocated를 뺀 값이며, 구성마다 새 "
        "프로세스 하나에서 쟀습니다"
    ),
    "torch.utils.flop_counter, forward and backward of one batch, 2 per multiply-add": (
        "torch.utils.flop_counter로 배치 하나의 순전파와 역전파를 세고, 곱셈-누산 하나를 FLOP 2개로 셈"
    ),
    (
        "Baseline: measured on an H200 before the CUDA-graph step and the leaner memory-efficient mode (commit "
        "a9bcd3f, torch 2.11); the data were random pixels in CIFAR-10's format, since CIFAR-10 could not be "
        "downloaded on that machine."
    ): (
        "기준선: CUDA 그래프 스텝과 더 가벼워진 메모리 효율 모드가 들어오기 전에 H200에서 측정했습니다(commit "
        "a9bcd3f, torch 2.11). 그 기기에서는 CIFAR-10을 내려받을 수 없어서, 데이터는 CIFAR-10 형식의 무작위 "
        "픽셀이었습니다."
    ),
}
#: the ratio rule, in Korean
RATIO_RULE_KO = "중앙값의 비율"
#: where a missing Korean text is to be added, for the message
WHERE = "docs/hooks/measured.py, KO"

#: Korean for each phrase of a row's "settings" (what it measured with, as benchmarks/*.py describe it), the phrases
#: split at ", " and "; ": the first pattern that matches the whole phrase; a phrase that none matches fails
SETTINGS_KO = [
    (r"DataLoader|PIL|float32|bfloat16|float16|NCHW|channels_last|fused SGD|\d+x\d+", r"\g<0>"),
    (r"(\d+) workers", r"워커 \1개"),
    (r"batch (\d+)", r"배치 \1"),
    (r"on-device data", "장치에 올린 데이터"),
    (r"eager step", "즉시 실행(eager) 스텝"),
    (r"CUDA graph", "CUDA 그래프"),
    (r"compiled", "torch.compile로 컴파일"),
    (r"Pillow decode", "Pillow 디코딩"),
    (r"random resized crop to (\d+)", r"\1 크기로 무작위 크롭(RandomResizedCrop)"),
    (r"flip", "좌우 뒤집기"),
    (r"(\d+) generated (\d+x\d+) JPEGs", r"생성한 \2 JPEG \1장"),
    (r"(\w+) forward", r"\1 순전파"),
    (r"backward and SGD on (\w+)", r"역전파와 SGD(\1에서)"),
]


def _ko(text: str, lang: str) -> str:
    """English text of a table, or of its result file, in the edition ``lang``."""
    return i18n.translate(text, lang, KO, WHERE)


def _settings(text: str, lang: str) -> str:
    """A row's settings, ``"DataLoader, 2 workers, PIL"``, in the edition ``lang`` (``SETTINGS_KO``)."""
    i18n.check(lang)
    if lang == "en":
        return text
    parts = re.split(r"(, |; )", text)  # the phrases, and the separators between them
    for i in range(0, len(parts), 2):
        found = next(((p, k) for p, k in SETTINGS_KO if re.fullmatch(p, parts[i])), None)
        if found is None:
            raise PluginError(
                f"no Korean for the phrase {parts[i]!r} of the settings {text!r}: add a pattern to "
                "docs/hooks/measured.py, SETTINGS_KO"
            )
        parts[i] = re.sub(found[0], found[1], parts[i])
    return "".join(parts)


def _header(cells: list[str], lang: str) -> list[str]:
    """A table's header row in the edition ``lang``: a column without its Korean fails the Korean build."""
    return i18n.translate_all(cells, lang, KO, WHERE)


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


def _measured_on(data: dict[str, Any], lang: str = "en") -> str:
    m = data["machine"]
    threads = i18n.pick(lang, f" ({m['cpu_threads']} threads)", f", 스레드 {m['cpu_threads']}개")
    where = m.get("gpu") or f"{m['cpu']}{threads}"
    on = f"{where}, {m['device']}, torch {m['torch']}"
    return i18n.pick(lang, f"{data['measured_at'][:10]} on {on}", f"{data['measured_at'][:10]}에 {on} 환경")


def _provenance(data: dict[str, Any], *notes: str, lang: str = "en") -> str:
    """The caption under a measured table: ``notes``, the file's own note, when and where, its settings, its command.

    ``notes`` are in the edition's language ``lang``; the file's note is translated (``KO``), its settings
    (``name = value``) and its command are code.
    """
    settings = ", ".join(f"{k} = {v}" for k, v in data.get("settings", {}).items())
    text = " ".join([*notes, *([_ko(data["note"], lang)] if "note" in data else [])])
    i18n.check(lang)
    if lang == "ko":
        where = f"{_measured_on(data, lang)}에서 측정했습니다." + (f" 설정: {settings}." if settings else "")
        return f"\n\n*{text + ' ' if text else ''}{where} 실행한 명령: `{data['command']}`.*"
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


def _versus(measured: Repeats, base: Repeats, lang: str = "en") -> str:
    """``measured / base`` by ``RATIO_RULE``, from the medians as printed, saying so where the ranges overlap."""
    ratio = f"{measured.median / base.median:.2f}×"
    return f"{ratio} ({_ko(NO_DIFFERENCE, lang)})" if measured.overlaps(base) else ratio


def _decimals(medians: Iterable[float]) -> int:
    """Decimals that print the smallest of ``medians`` with three significant digits (none from 100 up)."""
    return max(0, 2 - math.floor(math.log10(min(medians))))


#: how a densenet_memory result file names the modes, and how the site does
MEMORY_MODES = {
    "plain": "plain",
    "memory_efficient": "refimpl, memory-efficient",
    "torchvision_memory_efficient": "torchvision, memory-efficient",
}


def densenet_memory(stem: str = "densenet_memory_cpu", *, lang: str = "en") -> str:
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
            versus = [_versus(peak, plain_peak, lang), _versus(step, plain_step, lang)]
            ratios = ["", ""] if mode == "plain" else versus
            label = _ko(label, lang)
            rows.append([f"`{row['model']}`", batch, label, kept, f"{peak}", ratios[0], f"{step}", ratios[1]])
    header = ["model", "batch", "mode", "stored activations (MiB per image)", "peak MiB", "memory vs plain"]
    header += ["step ms: median (min–max)", f"time vs plain ({RATIO_RULE})"]
    repeats, method = data["settings"]["repeats"], _ko(data["memory_method"], lang)
    caption = i18n.pick(
        lang,
        f"A step: forward pass, loss and backward pass; {repeats} timed per mode, the modes "
        f"alternating step by step. Peak memory: one step, {method}. Stored activations: what autograd "
        "keeps for the backward pass, counted for one image (not for torchvision's mode). Every ratio is the mode's "
        f"figure over the plain mode's, as printed: the {RATIO_RULE} (a peak is one measurement). Where two modes' "
        f"ranges of step times overlap, the difference is {NO_DIFFERENCE}.",
        f"스텝 하나는 순전파, 손실 계산, 역전파입니다. 모드마다 {repeats}번 시간을 쟀고, 모드를 한 스텝씩 번갈아 "
        f"실행했습니다. 최대 메모리: 한 스텝에서 잰 값으로, {method}. 저장된 활성값: autograd가 역전파를 위해 "
        "보관하는 값을 이미지 한 장 기준으로 센 것입니다(torchvision의 모드는 세지 않았습니다). 모든 비율은 표에 "
        f"적힌 대로 각 모드의 수치를 일반 모드의 수치로 나눈 값, 즉 {RATIO_RULE_KO}입니다(최대 메모리는 한 번 측정한 "
        "값입니다). 두 모드의 스텝 시간 범위가 겹치면 그 차이는 실행 간 편차 안에 들어, 측정할 수 있는 차이가 "
        "아닙니다.",
    )
    table = format_table(_header(header, lang), rows, "llllrrrr", markdown=True)
    return table + _provenance(data, caption, lang=lang)


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


def result(stem: str, *, lang: str = "en") -> str:
    """A committed result file: its rows as a table, then how, when and where it was measured.

    In Korean, the header (the file's keys) and the notes are translated; the cells are the file's values.
    """
    data = _read(stem)
    rows = data["rows"]
    keys = [k for k in rows[0] if not INTERNAL_KEY.search(k) and not STORED_RATIO.search(k)]
    table = format_table(
        _header([k.replace("_", " ") for k in keys], lang),
        [[_fmt(row[k]) for k in keys] for row in rows],
        markdown=True,
    )
    return table + _provenance(data, lang=lang)


def forward_backward(stem: str, *, lang: str = "en") -> str:
    """refimpl against its reference, one training step each (from a forward_backward result file)."""
    data = _read(stem)
    # a row names its reference (reference, reference_ms), or compares with torchvision (torchvision_ms)
    times = [(row["refimpl_ms"], row.get("reference_ms", row.get("torchvision_ms"))) for row in data["rows"]]
    decimals = _decimals(t for pair in times for t in pair)
    rows = []
    for row, pair in zip(data["rows"], times, strict=True):
        ours, theirs = (Repeats.of(t, decimals) for t in pair)
        reference = row.get("reference", "torchvision")  # a library's model: its name, the same in both editions
        rows.append([f"`{row['model']}`", reference, f"{ours}", f"{theirs}", _versus(ours, theirs, lang)])
    header = ["model", "reference", "refimpl ms", "reference ms", f"refimpl / reference ({RATIO_RULE})"]
    repeats = data["settings"]["repeats"]
    caption = i18n.pick(
        lang,
        f"One training step (forward and backward), median of {repeats} steps each, the two "
        "models alternating with the same weights; 1.00 is equally fast, below it refimpl is faster. The file keeps "
        "the medians only, so the run-to-run spread is not shown.",
        f"훈련 스텝 하나(순전파와 역전파)의 시간이며, 각각 스텝 {repeats}번의 중앙값입니다. 두 모델은 같은 가중치로 "
        "번갈아 실행했습니다. 1.00이면 똑같이 빠르고, 그보다 작으면 refimpl이 더 빠릅니다. 파일에는 중앙값만 남아 "
        "있어 실행 간 편차는 보여 주지 않습니다.",
    )
    return format_table(_header(header, lang), rows, "llrrr", markdown=True) + _provenance(data, caption, lang=lang)


def throughput(stem: str, *, lang: str = "en") -> str:
    """The notes' input pipeline against refimpl's (from a train_throughput result file)."""
    data = _read(stem)
    decimals = _decimals(statistics.median(row["images_per_s"]) for row in data["rows"])
    notes = next(Repeats.of(row["images_per_s"], decimals) for row in data["rows"] if row["path"] == "notes")
    peak = data.get("peak_bf16_tflops")
    rows = []
    for row in data["rows"]:
        speed = Repeats.of(row["images_per_s"], decimals)
        times = "1.00×" if row["path"] == "notes" else _versus(speed, notes, lang)
        tflops = round(row["tflops"], 1) if "tflops" in row else None
        share = f"{tflops / peak:.0%}" if tflops is not None and peak else "–"  # of the TFLOP/s printed
        path, settings = _ko(row["path"], lang), _settings(row["settings"], lang)
        rows.append([path, settings, f"{speed}", times, "–" if tflops is None else f"{tflops}", share])
    header = ["pipeline", "what it does", "images/s: median (min–max)", f"vs notes ({RATIO_RULE})", "TFLOP/s"]
    table = format_table(_header([*header, "of bf16 peak"], lang), rows, "llrrrr", markdown=True)
    rounds = data["settings"]["rounds"]
    if rounds > 1:
        spread = i18n.pick(lang, f"median and range over {rounds} rounds", f"{rounds}라운드에 걸친 중앙값과 범위입니다")
    else:
        spread = i18n.pick(lang, "one round, so no range", "한 라운드만 쟀으므로 범위가 없습니다")
    captions = [
        i18n.pick(
            lang,
            f"Images/s: {spread}. Ratios: a pipeline's median over the notes' ({RATIO_RULE}); where their ranges "
            + f"overlap, the difference is {NO_DIFFERENCE}.",
            f"images/s: {spread}. 비율: 각 파이프라인의 중앙값을 강의 노트 파이프라인의 중앙값으로 나눈 값"
            f"({RATIO_RULE_KO})입니다. 두 범위가 겹치면 그 차이는 실행 간 편차 안에 들어, 측정할 수 있는 차이가 "
            "아닙니다.",
        )
    ]
    if "flops_method" in data:
        gflop, method = f"{data['flops_per_image'] / 1e9:.2f}", _ko(data["flops_method"], lang)
        captions.append(
            i18n.pick(
                lang,
                f"TFLOP/s: {gflop} GFLOP per image ({method}).",
                f"TFLOP/s: 이미지 한 장에 {gflop} GFLOP({method}).",
            )
        )
    if peak:
        captions.append(
            i18n.pick(
                lang,
                f"Peak: {peak:g} TFLOP/s, the device's dense bfloat16 figure from NVIDIA's datasheet.",
                f"최고 성능: {peak:g} TFLOP/s로, NVIDIA 데이터시트에 실린 이 장치의 dense bfloat16 수치입니다.",
            )
        )
    return table + _provenance(data, *captions, lang=lang)


def loader_vs_step(stem: str, *, lang: str = "en") -> str:
    """The folder loader's images/s against the training step's (from a folder_loader result file)."""
    data = _read(stem)
    rates = {row["rate"]: row for row in data["rows"]}
    decimals = _decimals(statistics.median(row["images_per_s"]) for row in data["rows"])
    loader, step = (Repeats.of(rates[name]["images_per_s"], decimals) for name in ("loader", "step"))
    rows = [
        [_ko("(a) loader", lang), _settings(rates["loader"]["settings"], lang), f"{loader}"],
        [_ko("(b) training step", lang), _settings(rates["step"]["settings"], lang), f"{step}"],
    ]
    header = _header(["rate", "what it does", "images/s: median (min–max)"], lang)
    table = format_table(header, rows, "llr", markdown=True)
    rounds, batch, versus = data["settings"]["rounds"], data["settings"]["batch_size"], _versus(loader, step, lang)
    caption = i18n.pick(
        lang,
        f"Median and range over {rounds} rounds, batch {batch}. (a) / (b) = "
        f"{versus} ({RATIO_RULE}): at 1 or above the step never waits for its data.",
        f"{rounds}라운드에 걸친 중앙값과 범위이며, 배치는 {batch}입니다. (a) / (b) = {versus} ({RATIO_RULE_KO}): "
        "1 이상이면 스텝이 데이터를 기다리는 일이 없습니다.",
    )
    return table + _provenance(data, caption, lang=lang)


GENERATORS: dict[str, Callable[..., str]] = {
    "loader_vs_step": loader_vs_step,
    "densenet_memory": densenet_memory,
    "result": result,
    "forward_backward": forward_backward,
    "throughput": throughput,
}
