"""The process diagram users see: every element drawn, the current step marked."""
import re
from pathlib import Path

from lxml import etree

from engine.diagram import instance_svg, render_svg
from engine.db import db
from engine.models import ProcessInstance

from .world import locked_person, reported_unlock

BPMN = Path(__file__).resolve().parent.parent / "bpmn"


def _active(svg):
    return re.findall(r'<g class="active"[^>]*>.*?<tspan[^>]*>([^<]+)</tspan>', svg)


def test_every_named_element_of_a_diagram_is_drawn():
    svg = render_svg((BPMN / "manager_change.bpmn").read_text(), title="项目主要管理人员变更")
    for name in ("填写变更申请", "审核", "变更生效", "业务办结", "已撤回", "申请人（企业）", "系统"):
        assert name in svg
    assert svg.count("<polyline") == 15   # every sequence flow (the deadline timers and 撤回 included)
    assert _active(svg) == []


def test_the_application_shows_where_it_stands(world, services):
    person, _ = locked_person(world, "张三")
    app = reported_unlock(world, services, person)
    assert _active(services.unlock.diagram(app)) == ["审核"]
    reviewer = world.who("agency_reviewer")
    task = services.reviews.inbox(reviewer).rows[0]
    services.reviews.claim(reviewer, task.id)
    services.reviews.approve(reviewer, task.id, "同意")
    instance = db.session.get(ProcessInstance, app.instance_id)
    assert _active(instance_svg(instance)) == ["业务办结"]


def test_names_are_escaped():
    xml = (BPMN / "personnel_unlock.bpmn").read_text().replace('name="审核"', 'name="&lt;script&gt;"')
    svg = render_svg(xml)
    assert "<script" not in svg and "&lt;script" in svg


def test_a_name_cannot_add_an_attribute_to_the_svg():
    """Quotes in a process or element name stay inside their attribute or text: no onload."""
    evil = 'x" onload="alert(1)'
    xml = (BPMN / "personnel_unlock.bpmn").read_text().replace('name="审核"', 'name="x&quot; onload=&quot;alert(1)"')
    svg = render_svg(xml, title=evil)
    root = etree.fromstring(svg.encode("utf-8"))
    assert root.get("aria-label") == evil
    assert not [el for el in root.iter() if any(a.startswith("on") for a in el.attrib)]
    assert evil in "".join(root.itertext())
