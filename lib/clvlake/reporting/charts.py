"""Inline SVG charts for the HTML report: bars, lines and heatmaps, no JavaScript and no external files.

Each function takes a handful of already aggregated numbers and returns an `<svg>` string.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 760, 320
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 160, 20, 60
PALETTE = ("#1f5f8b", "#e07b39", "#3a9d5d", "#b33c5a", "#7a5cb1", "#8c6d31", "#4aa3c4", "#777777")


def fmt(value: float) -> str:
    """Compact number: 1.2M, 34.5k, 123, 7, 0.45."""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.1f}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.1f}k"
    if magnitude >= 10 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _svg(body: list[str], title: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def _text(x: float, y: float, text: str, anchor: str = "middle", size: int = 11, extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" {extra}>{escape(text)}</text>'


def _y_axis(top: float, low: float, high: float, label: str) -> list[str]:
    """Gridlines and tick labels for values in [low, high] over the plot area's height."""
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    parts = []
    for i in range(5):
        value = low + (high - low) * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(_text(MARGIN_LEFT - 6, y + 4, fmt(value), anchor="end"))
    parts.append(
        _text(14, top + plot_h / 2, label, extra=f'transform="rotate(-90 14 {top + plot_h / 2:.1f})"')
    )
    return parts


def _legend(names: Sequence[str]) -> list[str]:
    x = WIDTH - MARGIN_RIGHT + 14
    parts = []
    for i, name in enumerate(names):
        y = MARGIN_TOP + 14 + i * 18
        parts.append(f'<rect x="{x}" y="{y - 9}" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(_text(x + 18, y + 1, name, anchor="start"))
    return parts


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str, x_label: str, y_label: str) -> str:
    """Vertical bars, one per label (labels thinned out when there are many)."""
    high = max([*values, 0.0]) or 1.0
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    step = plot_w / max(len(values), 1)
    every = max(1, len(labels) // 10)
    body = _y_axis(MARGIN_TOP, 0.0, high, y_label)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / high
        x = MARGIN_LEFT + i * step
        body.append(
            f'<rect x="{x + 1:.1f}" y="{MARGIN_TOP + plot_h - h:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{PALETTE[0]}"><title>{escape(label)}: {fmt(value)}</title></rect>'
        )
        if i % every == 0:
            body.append(_text(x + step / 2, MARGIN_TOP + plot_h + 14, label, size=10))
    body.append(_text(MARGIN_LEFT + plot_w / 2, HEIGHT - 12, x_label))
    return _svg(body, title)


def horizontal_bars(labels: Sequence[str], values: Sequence[float], title: str, unit: str) -> str:
    """One horizontal bar per label, longest first as given (a funnel)."""
    high = max([*values, 0.0]) or 1.0
    row = 30
    height = MARGIN_TOP + row * len(labels) + 10
    plot_w = WIDTH - 140 - MARGIN_RIGHT
    body = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = MARGIN_TOP + i * row
        w = plot_w * value / high
        body.append(_text(130, y + 18, label, anchor="end", size=12))
        body.append(
            f'<rect x="140" y="{y + 4}" width="{w:.1f}" height="{row - 8}" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>'
        )
        body.append(_text(146 + w, y + 18, f"{fmt(value)} {unit}", anchor="start"))
    return _svg(body, title, height=height)


def line_chart(
    x_labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    title: str,
    x_label: str,
    y_label: str,
    diagonal: bool = False,
) -> str:
    """One line per series over the same x positions; `diagonal` draws the y = x reference of a gain curve."""
    values = [v for points in series.values() for v in points if v is not None]
    low, high = min([*values, 0.0]), max([*values, 0.0]) or 1.0
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    step = plot_w / max(len(x_labels) - 1, 1)

    def xy(i: int, v: float) -> str:
        return f"{MARGIN_LEFT + i * step:.1f},{MARGIN_TOP + plot_h - plot_h * (v - low) / (high - low):.1f}"

    body = _y_axis(MARGIN_TOP, low, high, y_label)
    every = max(1, len(x_labels) // 10)
    for i, label in enumerate(x_labels):
        if i % every == 0:
            body.append(_text(MARGIN_LEFT + i * step, MARGIN_TOP + plot_h + 14, label, size=10))
    if diagonal:  # from (first x, 0) to (last x, 1): a random ordering's gain curve
        body.append(
            f'<polyline points="{xy(0, 0.0)} {xy(len(x_labels) - 1, 1.0)}" stroke="#999" stroke-dasharray="4"/>'
        )
    for k, points in enumerate(series.values()):
        color = PALETTE[k % len(PALETTE)]
        coords = [xy(i, v) for i, v in enumerate(points) if v is not None]
        body.append(f'<polyline points="{" ".join(coords)}" fill="none" stroke="{color}" stroke-width="2"/>')
        body += [
            f'<circle cx="{c.split(",")[0]}" cy="{c.split(",")[1]}" r="2.5" fill="{color}"/>' for c in coords
        ]
    body.append(_text(MARGIN_LEFT + plot_w / 2, HEIGHT - 12, x_label))
    return _svg(body + _legend(list(series)), title)


def heatmap(
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    cells: dict[tuple[str, str], float],
    title: str,
    x_label: str,
    y_label: str,
    percent: bool = False,
    high: float | None = None,
) -> str:
    """A grid coloured by value (darker = higher, saturating at `high`, by default the largest value), each
    cell labelled with its value when there is room."""
    high = high or max([*cells.values(), 0.0]) or 1.0
    cell_w = min(60.0, (WIDTH - 150) / max(len(col_labels), 1))
    cell_h = min(28.0, 520 / max(len(row_labels), 1))
    left, top = 110, 30
    width = int(left + cell_w * len(col_labels) + 20)
    height = int(top + cell_h * len(row_labels) + 40)
    body = [_text(left + cell_w * len(col_labels) / 2, 14, x_label, size=11)]
    for j, col in enumerate(col_labels):
        if len(col_labels) <= 24 or j % 3 == 0:
            body.append(_text(left + cell_w * (j + 0.5), top - 4, col, size=9))
    for i, row in enumerate(row_labels):
        y = top + i * cell_h
        body.append(_text(left - 6, y + cell_h / 2 + 4, row, anchor="end", size=10))
        for j, col in enumerate(col_labels):
            value = cells.get((row, col))
            if value is None:
                continue
            x = left + j * cell_w
            shade = min(value / high, 1.0)
            fill = f"rgba(31,95,139,{0.08 + 0.92 * shade:.3f})"
            label = f"{value:.0%}" if percent else fmt(value)
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell_w - 1:.1f}" height="{cell_h - 1:.1f}" fill="{fill}">'
                f"<title>{escape(row)} → {escape(col)}: {label}</title></rect>"
            )
            if cell_w >= 34 and cell_h >= 14:
                colour = "#fff" if shade > 0.55 else "#222"
                body.append(
                    _text(x + cell_w / 2, y + cell_h / 2 + 4, label, size=9, extra=f'fill="{colour}"')
                )
    body.append(
        _text(
            12,
            top + cell_h * len(row_labels) / 2,
            y_label,
            extra=f'transform="rotate(-90 12 {top + cell_h * len(row_labels) / 2:.1f})"',
        )
    )
    return _svg(body, title, width=max(width, 300), height=height)
