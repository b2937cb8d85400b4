"""Process definitions (architecture.md, Engine essentials): validation, versions, the check command."""
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import DefinitionError
from engine.validation import check_bpmn
from engine.db import db
from engine.models import HumanTask, ProcessDefinition, ProcessInstance
from handlers.services import BPMN_DIR

from .world import locked_person, reported_unlock

BAD = Path(__file__).parent / "bpmn_bad"
UNLOCK_SRC = (BPMN_DIR / "personnel_unlock.bpmn").read_bytes()

REFUSALS = [
    ("malformed.bpmn", None, "XML 格式错误"),
    ("unknown_operator.bpmn", "Service_Apply", "服务任务的操作 “unlock.apply_everything” 未注册"),
    ("no_candidates.bpmn", "Task_Review", "用户任务缺少候选规则（candidates）"),
    ("no_form_key.bpmn", "Task_Edit", "用户任务缺少表单（formKey）"),
    ("bad_condition.bpmn", "Gateway_Decision", "条件表达式无法编译"),
    ("missing_shape.bpmn", "Service_Apply", "缺少图形信息（BPMNDI）"),
    # Task_Review (candidates project_regulators) drawn in the applicant's lane (candidates applicant)
    ("lane_disagrees.bpmn", "Task_Review",
     "位于泳道 “申请人（企业）”（候选规则 “applicant”），但该用户任务的候选规则为 “project_regulators”"),
]


def _versions(key="personnel_unlock"):
    return list(db.session.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == key)
                                   .order_by(ProcessDefinition.version)))


def test_the_shipped_diagrams_are_deployed_once(services):
    keys = [(d.process_key, d.version) for d in services.engine.definitions.versions()]
    assert keys == [("completion_filing", 1), ("manager_change", 1), ("permit_supplement", 1), ("personnel_unlock", 1),
                    ("project_info_change", 1), ("rectification", 1), ("registration_review", 1), ("roster_change", 1),
                    ("unit_change", 1)]
    report = services.deploy_definitions()
    assert report.deployed == [] and report.refused == []
    assert sorted(report.unchanged) == ["completion_filing.bpmn", "manager_change.bpmn", "permit_supplement.bpmn",
                                        "personnel_unlock.bpmn", "project_info_change.bpmn", "rectification.bpmn",
                                        "registration_review.bpmn",
                                        "roster_change.bpmn", "unit_change.bpmn"]


@pytest.mark.parametrize("filename, element_id, reason", REFUSALS)
def test_a_bad_file_is_refused_and_the_last_good_version_keeps_serving(world, services, filename, element_id,
                                                                      reason):
    [v1] = _versions()
    count = db.session.scalar(select(func.count()).select_from(ProcessDefinition))
    with pytest.raises(DefinitionError) as exc:
        with services.engine.command():
            services.engine.definitions.deploy((BAD / filename).read_bytes(), filename)
    err = exc.value
    assert err.file == filename
    assert err.element_id == element_id
    assert reason in err.reason
    assert filename in err.message and reason in err.message
    if element_id:
        assert f"元素 {element_id}" in err.message
    assert db.session.scalar(select(func.count()).select_from(ProcessDefinition)) == count
    assert services.engine.definitions.latest("personnel_unlock").id == v1.id
    # the last good version still runs an application end to end
    pm, _ = locked_person(world, "张三")
    app = reported_unlock(world, services, pm)
    assert db.session.get(ProcessInstance, app.instance_id).definition_id == v1.id


def test_check_file_lists_the_problem_without_deploying(services):
    errors = services.engine.definitions.check_file(BAD / "no_candidates.bpmn")
    assert [(e.element_id, e.reason) for e in errors] == [("Task_Review", "用户任务缺少候选规则（candidates）")]
    assert services.engine.definitions.check_file(BPMN_DIR / "manager_change.bpmn") == []


def _lane_rule(rule: str) -> str:
    return ("        <bpmn:extensionElements>\n          <spiffworkflow:properties>\n"
            f'            <spiffworkflow:property name="candidates" value="{rule}" />\n'
            "          </spiffworkflow:properties>\n        </bpmn:extensionElements>\n")


def test_a_lane_declaring_an_unknown_rule_is_refused(services):
    src = UNLOCK_SRC.decode().replace(_lane_rule("applicant"), _lane_rule("everyone"))
    with pytest.raises(DefinitionError) as exc:
        services.engine.definitions.deploy(src.encode(), "personnel_unlock.bpmn")
    assert exc.value.element_id == "Lane_applicant"
    assert "泳道 “申请人（企业）”的候选规则 “everyone” 未注册" in exc.value.reason


def test_a_lane_without_a_rule_is_drawing_only(services):
    """Lanes that declare no rule are not checked: the user task's own rule decides."""
    src = UNLOCK_SRC.decode()
    assert _lane_rule("applicant") in src and _lane_rule("project_regulators") in src
    plain = src.replace(_lane_rule("applicant"), "").replace(_lane_rule("project_regulators"), "")
    review = "        <bpmn:flowNodeRef>Task_Review</bpmn:flowNodeRef>\n"
    edit = "        <bpmn:flowNodeRef>Task_Edit</bpmn:flowNodeRef>\n"
    moved = plain.replace(review, "").replace(edit, edit + review)
    assert moved != plain
    assert check_bpmn(moved.encode(), "personnel_unlock.bpmn", services.engine.registry) == []
    # the same move under lanes that declare their rules is refused (tests/bpmn_bad/lane_disagrees.bpmn)
    refused = check_bpmn(src.replace(review, "").replace(edit, edit + review).encode(), "personnel_unlock.bpmn",
                         services.engine.registry)
    assert [e.element_id for e in refused] == ["Task_Review"]


def test_deploy_directory_reports_refused_files(services, tmp_path):
    (tmp_path / "unknown_operator.bpmn").write_bytes((BAD / "unknown_operator.bpmn").read_bytes())
    with services.engine.command():
        report = services.engine.definitions.deploy_directory(tmp_path)
    assert report.deployed == [] and [e.file for e in report.refused] == ["unknown_operator.bpmn"]
    assert len(_versions()) == 1


def test_a_changed_file_is_version_2_and_running_instances_stay_on_version_1(world, services):
    [v1] = _versions()
    old_pm, _ = locked_person(world, "旧流程人员")
    applicant = world.who("contractor_user")
    from handlers import lock_rule
    from handlers.applications import Upload
    from handlers.processes.unlock import UNLOCK_FORM
    from .world import PDF_BYTES
    old_app = services.unlock.create(applicant, lock_rule.open_locks(old_pm.id)[0].id)

    changed = UNLOCK_SRC.replace('name="审核">'.encode(), 'name="审核（第二版）">'.encode())
    assert changed != UNLOCK_SRC
    with services.engine.command():
        v2, created = services.engine.definitions.deploy(changed, "personnel_unlock.bpmn")
    assert created and v2.version == 2 and v2.content_hash != v1.content_hash
    assert services.engine.definitions.latest("personnel_unlock").id == v2.id
    with services.engine.command():
        again, created = services.engine.definitions.deploy(changed, "personnel_unlock.bpmn")
    assert not created and again.id == v2.id

    # the instance started on version 1 reaches its review task and finishes on version 1
    services.unlock.save(applicant, old_app.id, {"reason": "停工"}, [Upload(UNLOCK_FORM, "表.pdf", PDF_BYTES)])
    services.unlock.report(applicant, old_app.id)
    old_instance = db.session.get(ProcessInstance, old_app.instance_id)
    assert old_instance.definition_id == v1.id
    [old_task] = services.reviews.inbox(world.who("agency_reviewer")).rows
    assert old_task.name == "审核"

    new_pm, _ = locked_person(world, "新流程人员")
    new_app = reported_unlock(world, services, new_pm)
    assert db.session.get(ProcessInstance, new_app.instance_id).definition_id == v2.id
    new_task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == new_app.instance_id,
                                                         HumanTask.state == "open"))
    assert new_task.name == "审核（第二版）"

    reviewer = world.who("agency_reviewer")
    for task in (old_task, new_task):
        services.reviews.claim(reviewer, task.id)
        services.reviews.approve(reviewer, task.id)
    for app, version in ((old_app, v1), (new_app, v2)):
        instance = db.session.get(ProcessInstance, app.instance_id)
        assert instance.status == "completed" and instance.end_element_id == "End_Done"
        assert instance.definition_id == version.id
    assert old_pm.status == "normal" and new_pm.status == "normal"


def test_flask_bpmn_check_exit_codes(ctx):
    runner = ctx.test_cli_runner()
    result = runner.invoke(args=["bpmn", "check"])
    assert result.exit_code == 0, result.output
    assert "✓ personnel_unlock.bpmn" in result.output
    result = runner.invoke(args=["bpmn", "check", str(BAD / "unknown_operator.bpmn")])
    assert result.exit_code == 1
    assert "Service_Apply" in result.output and "未注册" in result.output
    result = runner.invoke(args=["bpmn", "check", str(BAD / "bad_condition.bpmn")])
    assert result.exit_code == 1
