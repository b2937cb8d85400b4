"""Where a diagram's labels go: each in the first of its candidate places that overlaps no shape
and no label placed before it (an event's name, a flow's name), so that no two labels overlap.

Widths are estimated from the characters (a CJK character is as wide as the font size, other
characters about half of it): the server has no fonts to measure with, and the estimate errs wide.
"""
from html import escape as _html_escape

LINE = 14   # line height of a 12 px label


def text_width(text: str, size: float) -> float:
    return sum(size if ord(ch) >= 0x2E80 else size * 0.62 for ch in text)


def wrap(text: str, max_width: float, size: float) -> list[str]:
    """The text in lines no wider than ``max_width`` (a line holds at least one character)."""
    lines, line = [], ""
    for ch in text:
        if line and text_width(line + ch, size) > max_width:
            lines.append(line)
            line = ""
        line += ch
    return [*lines, line] if line else lines or [""]


def _box(lines: list[str], x: float, y: float, anchor: str, size: float) -> tuple:
    """(x0, y0, x1, y1) of lines whose first baseline is at ``y``."""
    width = max(text_width(line, size) for line in lines)
    x0 = x - width / 2 if anchor == "middle" else x - width if anchor == "end" else x
    return x0, y - size, x0 + width, y + (len(lines) - 1) * LINE + size * 0.3


def _overlaps(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class Labels:
    """The labels of one drawing; ``obstacles``: the shapes' (x, y, w, h), which labels avoid."""

    def __init__(self, obstacles):
        self.taken = [(x, y, x + w, y + h) for x, y, w, h in obstacles]

    def inside(self, name: str, cx: float, cy: float, width: float, size: float = 12) -> str:
        """A task's name, wrapped and centred in its box (the box is an obstacle already)."""
        lines = wrap(name, width - 12, size)
        top = cy - (len(lines) - 1) * LINE / 2 + 4
        return _text(lines, cx, top, "middle", size, "#1f2a37")

    def place(self, name: str, spots, size: float = 12, fill: str = "#1f2a37", lines=None) -> str:
        """The label at the first spot (x, baseline y, anchor) where it overlaps nothing taken;
        if every spot is taken, the first."""
        lines = lines or [name]
        chosen = None
        for x, y, anchor in spots:
            box = _box(lines, x, y, anchor, size)
            if not any(_overlaps(box, t) for t in self.taken):
                chosen = (x, y, anchor, box)
                break
        if chosen is None:
            x, y, anchor = spots[0]
            chosen = (x, y, anchor, _box(lines, x, y, anchor, size))
        x, y, anchor, box = chosen
        self.taken.append(box)
        return _text(lines, x, y, anchor, size, fill)


def _text(lines, x, y, anchor, size, fill) -> str:
    spans = "".join(f'<tspan x="{x}" y="{y + i * LINE}">{_html_escape(line, quote=True)}</tspan>'
                    for i, line in enumerate(lines))
    return f'<text class="label" font-size="{size}" text-anchor="{anchor}" fill="{fill}">{spans}</text>'
