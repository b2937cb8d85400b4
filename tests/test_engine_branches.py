"""The engine on diagrams beyond the three business processes: parallel reviews, a branch that
ends the whole instance, and a new version deployed by another worker while this one runs."""
import pytest
from sqlalchemy import select

from engine import DefinitionNotFound, EngineRegistry, InvalidFormData, ProcessEngine
from engine.actor import Actor
from engine.db import db
from engine.models import AuditEntry, HumanTask, ProcessInstance, TaskCandidate

AGENCY, AUTHORITY = 7101, 7102
APPLICANT = Actor(1, "吴施工", 7100, "云南建工")
AGENCY_REVIEWER = Actor(2, "赵监督", AGENCY, "昆明质监站")
AUTHORITY_REVIEWER = Actor(3, "钱主管", AUTHORITY, "昆明住建局")

NS = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
      'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
      'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
      'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"')


def _diagram(key: str, review_a_name: str = "监督机构审核") -> bytes:
    """Start → fork → (A: agency review → terminate end) + (B: authority review → end).

    Completing A ends the instance and withdraws B; completing B first leaves A waiting.
    """
    def review(task_id, name, rule):
        return (f'<bpmn:userTask id="{task_id}" name="{name}"><bpmn:extensionElements><spiffworkflow:properties>'
                f'<spiffworkflow:property name="formKey" value="review" />'
                f'<spiffworkflow:property name="candidates" value="{rule}" />'
                f'</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>')
    nodes = [
        ("Start_New", '<bpmn:startEvent id="Start_New" />'),
        ("Fork", '<bpmn:parallelGateway id="Fork" />'),
        ("Task_A", review("Task_A", review_a_name, "agency")),
        ("Task_B", review("Task_B", "主管部门审核", "authority")),
        ("End_Terminate", '<bpmn:endEvent id="End_Terminate"><bpmn:terminateEventDefinition /></bpmn:endEvent>'),
        ("End_B", '<bpmn:endEvent id="End_B" />'),
    ]
    flows = [("F1", "Start_New", "Fork"), ("F2", "Fork", "Task_A"), ("F3", "Fork", "Task_B"),
             ("F4", "Task_A", "End_Terminate"), ("F5", "Task_B", "End_B")]
    where = {name: (100 + 150 * i, 100) for i, (name, _xml) in enumerate(nodes)}
    shapes = "".join(f'<bpmndi:BPMNShape id="{n}_di" bpmnElement="{n}"><dc:Bounds x="{x}" y="{y}" width="100" '
                     f'height="80" /></bpmndi:BPMNShape>' for n, (x, y) in where.items())
    edges = "".join(f'<bpmndi:BPMNEdge id="{f}_di" bpmnElement="{f}"><di:waypoint x="{where[a][0] + 100}" '
                    f'y="140" /><di:waypoint x="{where[b][0]}" y="140" /></bpmndi:BPMNEdge>' for f, a, b in flows)
    flow_xml = "".join(f'<bpmn:sequenceFlow id="{f}" sourceRef="{a}" targetRef="{b}" />' for f, a, b in flows)
    return (f'<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions {NS} id="Defs_{key}" '
            f'targetNamespace="https://example.test/{key}"><bpmn:process id="{key}" name="并行审核" '
            f'isExecutable="true">{"".join(xml for _n, xml in nodes)}{flow_xml}</bpmn:process>'
            f'<bpmndi:BPMNDiagram id="Diagram_{key}"><bpmndi:BPMNPlane id="Plane_{key}" bpmnElement="{key}">'
            f'{shapes}{edges}</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></bpmn:definitions>').encode("utf-8")


def _registry() -> EngineRegistry:
    registry = EngineRegistry()

    @registry.form("review")
    def _review(data):
        if data.get("decision") != "approve":
            raise InvalidFormData("请选择审核结论", field="decision")
        return {"decision": "approve"}
    registry.candidate_rule("agency")(lambda instance: [AGENCY])
    registry.candidate_rule("authority")(lambda instance: [AUTHORITY])
    return registry


@pytest.fixture()
def engine(ctx):
    engine = ProcessEngine(_registry())
    with engine.command():
        engine.definitions.deploy(_diagram("parallel_review"), "parallel_review.bpmn")
    return engine


def _start(engine, n=1):
    with engine.command():
        return engine.start("parallel_review", f"parallel-{n}", APPLICANT, subject="并行审核", scope="一号楼")


def _approve(engine, task_id, actor):
    with engine.command():
        return engine.complete(task_id, actor, {"decision": "approve"}, action="审核通过")


def _open_offers(instance_id):
    return sorted(db.session.execute(
        select(HumanTask.element_id, TaskCandidate.org_id).join(TaskCandidate, TaskCandidate.task_id == HumanTask.id)
        .where(HumanTask.instance_id == instance_id, TaskCandidate.is_open.is_(True))).all())


def test_a_parallel_split_opens_both_reviews_each_to_its_own_organisation(engine):
    result = _start(engine)
    assert sorted(t.element_id for t in result.opened) == ["Task_A", "Task_B"]
    assert all(t.id and t.instance_id == result.instance.id and t.state == "open" for t in result.opened)
    assert _open_offers(result.instance.id) == [("Task_A", AGENCY), ("Task_B", AUTHORITY)]
    stored = db.session.get(ProcessInstance, result.instance.id)
    assert stored.status == "running" and stored.version == result.instance.version == 1


def test_finishing_one_branch_leaves_the_other_review_waiting(engine):
    started = _start(engine)
    task_b = next(t for t in started.opened if t.element_id == "Task_B")
    result = _approve(engine, task_b.id, AUTHORITY_REVIEWER)
    assert result.opened == [] and result.instance.status == "running"
    assert _open_offers(started.instance.id) == [("Task_A", AGENCY)]
    assert db.session.get(ProcessInstance, started.instance.id).version == 2


def test_a_terminating_branch_withdraws_the_other_review_from_every_inbox(engine):
    started = _start(engine)
    task_a, task_b = sorted(started.opened, key=lambda t: t.element_id)
    result = _approve(engine, task_a.id, AGENCY_REVIEWER)
    assert result.completed and result.end_element_id == "End_Terminate"
    db.session.expire_all()
    assert db.session.get(HumanTask, task_b.id).state == "cancelled"
    assert _open_offers(started.instance.id) == []
    log = db.session.scalars(select(AuditEntry.action).where(AuditEntry.instance_id == started.instance.id)
                             .order_by(AuditEntry.id)).all()
    assert log == ["审核通过"]


def test_a_version_deployed_by_another_worker_is_used_by_the_next_start(engine):
    first = _start(engine, 1)   # this worker now holds version 1 as the current one
    other_worker = ProcessEngine(_registry())
    with other_worker.command():
        v2, created = other_worker.definitions.deploy(_diagram("parallel_review", "监督机构复核"), "parallel_review.bpmn")
    assert created and v2.version == 2

    second = _start(engine, 2)
    assert second.instance.definition_id == v2.id != first.instance.definition_id
    assert {t.name for t in second.opened} == {"监督机构复核", "主管部门审核"}
    assert db.session.get(ProcessInstance, second.instance.id).definition_id == v2.id
    # the instance started on version 1 carries on with version 1
    task_a = next(t for t in first.opened if t.element_id == "Task_A")
    assert _approve(engine, task_a.id, AGENCY_REVIEWER).completed


def test_starting_a_process_that_was_never_deployed_is_refused(engine):
    with pytest.raises(DefinitionNotFound):
        with engine.command():
            engine.start("no_such_process", "x-1", APPLICANT)
    assert db.session.scalar(select(ProcessInstance.id).where(ProcessInstance.business_key == "x-1")) is None


def test_the_starting_action_is_logged_with_the_new_instance(engine):
    with engine.command():
        result = engine.start("parallel_review", "parallel-logged", APPLICANT, subject="并行审核", action="新建")
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.instance_id == result.instance.id)).all()
    assert [(e.action, e.user_id, e.org_id, e.element_id) for e in entries] == [("新建", APPLICANT.user_id,
                                                                              APPLICANT.org_id, None)]
    assert _start(engine, 2) and db.session.scalar(   # without an action nothing is logged
        select(AuditEntry.id).where(AuditEntry.action == "新建", AuditEntry.instance_id != result.instance.id)) is None
