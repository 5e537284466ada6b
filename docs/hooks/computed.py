"""Tables computed from the code while the site is built: counts, costs, configurations, published accuracy.

Each table is a function that a page's marker names (``GENERATORS``, read by
``markers.py``): ``{{ model_zoo }}``, ``{{ paper_table resnet }}``,
``{{ summary resnet50 }}``, ... What is deterministic (parameter counts,
multiply-accumulates, the accuracy torchvision's weights metadata publish) is
computed from the tested code (``refimpl``) at every build, never typed in.
Models are selected by their declaration (``spec.family``, ``spec.reference``),
never by their names; what a paper says is quoted, with its source.

Each table takes ``lang``, the edition's language (``"en"`` or ``"ko"``): the
same numbers, with its headers and notes in that language (``i18n.py``). What
a table computes is kept (``CACHE``, ``ROWS``) until the next English build
starts (``clear``): the Korean edition, built right after the English one in the
same process, only formats it again.

Not a hook (``mkdocs.yml`` does not list it): ``markers.py`` imports it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import i18n
import torch
import torchvision
from mkdocs.exceptions import PluginError

from refimpl import get_spec
from refimpl.modelspec import ModelSpec
from refimpl.tools.inspection import (
    ZooRow,
    count_parameters,
    format_table,
    model_cost,
    model_zoo_table,
    summary,
    torchvision_accuracy,
    zoo_rows,
)
from refimpl.tools.verify import paper_count, paper_params_match

#: the families the DenseNet page compares, in the order of its table
EFFICIENCY_FAMILIES = ("densenet", "resnet")

#: SE's cost is shown for SE-ResNet-50 against ResNet-50, the paper's pair, at these reduction ratios
SE_MODEL, SE_BASE, SE_REDUCTIONS = "se_resnet50", "resnet50", (2, 4, 8, 16, 32)

#: quoted from the SE paper, not computed here; numbers as strings, at the paper's precision
SE_PAPER = {
    "source": "Hu et al., Squeeze-and-Excitation Networks, arXiv:1709.01507",
    "table": "table 2",
    "table_ko": "표 2",
    "rows": [("ResNet-50", "24.80", "3.86"), ("SE-ResNet-50", "23.29", "3.87")],
    "note": (
        "Top-1 error: single-crop, ImageNet validation, ResNet-50 as re-implemented by the authors; GFLOPs as the "
        "paper counts them, for one 224x224 image. Not comparable one to one with the table above: the paper counts "
        "ResNet v1 (stride on the first 1x1 convolution), refimpl v1.5; and refimpl's MACs count only convolutions "
        "and matrix products (as torchvision does), not SE's pooling and channel scaling, so they rise by less"
    ),
    "note_ko": (
        "top-1 오차: 단일 크롭(single-crop), ImageNet 검증 세트, 저자들이 다시 구현한 ResNet-50 기준입니다. GFLOPs는 "
        "논문의 계산 방식에 따른 224x224 이미지 한 장의 값입니다. 위 표와 일대일로 비교할 수는 없습니다. 논문이 센 "
        "것은 ResNet v1(첫 1x1 합성곱에 스트라이드)이고 refimpl은 v1.5이며, refimpl의 MACs는 (torchvision과 "
        "마찬가지로) 합성곱과 행렬 곱만 세고 SE의 풀링과 채널 스케일링은 세지 않으므로 덜 늘어납니다"
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
    "note_ko": (
        "10-crop: 표 3의 값이며, ResNet-18은 표 2의 값입니다. 표 2는 top-1만 싣고 있고, 이 모델은 제로 패딩 숏컷"
        "(옵션 A)을 씁니다. 표 4: 논문이 최고 결과를 얻으려고 한 테스트(완전 합성곱 방식, 다섯 가지 스케일에서 점수를 "
        "평균, 짧은 변 224~640)에서 나온 단일 모델 최고 결과이므로, 10-crop이 아니며 오차가 더 낮습니다. ResNet-34는 "
        "torchvision과 같은 옵션 B(차원이 커지는 곳에만 투영)입니다. 모든 숏컷에 투영을 쓰면(옵션 C) 논문의 값은 "
        "24.19 / 7.40(표 3)과 21.53 / 5.60(표 4)입니다. 논문의 ResNet-50, 101, 152는 v1(첫 1x1 합성곱에 "
        "스트라이드)이고, torchvision과 refimpl은 v1.5(3x3 합성곱에 스트라이드)입니다"
    ),
}

#: Korean for the English the tables show in a header, or quote: a text without its entry fails the Korean build
KO = {
    # headers
    "model": "모델",
    "block": "블록",
    "blocks per stage (conv2_x … conv5_x)": "단계별 블록 수(conv2_x … conv5_x)",
    "weighted layers": "가중치가 있는 층",
    "parameters": "매개변수",
    "GMACs (224²)": "GMACs (224²)",
    "paper, 10-crop: top-1 / top-5 error (%)": "논문, 10-crop: top-1 / top-5 오차(%)",
    "paper, table 4: top-1 / top-5 error (%)": "논문, 표 4: top-1 / top-5 오차(%)",
    "torchvision V1, 1-crop: top-1 / top-5 accuracy (%)": "torchvision V1, 1-crop: top-1 / top-5 정확도(%)",
    "paper": "논문",
    "rounds to paper": "반올림하면 논문 값",
    "MMACs (32²)": "MMACs (32²)",
    "source": "출처",
    "growth rate k": "성장률 k",
    "stem channels": "스템 채널",
    "layers per block": "블록별 층 수",
    "final channels": "마지막 채널",
    "parameters (M)": "매개변수(M)",
    "top-1 V1 (%)": "top-1 V1(%)",
    "top-1 V2 (%)": "top-1 V2(%)",
    "V1 top-1 per M parameters": "매개변수 1M개당 V1 top-1",
    "return node": "반환 노드",
    "output (C × H × W) at {size}²": "{size}²에서의 출력(C × H × W)",
    "resolution": "해상도",
    "r": "r",
    "MACs (224²)": "MACs (224²)",
    "extra parameters": "추가 매개변수",
    "extra MACs": "추가 MACs",
    "model (paper's re-implementation)": "모델(논문의 재구현)",
    "top-1 error (%)": "top-1 오차(%)",
    "GFLOPs (paper's counting)": "GFLOPs(논문의 계산 방식)",
    # the model zoo's header and note (refimpl.tools.inspection.model_zoo_table)
    "top-1 V1": "top-1 V1",
    "top-1 V2": "top-1 V2",
    "architecture": "구조",
    "GMACs": "GMACs",
    "input": "입력",
    "verified against": "검증 대상",
    "weights": "가중치",
    (
        "GMACs: billions of multiply-accumulates for one image at the input size shown (torchvision's metadata call "
        "them GFLOPS; 1 MAC = 2 FLOPs). Top-1 V1, V2: ImageNet-1K validation accuracy (%) of torchvision's "
        "checkpoints IMAGENET1K_V1 and IMAGENET1K_V2, from torchvision's weights metadata; V1 is what the deprecated "
        "pretrained=True loads."
    ): (
        "GMACs: 표에 적힌 입력 크기의 이미지 한 장에 드는 곱셈-누산(multiply-accumulate) 횟수를 10억 단위로 적은 "
        "값입니다(torchvision의 메타데이터는 이를 GFLOPS라고 부릅니다. 1 MAC = 2 FLOPs). Top-1 V1, V2: torchvision의 "
        "체크포인트 IMAGENET1K_V1과 IMAGENET1K_V2의 ImageNet-1K 검증 정확도(%)이며, torchvision의 가중치 "
        "메타데이터에서 읽었습니다. V1은 더 이상 권장되지 않는(deprecated) pretrained=True가 불러오는 가중치입니다."
    ),
    # cells
    "not in table 4": "표 4에 없음",
}
#: where a missing Korean text is to be added, for the message
WHERE = "docs/hooks/computed.py, KO"


def _ko(texts: list[str], lang: str) -> list[str]:
    """A header row in the edition ``lang``."""
    return i18n.translate_all(texts, lang, KO, WHERE)


def _citation(text: str, lang: str) -> str:
    """A paper's table, ``"He et al. 2015, table 6"``, in the edition ``lang``."""
    return i18n.pick(lang, text, re.sub(r"\btable (\d+)", r"표 \1", text))


#: the zoo rows of this build: ``markers.py`` empties it when a build starts (``mkdocs serve`` rebuilds in one process)
ROWS: dict[str, ZooRow] = {}
#: what the other tables computed in this build, by function and arguments: emptied with ``ROWS`` (``clear``)
CACHE: dict[tuple[str, tuple[Any, ...]], Any] = {}


def clear() -> None:
    """Forget what this build computed: ``markers.py`` calls it when an English build starts."""
    ROWS.clear()
    CACHE.clear()


def _cached(compute: Callable[..., Any]) -> Callable[..., Any]:
    """``compute`` run once per build and arguments (``CACHE``): each edition's table formats what it returned."""

    @functools.wraps(compute)
    def cached(*args: Any) -> Any:
        key = (compute.__name__, args)
        if key not in CACHE:
            CACHE[key] = compute(*args)
        return CACHE[key]

    return cached


def _rows() -> dict[str, ZooRow]:
    """Every model's zoo row, computed once per build (several tables read them)."""
    if not ROWS:
        ROWS.update((row.spec.name, row) for row in zoo_rows())
    return ROWS


def _select(family: str, model_reference: bool) -> list[ZooRow]:
    """The rows of one family whose reference is a model (``True``) or a paper's table (``False``)."""
    return [r for r in _rows().values() if r.spec.family == family and r.spec.reference.is_model == model_reference]


def _meta(spec: ModelSpec) -> torch.nn.Module:
    """The model built on the ``meta`` device: its structure without any memory or arithmetic."""
    with torch.device("meta"):
        return spec.builder()


def model_zoo(*, lang: str = "en") -> str:
    """Every registered model: size, cost, reference, checkpoints and official accuracy."""
    out = model_zoo_table(_rows().values(), markdown=True)
    i18n.check(lang)
    if lang == "en":
        return out
    # refimpl formats the table (python -m refimpl list prints it too): its header, references and note translated
    table, _, note = out.partition("\n\n")
    header, rule, *body = table.split("\n")
    titles = i18n.split_row(header)
    verified = titles.index("verified against")
    rows = []
    for line in body:
        cells = i18n.split_row(line)
        cells[verified] = _citation(cells[verified], lang).replace(" (params only)", " (매개변수 수만 비교)")
        rows.append(i18n.join_row(cells))
    note = i18n.translate(note, lang, KO, WHERE)
    return "\n".join([i18n.join_row(_ko(titles, lang)), rule, *rows]) + "\n\n" + note


@_cached
def _stage_rows() -> list[list[Any]]:
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
    return rows


def resnet_stages(*, lang: str = "en") -> str:
    """The ImageNet ResNets' configuration (family "resnet", verified against a model), read off the models."""
    header = ["model", "block", "blocks per stage (conv2_x … conv5_x)", "weighted layers", "parameters", "GMACs (224²)"]
    return format_table(_ko(header, lang), _stage_rows(), "lllrrr", markdown=True)


@_cached
def _depth_rows() -> list[list[str]]:
    rows = []
    for row in _select("resnet", model_reference=True):
        if row.spec.label != "ResNet":  # ResNeXt and Wide ResNet are later papers'
            continue
        quoted = RESNET_PAPER["rows"].get(row.spec.reference.name)
        if quoted is None:
            raise PluginError(f"{row.spec.name}: no row of the ResNet paper to show; add it to RESNET_PAPER")
        top1, top5 = row.top1["IMAGENET1K_V1"], torchvision_accuracy(row.spec, top=5)["IMAGENET1K_V1"]
        rows.append([f"`{row.spec.name}`", f"{row.params:,}", f"{row.gmacs:.2f}", *quoted, f"{top1:.2f} / {top5:.2f}"])
    return rows


def resnet_depths(*, lang: str = "en") -> str:
    """ResNet by depth (family "resnet", label "ResNet"): the paper's errors beside torchvision's V1 accuracy and cost."""
    rows = [row.copy() for row in _depth_rows()]
    for row in rows:  # the paper's cells: a figure ("27.88 / –") as it is, words ("not in table 4") translated
        row[3:5] = [i18n.translate(c, lang, KO, WHERE) if re.search("[A-Za-z]", c) else c for c in row[3:5]]
    header = [
        "model",
        "parameters",
        "GMACs (224²)",
        "paper, 10-crop: top-1 / top-5 error (%)",
        "paper, table 4: top-1 / top-5 error (%)",
        "torchvision V1, 1-crop: top-1 / top-5 accuracy (%)",
    ]
    version = torchvision.__version__.split("+")[0]
    note = i18n.pick(
        lang,
        f"\n\n*Paper: error on ImageNet validation, quoted from {RESNET_PAPER['source']}. {RESNET_PAPER['note']}. "
        "torchvision: accuracy (100 less the error) of the IMAGENET1K_V1 weights on one 224² center crop, from the "
        f"weights metadata of torchvision {version}. Parameters and GMACs computed from "
        "the code when this site was built.*",
        f"\n\n*논문: ImageNet 검증 세트에서의 오차이며, {RESNET_PAPER['source']}에서 인용했습니다. "
        f"{RESNET_PAPER['note_ko']}. torchvision: IMAGENET1K_V1 가중치를 224² 중앙 크롭(center crop) 한 장으로 평가한 "
        f"정확도(100에서 오차를 뺀 값)이며, torchvision {version}의 가중치 메타데이터에서 읽었습니다. 매개변수 수와 "
        "GMACs는 이 사이트를 빌드할 때 코드에서 계산했습니다.*",
    )
    return format_table(_ko(header, lang), rows, "lrrrrr", markdown=True) + note


@_cached
def _paper_rows(family: str) -> list[tuple[Any, ...]]:
    rows = []
    for row in _select(family, model_reference=False):
        ref = row.spec.reference
        counted = paper_count(_meta(row.spec), ref)  # as the paper counts: with BN's parameters, or without
        ok = "✓" if paper_params_match(counted, ref.params or "") else "✗"
        rows.append((row.spec.name, row.params, counted, ref.counts_norm, ref.params, ok, row.macs, ref.name))
    if not rows:
        raise PluginError(f"no model of family {family!r} is verified against a paper's table")
    return rows


def paper_table(family: str, *, lang: str = "en") -> str:
    """The models of ``family`` built from a paper's table, against that table."""
    rows = []
    for name, params, counted, counts_norm, paper, ok, macs, source in _paper_rows(family):
        without = i18n.pick(lang, f" ({counted:,} without BN)", f" (BN 제외 {counted:,})")
        params = f"{params:,}" + ("" if counts_norm else without)
        rows.append([f"`{name}`", params, f"{paper}M", ok, f"{macs / 1e6:.1f}", _citation(source, lang)])
    header = ["model", "parameters", "paper", "rounds to paper", "MMACs (32²)", "source"]
    return format_table(_ko(header, lang), rows, "lrrlrl", markdown=True)


def api_model_files(*, lang: str = "en") -> str:
    """One API section per model file (family), in the order of the declarations: a new family needs no line here.

    The same in both editions: a heading names a family and its module; the reference under it is the docstrings'.
    """
    from refimpl.specs import SPECS

    i18n.check(lang)
    families: dict[str, str] = {}
    for spec in SPECS.values():
        families.setdefault(spec.family, spec.label)  # the first model's label names the family: "ResNet", ...
    options = "    options:\n      show_root_heading: false\n      show_root_toc_entry: false"
    return "\n\n".join(
        f"## {label}: `refimpl.{family}` {{ #refimpl-{family} }}\n\n::: refimpl.{family}\n{options}"
        for family, label in families.items()
    )


@_cached
def _densenet_rows() -> list[list[Any]]:
    rows = []
    for row in _select("densenet", model_reference=True):
        model = _meta(row.spec)
        blocks = [m for n, m in model.features.named_children() if n.startswith("denseblock")]
        k = blocks[0].denselayer1.conv2.out_channels
        k0 = model.features.conv0.out_channels
        layers = " / ".join(str(len(b)) for b in blocks)
        final = model.classifier.in_features
        rows.append([f"`{row.spec.name}`", k, k0, layers, final, f"{row.params:,}", f"{row.gmacs:.2f}"])
    return rows


def densenet_configs(*, lang: str = "en") -> str:
    """The ImageNet DenseNets' configuration (family "densenet", verified against a model), read off the models."""
    header = ["model", "growth rate k", "stem channels", "layers per block", "final channels", "parameters"]
    return format_table(_ko([*header, "GMACs (224²)"], lang), _densenet_rows(), "lrrlrrr", markdown=True)


def efficiency(*, lang: str = "en") -> str:
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
    version = torchvision.__version__.split("+")[0]
    note = i18n.pick(
        lang,
        "\n\n*Parameters and GMACs computed from the code when this site was built; top-1 on ImageNet-1K from the "
        f"weights metadata of torchvision {version}. Compare V1 with V1: the V2 weights "
        "come from a newer training recipe, which DenseNet never got.*",
        "\n\n*매개변수 수와 GMACs는 이 사이트를 빌드할 때 코드에서 계산했고, ImageNet-1K top-1은 torchvision "
        f"{version}의 가중치 메타데이터에서 읽었습니다. V1은 V1끼리 비교해야 합니다. V2 가중치는 더 새로운 훈련 "
        "레시피로 얻은 것인데, DenseNet은 이 레시피로 다시 훈련된 적이 없습니다.*",
    )
    return format_table(_ko(header, lang), rows, markdown=True) + note


@_cached
def _summary(name: str) -> tuple[str, int, int]:
    """The torchinfo summary of a model, as text, its parameter count and its input size."""
    spec = get_spec(name)
    model = spec.builder()
    size = spec.input_size
    stats = summary(model, (1, 3, size, size), depth=3)
    return f"{stats}", count_parameters(model), size


def summary_block(name: str, *, lang: str = "en") -> str:
    """The torchinfo summary of a model, folded: program output, the same in both editions; its title translated."""
    stats, params, size = _summary(name)
    body = "\n".join("    " + line for line in stats.splitlines())
    title = i18n.pick(
        lang,
        f"torchinfo summary of {name} ({params:,} parameters, input 1x3x{size}x{size})",
        f"{name}의 torchinfo 요약(매개변수 {params:,}개, 입력 1x3x{size}x{size})",
    )
    return f'??? abstract "{title}"\n\n    ```text\n{body}\n    ```'


@_cached
def _feature_rows(name: str, *nodes: str) -> tuple[int, list[list[str]]]:
    from torchvision.models.feature_extraction import create_feature_extractor

    spec = get_spec(name)
    size = spec.input_size
    extractor = create_feature_extractor(_meta(spec).eval(), return_nodes=list(nodes))
    outputs = extractor(torch.empty(1, 3, size, size, device="meta"))
    rows = [
        [f"`{node}`", " × ".join(map(str, out.shape[1:])), f"1/{size // out.shape[-1]}"]
        for node, out in outputs.items()
    ]
    return size, rows


def feature_nodes(name: str, *nodes: str, lang: str = "en") -> str:
    """The return nodes of torchvision's ``create_feature_extractor`` for a model, with their output shapes.

    Traced with ``torch.fx`` and run on the meta device at the model's input size.
    """
    size, rows = _feature_rows(name, *nodes)
    header = [
        title.format(size=size) for title in _ko(["return node", "output (C × H × W) at {size}²", "resolution"], lang)
    ]
    table = format_table(header, rows, "llr", markdown=True)
    return table + i18n.pick(
        lang,
        f"\n\n*Traced from `{name}` while the site was built.*",
        f"\n\n*사이트를 빌드하면서 `{name}` 모델을 torch.fx로 추적해 얻었습니다.*",
    )


@_cached
def _se_costs() -> tuple[int, int, list[tuple[int, int, int]]]:
    base_params, base_macs = model_cost(SE_BASE)
    return base_params, base_macs, [(r, *model_cost(SE_MODEL, reduction=r)) for r in SE_REDUCTIONS]


def se_cost(*, lang: str = "en") -> str:
    """What SE costs ResNet-50, over the reduction ratio r, counted on the meta device."""
    base_params, base_macs, costs = _se_costs()
    rows = [[f"`{SE_BASE}`", "", f"{base_params:,}", f"{base_macs:,}", "", ""]]
    for r, params, macs in costs:
        # exact counts, not GMACs to three decimals: the extra MACs are a few in ten thousand, below that rounding
        extra = [f"+{100 * (params / base_params - 1):.1f}%", f"+{100 * (macs / base_macs - 1):.3f}%"]
        rows.append([f"`{SE_MODEL}`", r, f"{params:,}", f"{macs:,}", *extra])
    header = ["model", "r", "parameters", "MACs (224²)", "extra parameters", "extra MACs"]
    return format_table(_ko(header, lang), rows, markdown=True) + i18n.pick(
        lang,
        "\n\n*Computed from the code when this site was built, on the meta device. Extra: the count over "
        f"`{SE_BASE}`'s, less one. MACs count convolutions and matrix products only, as torchvision does.*",
        "\n\n*이 사이트를 빌드할 때 meta 장치에서 코드로 계산했습니다. 추가: "
        f"`{SE_BASE}`의 수로 나눈 값에서 1을 뺀 값입니다. MACs는 torchvision과 마찬가지로 합성곱과 행렬 곱만 셉니다.*",
    )


def se_paper(*, lang: str = "en") -> str:
    """The SE paper's published figures, quoted with their source."""
    header = ["model (paper's re-implementation)", "top-1 error (%)", "GFLOPs (paper's counting)"]
    return format_table(_ko(header, lang), [list(row) for row in SE_PAPER["rows"]], markdown=True) + i18n.pick(
        lang,
        f"\n\n*Quoted from {SE_PAPER['source']}, {SE_PAPER['table']}. {SE_PAPER['note']}.*",
        f"\n\n*{SE_PAPER['source']}, {SE_PAPER['table_ko']}에서 인용했습니다. {SE_PAPER['note_ko']}.*",
    )


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
}
