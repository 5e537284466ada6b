"""Draw the site's block diagrams as SVG files (no external tool, no CDN).

    python docs/figures/make_figures.py

Each figure has a white background so that it reads the same in the light and
the dark theme.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
INK, FAINT, SKIP = "#222", "#555", "#1565c0"
BLUE, ORANGE, GREEN = "#e3f2fd", "#fff3e0", "#e8f5e9"


class Svg:
    """A tiny SVG writer: boxes, arrows, text."""

    def __init__(self, width: int, height: int, title: str) -> None:
        self.parts = [
            (
                f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
                f'height="{height}" font-family="sans-serif" font-size="14">'
            ),
            f"<title>{title}</title>",
            '<rect width="100%" height="100%" fill="#ffffff" rx="8"/>',
            (
                '<defs><marker id="a" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>'
            ),
        ]

    def text(
        self, x: float, y: float, s: str, size: int = 14, color: str = INK, anchor: str = "middle", **kw: str
    ) -> None:
        extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in kw.items())
        self.parts.append(
            f'<text x="{x}" y="{y}" text-anchor="{anchor}" font-size="{size}" fill="{color}"{extra}>{s}</text>'
        )

    def box(self, x: float, y: float, w: float, h: float, label: str, fill: str) -> None:
        self.parts.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" stroke="#333"/>')
        self.text(x + w / 2, y + h / 2 + 5, label)

    def arrow(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self.parts.append(
            f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#333" stroke-width="1.5" marker-end="url(#a)"/>'
        )

    def path(self, d: str, color: str = SKIP) -> None:
        self.parts.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="2" marker-end="url(#a)"/>')

    def op(self, cx: float, cy: float, symbol: str) -> None:
        self.parts.append(f'<circle cx="{cx}" cy="{cy}" r="13" fill="#fff" stroke="#333"/>')
        self.text(cx, cy + 6, symbol, size=18)

    def save(self, name: str) -> None:
        (HERE / name).write_text("\n".join([*self.parts, "</svg>"]) + "\n")


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
        svg.text(cx + 8, y + bh + 17, notes[i], size=12, color=FAINT, anchor="start")
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
        "identity x",
        size=13,
        color=SKIP,
        transform=f"rotate(90 {side + 6} {(top + plus) / 2})",
    )
    svg.arrow(cx, plus + 13, cx, plus + 45)
    svg.text(cx, plus + 62, f"ReLU: {width_in}-d")
    return plus


def residual_blocks() -> None:
    svg = Svg(560, 345, "A basic residual block and a bottleneck block")
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


def se_modules() -> None:
    svg = Svg(640, 470, "The SE-Inception module and the SE-ResNet module")
    bw, bh = 200, 32
    for x, title, first, skip in (
        (30, "SE-Inception module", "Inception module", False),
        (360, "SE-ResNet module", "residual branch F(x)", True),
    ):
        cx = x + bw / 2
        svg.text(cx, 28, title, font_weight="bold")
        svg.text(cx, 52, "x", color=FAINT)
        svg.arrow(cx, 58, cx, 74)
        svg.box(x, 74, bw, bh, first, BLUE)
        svg.text(cx + 8, 124, "U: C x H x W", size=12, color=FAINT, anchor="start")
        ys = [134, 184, 234, 284, 334]
        labels = [
            ("global avg pool  (squeeze)", GREEN),
            ("FC, C -> C/r", ORANGE),
            ("ReLU", "#f5f5f5"),
            ("FC, C/r -> C", ORANGE),
            ("sigmoid  (excitation)", GREEN),
        ]
        svg.arrow(cx, 106, cx, ys[0])
        for y, (label, fill) in zip(ys, labels, strict=True):
            svg.box(x + 14, y, bw - 28, bh - 6, label, fill)
            if y != ys[-1]:
                svg.arrow(cx, y + bh - 6, cx, y + 50)
        scale_y = 392
        svg.arrow(cx, ys[-1] + bh - 6, cx, scale_y - 13)
        svg.op(cx, scale_y, "×")
        svg.text(cx + 18, scale_y - 16, "scale: 1 x 1 x C gates", size=12, color=FAINT, anchor="start")
        # U goes around the SE branch to the scaling
        svg.path(f"M{x + 6},{106} V{scale_y} H{cx - 15}", color="#777")
        out_y = scale_y + 13
        if skip:
            plus = scale_y + 40
            svg.arrow(cx, out_y, cx, plus - 13)
            svg.op(cx, plus, "+")
            side = x + bw + 22
            svg.path(f"M{cx},{62} H{side} V{plus} H{cx + 15}")
            svg.text(side + 6, 250, "identity x", size=13, color=SKIP, transform=f"rotate(90 {side + 6} 250)")
            svg.arrow(cx, plus + 13, cx, plus + 33)
        else:
            svg.arrow(cx, out_y, cx, out_y + 40)
    svg.save("se-modules.svg")


if __name__ == "__main__":
    residual_blocks()
    se_modules()
