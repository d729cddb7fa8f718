"""Evaluation charts as SVG, drawn by hand: a ranking (horizontal bars coloured by grade) and a trend (a
line over days, weeks or months). Pure — data in, an SVG document out.

SVG keeps the labels as text, so the console's browser draws the Chinese with its own fonts (the font
list names the common CJK families of Linux, macOS and Windows); nothing has to be installed on the server.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from backend.evaluation.rules import Unit

SVG_MEDIA_TYPE = "image/svg+xml"
FONT = "'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei','WenQuanYi Micro Hei',sans-serif"
GRADE_COLOURS = {"A": "#2e7d32", "B": "#0288d1", "C": "#f9a825", "D": "#ef6c00", "E": "#c62828"}
NEUTRAL = "#5c6bc0"
MUTED = "#9e9e9e"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    grade: str | None = None


@dataclass(frozen=True)
class Point:
    label: str
    value: float | None


def _text(x: float, y: float, content: str, *, size: int = 12, anchor: str = "start", **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{extra}>{escape(content)}</text>'


def _document(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{FONT}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>' + "".join(body) + "</svg>"
    )


def format_value(value: float | None, unit: Unit) -> str:
    if value is None:
        return "无数据"
    if unit is Unit.rate:
        return f"{value * 100:.1f}%"
    if unit is Unit.rating:
        return f"{value:.2f}"
    if unit is Unit.density:
        return f"{value:.2f}"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.2f}"


def _scale_max(values: Sequence[float], unit: Unit) -> tuple[float, float]:
    """(low, high) of the value axis."""
    if unit is Unit.rate:
        return 0.0, 1.0
    if unit is Unit.rating:
        return 1.0, 5.0
    top = max(values, default=0.0)
    if top <= 0:
        return 0.0, 1.0
    magnitude = 10 ** math.floor(math.log10(top))
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= top:
            return 0.0, step * magnitude
    return 0.0, 10 * magnitude


def ranking_svg(title: str, subtitle: str, bars: Sequence[Bar], unit: Unit = Unit.number) -> str:
    """排名图 — one bar per subject, best first as given; a subject without a value is listed, greyed."""
    width, label_w, bar_h, gap, top = 880, 230, 22, 8, 76
    plot_w = width - label_w - 110
    height = top + max(1, len(bars)) * (bar_h + gap) + 40
    low, high = _scale_max([b.value for b in bars if b.value is not None], unit)
    body = [
        _text(24, 32, title, size=20, font_weight="bold", fill="#212121"),
        _text(24, 54, subtitle, size=13, fill="#616161"),
    ]
    for i in range(5):
        x = label_w + plot_w * i / 4
        body.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 34}" stroke="#eeeeee"/>')
        body.append(_text(x, height - 18, format_value(low + (high - low) * i / 4, unit), size=11, anchor="middle",
                          fill="#757575"))  # fmt: skip
    for i, bar in enumerate(bars):
        y = top + i * (bar_h + gap)
        body.append(_text(label_w - 10, y + bar_h * 0.72, bar.label, size=13, anchor="end", fill="#212121"))
        if bar.value is None:
            body.append(_text(label_w + 6, y + bar_h * 0.72, "无数据", size=12, fill=MUTED))
            continue
        share = 0.0 if high == low else (bar.value - low) / (high - low)
        length = max(1.0, plot_w * min(1.0, max(0.0, share)))
        colour = GRADE_COLOURS.get(bar.grade or "", NEUTRAL)
        body.append(f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_h}" rx="3" fill="{colour}"/>')
        text = format_value(bar.value, unit) + (f"  {bar.grade}" if bar.grade else "")
        body.append(_text(label_w + length + 6, y + bar_h * 0.72, text, size=12, fill="#424242"))
    if not bars:
        body.append(_text(label_w, top + 16, "本期无数据", size=13, fill=MUTED))
    if any(b.grade for b in bars):
        x = width - 24
        for grade in reversed("ABCDE"):
            body.append(_text(x, 32, grade, size=12, anchor="end", fill=GRADE_COLOURS[grade], font_weight="bold"))
            x -= 18
    return _document(width, height, body, title)


def trend_svg(title: str, subtitle: str, points: Sequence[Point], unit: Unit = Unit.number) -> str:
    """趋势图 — the indicator per bucket; a bucket without a value breaks the line."""
    width, height = 880, 380
    left, right, top, bottom = 70, 30, 76, 70
    plot_w, plot_h = width - left - right, height - top - bottom
    low, high = _scale_max([p.value for p in points if p.value is not None], unit)
    body = [
        _text(24, 32, title, size=20, font_weight="bold", fill="#212121"),
        _text(24, 54, subtitle, size=13, fill="#616161"),
    ]
    for i in range(5):
        value = low + (high - low) * i / 4
        y = top + plot_h - plot_h * i / 4
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eeeeee"/>')
        body.append(_text(left - 8, y + 4, format_value(value, unit), size=11, anchor="end", fill="#757575"))
    body.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#9e9e9e"/>')
    n = len(points)
    pad = 24  # keeps the first and last points clear of the value axis and the edge
    step = (plot_w - 2 * pad) / max(1, n - 1) if n > 1 else 0.0
    every = max(1, math.ceil(n / 12))

    def xy(i: int, value: float) -> tuple[float, float]:
        x = left + (pad + step * i if n > 1 else plot_w / 2)
        share = 0.0 if high == low else (value - low) / (high - low)
        return x, top + plot_h - plot_h * min(1.0, max(0.0, share))

    segment: list[str] = []
    for i, p in enumerate(points):
        if p.value is None:
            if len(segment) > 1:
                body.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke="{NEUTRAL}" stroke-width="2"/>')
            segment = []
            continue
        x, y = xy(i, p.value)
        segment.append(f"{x:.1f},{y:.1f}")
    if len(segment) > 1:
        body.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke="{NEUTRAL}" stroke-width="2"/>')
    for i, p in enumerate(points):
        x = left + (pad + step * i if n > 1 else plot_w / 2)
        last_regular = (n - 1) // every * every
        if i % every == 0 or (i == n - 1 and (n - 1 - last_regular) * 2 >= every):
            body.append(_text(x, top + plot_h + 20, p.label, size=11, anchor="middle", fill="#616161"))
        if p.value is None:
            continue
        _, y = xy(i, p.value)
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{NEUTRAL}"><title>'
                    f"{escape(p.label)}: {escape(format_value(p.value, unit))}</title></circle>")  # fmt: skip
        if n <= 16:
            body.append(_text(x, y - 9, format_value(p.value, unit), size=11, anchor="middle", fill="#303f9f"))
    if not any(p.value is not None for p in points):
        body.append(_text(left + plot_w / 2, top + plot_h / 2, "本期无数据", size=14, anchor="middle", fill=MUTED))
    return _document(width, height, body, title)
