"""Checks of the drawing (BPMN diagram interchange) against the process it draws.

The engine runs the process; people read the drawing. When they disagree, the pages draw one
route and the engine takes another. A diagram passes when:

- every flow node has a shape (BPMNShape) and every sequence flow an edge (BPMNEdge);
- every sequence flow's edge starts on the shape of its own source and ends on the shape of its
  own target (a flow retargeted in the XML with its old arrow kept is refused, naming the flow);
- every lane holds the flow nodes it names (flowNodeRef): the node's shape lies in the lane's.

Each problem is a DefinitionError carrying the element id, so the studio can mark it.
"""
from dataclasses import dataclass

from lxml import etree

from .errors import DefinitionError
from .validation import BPMN_NS, DI_NS, FLOW_TAGS

DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_WAYPOINT_NS = "http://www.omg.org/spec/DD/20100524/DI"
SLACK = 6   # pixels: modelers dock an edge's end on the shape's border, give or take a stroke


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float

    def holds(self, x: float, y: float, slack: float = SLACK) -> bool:
        return (self.x - slack <= x <= self.x + self.width + slack
                and self.y - slack <= y <= self.y + self.height + slack)

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y + self.height / 2


def check_drawing(xml: bytes, filename: str) -> list[DefinitionError]:
    """Every disagreement between the drawing and the process (empty for a good or unreadable file:
    the deploy validator reports unreadable files)."""
    try:
        root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return []
    shapes, edges = _shapes(root), _edges(root)
    nodes = {el.get("id"): el for el in root.iter() if _is_flow_node(el)}
    errors = []
    for node_id in nodes:
        if node_id not in shapes and node_id not in edges:
            continue   # no diagram interchange at all: the deploy validator names it
        if node_id not in shapes:
            errors.append(DefinitionError(filename, node_id, f"{_label(nodes[node_id])}没有图形（BPMNShape）"))
    for flow in root.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        errors.extend(_check_flow(flow, nodes, shapes, edges, filename))
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        errors.extend(_check_lane(lane, nodes, shapes, filename))
    return errors


def _check_flow(flow, nodes, shapes, edges, filename) -> list[DefinitionError]:
    flow_id, source, target = flow.get("id"), flow.get("sourceRef"), flow.get("targetRef")
    points = edges.get(flow_id)
    if points is None:
        return []   # the deploy validator names a flow without an edge
    what = _label(flow)
    if len(points) < 2:
        return [DefinitionError(filename, flow_id, f"{what}的图形少于两个折点")]
    problems = []
    for end, point, node_id in (("起点", points[0], source), ("终点", points[-1], target)):
        box = shapes.get(node_id)
        if box is not None and not box.holds(*point):
            drawn = _touching(point, shapes, nodes)
            where = f"画在{drawn}上" if drawn else "没有连到任何元素"
            problems.append(f"{end}应连到{_label(nodes.get(node_id), node_id)}，但图中{where}")
    if not problems:
        return []
    return [DefinitionError(filename, flow_id, f"{what}的连线与流程不一致：{'；'.join(problems)}"
                                               "（请在建模工具中重新连接这条连线）")]


def _check_lane(lane, nodes, shapes, filename) -> list[DefinitionError]:
    box = shapes.get(lane.get("id"))
    if box is None:
        return []
    errors = []
    for ref in lane.iterfind(f"{{{BPMN_NS}}}flowNodeRef"):
        node_id = (ref.text or "").strip()
        shape = shapes.get(node_id)
        if shape is not None and not box.holds(*shape.centre, slack=0):
            errors.append(DefinitionError(
                filename, node_id, f"{_label(nodes.get(node_id), node_id)}属于泳道 “{lane.get('name') or lane.get('id')}”，"
                                   "但图中不在该泳道内：请把它拖入泳道，或改正泳道的 flowNodeRef"))
    return errors


def _touching(point, shapes, nodes) -> str | None:
    for node_id, box in shapes.items():
        if node_id in nodes and box.holds(*point):
            return _label(nodes[node_id], node_id)
    return None


def _is_flow_node(el) -> bool:
    if not isinstance(el.tag, str):
        return False
    ns, _, tag = el.tag[1:].partition("}")
    return ns == BPMN_NS and tag in FLOW_TAGS and tag != "sequenceFlow"


def _label(el, fallback: str = "") -> str:
    if el is None:
        return f"元素 {fallback}"
    kind = "连线" if el.tag == f"{{{BPMN_NS}}}sequenceFlow" else "元素"
    name = el.get("name")
    return f"{kind} “{name}”（{el.get('id')}）" if name else f"{kind} {el.get('id')}"


def _shapes(root) -> dict[str, Box]:
    found = {}
    for shape in root.iter(f"{{{DI_NS}}}BPMNShape"):
        bounds = shape.find(f"{{{DC_NS}}}Bounds")
        if bounds is not None:
            found[shape.get("bpmnElement")] = Box(*(float(bounds.get(k, 0)) for k in ("x", "y", "width", "height")))
    return found


def _edges(root) -> dict[str, list[tuple[float, float]]]:
    return {edge.get("bpmnElement"): [(float(p.get("x", 0)), float(p.get("y", 0)))
                                      for p in edge.iter(f"{{{DI_WAYPOINT_NS}}}waypoint")]
            for edge in root.iter(f"{{{DI_NS}}}BPMNEdge")}
