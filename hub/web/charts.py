"""Small server-side SVG charts: no script, no library, readable by screen readers."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from html import escape


@dataclass(frozen=True)
class Bar:
    label: str
    low: Decimal
    mean: Decimal
    high: Decimal
    count: int


def price_ranges(title: str, bars: list[Bar], width: int = 640) -> str:
    """Horizontal min–max ranges with a mean tick, one row per purchaser."""
    if not bars:
        return ""
    row, left, right = 22, 230, 70
    height = row * len(bars) + 30
    top = max(float(b.high) for b in bars) or 1.0
    scale = (width - left - right) / top
    parts = [
        f'<svg role="img" aria-labelledby="chart-title" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(title)}</title>',
    ]
    for i, bar in enumerate(bars):
        y = 10 + i * row
        x0, x1 = left + float(bar.low) * scale, left + float(bar.high) * scale
        xm = left + float(bar.mean) * scale
        name = escape(bar.label if len(bar.label) <= 16 else bar.label[:15] + "…")
        parts += [
            f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{name}</text>',
            f'<rect x="{x0:.1f}" y="{y + 4}" width="{max(x1 - x0, 2):.1f}" height="10" '
            'fill="#7fa7d6"/>',
            f'<rect x="{xm - 1:.1f}" y="{y}" width="3" height="18" fill="#0b4f9c"/>',
            f'<text x="{x1 + 6:.1f}" y="{y + 12}">¥{bar.mean:,.0f} ({bar.count})</text>',
        ]
    axis = height - 12
    parts += [
        f'<line x1="{left}" x2="{width - right}" y1="{axis}" y2="{axis}" stroke="#4a4a4a"/>',
        f'<text x="{left}" y="{height - 1}">0</text>',
        f'<text x="{width - right}" y="{height - 1}" text-anchor="end">¥{top:,.0f}</text>',
        "</svg>",
    ]
    return "\n".join(parts)


def line(title: str, points: list[tuple[str, float | None]], width: int = 640) -> str:
    """A line over labelled points in 0..1 (scores), gaps where a value is missing."""
    known = [(i, v) for i, (_, v) in enumerate(points) if v is not None]
    if not known:
        return ""
    height, left, bottom = 200, 40, 30
    step = (width - left - 20) / max(len(points) - 1, 1)
    plot = height - bottom - 10

    def xy(i: int, v: float) -> str:
        return f"{left + i * step:.1f},{10 + plot * (1 - v):.1f}"

    parts = [
        f'<svg role="img" aria-labelledby="trend-title" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="trend-title">{escape(title)}</title>',
        f'<line x1="{left}" x2="{width - 20}" y1="{10 + plot}" y2="{10 + plot}" stroke="#4a4a4a"/>',
        f'<text x="{left - 4}" y="14" text-anchor="end">100</text>',
        f'<text x="{left - 4}" y="{10 + plot}" text-anchor="end">0</text>',
        f'<polyline fill="none" stroke="#0b4f9c" stroke-width="2" '
        f'points="{" ".join(xy(i, v) for i, v in known)}"/>',
    ]
    for i, (label, _) in enumerate(points):
        if len(points) <= 12 or i % max(len(points) // 12, 1) == 0:
            parts.append(
                f'<text x="{left + i * step:.1f}" y="{height - 8}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    parts.append("</svg>")
    return "\n".join(parts)
