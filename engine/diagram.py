"""Render a deployed diagram to SVG from its diagram interchange, with the current step marked.

Users see where their application stands; designers see what they deployed. Pure
server-side rendering from the stored XML: no script, nothing fetched from elsewhere.

Two views: ``FULL`` (reviewers, designers: every element) and ``BUSINESS`` (applicants: the
path their application can take). The business view leaves out what only the organisation
running the review acts on: the branches behind non-interrupting boundary events (deadline
reminders, 督办) and any element a designer marks with the property ``audience`` = ``internal``,
with everything reachable only through them.
"""
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape as _html_escape

from lxml import etree

from .diagram_labels import Labels, wrap
from .validation import BPMN_NS, DI_NS, SPIFF_NS

DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DD_DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
TASKS = {"task", "userTask", "serviceTask", "scriptTask", "manualTask", "sendTask", "receiveTask",
         "businessRuleTask", "callActivity", "subProcess"}
EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
GATEWAYS = {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway"}
POOLS = ("participant", "lane")
MARKERS = ("timer", "message", "signal", "error", "escalation", "conditional")   # event definitions drawn
PAD = 20
FULL, BUSINESS = "full", "business"
INTERNAL = "internal"   # the ``audience`` property value that keeps an element out of the business view


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
    marker: str = ""                  # the event definition (timer, message, …), drawn as an icon
    interrupting: bool = True         # a boundary event with cancelActivity="false" is not
    label: tuple | None = None        # the label's bounds from the diagram interchange, if drawn there


@dataclass
class _Edge:
    id: str
    name: str
    points: list
    source: str = ""
    target: str = ""


@dataclass
class _Diagram:
    shapes: dict = field(default_factory=dict)   # id -> _Shape
    edges: list = field(default_factory=list)    # _Edge
    box: tuple = (0, 0, 0, 0)
    internal: frozenset = frozenset()            # ids left out of the business view


# cached per process by the diagram's XML text itself (a deployed version's never changes): a new
# version is new text, so no cache generation is needed (engine.generations)
@lru_cache(maxsize=128)
def render_svg(xml: str, active: frozenset = frozenset(), title: str = "", view: str = FULL) -> str:
    """The diagram as an inline SVG document; elements in ``active`` are highlighted."""
    d = _layout(xml)
    hidden = d.internal if view == BUSINESS else frozenset()
    x0, y0, x1, y1 = d.box
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="bpmn-diagram" role="img" data-view="{view}" '
           f'aria-label="{escape(title)}" viewBox="{x0 - PAD} {y0 - PAD} {x1 - x0 + 2 * PAD} {y1 - y0 + 2 * PAD}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5b6b7f"/></marker></defs>']
    shown = {sid: s for sid, s in d.shapes.items() if sid not in hidden}
    edges = [e for e in d.edges if not {e.id, e.source, e.target} & hidden]
    labels = Labels([(s.x, s.y, s.w, s.h) for s in shown.values() if s.kind not in POOLS])
    for s in shown.values():
        if s.kind in POOLS:
            out.append(_pool(s))
    for e in edges:
        pts = " ".join(f"{x},{y}" for x, y in e.points)
        out.append(f'<polyline class="edge" data-element="{escape(e.id)}" points="{pts}" fill="none" '
                   f'stroke="#5b6b7f" stroke-width="1.5" marker-end="url(#arrow)"/>')
    for sid, s in shown.items():
        if s.kind not in POOLS:
            out.append(_node(sid, s, sid in active, labels))
    for e in edges:   # after the nodes' labels, which have fixed places: a flow's label moves aside
        if e.name and len(e.points) >= 2:
            out.append(labels.place(e.name, _edge_spots(e.points), size=11, fill="#44546a"))
    out.append("</svg>")
    return "".join(out)


def _pool(s: _Shape) -> str:
    label_x, label_y = s.x + 15, s.y + s.h / 2
    return (f'<rect x="{s.x}" y="{s.y}" width="{s.w}" height="{s.h}" fill="none" stroke="#c3ccd8"/>'
            f'<text class="pool-label" x="{label_x}" y="{label_y}" font-size="12" fill="#44546a" '
            f'text-anchor="middle" transform="rotate(-90 {label_x} {label_y})">{escape(s.name)}</text>')


def _node(sid: str, s: _Shape, active: bool, labels: Labels) -> str:
    stroke, fill, width = ("#d9480f", "#fff4e6", 3) if active else ("#1c3d6e", "#ffffff", 1.5)
    cls = ' class="active"' if active else ""
    head = f'<g{cls} data-element="{escape(sid)}" data-kind="{s.kind}">'
    cx, cy = s.x + s.w / 2, s.y + s.h / 2
    if s.kind in TASKS:
        body = (f'<rect x="{s.x}" y="{s.y}" width="{s.w}" height="{s.h}" rx="10" fill="{fill}" '
                f'stroke="{stroke}" stroke-width="{width}"/>')
        marker = {"userTask": "人", "serviceTask": "⚙"}.get(s.kind, "")
        if marker:
            body += f'<text x="{s.x + 8}" y="{s.y + 16}" font-size="12" fill="{stroke}">{marker}</text>'
        return f"{head}{body}{labels.inside(s.name, cx, cy, s.w)}</g>"
    if s.kind in EVENTS:
        return f"{head}{_event(s, cx, cy, stroke, fill, width)}{_outside_label(s, labels, below=True)}</g>"
    if s.kind in GATEWAYS:
        pts = f"{cx},{s.y} {s.x + s.w},{cy} {cx},{s.y + s.h} {s.x},{cy}"
        mark = "+" if s.kind == "parallelGateway" else "×"
        body = (f'<polygon points="{pts}" fill="{fill}" stroke="{stroke}" stroke-width="{width}"/>'
                f'<text x="{cx}" y="{cy + 6}" font-size="18" text-anchor="middle" fill="{stroke}">{mark}</text>')
        return f"{head}{body}{_outside_label(s, labels, below=False)}</g>"
    return ""


def _event(s: _Shape, cx: float, cy: float, stroke: str, fill: str, width: float) -> str:
    """Start: one thin ring; end: one thick ring; intermediate and boundary: a double ring, dashed
    when the event does not interrupt its activity; the event definition's icon inside."""
    r = s.w / 2
    dash = '' if s.interrupting else ' stroke-dasharray="4 2"'
    ring = 3.5 if s.kind == "endEvent" else width
    body = f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="{fill}" stroke="{stroke}" stroke-width="{ring}"{dash}/>'
    if s.kind not in ("startEvent", "endEvent"):
        body += f'<circle cx="{cx}" cy="{cy}" r="{r - 3}" fill="none" stroke="{stroke}" stroke-width="1"{dash}/>'
    return body + _icon(s.marker, cx, cy, r, stroke)


def _icon(marker: str, cx: float, cy: float, r: float, stroke: str) -> str:
    if marker == "timer":   # a clock face with two hands
        c = r * 0.55
        return (f'<g class="icon-timer"><circle cx="{cx}" cy="{cy}" r="{c}" fill="#fff" stroke="{stroke}" '
                f'stroke-width="1.2"/><path d="M{cx},{cy} L{cx},{cy - c * 0.8} M{cx},{cy} L{cx + c * 0.6},{cy}" '
                f'stroke="{stroke}" stroke-width="1.2" fill="none"/></g>')
    if marker == "message":   # an envelope
        w, h = r * 1.1, r * 0.75
        x, y = cx - w / 2, cy - h / 2
        return (f'<g class="icon-message"><rect x="{x}" y="{y}" width="{w}" height="{h}" fill="#fff" '
                f'stroke="{stroke}" stroke-width="1.2"/><path d="M{x},{y} L{cx},{cy + h * 0.1} L{x + w},{y}" '
                f'fill="none" stroke="{stroke}" stroke-width="1.2"/></g>')
    if marker in ("signal", "escalation", "error", "conditional"):
        k = r * 0.5
        path = {"signal": f"M{cx},{cy - k} L{cx + k},{cy + k * 0.7} L{cx - k},{cy + k * 0.7} Z",
                "escalation": f"M{cx},{cy - k} L{cx + k * 0.7},{cy + k} L{cx},{cy + k * 0.3} L{cx - k * 0.7},{cy + k} Z",
                "error": f"M{cx - k},{cy + k} L{cx - k * 0.4},{cy - k} L{cx + k * 0.2},{cy + k * 0.2} L{cx + k},{cy - k}",
                "conditional": f"M{cx - k * 0.7},{cy - k * 0.5} h{k * 1.4} M{cx - k * 0.7},{cy} h{k * 1.4} "
                               f"M{cx - k * 0.7},{cy + k * 0.5} h{k * 1.4}"}[marker]
        return f'<path class="icon-{marker}" d="{path}" fill="none" stroke="{stroke}" stroke-width="1.2"/>'
    return ""


def _outside_label(s: _Shape, labels: Labels, below: bool) -> str:
    """An event's or a gateway's name: where the diagram interchange puts it, else beside the
    shape wherever it overlaps nothing already placed."""
    if not s.name:
        return ""
    if s.label is not None:
        lx, ly, lw, _lh = s.label
        spots = [(lx + lw / 2, ly + 11, "middle")]
    else:
        spots = []
    cx, cy = s.x + s.w / 2, s.y + s.h / 2
    below_spot, above_spot = (cx, s.y + s.h + 14, "middle"), (cx, s.y - 6, "middle")
    spots += [below_spot, above_spot] if below else [(s.x + s.w - 4, s.y - 4, "start"), above_spot, below_spot]
    spots += [(s.x + s.w + 4, cy + 4, "start"), (s.x - 4, cy + 4, "end")]
    return labels.place(s.name, spots, size=12, fill="#1f2a37", lines=wrap(s.name, 96, 12))


def _edge_spots(points) -> list:
    """Places for a flow's label: beside each segment, the longest first (it collides least)."""
    segments = sorted(zip(points, points[1:]), key=lambda seg: -(abs(seg[0][0] - seg[1][0]) + abs(seg[0][1] - seg[1][1])))
    spots = []
    for (ax, ay), (bx, by) in segments:
        mx, my = (ax + bx) / 2, (ay + by) / 2
        if abs(ax - bx) >= abs(ay - by):   # horizontal: above, then below
            spots += [(mx, my - 5, "middle"), (mx, my + 15, "middle")]
        else:                              # vertical: right, then left
            spots += [(mx + 5, my + 4, "start"), (mx - 5, my + 4, "end")]
    return spots


@lru_cache(maxsize=64)
def _layout(xml: str) -> _Diagram:
    root = etree.fromstring(xml.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False, no_network=True))
    elements = {el.get("id"): el for el in root.iter()
                if isinstance(el.tag, str) and el.tag.startswith(f"{{{BPMN_NS}}}") and el.get("id")}
    d = _Diagram()
    xs, ys = [], []
    for shape in root.iter(f"{{{DI_NS}}}BPMNShape"):
        ref, bounds = shape.get("bpmnElement"), shape.find(f"{{{DC_NS}}}Bounds")
        if ref not in elements or bounds is None:
            continue
        el = elements[ref]
        kind = el.tag.split("}")[1]
        x, y, w, h = _bounds(bounds)
        label = shape.find(f"{{{DI_NS}}}BPMNLabel/{{{DC_NS}}}Bounds")
        d.shapes[ref] = _Shape(kind, el.get("name") or "", x, y, w, h, marker=_marker(el),
                               interrupting=el.get("cancelActivity") != "false",
                               label=_bounds(label) if label is not None else None)
        xs += [x, x + w]
        ys += [y, y + h + (20 if kind in EVENTS else 0)]
    for edge in root.iter(f"{{{DI_NS}}}BPMNEdge"):
        ref = edge.get("bpmnElement")
        points = [(float(p.get("x")), float(p.get("y"))) for p in edge.iter(f"{{{DD_DI_NS}}}waypoint")]
        el = elements.get(ref)
        if points:
            d.edges.append(_Edge(ref, (el.get("name") or "") if el is not None else "", points,
                                 el.get("sourceRef", "") if el is not None else "",
                                 el.get("targetRef", "") if el is not None else ""))
            xs += [p[0] for p in points]
            ys += [p[1] for p in points]
    d.box = (min(xs, default=0), min(ys, default=0), max(xs, default=100), max(ys, default=100))
    # pools and lanes first so that nodes are drawn on top
    d.shapes = dict(sorted(d.shapes.items(), key=lambda kv: kv[1].kind not in POOLS))
    d.internal = _internal(elements, d)
    return d


def _bounds(bounds) -> tuple:
    return tuple(float(bounds.get(k)) for k in ("x", "y", "width", "height"))


def _marker(el) -> str:
    return next((m for m in MARKERS if el.find(f"{{{BPMN_NS}}}{m}EventDefinition") is not None), "")


def _internal(elements: dict, d: _Diagram) -> frozenset:
    """The flow nodes the business view leaves out: those not reachable from a start event along
    sequence flows and interrupting boundary events, without passing an element marked internal."""
    outgoing, boundaries = {}, {}
    for eid, el in elements.items():
        tag = el.tag.split("}")[1]
        if tag == "sequenceFlow":
            outgoing.setdefault(el.get("sourceRef"), []).append(el.get("targetRef"))
        elif tag == "boundaryEvent" and el.get("cancelActivity") != "false":
            boundaries.setdefault(el.get("attachedToRef"), []).append(eid)
    marked = {eid for eid, el in elements.items() if _audience(el) == INTERNAL}
    starts = [eid for eid, el in elements.items() if el.tag == f"{{{BPMN_NS}}}startEvent" and eid not in marked]
    seen, queue = set(starts), deque(starts)
    while queue:
        node = queue.popleft()
        for nxt in outgoing.get(node, []) + boundaries.get(node, []):
            if nxt not in seen and nxt not in marked:
                seen.add(nxt)
                queue.append(nxt)
    return frozenset(sid for sid, s in d.shapes.items() if s.kind not in POOLS and sid not in seen)


def _audience(el) -> str | None:
    path = f"{{{BPMN_NS}}}extensionElements/{{{SPIFF_NS}}}properties/{{{SPIFF_NS}}}property"
    return next((p.get("value") for p in el.iterfind(path) if p.get("name") == "audience"), None)


def instance_svg(instance, tasks=None, view: str = FULL) -> str:
    """The instance's diagram with where it stands marked: its open user tasks, the failed
    element of an incident, or the end event it finished at. Reads rows only; ``tasks``: the
    instance's tasks when the caller has read them already. ``view``: FULL or BUSINESS."""
    from .inbox import open_tasks
    if instance.status == "completed":
        active = {instance.end_element_id}
    elif instance.status == "errored":
        active = {instance.incident_element_id}
    else:
        open_ = open_tasks(instance.id) if tasks is None else [t for t in tasks if t.state == "open"]
        active = {t.element_id for t in open_}
    definition = instance.definition
    return render_svg(_definition_xml(definition), frozenset(a for a in active if a), definition.name, view)


_XML: dict[tuple[int, str], str] = {}


def _definition_xml(definition) -> str:
    """A deployed version's XML, read once per process: a version never changes (a new content
    is a new version), so a page showing the diagram does not load the deferred column again."""
    key = (definition.id, definition.content_hash)   # ids are reused when a database is emptied
    xml = _XML.get(key)
    if xml is None:
        xml = _XML[key] = definition.xml
    return xml
