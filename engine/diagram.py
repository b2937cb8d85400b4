"""Render a deployed diagram to SVG from its diagram interchange, with the current step marked.

Users see where their application stands; designers see what they deployed. Pure
server-side rendering from the stored XML: no script, nothing fetched from elsewhere.
"""
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape as _html_escape

from lxml import etree

from .validation import BPMN_NS, DI_NS

DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DD_DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
TASKS = {"task", "userTask", "serviceTask", "scriptTask", "manualTask", "sendTask", "receiveTask",
         "businessRuleTask", "callActivity", "subProcess"}
EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
GATEWAYS = {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway"}
PAD = 20


def escape(text: str) -> str:
    """Escape for SVG text and attribute values alike: quotes too, so that a name cannot close an
    attribute and add its own (an ``onload`` on a page that shows the diagram)."""
    return _html_escape(text, quote=True)


@dataclass
class _Shape:
    kind: str
    name: str
    x: float
    y: float
    w: float
    h: float


@dataclass
class _Diagram:
    shapes: dict = field(default_factory=dict)   # id -> _Shape
    edges: list = field(default_factory=list)    # (id, name, [(x, y)])
    box: tuple = (0, 0, 0, 0)


@lru_cache(maxsize=128)
def render_svg(xml: str, active: frozenset = frozenset(), title: str = "") -> str:
    """The diagram as an inline SVG document; elements in ``active`` are highlighted."""
    d = _layout(xml)
    x0, y0, x1, y1 = d.box
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="bpmn-diagram" role="img" '
           f'aria-label="{escape(title)}" viewBox="{x0 - PAD} {y0 - PAD} {x1 - x0 + 2 * PAD} {y1 - y0 + 2 * PAD}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5b6b7f"/></marker></defs>']
    for sid, s in d.shapes.items():
        if s.kind in ("participant", "lane"):
            out.append(_pool(s))
    for eid, name, points in d.edges:
        pts = " ".join(f"{x},{y}" for x, y in points)
        out.append(f'<polyline class="edge" points="{pts}" fill="none" stroke="#5b6b7f" stroke-width="1.5" '
                   f'marker-end="url(#arrow)"/>')
        if name and len(points) >= 2:
            # label the longest segment, where it collides least with the nodes
            (ax, ay), (bx, by) = max(zip(points, points[1:]),
                                     key=lambda seg: abs(seg[0][0] - seg[1][0]) + abs(seg[0][1] - seg[1][1]))
            out.append(f'<text x="{(ax + bx) / 2 + 4}" y="{(ay + by) / 2 - 4}" font-size="11" fill="#44546a">'
                       f'{escape(name)}</text>')
    for sid, s in d.shapes.items():
        if s.kind not in ("participant", "lane"):
            out.append(_node(s, sid in active))
    out.append("</svg>")
    return "".join(out)


def _pool(s: _Shape) -> str:
    label_x, label_y = s.x + 15, s.y + s.h / 2
    return (f'<rect x="{s.x}" y="{s.y}" width="{s.w}" height="{s.h}" fill="none" stroke="#c3ccd8"/>'
            f'<text x="{label_x}" y="{label_y}" font-size="12" fill="#44546a" text-anchor="middle" '
            f'transform="rotate(-90 {label_x} {label_y})">{escape(s.name)}</text>')


def _node(s: _Shape, active: bool) -> str:
    stroke, fill, width = ("#d9480f", "#fff4e6", 3) if active else ("#1c3d6e", "#ffffff", 1.5)
    cls = ' class="active"' if active else ""
    cx, cy = s.x + s.w / 2, s.y + s.h / 2
    if s.kind in TASKS:
        body = (f'<rect x="{s.x}" y="{s.y}" width="{s.w}" height="{s.h}" rx="10" fill="{fill}" '
                f'stroke="{stroke}" stroke-width="{width}"/>')
        marker = {"userTask": "人", "serviceTask": "⚙"}.get(s.kind, "")
        if marker:
            body += f'<text x="{s.x + 8}" y="{s.y + 16}" font-size="12" fill="{stroke}">{marker}</text>'
        return f"<g{cls}>{body}{_label(s.name, cx, cy)}</g>"
    if s.kind in EVENTS:
        ring = 3.5 if s.kind == "endEvent" else width
        body = (f'<circle cx="{cx}" cy="{cy}" r="{s.w / 2}" fill="{fill}" stroke="{stroke}" '
                f'stroke-width="{ring}"/>')
        return f"<g{cls}>{body}{_label(s.name, cx, s.y + s.h + 14)}</g>"
    if s.kind in GATEWAYS:
        pts = f"{cx},{s.y} {s.x + s.w},{cy} {cx},{s.y + s.h} {s.x},{cy}"
        mark = "+" if s.kind == "parallelGateway" else "×"
        body = (f'<polygon points="{pts}" fill="{fill}" stroke="{stroke}" stroke-width="{width}"/>'
                f'<text x="{cx}" y="{cy + 6}" font-size="18" text-anchor="middle" fill="{stroke}">{mark}</text>')
        label = f'<text x="{s.x + s.w - 4}" y="{s.y - 4}" font-size="12" fill="#1f2a37">{escape(s.name)}</text>'
        return f"<g{cls}>{body}{label}</g>"
    return ""


def _label(name: str, cx: float, cy: float, per_line: int = 7) -> str:
    lines = [name[i:i + per_line] for i in range(0, len(name), per_line)] or [""]
    top = cy - (len(lines) - 1) * 7 + 4
    spans = "".join(f'<tspan x="{cx}" y="{top + i * 14}">{escape(line)}</tspan>' for i, line in enumerate(lines))
    return f'<text font-size="12" text-anchor="middle" fill="#1f2a37">{spans}</text>'


@lru_cache(maxsize=64)
def _layout(xml: str) -> _Diagram:
    root = etree.fromstring(xml.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False, no_network=True))
    kinds = {}
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.startswith(f"{{{BPMN_NS}}}") and el.get("id"):
            kinds[el.get("id")] = (el.tag.split("}")[1], el.get("name") or "")
    d = _Diagram()
    xs, ys = [], []
    for shape in root.iter(f"{{{DI_NS}}}BPMNShape"):
        ref, bounds = shape.get("bpmnElement"), shape.find(f"{{{DC_NS}}}Bounds")
        if ref not in kinds or bounds is None:
            continue
        kind, name = kinds[ref]
        x, y, w, h = (float(bounds.get(k)) for k in ("x", "y", "width", "height"))
        d.shapes[ref] = _Shape(kind, name, x, y, w, h)
        xs += [x, x + w]
        ys += [y, y + h + (20 if kind in EVENTS else 0)]
    for edge in root.iter(f"{{{DI_NS}}}BPMNEdge"):
        ref = edge.get("bpmnElement")
        points = [(float(p.get("x")), float(p.get("y"))) for p in edge.iter(f"{{{DD_DI_NS}}}waypoint")]
        if points:
            d.edges.append((ref, kinds.get(ref, ("", ""))[1], points))
            xs += [p[0] for p in points]
            ys += [p[1] for p in points]
    d.box = (min(xs, default=0), min(ys, default=0), max(xs, default=100), max(ys, default=100))
    # pools and lanes first so that nodes are drawn on top
    d.shapes = dict(sorted(d.shapes.items(), key=lambda kv: kv[1].kind not in ("participant", "lane")))
    return d


def instance_svg(instance, tasks=None) -> str:
    """The instance's diagram with where it stands marked: its open user tasks, the failed
    element of an incident, or the end event it finished at. Reads rows only; ``tasks``: the
    instance's tasks when the caller has read them already."""
    from .inbox import open_tasks
    if instance.status == "completed":
        active = {instance.end_element_id}
    elif instance.status == "errored":
        active = {instance.incident_element_id}
    else:
        open_ = open_tasks(instance.id) if tasks is None else [t for t in tasks if t.state == "open"]
        active = {t.element_id for t in open_}
    definition = instance.definition
    return render_svg(_definition_xml(definition), frozenset(a for a in active if a), definition.name)


_XML: dict[tuple[int, str], str] = {}


def _definition_xml(definition) -> str:
    """A deployed version's XML, read once per process: a version never changes (a new content
    is a new version), so a page showing the diagram does not load the deferred column again."""
    key = (definition.id, definition.content_hash)   # ids are reused when a database is emptied
    xml = _XML.get(key)
    if xml is None:
        xml = _XML[key] = definition.xml
    return xml
