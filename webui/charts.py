"""Charts drawn on the server as inline SVG (统计): no script, no chart library, nothing to load.

Each chart is a small function from numbers to markup; labels are escaped, sizes are in the
SVG's own units and it scales to the card's width.
"""
from markupsafe import Markup, escape

COLORS = {"approve": "#2f9e44", "return": "#e03131", "claimed": "#1971c2", "open": "#f08c00", "other": "#adb5bd"}


def stacked_bars(title: str, categories: list[str], series: list[tuple[str, str, list[int]]],
                 width: int = 1000, height: int = 260) -> Markup:
    """Vertical bars, one per category, stacked by series (label, color key, values)."""
    left, bottom, top = 40, 28, 12
    totals = [sum(values[i] for _l, _c, values in series) for i in range(len(categories))]
    peak = _nice_max(max(totals, default=0))
    plot_h = height - bottom - top
    step = (width - left - 8) / max(len(categories), 1)
    bar = step * 0.62
    parts = [_open(width, height, title)]
    for tick in _ticks(peak):
        y = top + plot_h - plot_h * tick / peak
        parts.append(f'<line x1="{left}" x2="{width - 4}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e9ecef"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#868e96">{tick}</text>')
    for i, category in enumerate(categories):
        x = left + i * step + (step - bar) / 2
        y = top + plot_h
        for label, color, values in series:
            h = plot_h * values[i] / peak
            if values[i]:
                y -= h
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                             f'fill="{COLORS.get(color, color)}"><title>{escape(category)} {escape(label)}：'
                             f'{values[i]}</title></rect>')
        if totals[i]:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="10" '
                         f'fill="#495057">{totals[i]}</text>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - 10}" text-anchor="middle" font-size="11" '
                     f'fill="#495057">{escape(category)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def horizontal_bars(title: str, rows: list[tuple[str, int]], color: str = "#1971c2", width: int = 1000,
                    row_height: int = 26) -> Markup:
    """One bar per (label, value), longest value full width."""
    label_w, height = 170, row_height * max(len(rows), 1) + 8
    peak = max((v for _l, v in rows), default=0) or 1
    parts = [_open(width, height, title)]
    for i, (label, value) in enumerate(rows):
        y = 4 + i * row_height
        w = (width - label_w - 60) * value / peak
        parts.append(f'<text x="{label_w - 8}" y="{y + row_height / 2 + 4:.1f}" text-anchor="end" font-size="12" '
                     f'fill="#343a40">{escape(label)}</text>'
                     f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_height - 10}" fill="{color}" rx="2">'
                     f'<title>{escape(label)}：{value}</title></rect>'
                     f'<text x="{label_w + w + 6:.1f}" y="{y + row_height / 2 + 4:.1f}" font-size="12" '
                     f'fill="#495057">{value}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _open(width, height, title) -> str:
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
            f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif"><title>{escape(title)}</title>')


def _nice_max(value: int) -> int:
    """The axis top: 1, 2 or 5 times a power of ten, at least the value."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 < value:
        magnitude *= 10
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= value:
            return factor * magnitude
    return 10 * magnitude


def _ticks(peak: int) -> list[int]:
    """Whole-number grid lines: every unit up to 5, else five or four equal steps."""
    if peak <= 5:
        return list(range(peak + 1))
    parts = 4 if str(peak)[0] == "2" else 5
    return [peak * k // parts for k in range(parts + 1)]
