"""Timer events beyond the shipped diagrams: an interrupting boundary timer that moves a task up,
an intermediate timer catch event, and timer expressions checked on deploy."""
from datetime import datetime, timezone

import pytest
import time_machine
from sqlalchemy import select

from engine import DefinitionError, EngineRegistry, ProcessEngine
from engine.actor import Actor
from engine.db import db
from engine.jobs import JobExecutor
from engine.models import HumanTask, Job, ProcessInstance

from .test_engine_branches import NS

APPLICANT = Actor(1, "吴施工", 7100, "云南建工")
REVIEWER = Actor(2, "赵监督", 7101, "昆明质监站")
UTC = timezone.utc
MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)        # 10:00 in Kunming
WEDNESDAY = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)     # two working days later


def at(moment, seconds=0):
    return time_machine.travel(moment.timestamp() + seconds, tick=False)


def _user_task(task_id, name, due=None):
    due_xml = f'<spiffworkflow:property name="due" value="{due}" />' if due else ""
    return (f'<bpmn:userTask id="{task_id}" name="{name}"><bpmn:extensionElements><spiffworkflow:properties>'
            f'<spiffworkflow:property name="formKey" value="review" />'
            f'<spiffworkflow:property name="candidates" value="agency" />{due_xml}'
            f'</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>')


def _timer(kind, expression):
    return (f'<bpmn:timerEventDefinition><bpmn:{kind} xsi:type="bpmn:tFormalExpression">{expression}'
            f'</bpmn:{kind}></bpmn:timerEventDefinition>')


def _diagram(key="escalation", escalate="working_days(2)", wait='"PT2H"', due=None) -> bytes:
    """Start → 初审 (interrupting timer → 上级审核 → End_Up) → 等待 2 小时 → End."""
    nodes = [
        ("Start", '<bpmn:startEvent id="Start_New" />', "Start_New"),
        ("Task_First", _user_task("Task_First", "初审", due), "Task_First"),
        ("Timer_Escalate", f'<bpmn:boundaryEvent id="Timer_Escalate" name="2 个工作日未办" attachedToRef="Task_First">'
                           f'{_timer("timeDate", escalate)}</bpmn:boundaryEvent>', "Timer_Escalate"),
        ("Task_Up", _user_task("Task_Up", "上级审核"), "Task_Up"),
        ("End_Up", '<bpmn:endEvent id="End_Up" />', "End_Up"),
        ("Wait", f'<bpmn:intermediateCatchEvent id="Wait" name="等待 2 小时">{_timer("timeDuration", wait)}'
                 f'</bpmn:intermediateCatchEvent>', "Wait"),
        ("End_Done", '<bpmn:endEvent id="End_Done" />', "End_Done"),
    ]
    flows = [("F1", "Start_New", "Task_First"), ("F2", "Timer_Escalate", "Task_Up"), ("F3", "Task_Up", "End_Up"),
             ("F4", "Task_First", "Wait"), ("F5", "Wait", "End_Done")]
    where = {el: (100 + 150 * i, 100) for i, (_n, _xml, el) in enumerate(nodes)}
    shapes = "".join(f'<bpmndi:BPMNShape id="{n}_di" bpmnElement="{n}"><dc:Bounds x="{x}" y="{y}" width="36" '
                     f'height="36" /></bpmndi:BPMNShape>' for n, (x, y) in where.items())
    edges = "".join(f'<bpmndi:BPMNEdge id="{f}_di" bpmnElement="{f}"><di:waypoint x="{where[a][0]}" y="120" />'
                    f'<di:waypoint x="{where[b][0]}" y="120" /></bpmndi:BPMNEdge>' for f, a, b in flows)
    flow_xml = "".join(f'<bpmn:sequenceFlow id="{f}" sourceRef="{a}" targetRef="{b}" />' for f, a, b in flows)
    return (f'<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions {NS} '
            f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="Defs_{key}" '
            f'targetNamespace="https://example.test/{key}"><bpmn:process id="{key}" name="逐级审核" isExecutable="true">'
            f'{"".join(xml for _n, xml, _e in nodes)}{flow_xml}</bpmn:process>'
            f'<bpmndi:BPMNDiagram id="Diagram_{key}"><bpmndi:BPMNPlane id="Plane_{key}" bpmnElement="{key}">'
            f'{shapes}{edges}</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></bpmn:definitions>').encode("utf-8")


def _registry() -> EngineRegistry:
    registry = EngineRegistry()
    registry.form("review")(lambda data: {})
    registry.candidate_rule("agency")(lambda instance: [REVIEWER.org_id])
    return registry


@pytest.fixture()
def engine(ctx):
    engine = ProcessEngine(_registry())
    with engine.command():
        engine.definitions.deploy(_diagram(), "escalation.bpmn")
    return engine


def _open(instance_id):
    db.session.rollback()
    return [t.element_id for t in db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.state == "open"))]


def test_interrupting_timer_moves_the_task_up_after_two_working_days(engine):
    worker = JobExecutor(engine.job_handlers())
    with at(MONDAY):
        with engine.command():
            instance = engine.start("escalation", "esc-1", APPLICANT, subject="逐级审核").instance
    [job] = db.session.scalars(select(Job)).all()
    assert job.due_at == WEDNESDAY.replace(tzinfo=None)
    with at(WEDNESDAY, -1):
        assert worker.run_due() == 0 and _open(instance.id) == ["Task_First"]
    with at(WEDNESDAY, 2):
        assert worker.run_due() == 1
    assert _open(instance.id) == ["Task_Up"]
    first = db.session.scalar(select(HumanTask).where(HumanTask.element_id == "Task_First"))
    assert first.state == "cancelled"


def test_task_completed_first_continues_to_the_intermediate_timer(engine):
    worker = JobExecutor(engine.job_handlers())
    with at(MONDAY):
        with engine.command():
            instance = engine.start("escalation", "esc-2", APPLICANT, subject="逐级审核").instance
        [task_id] = db.session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance.id)).all()
    with at(MONDAY, 3600):
        with engine.command():
            engine.complete(task_id, REVIEWER, {}, action="审核通过")
    with at(MONDAY, 3600 + 7199):
        assert worker.run_due() == 0
        assert db.session.get(ProcessInstance, instance.id).status == "running"
    with at(WEDNESDAY, 60):   # the 2-hour wait and the escalation timer (now a no-op) are both due
        assert worker.run_due() == 2
    db.session.rollback()
    finished = db.session.get(ProcessInstance, instance.id)
    assert (finished.status, finished.end_element_id) == ("completed", "End_Done")
    assert _open(instance.id) == []


@pytest.mark.parametrize("changes, element, reason", [
    ({"escalate": "working_days("}, "Timer_Escalate", "定时器表达式"),
    ({"escalate": '"下周三"'}, "Timer_Escalate", "定时器表达式"),
    ({"wait": '"2 hours"'}, "Wait", "定时器表达式"),
    ({"escalate": "due_at()"}, "Timer_Escalate", "due 属性"),
    # the period the timer would read is itself refused, on the user task that declares it
    ({"escalate": "due_at()", "due": "五天"}, "Task_First", "格式不正确"),
])
def test_a_bad_timer_expression_is_refused_on_deploy(ctx, changes, element, reason):
    engine = ProcessEngine(_registry())
    with pytest.raises(DefinitionError) as exc, engine.command():
        engine.definitions.deploy(_diagram("bad_timer", **changes), "bad_timer.bpmn")
    assert exc.value.element_id == element and reason in exc.value.reason


def test_due_at_reads_the_attached_tasks_due_period(ctx):
    engine = ProcessEngine(_registry())
    with engine.command():
        engine.definitions.deploy(_diagram("due_timer", escalate="due_minus_working_days(1)", due="5 working days"),
                                  "due_timer.bpmn")
    with at(MONDAY):
        with engine.command():
            engine.start("due_timer", "due-1", APPLICANT, subject="逐级审核")
    [job] = db.session.scalars(select(Job)).all()
    # last day Monday 03-09 (due at its end); one working day before is the start of that day, 00:00 local
    assert job.due_at == datetime(2026, 3, 8, 16, 0)
