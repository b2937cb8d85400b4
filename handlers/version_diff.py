"""Compare two bundles (two versions, or a version and the draft): what a designer changed.

The result is a list of ``Change``: an element (by id, as the diagram colours it) or a form file
added, removed or changed, and for a changed one each property with its old and new value:

- the project's extension properties (``formKey``, ``candidates``, ``claim``, ``status``,
  ``due`` …), a service task's operator and parameters, timer expressions, flow conditions,
  a flow's source and target, names, a lane's members;
- the routing as SpiffWorkflow sees it (``SpiffWorkflow.bpmn.util.diff.SpecDiff``: the aligned
  task specs whose outputs changed), for what the XML comparison cannot name;
- the form files: fields added, removed, changed (title, type, required, options …).
"""
import json
from dataclasses import dataclass

from lxml import etree
from SpiffWorkflow.bpmn.util.diff import SpecDiff

from engine.bundles import FORM_PREFIX, Bundle
from engine.errors import DefinitionError
from engine.serialization import SERIALIZER
from engine.validation import BPMN_NS, SPIFF_NS, parse_bpmn

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
_LABELS = {ADDED: "新增", REMOVED: "删除", CHANGED: "修改"}
_TIMER_TAGS = ("timeDuration", "timeDate", "timeCycle")
_SKIPPED_TAGS = {"extensionElements", "incoming", "outgoing", "documentation", "flowNodeRef", "laneSet",
                 "definitions", "collaboration", "participant"}


@dataclass(frozen=True)
class Change:
    element_id: str                 # the element's id, or the form file's bundle path
    element_type: str               # userTask, sequenceFlow, … or "form"
    name: str
    change: str                     # added | removed | changed
    property: str | None = None     # None: the element itself was added or removed
    old: str | None = None
    new: str | None = None

    def describe(self) -> str:
        what = f"{self.element_type} {self.element_id}" + (f"（{self.name}）" if self.name else "")
        if self.property is None:
            return f"{_LABELS[self.change]} {what}"
        return f"{_LABELS[self.change]} {what} 的 {self.property}：{self.old if self.old is not None else '—'} → " \
               f"{self.new if self.new is not None else '—'}"


def diff_bundles(before: Bundle, after: Bundle) -> list[Change]:
    changes = _diff_elements(_elements(before.xml), _elements(after.xml))
    changes += _diff_routing(before, after, {c.element_id for c in changes})
    changes += _diff_forms(before, after)
    return changes


# -- diagram elements ---------------------------------------------------------------------
def _elements(xml: bytes) -> dict[str, dict]:
    """id -> {"type", "name", "props": {property: value}} of every BPMN element with an id."""
    try:
        root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return {}
    found = {}
    for el in root.iter():
        if not isinstance(el.tag, str) or not el.tag.startswith(f"{{{BPMN_NS}}}") or not el.get("id"):
            continue
        tag = etree.QName(el).localname
        if tag in _SKIPPED_TAGS:
            continue
        found[el.get("id")] = {"type": tag, "name": el.get("name") or "", "props": _props(el, tag)}
    return found


def _props(el, tag: str) -> dict[str, str]:
    props = {}
    for attr in ("sourceRef", "targetRef", "attachedToRef", "cancelActivity", "default"):
        if el.get(attr) is not None:
            props[attr] = el.get(attr)
    if el.get("name"):
        props["name"] = el.get("name")
    for prop in el.iterfind(f"{{{BPMN_NS}}}extensionElements/{{{SPIFF_NS}}}properties/{{{SPIFF_NS}}}property"):
        props[prop.get("name")] = prop.get("value")
    operator = el.find(f"{{{BPMN_NS}}}extensionElements/{{{SPIFF_NS}}}serviceTaskOperator")
    if operator is not None:
        props["operator"] = operator.get("id")
        for param in operator.iter(f"{{{SPIFF_NS}}}parameter"):
            props[f"operator.{param.get('id')}"] = param.get("value")
    condition = el.find(f"{{{BPMN_NS}}}conditionExpression")
    if condition is not None:
        props["condition"] = (condition.text or "").strip()
    for child in el:
        if not isinstance(child.tag, str):
            continue
        local = etree.QName(child).localname
        if local.endswith("EventDefinition"):
            props["event"] = local
            for timer in _TIMER_TAGS:
                found = child.find(f"{{{BPMN_NS}}}{timer}")
                if found is not None:
                    props[timer] = (found.text or "").strip()
            if child.get("messageRef"):
                props["messageRef"] = child.get("messageRef")
    if tag == "lane":
        props["flowNodeRef"] = ", ".join(sorted((r.text or "").strip() for r in el.iterfind(f"{{{BPMN_NS}}}flowNodeRef")))
    if tag == "scriptTask":
        script = el.find(f"{{{BPMN_NS}}}script")
        props["script"] = (script.text or "").strip() if script is not None else ""
    return props


def _diff_elements(old: dict, new: dict) -> list[Change]:
    changes = []
    for eid, el in new.items():
        if eid not in old:
            changes.append(Change(eid, el["type"], el["name"], ADDED))
    for eid, el in old.items():
        if eid not in new:
            changes.append(Change(eid, el["type"], el["name"], REMOVED))
            continue
        after = new[eid]
        if after["type"] != el["type"]:
            changes.append(Change(eid, after["type"], after["name"], CHANGED, "type", el["type"], after["type"]))
        for key in sorted(set(el["props"]) | set(after["props"])):
            a, b = el["props"].get(key), after["props"].get(key)
            if a != b:
                changes.append(Change(eid, after["type"], after["name"], CHANGED, key, a, b))
    return changes


def _diff_routing(before: Bundle, after: Bundle, named: set[str]) -> list[Change]:
    """Aligned task specs whose outputs SpiffWorkflow sees changed, where the XML diff named nothing."""
    try:
        old = parse_bpmn(before.xml, before.diagram_name, None)
        new = parse_bpmn(after.xml, after.diagram_name, None)
    except DefinitionError:
        return []   # an unparseable draft: the element comparison above is all there is
    diff = SpecDiff(SERIALIZER.registry, old.spec, new.spec)
    changes = []
    for spec, attrs in diff.changed.items():
        eid = getattr(spec, "bpmn_id", None)
        aligned = diff.alignment.get(spec)
        if not eid or eid in named or aligned is None or "outputs" not in attrs:
            continue
        changes.append(Change(eid, type(aligned).__name__, getattr(aligned, "bpmn_name", "") or "", CHANGED,
                              "outputs", ", ".join(sorted(o.name for o in spec.outputs)),
                              ", ".join(sorted(o.name for o in aligned.outputs))))
    return changes


# -- forms --------------------------------------------------------------------------------
def _diff_forms(before: Bundle, after: Bundle) -> list[Change]:
    old, new = before.forms, after.forms
    changes = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            changes.append(Change(name, "form", name[len(FORM_PREFIX):], ADDED))
        elif name not in new:
            changes.append(Change(name, "form", name[len(FORM_PREFIX):], REMOVED))
        elif old[name] != new[name]:
            changes.extend(_diff_form(name, old[name], new[name]))
    return changes


def _diff_form(name: str, old: bytes, new: bytes) -> list[Change]:
    try:
        a, b = json.loads(old), json.loads(new)
    except ValueError:
        return [Change(name, "form", "", CHANGED, "内容", None, None)]
    changes = []
    for key in ("title", "x-outcome"):
        if a.get(key) != b.get(key):
            changes.append(Change(name, "form", b.get("title", ""), CHANGED, key, a.get(key), b.get(key)))
    fa, fb = a.get("properties") or {}, b.get("properties") or {}
    ra, rb = set(a.get("required") or []), set(b.get("required") or [])
    for field in list(fb) + [f for f in fa if f not in fb]:
        where = f"字段 {field}"
        if field not in fa:
            changes.append(Change(name, "form", b.get("title", ""), ADDED, where, None, fb[field].get("title")))
        elif field not in fb:
            changes.append(Change(name, "form", b.get("title", ""), REMOVED, where, fa[field].get("title"), None))
        else:
            spec_a, spec_b = dict(fa[field], required=field in ra), dict(fb[field], required=field in rb)
            for key in sorted(set(spec_a) | set(spec_b)):
                if spec_a.get(key) != spec_b.get(key):
                    changes.append(Change(name, "form", b.get("title", ""), CHANGED, f"{where}.{key}",
                                          _text(spec_a.get(key)), _text(spec_b.get(key))))
    if list(fa) != list(fb) and set(fa) == set(fb):
        changes.append(Change(name, "form", b.get("title", ""), CHANGED, "字段顺序", ", ".join(fa), ", ".join(fb)))
    return changes


def _text(value) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
