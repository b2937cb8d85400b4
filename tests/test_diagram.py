"""The process diagram users see: every element drawn, the current step marked."""
import re
from pathlib import Path

from lxml import etree

from engine.diagram import BUSINESS, FULL, instance_svg, render_svg
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


INTERNAL_NAMES = ("超期预警", "已预警", "标记超期并督办", "已督办", "到期前 1 个工作日")


def _shown(svg) -> set[str]:
    """The element ids drawn (nodes and flows)."""
    return set(re.findall(r'data-element="([^"]+)"', svg))


def test_the_business_view_leaves_out_the_deadline_branches_of_every_shipped_diagram():
    # the applications' diagrams (a registration and a 整改 have no applicant's step nor deadline branches)
    applications = [p for p in sorted(BPMN.glob("*.bpmn")) if p.stem not in ("registration_review", "rectification")]
    assert len(applications) == 7
    for path in applications:
        xml = path.read_text()
        full, business = render_svg(xml, view=FULL), render_svg(xml, view=BUSINESS)
        assert "Timer_Review_Overdue" in _shown(full), path.name
        hidden = _shown(full) - _shown(business)
        assert {i for i in _shown(full) if "Remind" in i or "Overdue" in i or "Escalat" in i} <= hidden, path.name
        for name in INTERNAL_NAMES:
            assert name not in business, (path.name, name)
        # the business path itself stays: the review step, its decision and every end the applicant meets
        assert {"Task_Review", "Gateway_Decision", "End_Done", "End_Withdrawn"} <= _shown(business), path.name


def test_the_withdraw_boundary_event_stays_in_the_business_view_with_its_icon():
    xml = (BPMN / "personnel_unlock.bpmn").read_text()
    business = render_svg(xml, view=BUSINESS)
    assert "Message_Review_Withdraw" in _shown(business) and "Flow_Withdraw_Reported" in _shown(business)
    assert business.count('class="icon-message"') == 1 and 'class="icon-timer"' not in business
    full = render_svg(xml, view=FULL)
    assert full.count('class="icon-timer"') == 2   # 到期前 1 个工作日, 到期
    # non-interrupting timers are dashed double rings, as BPMN draws them
    timer = re.search(r'<g data-element="Timer_Review_Overdue"[^>]*>(.*?)</g>', full).group(1)
    assert timer.count("<circle") == 3 and 'stroke-dasharray="4 2"' in timer


def test_a_designer_marks_an_element_internal():
    """``audience`` = ``internal`` keeps a step and what only it leads to out of the applicant's view."""
    xml = (BPMN / "personnel_unlock.bpmn").read_text().replace(
        '<bpmn:serviceTask id="Service_Apply" name="自动解锁">',
        '<bpmn:serviceTask id="Service_Apply" name="自动解锁"><bpmn:extensionElements><spiffworkflow:properties>'
        '<spiffworkflow:property name="audience" value="internal" /></spiffworkflow:properties></bpmn:extensionElements>')
    xml = xml.replace('</bpmn:extensionElements><bpmn:extensionElements>', '')
    business = _shown(render_svg(xml, view=BUSINESS))
    assert "Service_Apply" not in business and "Gateway_Applied" not in business and "End_Done" not in business
    assert "Task_Review" in business and "Service_Apply" in _shown(render_svg(xml, view=FULL))


def test_the_applicant_and_the_reviewer_see_their_views(world, services):
    person, _ = locked_person(world, "张三")
    app = reported_unlock(world, services, person)
    applicant, reviewer = world.who("contractor_user"), world.who("agency_reviewer")
    assert services.unlock.diagram_view(applicant, app) == BUSINESS
    assert services.unlock.diagram_view(reviewer, app) == FULL
    assert "超期预警" not in services.unlock.progress(app, BUSINESS)[0]
    assert "超期预警" in services.unlock.progress(app, FULL)[0]
