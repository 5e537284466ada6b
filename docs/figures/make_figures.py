"""Draw the site's block diagrams as SVG files (no external tool, no CDN), in English and in Korean.

    python docs/figures/make_figures.py          # write every figure, in both languages
    python docs/figures/make_figures.py --check  # also check the shapes against refimpl (needs torch)

Each figure is drawn once per language (``draw``): the English into this folder,
the Korean into the Korean edition's ``docs/ko/figures/``, under the same names.
Prose (titles, notes, the SVG's title and description) goes through ``tr``,
which looks the Korean up in ``KO``; layer names ("3x3 conv, 64"), shapes and
symbols are drawn as they are in both. A Korean figure that still shows an
English word outside ``KEPT``, or whose text would not fit its box or the
figure (Hangul is about 1 em wide, Latin about 0.55 em), is not written.

Each figure has a white background so that it reads the same in the light and
the dark theme. The tensor shapes in the network figures are computed here from
the architectures' constants, the same ones ``refimpl`` builds from; ``--check``
runs the models and compares.

Text is 13 px or more at the intrinsic size (subscripts aside), and the figures
are narrow and tall: the pages scale images down to the width of a phone.
"""

from __future__ import annotations

import itertools
import math
import re
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
# where each language's figures go: the English site's, and the Korean edition's under the same names
FOLDERS = {"en": HERE, "ko": HERE.parent / "ko" / "figures"}
# the SVG's font-family: the Korean figures name fonts with Hangul before the generic family
FONTS = {
    "en": "sans-serif",
    "ko": "'Noto Sans CJK KR', 'Noto Sans KR', 'Apple SD Gothic Neo', 'Malgun Gothic', sans-serif",
}
LANG = "en"  # the language being drawn: a key of FOLDERS; ``draw`` sets it
INK, FAINT, SKIP = "#222", "#555", "#1565c0"
BLUE, ORANGE, GREEN, GREY = "#e3f2fd", "#fff3e0", "#e8f5e9", "#f5f5f5"
RED, RED_FILL = "#c62828", "#ffebee"
# (line, fill) per feature map of the dense block, x_0 first
LANES = [("#1565c0", BLUE), ("#e65100", ORANGE), ("#2e7d32", GREEN), ("#6a1b9a", "#f3e5f5"), ("#00838f", "#e0f7fa")]

Shape = tuple[int, ...]
NUMBERS = {2: "two", 3: "three"}  # drawn through tr
_SUBSCRIPT = re.compile(r"_\{([^}]*)\}")


# Korean for every prose template the figures draw (``tr``): glossary terms (docs/ko/glossary.md), 합니다체 in
# sentences; "{...}" are ``str.format`` fields, "{{" and "}}" literal braces (the subscripts' "_{0}")
KO = {
    # numbers written out
    "two": "두",
    "three": "세",
    # residual-blocks.svg
    "A basic residual block and a bottleneck block": "기본 잔차 블록과 병목 블록",
    "identity x": "항등 매핑 x",
    # receptive-field.svg
    "Two stacked {k}x{k} convolutions see a {s}x{s} window, as one {s}x{s} convolution does": (
        "{k}x{k} 합성곱 두 개를 쌓으면 {s}x{s} 합성곱 하나처럼 {s}x{s} 창을 봅니다"
    ),
    "Left: a {s} by {s} input grid; a {k} by {k} window in its corner (orange) feeds one output of the first "
    "convolution; the {k} by {k} outputs of the first convolution feed one output of the second, which so depends "
    "on the whole {s} by {s} input. Right: one {s}x{s} convolution maps the same {s} by {s} input to one output "
    "directly. The stack has {stack}C² weights and {layers} ReLUs, the single convolution {single}C² weights and "
    "1 ReLU.": (
        "왼쪽: {s} × {s} 입력 격자입니다. 그 모서리의 {k} × {k} 창(주황색)이 첫째 합성곱의 출력 하나를 만들고, "
        "첫째 합성곱의 {k} × {k} 출력이 둘째 합성곱의 출력 하나를 만듭니다. 그래서 그 출력은 {s} × {s} 입력 "
        "전체에 달려 있습니다. 오른쪽: {s}x{s} 합성곱 하나가 같은 {s} × {s} 입력을 곧바로 출력 하나로 바꿉니다. "
        "쌓은 쪽은 가중치가 {stack}C²이고 ReLU가 {layers}개, 합성곱 하나는 가중치가 {single}C²이고 ReLU가 "
        "1개입니다."
    ),
    "{n} stacked {k}x{k} convolutions": "쌓은 {k}x{k} 합성곱 {n} 개",
    "one {s}x{s} convolution": "{s}x{s} 합성곱 하나",
    "input: a {s} × {s} window": "입력: {s} × {s} 창",
    "{n} × {n} outputs": "출력 {n} × {n}개",
    "1 output": "출력 1개",
    "{layers} · {kk}C² = {stack}C² weights": "가중치 {layers} · {kk}C² = {stack}C²",
    "{layers} ReLUs": "ReLU {layers}개",
    "{single}C² weights": "가중치 {single}C²",
    "1 ReLU": "ReLU 1개",
    "{n} stacked: a {t} × {t} window, {stack}C² weights; one {t}x{t}: {single}C²": (
        "{n} 개를 쌓으면 {t} × {t} 창, 가중치 {stack}C²; {t}x{t} 하나는 {single}C²"
    ),
    "orange: the first convolution's window and the output it feeds": "주황색: 첫째 합성곱의 창과 그 창이 만드는 출력",
    # se-modules.svg
    "The SE-Inception module and the SE-ResNet module": "SE-Inception 모듈과 SE-ResNet 모듈",
    "Left: the output U of an Inception module goes through global average pooling, FC, ReLU, FC and a sigmoid, "
    "and the resulting gates scale U channel by channel. Right: the same on the residual branch F(x); the scaled "
    "branch is added to the identity x, and a ReLU follows the addition.": (
        "왼쪽: Inception 모듈의 출력 U가 전역 평균 풀링, FC, ReLU, FC, 시그모이드를 거치고, 그렇게 얻은 게이트를 "
        "U에 채널마다 곱합니다. 오른쪽: 잔차 가지 F(x)에 같은 일을 합니다. 게이트를 곱한 가지를 항등 매핑 x에 "
        "더하고, 더한 다음에 ReLU가 옵니다."
    ),
    "SE-Inception module": "SE-Inception 모듈",
    "SE-ResNet module": "SE-ResNet 모듈",
    "Inception module": "Inception 모듈",
    "residual branch F(x)": "잔차 가지 F(x)",
    "global avg pool  (squeeze)": "global avg pool (스퀴즈)",
    "sigmoid  (excitation)": "sigmoid (익사이테이션)",
    "scale: 1 x 1 x C gates": "곱할 게이트: 1 x 1 x C",
    "rescaled U: C x H x W": "게이트를 곱한 U: C x H x W",
    # dense-block.svg
    "A dense block: every layer sees all earlier feature maps; then a transition": (
        "밀집 블록: 모든 층이 앞선 특징 맵을 모두 봅니다. 그다음은 전이 층입니다"
    ),
    "Dense block ({layers} layers, growth rate k) + transition": "밀집 블록(층 {layers}개, 성장률 k) + 전이 층",
    "k_{{0}} maps, H × W": "맵 k_{{0}}개, H × W",
    "k new maps": "새 맵 k개",
    "input:\n{c} maps": "입력:\n맵 {c}개",
    "concatenate [x_{{0}}, …, x_{{{n}}}]": "[x_{{0}}, …, x_{{{n}}}] 이어 붙이기",
    "the block's output": "블록의 출력",
    "m =\n{c} maps": "m =\n맵 {c}개",
    "transition: BN-ReLU-1x1 conv": "전이 층: BN-ReLU-1x1 conv",
    "to ⌊θ·m⌋ maps; 2x2 avg pool": "맵 ⌊θ·m⌋개로; 2x2 avg pool",
    "⌊θ·m⌋ maps,\nH/2 × W/2": "맵 ⌊θ·m⌋개,\nH/2 × W/2",
    "next dense block": "다음 밀집 블록",
    "e.g. k_{{0}} = {k0}, k = {k}, θ = {theta}: m = {m}, then ⌊θ·m⌋ = {kept}": (
        "예: k_{{0}} = {k0}, k = {k}, θ = {theta}이면 m = {m}, ⌊θ·m⌋ = {kept}"
    ),
    # unraveled-view.svg
    "The unraveled view of a ResNet of {blocks} blocks: {paths} paths from input to output": (
        "블록 {blocks}개인 ResNet의 펼친 관점: 입력에서 출력까지 경로 {paths}개"
    ),
    "stacked view": "쌓은 관점",
    "unraveled view: 2{power} = {paths} paths": "펼친 관점: 경로 2{power} = {paths}개",
    "length {k}": "길이 {k}",
    "{count} path{s}": "경로 {count}개",
    "identity": "항등",
    "paths of length k: C({blocks}, k), binomial; {counts} = {paths}": (
        "길이 k인 경로: C({blocks}, k)개(이항 계수); {counts} = {paths}"
    ),
    "circle: paths reaching it · dashed: block skipped · f_{{i}}: block taken": (
        "원: 그곳에 닿는 경로 수 · 점선: 블록을 건너뜀 · f_{{i}}: 블록을 지남"
    ),
    # preact-blocks.svg
    "The original residual block and the pre-activation block, whose shortcut is a clean identity": (
        "원래의 잔차 블록과, 숏컷이 깨끗한 항등 매핑인 사전 활성화 블록"
    ),
    "original block": "원래 블록",
    "pre-activation block": "사전 활성화 블록",
    "identity x_{{l}}": "항등 매핑 x_{{l}}",
    "breaks the\nidentity path": "항등 경로를\n끊습니다",
    "the shortcut passes a ReLU": "숏컷이 ReLU를 지납니다",
    "nothing after the +:\na clean identity": "+ 뒤에 아무것도 없음:\n깨끗한 항등 매핑",
    "x_{{L}} = x_{{l}} + sum of F(x_{{i}}), l ≤ i < L": "x_{{L}} = x_{{l}} + (F(x_{{i}})의 합), l ≤ i < L",
    # densenet-bc.svg and resnet-stages.svg
    "input {shape}": "입력 {shape}",
    "DenseNet-BC (L = {depth}, k = {k}) for CIFAR, with the tensor shape after each stage": (
        "CIFAR용 DenseNet-BC(L = {depth}, k = {k})와 각 단계 뒤의 텐서 모양"
    ),
    "DenseNet-BC for CIFAR (L = {depth}, k = {k}, θ = 0.5)": "CIFAR용 DenseNet-BC (L = {depth}, k = {k}, θ = 0.5)",
    "2k = {c} channels": "채널 2k = {c}개",
    "dense block {b}: {n} layers": "밀집 블록 {b}: 층 {n}개",
    "{c_in} + {n} · {k} = {c} channels": "채널 {c_in} + {n} · {k} = {c}개",
    "transition {b}: 1x1 conv, 2x2 avg pool": "전이 층 {b}: 1x1 conv, 2x2 avg pool",
    "⌊{theta} · {m}⌋ = {c} channels, H/2 × W/2": "채널 ⌊{theta} · {m}⌋ = {c}개, H/2 × W/2",
    "L = 1 + 3 · 2 · {n} + 2 + 1 = {weighted} weighted layers": (
        "가중치가 있는 층 L = 1 + 3 · 2 · {n} + 2 + 1 = {weighted}개"
    ),
    "ResNet-50 stage by stage, with the tensor shape after each stage": (
        "단계별로 본 ResNet-50과 각 단계 뒤의 텐서 모양"
    ),
    "ResNet-{weighted} for ImageNet": "ImageNet용 ResNet-{weighted}",
    "layer{i}: {n} bottleneck blocks": "layer{i}: 병목 블록 {n}개",
    "1 + 3 · ({layers}) + 1 = {weighted} weighted layers": "가중치가 있는 층 1 + 3 · ({layers}) + 1 = {weighted}개",
}
# the English words a Korean figure keeps: layer and operation names, models, data sets, authors (single letters,
# the symbols, are kept too)
_LAYER_WORDS = ("BN", "ReLU", "conv", "avg", "max", "pool", "global", "average", "stride", "fc", "FC", "linear")
_NAME_WORDS = ("sigmoid", "BasicBlock", "Bottleneck", "ResNet", "DenseNet", "BC", "SE", "Inception", "CIFAR")
KEPT = frozenset({*_LAYER_WORDS, *_NAME_WORDS, "ImageNet", "He", "et", "al"})
_WORD = re.compile(r"\b[A-Za-z]{2,}\b")


def tr(template: str, **fields: object) -> str:
    """The prose ``template`` (a ``str.format`` string) in the language being drawn, its ``fields`` filled in."""
    if LANG != "en":
        if template not in KO:
            raise KeyError(f"no Korean for {template!r}: add it to KO")
        template = KO[template]
    return template.format(**fields)


def untranslated(s: str) -> list[str]:
    """The English words of ``s`` outside ``KEPT``: in a Korean figure, prose that missed ``tr``."""
    return [word for word in _WORD.findall(_SUBSCRIPT.sub(" ", s)) if word not in KEPT]


def text_width(s: str, size: float, bold: bool = False) -> float:
    """About how wide ``s`` is drawn at ``size`` px: Hangul (any wide character) 1 em, other characters 0.55 em.

    Subscripts are drawn at 0.8 of the size; bold adds 5 %. Generous for Latin
    text, so that what fits here fits in the common sans-serif fonts.
    """
    parts = _SUBSCRIPT.split(s)
    em = sum(
        (0.8 if i % 2 else 1) * sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.55 for c in part)
        for i, part in enumerate(parts)
    )
    return em * size * (1.05 if bold else 1)


def _escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;")


def _markup(s: str, size: int) -> str:
    """Escape ``s`` for SVG and draw ``_{...}`` as a subscript."""
    parts = _SUBSCRIPT.split(_escape(s))
    shift, small = round(size * 0.3), round(size * 0.8)
    out = [parts[0]]
    for sub, rest in zip(parts[1::2], parts[2::2], strict=True):
        out.append(f'<tspan dy="{shift}" font-size="{small}">{sub}</tspan>')
        if rest:
            out.append(f'<tspan dy="-{shift}">{rest}</tspan>')
    return "".join(out)


def superscript(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def fmt_shape(shape: Shape) -> str:
    return " × ".join(str(n) for n in shape)


@dataclass(frozen=True)
class Step:
    """One box of a chain: a label, an optional second line, a fill."""

    label: str
    fill: str
    sub: str = ""


class Svg:
    """A tiny SVG writer: boxes, arrows, text; it checks that the text fits, and in Korean that none is left English."""

    def __init__(self, width: int, height: int, title: str, desc: str = "") -> None:
        """``height`` may be changed until ``save``, for figures laid out top down; ``desc`` says what it shows."""
        self.width, self.height, self.title, self.desc = width, height, title, desc
        self.markers = {"#333": "a"}
        self.parts = [self._marker_def("a", "#333")]
        self.texts: list[tuple[str, float, float, bool]] = []  # each text: its left and right edge (about), turned
        self.misfits: list[str] = []  # labels wider than their box

    @staticmethod
    def _marker_def(ident: str, color: str) -> str:
        return (
            f'<defs><marker id="{ident}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker></defs>'
        )

    def marker(self, color: str) -> str:
        """The id of an arrowhead in ``color``, defined on first use."""
        if color not in self.markers:
            self.markers[color] = f"a{len(self.markers)}"
            self.parts.append(self._marker_def(self.markers[color], color))
        return self.markers[color]

    def text(
        self,
        x: float,
        y: float,
        s: str,
        size: int = 14,
        color: str = INK,
        anchor: str = "middle",
        halo: bool = False,
        **kw: str,
    ) -> None:
        """Text at (x, y); ``_{...}`` is a subscript; ``halo`` clears the lines behind it."""
        width = text_width(s, size, bold="font_weight" in kw)
        left = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
        self.texts.append((s, left, left + width, "transform" in kw))
        if halo:
            kw |= {"stroke": "#fff", "stroke_width": "4", "stroke_linejoin": "round", "paint_order": "stroke"}
        extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in kw.items())
        self.parts.append(
            f'<text x="{x}" y="{y}" text-anchor="{anchor}" font-size="{size}" fill="{color}"{extra}>'
            f"{_markup(s, size)}</text>"
        )

    def heading(self, x: float, y: float, s: str, cite: str = "") -> None:
        """A bold title, and under it an optional source in grey."""
        self.text(x, y, s, font_weight="bold")
        if cite:
            self.text(x, y + 19, cite, size=13, color=FAINT)

    def note(self, x: float, y: float, s: str, color: str = FAINT, anchor: str = "start") -> None:
        """A 13 px annotation, left-aligned by default."""
        self.text(x, y, s, size=13, color=color, anchor=anchor, halo=True)

    def box(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        label: str,
        fill: str,
        sub: str = "",
        stroke: str = "#333",
        stroke_width: float = 1,
    ) -> None:
        """A rounded box with a centred label, and ``sub`` as a smaller second line."""
        self.misfits += [s for s, size in ((label, 14), (sub, 13)) if text_width(s, size) > w - 8]
        width = "" if stroke_width == 1 else f' stroke-width="{stroke_width}"'
        self.parts.append(
            f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" stroke="{stroke}"{width}/>'
        )
        if sub:
            self.text(x + w / 2, y + h / 2 - 4, label)
            self.text(x + w / 2, y + h / 2 + 14, sub, size=13, color=FAINT)
        else:
            self.text(x + w / 2, y + h / 2 + 5, label)

    def arrow(
        self, x1: float, y1: float, x2: float, y2: float, color: str = "#333", width: float = 1.5, dash: str = ""
    ) -> None:
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{color}" stroke-width="{width}"{dashes} '
            f'marker-end="url(#{self.marker(color)})"/>'
        )

    def path(self, d: str, color: str = SKIP, width: float = 2, head: bool = True, under: bool = False) -> None:
        """A polyline; ``under`` first draws a wider white stroke, so that it cuts the lines it crosses."""
        if under:
            self.parts.append(f'<path d="{d}" fill="none" stroke="#fff" stroke-width="{width + 5}"/>')
        end = f' marker-end="url(#{self.marker(color)})"' if head else ""
        self.parts.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="{width}"{end}/>')

    def op(self, cx: float, cy: float, symbol: str) -> None:
        self.parts.append(f'<circle cx="{cx}" cy="{cy}" r="13" fill="#fff" stroke="#333"/>')
        self.text(cx, cy + 6, symbol, size=18)

    def node(self, cx: float, cy: float, label: str, fill: str, stroke: str = "#333", r: float = 15) -> None:
        """A labelled circle."""
        self.parts.append(f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>')
        self.text(cx, cy + 5, label, font_weight="bold")

    def chain(self, cx: float, y: float, w: float, h: float, gap: float, steps: Sequence[Step]) -> list[float]:
        """Boxes of width ``w`` centred on ``cx`` from ``y`` down, joined by arrows; returns their tops."""
        tops = []
        for i, step in enumerate(steps):
            if i:
                self.arrow(cx, y - gap, cx, y)
            self.box(cx - w / 2, y, w, h, step.label, step.fill, sub=step.sub)
            tops.append(y)
            y += h + gap
        return tops

    def check(self) -> None:
        """In a language other than English, fail on English prose left in the figure and on text that may not fit.

        The English figures are laid out for Latin text and checked by eye; their
        text, measured as ``text_width`` does, would not all pass.
        """
        if LANG == "en":
            return
        problems = [
            f"English {words} in {s!r}: draw it through tr" for s in self.strings() if (words := untranslated(s))
        ]
        problems += [f"wider than its box: {s!r}" for s in self.misfits]
        problems += [
            f"out of the figure: {s!r}"
            for s, left, right, turned in self.texts
            if not turned and (left < 0 or right > self.width)
        ]
        if problems:
            raise ValueError(f"{self.title}: " + "; ".join(problems))

    def strings(self) -> list[str]:
        """Every string the figure shows or says: its title, its description, its texts."""
        return [self.title, self.desc, *(s for s, *_ in self.texts)]

    def save(self, name: str) -> None:
        """Write the figure as ``name`` into the folder of the language being drawn, once ``check`` passes."""
        self.check()
        w, h = self.width, self.height
        lang = "" if LANG == "en" else f' xml:lang="{LANG}"'
        head = [
            (
                f'<svg xmlns="http://www.w3.org/2000/svg"{lang} viewBox="0 0 {w} {h}" width="{w}" '
                f'height="{h}" font-family="{FONTS[LANG]}" font-size="14">'
            ),
            f"<title>{_escape(self.title)}</title>",
            *([f"<desc>{_escape(self.desc)}</desc>"] if self.desc else []),
            '<rect width="100%" height="100%" fill="#ffffff" rx="8"/>',
        ]
        FOLDERS[LANG].mkdir(parents=True, exist_ok=True)
        (FOLDERS[LANG] / name).write_text("\n".join([*head, *self.parts, "</svg>"]) + "\n", encoding="utf-8")


def lines(svg: Svg, x: float, y: float, text: str, color: str = FAINT, step: float = 17) -> None:
    """A note of one or more lines (``text`` split at newlines), ``step`` px apart, from (x, y) down."""
    for i, line in enumerate(text.split("\n")):
        svg.note(x, y + step * i, line, color=color)


def residual_column(
    svg: Svg, x: float, title: str, width_in: int, layers: list[tuple[str, str]], notes: list[str]
) -> float:
    """A residual block drawn top to bottom; returns the y of its addition."""
    bw, bh, gap, top = 170, 36, 26, 60
    cx = x + bw / 2
    svg.text(cx, 30, title, font_weight="bold")
    svg.text(cx, top - 8, f"x: {width_in}-d", color=FAINT)
    y = top + 10
    svg.arrow(cx, top, cx, y)
    for i, (label, fill) in enumerate(layers):
        svg.box(x, y, bw, bh, label, fill)
        svg.text(cx + 8, y + bh + 17, notes[i], size=13, color=FAINT, anchor="start")
        if i < len(layers) - 1:
            svg.arrow(cx, y + bh, cx, y + bh + gap)
        y += bh + gap
    plus = y + 14
    svg.arrow(cx, y - gap, cx, plus - 13)
    svg.op(cx, plus, "+")
    side = x + bw + 30
    svg.path(f"M{cx},{top} H{side} V{plus} H{cx + 15}")
    svg.text(
        side + 6,
        (top + plus) / 2,
        tr("identity x"),
        size=13,
        color=SKIP,
        transform=f"rotate(90 {side + 6} {(top + plus) / 2})",
    )
    svg.arrow(cx, plus + 13, cx, plus + 45)
    svg.text(cx, plus + 62, f"ReLU: {width_in}-d")
    return plus


def residual_blocks() -> None:
    svg = Svg(560, 345, tr("A basic residual block and a bottleneck block"))
    residual_column(
        svg, 40, "BasicBlock (ResNet-18/34)", 64, [("3x3 conv, 64", BLUE), ("3x3 conv, 64", BLUE)], ["BN, ReLU", "BN"]
    )
    residual_column(
        svg,
        320,
        "Bottleneck (ResNet-50/101/152)",
        256,
        [("1x1 conv, 64", ORANGE), ("3x3 conv, 64", BLUE), ("1x1 conv, 256", ORANGE)],
        ["BN, ReLU", "BN, ReLU", "BN"],
    )
    svg.save("residual-blocks.svg")


def stacked_window(layers: int, kernel: int = 3) -> tuple[int, int, int]:
    """``layers`` stacked stride-1 ``kernel`` x ``kernel`` convolutions, C channels in and out, no bias.

    Returns the side of the input window one output sees, the stack's weights
    and those of one convolution seeing the same window, both in units of C².
    """
    side = 1 + layers * (kernel - 1)
    return side, layers * kernel**2, side**2


def receptive_field(layers: int = 2, kernel: int = 3) -> None:
    """Two stacked 3x3 convolutions see a 5x5 window, as one 5x5 convolution does, with fewer weights and one more ReLU."""
    assert (layers, kernel) == (2, 3), "the drawing has two levels of 3x3 windows"
    side, stack, single = stacked_window(layers, kernel)
    svg = Svg(
        480,
        0,
        tr("Two stacked {k}x{k} convolutions see a {s}x{s} window, as one {s}x{s} convolution does", k=kernel, s=side),
        tr(
            "Left: a {s} by {s} input grid; a {k} by {k} window in its corner (orange) feeds one output of the first "
            "convolution; the {k} by {k} outputs of the first convolution feed one output of the second, which so "
            "depends on the whole {s} by {s} input. Right: one {s}x{s} convolution maps the same {s} by {s} input to "
            "one output directly. The stack has {stack}C² weights and {layers} ReLUs, the single convolution "
            "{single}C² weights and 1 ReLU.",
            s=side,
            k=kernel,
            stack=stack,
            layers=layers,
            single=single,
        ),
    )
    cell, lx, rx = 26, 125, 365  # the columns' centres
    line = LANES[1][0]  # the first convolution's window, in orange

    def grid(cx: float, top: float, n: int, fill: str, marked: int = 0) -> tuple[float, float]:
        """An n x n grid centred on ``cx``; its ``marked`` x ``marked`` top-left corner in orange. Returns its left and bottom."""
        left = cx - n * cell / 2
        for i, j in itertools.product(range(n), repeat=2):
            hue = ORANGE if i < marked and j < marked else fill
            svg.parts.append(
                f'<rect x="{left + j * cell}" y="{top + i * cell}" width="{cell}" height="{cell}" '
                f'fill="{hue}" stroke="#999"/>'
            )
        svg.parts.append(
            f'<rect x="{left}" y="{top}" width="{n * cell}" height="{n * cell}" fill="none" stroke="#333"/>'
        )
        if marked:
            svg.parts.append(
                f'<rect x="{left}" y="{top}" width="{marked * cell}" height="{marked * cell}" fill="none" '
                f'stroke="{line}" stroke-width="2.5"/>'
            )
        return left, top + n * cell

    def cone(x1: float, x2: float, y1: float, x3: float, x4: float, y2: float, color: str) -> None:
        """Two lines from the window (x1 to x2 at y1) to the unit it feeds (x3 to x4 at y2)."""
        svg.path(f"M{x1},{y1} L{x3},{y2}", color=color, width=1.5, head=False)
        svg.path(f"M{x2},{y1} L{x4},{y2}", color=color, width=1.5, head=False)

    top, mid, out = 62, 254, 392  # the tops of the input, the first convolution's outputs, the output
    svg.heading(lx, 28, tr("{n} stacked {k}x{k} convolutions", n=tr(NUMBERS[layers]), k=kernel))
    svg.heading(rx, 28, tr("one {s}x{s} convolution", s=side))
    for cx in (lx, rx):
        svg.note(cx, top - 10, tr("input: a {s} × {s} window", s=side), color=INK, anchor="middle")
    # left: the input, the first convolution's outputs, the second's one output
    left, _ = grid(lx, top, side, BLUE, marked=kernel)
    inner = side - kernel + 1
    mid_left, mid_bottom = grid(lx, mid, inner, BLUE, marked=1)
    out_left, _ = grid(lx, out, 1, BLUE)
    cone(left, left + kernel * cell, top + kernel * cell, mid_left, mid_left + cell, mid, line)
    cone(mid_left, mid_left + inner * cell, mid_bottom, out_left, out_left + cell, out, SKIP)
    svg.note(lx + 28, (top + kernel * cell + mid) / 2 + 14, f"{kernel}x{kernel} conv, ReLU")
    svg.note(mid_left + inner * cell + 8, mid + inner * cell / 2 + 5, tr("{n} × {n} outputs", n=inner))
    svg.note(lx + 36, (mid_bottom + out) / 2 + 8, f"{kernel}x{kernel} conv, ReLU")
    svg.note(out_left + cell + 8, out + 18, tr("1 output"))
    # right: the same window, one convolution
    right_left, right_bottom = grid(rx, top, side, BLUE)
    out_left, _ = grid(rx, out, 1, BLUE)
    cone(right_left, right_left + side * cell, right_bottom, out_left, out_left + cell, out, SKIP)
    svg.note(rx, (right_bottom + out) / 2 + 5, f"{side}x{side} conv, ReLU", color=INK, anchor="middle")
    svg.note(out_left + cell + 8, out + 18, tr("1 output"))
    # what each costs, with C channels in and out
    y = out + cell + 36
    for cx, weights, relus in (
        (
            lx,
            tr("{layers} · {kk}C² = {stack}C² weights", layers=layers, kk=kernel * kernel, stack=stack),
            tr("{layers} ReLUs", layers=layers),
        ),
        (rx, tr("{single}C² weights", single=single), tr("1 ReLU")),
    ):
        svg.text(cx, y, weights, font_weight="bold")
        svg.text(cx, y + 20, relus, size=13, color=FAINT)
    three, three_stack, three_single = stacked_window(layers + 1, kernel)
    svg.note(
        240,
        y + 52,
        tr(
            "{n} stacked: a {t} × {t} window, {stack}C² weights; one {t}x{t}: {single}C²",
            n=tr(NUMBERS[layers + 1]),
            t=three,
            stack=three_stack,
            single=three_single,
        ),
        anchor="middle",
    )
    svg.note(240, y + 72, tr("orange: the first convolution's window and the output it feeds"), anchor="middle")
    svg.height = round(y + 90)
    svg.save("receptive-field.svg")


def se_modules() -> None:
    """Hu et al. (arXiv:1709.01507), figures 2 and 3: SE after an Inception module, and on a residual branch.

    In the SE-ResNet module the ReLU comes after the addition, as in ResNet's
    own block (``refimpl.resnet.BasicBlock.forward``): y = ReLU(SE(F(x)) + x).
    """
    svg = Svg(
        640 if LANG == "en" else 660,  # the Korean labels are wider: so are the Korean boxes
        0,
        tr("The SE-Inception module and the SE-ResNet module"),
        tr(
            "Left: the output U of an Inception module goes through global average pooling, FC, ReLU, FC and a "
            "sigmoid, and the resulting gates scale U channel by channel. Right: the same on the residual branch "
            "F(x); the scaled branch is added to the identity x, and a ReLU follows the addition."
        ),
    )
    bw, bh = (200 if LANG == "en" else 224), 32
    scale_y = 392
    plus, relu_y = scale_y + 40, scale_y + 40 + 13 + 18
    end = relu_y + bh + 30  # the baseline of the output's label
    for x, title, first, skip in (
        (30, tr("SE-Inception module"), tr("Inception module"), False),
        (360, tr("SE-ResNet module"), tr("residual branch F(x)"), True),
    ):
        cx = x + bw / 2
        svg.text(cx, 28, title, font_weight="bold")
        svg.text(cx, 52, "x", color=FAINT)
        svg.arrow(cx, 58, cx, 74)
        svg.box(x, 74, bw, bh, first, BLUE)
        svg.text(cx + 8, 124, "U: C x H x W", size=13, color=FAINT, anchor="start")
        ys = [134, 184, 234, 284, 334]
        labels = [
            (tr("global avg pool  (squeeze)"), GREEN),
            ("FC, C -> C/r", ORANGE),
            ("ReLU", "#f5f5f5"),
            ("FC, C/r -> C", ORANGE),
            (tr("sigmoid  (excitation)"), GREEN),
        ]
        svg.arrow(cx, 106, cx, ys[0])
        for y, (label, fill) in zip(ys, labels, strict=True):
            svg.box(x + 14, y, bw - 28, bh - 6, label, fill)
            if y != ys[-1]:
                svg.arrow(cx, y + bh - 6, cx, y + 50)
        svg.arrow(cx, ys[-1] + bh - 6, cx, scale_y - 13)
        svg.op(cx, scale_y, "×")
        svg.text(cx + 18, scale_y - 16, tr("scale: 1 x 1 x C gates"), size=13, color=FAINT, anchor="start")
        # U goes around the SE branch to the scaling
        svg.path(f"M{x + 6},{106} V{scale_y} H{cx - 15}", color="#777")
        out_y = scale_y + 13
        if skip:
            svg.arrow(cx, out_y, cx, plus - 13)
            svg.op(cx, plus, "+")
            side = x + bw + 22
            svg.path(f"M{cx},{62} H{side} V{plus} H{cx + 15}")
            svg.text(side + 6, 250, tr("identity x"), size=13, color=SKIP, transform=f"rotate(90 {side + 6} 250)")
            # as in ResNet's block, the ReLU comes after the addition: y = ReLU(SE(F(x)) + x)
            svg.arrow(cx, plus + 13, cx, relu_y)
            svg.box(x + 14, relu_y, bw - 28, bh - 6, "ReLU", GREY)
            svg.arrow(cx, relu_y + bh - 6, cx, end - 18)
            svg.text(cx, end, "y = ReLU(SE(F(x)) + x)")
        else:
            svg.arrow(cx, out_y, cx, out_y + 40)
            svg.text(cx, out_y + 58, tr("rescaled U: C x H x W"))
    svg.height = round(end + 22)
    svg.save("se-modules.svg")


# ----------------------------------------------------------------------------- dense block
def dense_block(layers: int = 4, example: tuple[int, int, float] = (24, 12, 0.5)) -> None:
    """A dense block of ``layers`` layers, every feature map concatenated into every later layer, then a transition."""
    svg = Svg(480, 0, tr("A dense block: every layer sees all earlier feature maps; then a transition"))
    svg.heading(240, 28, tr("Dense block ({layers} layers, growth rate k) + transition", layers=layers))
    left, w, cx = 128, 232, 244  # the boxes H_l; the feature maps x_l are narrower, on the same centre
    fw, fh, hh, gap = 120, 28, 46, 18
    assert layers < len(LANES), "one colour per feature map"
    lane_x = [30 + 20 * i for i in range(layers)]  # x_0 the outermost lane: it goes furthest
    right = left + w + 12

    def channels(n: int) -> str:
        return "k_{0}" if n == 0 else f"k_{{0}} + {'' if n == 1 else n}k"

    y = 52
    maps: list[float] = []  # the centre of each feature map x_l
    entries: list[tuple[float, float]] = []  # (top, height) of each box the lanes feed: H_2 ... H_L, concatenation
    for i in range(layers + 1):
        line, fill = LANES[i]
        svg.box(cx - fw / 2, y, fw, fh, f"x_{{{i}}}", fill, stroke=line, stroke_width=1.5)
        svg.note(cx + fw / 2 + 10, y + 19, tr("k_{{0}} maps, H × W") if i == 0 else tr("k new maps"))
        maps.append(y + fh / 2)
        y += fh + gap
        svg.arrow(cx, y - gap, cx, y)
        if i == layers:
            break
        svg.box(left, y, w, hh, f"H_{{{i + 1}}}: BN-ReLU-1x1 conv, 4k", GREY, sub="BN-ReLU-3x3 conv, k")
        lines(svg, right, y + 18, tr("input:\n{c} maps", c=channels(i)), step=18)
        if i:
            entries.append((y, hh))
        y += hh + gap
        svg.arrow(cx, y - gap, cx, y)
    svg.box(left, y, w, hh, tr("concatenate [x_{{0}}, …, x_{{{n}}}]", n=layers), GREY, sub=tr("the block's output"))
    lines(svg, right, y + 18, tr("m =\n{c} maps", c=channels(layers)), step=18)
    entries.append((y, hh))
    # every x_i (but the last) goes down its own lane into each later layer, entering its box at its own height
    for i, lx in enumerate(lane_x):
        line = LANES[i][0]
        feeds = entries[i:]
        ends = [top + h * (i + 1) / (j + 2) for j, (top, h) in enumerate(feeds, start=i)]
        svg.path(f"M{cx - fw / 2},{maps[i]} H{lx} V{ends[-1]}", color=line, head=False, under=True)
        for end in ends:
            svg.path(f"M{lx},{end} H{left}", color=line, width=1.8)
    y += hh + gap
    svg.arrow(cx, y - gap, cx, y)
    svg.box(left, y, w, hh, tr("transition: BN-ReLU-1x1 conv"), ORANGE, sub=tr("to ⌊θ·m⌋ maps; 2x2 avg pool"))
    lines(svg, right, y + 18, tr("⌊θ·m⌋ maps,\nH/2 × W/2"), step=18)
    y += hh + gap
    svg.arrow(cx, y - gap, cx, y + 6)
    svg.note(cx, y + 24, tr("next dense block"), color=INK, anchor="middle")
    k0, k, theta = example
    m = k0 + layers * k
    example_line = tr(
        "e.g. k_{{0}} = {k0}, k = {k}, θ = {theta}: m = {m}, then ⌊θ·m⌋ = {kept}",
        k0=k0,
        k=k,
        theta=theta,
        m=m,
        kept=math.floor(theta * m),
    )
    svg.note(240, y + 54, example_line, anchor="middle")
    svg.height = round(y + 72)
    svg.save("dense-block.svg")


# ----------------------------------------------------------------------------- unraveled view
def unraveled_view(blocks: int = 3) -> None:
    """Veit et al. (arXiv:1605.06431): n residual blocks unravel into 2^n paths, C(n, k) of them through k blocks."""
    paths = 2**blocks
    svg = Svg(
        560,
        0,
        tr(
            "The unraveled view of a ResNet of {blocks} blocks: {paths} paths from input to output",
            blocks=blocks,
            paths=paths,
        ),
    )
    rows = [82 + 110 * i for i in range(blocks + 1)]  # y of y_0 ... y_n, shared by both views
    # left: the stacked view, skips on the left
    cx, bw, bh, lane = 120, 100, 34, 46
    svg.heading(140, 28, tr("stacked view"))
    svg.text(cx, rows[0] + 5, "y_{0} = x_{0}")
    for i in range(1, blocks + 1):
        top, start = rows[i - 1] + 30, rows[i - 1] + (10 if i == 1 else 13)
        svg.arrow(cx, start, cx, top)
        svg.box(cx - bw / 2, top, bw, bh, f"f_{{{i}}}", BLUE)
        svg.arrow(cx, top + bh, cx, rows[i] - 13)
        svg.op(cx, rows[i], "+")
        svg.path(f"M{cx},{start + 6} H{lane} V{rows[i]} H{cx - 15}")
        svg.note(cx + 20, rows[i] + 5, f"y_{{{i}}} = y_{{{i - 1}}} + f_{{{i}}}(y_{{{i - 1}}})", color=INK)
    svg.arrow(cx, rows[-1] + 13, cx, rows[-1] + 40)
    svg.text(cx, rows[-1] + 58, f"y_{{{blocks}}}")
    # right: a lattice whose node (i, k) counts the paths through k of the first i blocks: C(i, k)
    cols = [318 + 64 * k for k in range(blocks + 1)]
    svg.heading(
        (cols[0] + cols[-1]) / 2,
        28,
        tr("unraveled view: 2{power} = {paths} paths", power=superscript(blocks), paths=paths),
    )
    r = 15
    for i in range(1, blocks + 1):
        for k in range(i):
            x, y = cols[k], rows[i - 1]
            svg.arrow(x, y + r, x, rows[i] - r, color=SKIP, dash="5 4")
            dx, dy = cols[k + 1] - x, rows[i] - y
            norm = math.hypot(dx, dy)
            svg.arrow(x + dx * r / norm, y + dy * r / norm, cols[k + 1] - dx * r / norm, rows[i] - dy * r / norm)
            svg.text(x + dx / 2 + 12, y + dy / 2 + 2, f"f_{{{i}}}", halo=True)
    for i, y in enumerate(rows):
        for k in range(i + 1):
            line, fill = LANES[k]
            svg.node(cols[k], y, str(math.comb(i, k)), fill, stroke=line)
    # under the last row: each path by the blocks it goes through
    y = rows[-1] + 38
    for k, x in enumerate(cols):
        count = math.comb(blocks, k)
        svg.text(x, y, tr("length {k}", k=k), size=13, color=LANES[k][0], font_weight="bold")
        svg.text(x, y + 18, tr("{count} path{s}", count=count, s="s" if count > 1 else ""), size=13, color=FAINT)
        for n, combo in enumerate(itertools.combinations(range(1, blocks + 1), k)):
            name = "→".join(f"f_{{{b}}}" for b in combo) or tr("identity")
            svg.text(x, y + 40 + 18 * n, name, size=13)
    counts = " + ".join(str(math.comb(blocks, k)) for k in range(blocks + 1))
    legend_y = y + 40 + 18 * math.comb(blocks, blocks // 2) + 20
    svg.note(
        280,
        legend_y,
        tr(
            "paths of length k: C({blocks}, k), binomial; {counts} = {paths}", blocks=blocks, counts=counts, paths=paths
        ),
        anchor="middle",
    )
    svg.note(
        295,
        legend_y + 20,
        tr("circle: paths reaching it · dashed: block skipped · f_{{i}}: block taken"),
        anchor="middle",
    )
    svg.height = round(legend_y + 38)
    svg.save("unraveled-view.svg")


# ----------------------------------------------------------------------------- pre-activation
def preact_blocks() -> None:
    """He et al. 2015 against He et al. 2016 (arXiv:1603.05027): where the ReLU sits decides whether the shortcut is an identity."""
    svg = Svg(
        530, 0, tr("The original residual block and the pre-activation block, whose shortcut is a clean identity")
    )
    bw, bh, gap, top = 150, 30, 16, 112
    conv, bn, relu = Step("3x3 conv", BLUE), Step("BN", GREEN), Step("ReLU", GREY)
    plus = top + 6 * (bh + gap) + 12  # six boxes in either column: the original's last ReLU comes after the addition
    out = plus + 13 + 2 * gap + bh
    for x, heading, cite, steps, relu_after in (
        (30, tr("original block"), "He et al. 2015", [conv, bn, relu, conv, bn], True),
        (290, tr("pre-activation block"), "He et al. 2016", [bn, relu, conv, bn, relu, conv], False),
    ):
        cx, side = x + bw / 2, x + bw + 30
        svg.heading(x + (bw + 36) / 2, 28, heading, cite)
        svg.text(cx, 84, "x_{l}")
        tops = svg.chain(cx, top, bw, bh, gap, steps)
        svg.arrow(cx, 90, cx, top)
        svg.arrow(cx, tops[-1] + bh, cx, plus - 13)
        svg.op(cx, plus, "+")
        svg.path(f"M{cx},{98} H{side} V{plus} H{cx + 15}")
        mid = (98 + plus) / 2
        svg.text(side + 6, mid, tr("identity x_{{l}}"), size=13, color=SKIP, transform=f"rotate(90 {side + 6} {mid})")
        if relu_after:
            svg.arrow(cx, plus + 13, cx, plus + 13 + gap, color=RED)
            svg.box(x, plus + 13 + gap, bw, bh, "ReLU", RED_FILL, stroke=RED, stroke_width=2)
            svg.arrow(cx, plus + 13 + gap + bh, cx, out)
            lines(svg, x + bw + 8, plus + 13 + gap + 11, tr("breaks the\nidentity path"), color=RED)
            equation, then = "x_{l+1} = ReLU(x_{l} + F(x_{l}))", tr("the shortcut passes a ReLU")
        else:
            svg.arrow(cx, plus + 13, cx, out, color=SKIP, width=2)
            lines(svg, cx + 10, plus + 13 + gap + 11, tr("nothing after the +:\na clean identity"), color=SKIP)
            equation, then = "x_{l+1} = x_{l} + F(x_{l})", tr("x_{{L}} = x_{{l}} + sum of F(x_{{i}}), l ≤ i < L")
        svg.text(cx, out + 20, "x_{l+1}")
        svg.text(x + (bw + 36) / 2, out + 52, equation)
        svg.text(x + (bw + 36) / 2, out + 72, then, size=13, color=FAINT)
    svg.height = round(out + 92)
    svg.save("preact-blocks.svg")


# ----------------------------------------------------------------------------- networks, stage by stage
def stage_figure(
    name: str, title: str, heading: str, input_shape: Shape, stages: Sequence[tuple[Step, Shape]], footer: str
) -> None:
    """A network as a column of stages, each arrow labelled with the shape of its tensor (the d2l.ai manner)."""
    width, w, h, gap = 400, 320, 46, 34
    cx = width / 2
    svg = Svg(width, 0, title)
    svg.heading(cx, 28, heading)
    svg.text(cx, 58, tr("input {shape}", shape=fmt_shape(input_shape)))
    tops = svg.chain(cx, 58 + gap, w, h, gap, [step for step, _ in stages])
    svg.arrow(cx, 64, cx, tops[0])
    for top, (_, shape) in zip(tops, stages, strict=True):
        svg.note(cx + 10, top + h + gap / 2 + 5, fmt_shape(shape), color=INK)
    end = tops[-1] + h + gap
    svg.arrow(cx, end - gap, cx, end - 4)
    svg.text(cx, end + 28, footer, size=13, color=FAINT)
    svg.height = round(end + 46)
    svg.save(name)


def densenet_bc_stages(
    depth: int = 100, k: int = 12, theta: float = 0.5, size: int = 32, classes: int = 10
) -> list[tuple[Step, Shape]]:
    """DenseNet-BC for CIFAR as ``refimpl.densenet.densenet_bc_cifar`` builds it, with each stage's output shape.

    Three dense blocks of n = (depth - 4) / 6 bottleneck layers, a 3x3 stem of 2k
    channels, transitions that keep floor(theta * m) of m channels and halve H and W.
    """
    n = (depth - 4) // 6
    c = 2 * k
    stages = [(Step("3x3 conv", BLUE, sub=tr("2k = {c} channels", c=c)), (c, size, size))]
    for b in range(1, 4):
        c_in, c = c, c + n * k
        stages.append(
            (
                Step(
                    tr("dense block {b}: {n} layers", b=b, n=n),
                    GREEN,
                    sub=tr("{c_in} + {n} · {k} = {c} channels", c_in=c_in, n=n, k=k, c=c),
                ),
                (c, size, size),
            )
        )
        if b < 3:
            m, c, size = c, math.floor(theta * c), size // 2
            sub = tr("⌊{theta} · {m}⌋ = {c} channels, H/2 × W/2", theta=theta, m=m, c=c)
            stages.append((Step(tr("transition {b}: 1x1 conv, 2x2 avg pool", b=b), ORANGE, sub=sub), (c, size, size)))
    stages.append((Step("BN-ReLU, global average pool", GREY), (c,)))
    stages.append((Step(f"linear, {classes}", BLUE), (classes,)))
    return stages


def densenet_bc() -> None:
    depth, k = 100, 12
    n = (depth - 4) // 6
    weighted = 1 + 3 * n * 2 + 2 + 1  # stem, two convolutions per dense layer, transitions, classifier
    assert weighted == depth
    stage_figure(
        "densenet-bc.svg",
        tr("DenseNet-BC (L = {depth}, k = {k}) for CIFAR, with the tensor shape after each stage", depth=depth, k=k),
        tr("DenseNet-BC for CIFAR (L = {depth}, k = {k}, θ = 0.5)", depth=depth, k=k),
        (3, 32, 32),
        densenet_bc_stages(depth, k),
        tr("L = 1 + 3 · 2 · {n} + 2 + 1 = {weighted} weighted layers", n=n, weighted=weighted),
    )


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """The height (or width) that a convolution or pooling window leaves."""
    return (size + 2 * padding - kernel) // stride + 1


def resnet_stages(
    layers: Sequence[int] = (3, 4, 6, 3),
    widths: Sequence[int] = (64, 128, 256, 512),
    strides: Sequence[int] = (1, 2, 2, 2),
    expansion: int = 4,
    size: int = 224,
    classes: int = 1000,
) -> list[tuple[Step, Shape]]:
    """A bottleneck ResNet as ``refimpl.resnet.ResNet`` builds it, with each stage's output shape."""
    size = conv_out(size, 7, 2, 3)
    stages = [(Step("7x7 conv, 64, stride 2", BLUE, sub="BN, ReLU"), (64, size, size))]
    size = conv_out(size, 3, 2, 1)
    stages.append((Step("3x3 max pool, stride 2", GREY), (64, size, size)))
    for i, (n, w, s) in enumerate(zip(layers, widths, strides, strict=True), start=1):
        size = conv_out(size, 3, s, 1)  # the first block's 3x3 convolution carries the stride
        sub = f"1x1 {w}, 3x3 {w}, 1x1 {w * expansion}" + (f"; stride {s}" if s > 1 else "")
        stages.append(
            (Step(tr("layer{i}: {n} bottleneck blocks", i=i, n=n), ORANGE, sub=sub), (w * expansion, size, size))
        )
    stages.append((Step("global average pool", GREY), (widths[-1] * expansion,)))
    stages.append((Step(f"fc, {classes}", BLUE), (classes,)))
    return stages


def resnet50_stages_figure() -> None:
    layers = (3, 4, 6, 3)
    weighted = 1 + 3 * sum(layers) + 1  # stem, three convolutions per bottleneck, fc
    stage_figure(
        "resnet-stages.svg",
        tr("ResNet-50 stage by stage, with the tensor shape after each stage"),
        tr("ResNet-{weighted} for ImageNet", weighted=weighted),
        (3, 224, 224),
        resnet_stages(layers),
        tr(
            "1 + 3 · ({layers}) + 1 = {weighted} weighted layers",
            layers=" + ".join(map(str, layers)),
            weighted=weighted,
        ),
    )


def check_against_refimpl() -> None:
    """Run refimpl's models on meta tensors and compare their shapes with the figures' (imports torch)."""
    sys.path.insert(0, str(HERE.parents[1]))
    import torch

    from refimpl.densenet import densenet_bc_100
    from refimpl.resnet import resnet50

    def traced(model: torch.nn.Module, size: int, outputs: list[str], head: str) -> list[Shape]:
        """The shapes (batch dimension dropped) leaving ``outputs``, entering and leaving ``head``, in order."""
        seen: list[Shape] = []
        modules = dict(model.named_modules())
        for name in outputs:
            modules[name].register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape[1:])))
        modules[head].register_forward_hook(
            lambda _m, i, out: seen.extend([tuple(i[0].shape[1:]), tuple(out.shape[1:])])
        )
        model.eval()(torch.empty(1, 3, size, size))
        return seen

    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    blocks = ["conv0", "denseblock1", "transition1", "denseblock2", "transition2", "denseblock3"]
    with torch.device("meta"):
        cases = [
            (
                "densenet_bc_100",
                densenet_bc_stages(),
                traced(densenet_bc_100(), 32, [f"features.{b}" for b in blocks], "classifier"),
            ),
            (
                "resnet50",
                resnet_stages(),
                traced(resnet50(), 224, ["relu", "maxpool", "layer1", "layer2", "layer3", "layer4"], "fc"),
            ),
        ]
    for name, stages, seen in cases:
        drawn = [shape for _, shape in stages]
        assert seen == drawn, (name, seen, drawn)
        print(f"{name}: the {len(seen)} shapes drawn are refimpl's")
    # the receptive field: each of the stack's outputs depends on every input of its window and on nothing else
    c = 4
    for layers in (2, 3):
        side, stack, single = stacked_window(layers)
        convs = torch.nn.Sequential(*(torch.nn.Conv2d(c, c, 3, bias=False) for _ in range(layers)))
        x = torch.randn(1, c, side + 2, side + 2, requires_grad=True)
        convs(x)[0, :, 0, 0].sum().backward()
        seen = (x.grad[0].abs().sum(0) > 0).nonzero()
        assert seen.amin(0).tolist() == [0, 0] and seen.amax(0).tolist() == [side - 1, side - 1], (layers, seen)
        assert len(seen) == side * side, (layers, len(seen))
        assert count(convs) == stack * c * c and count(torch.nn.Conv2d(c, c, side, bias=False)) == single * c * c
        print(f"{layers} stacked 3x3 convolutions: a {side}x{side} window, {stack}C² weights against {single}C²")


FIGURES = [
    residual_blocks,
    receptive_field,
    se_modules,
    preact_blocks,
    unraveled_view,
    dense_block,
    densenet_bc,
    resnet50_stages_figure,
]


def draw(lang: str) -> None:
    """Draw every figure in ``lang`` (a key of ``FOLDERS``) into that language's folder."""
    global LANG
    LANG = lang
    try:
        for figure in FIGURES:
            figure()
    finally:
        LANG = "en"


def draw_all() -> None:
    """Draw every figure in every language."""
    for lang in FOLDERS:
        draw(lang)


if __name__ == "__main__":
    draw_all()
    if "--check" in sys.argv[1:]:
        check_against_refimpl()
