"""The studio's server side (handlers/studio.py): bundles, drafts, deploy, versions, comparison,
live counts, and the 流程设计 role that alone may use them."""
import hashlib
import io
import json
import zipfile

import pytest
from sqlalchemy import select

from engine.bundles import Bundle
from engine.db import db
from engine.errors import ConcurrentModification
from engine.models import DefinitionFile, HumanTask, ProcessDefinition, ProcessInstance
from handlers.errors import DomainError, FieldErrors, Forbidden
from handlers.models import UnlockApplication
from handlers.services import BPMN_DIR

from .web_helpers import client_world  # noqa: F401 (fixture)
from .world import deploy_due_change, locked_person, reported_unlock

UNLOCK_XML = (BPMN_DIR / "personnel_unlock.bpmn").read_text(encoding="utf-8")


@pytest.fixture()
def designer(world):
    return world.who("designer")


def _studio(services):
    return services.studio


def test_only_the_process_designer_uses_the_studio(world, services):
    for key in ("admin", "agency_reviewer", "contractor_user"):
        with pytest.raises(Forbidden):
            _studio(services).processes(world.who(key))
        with pytest.raises(Forbidden):
            _studio(services).open_draft(world.who(key), "personnel_unlock")
    assert world.who("designer").is_designer and not world.who("designer").is_admin
    assert [p.process_key for p in _studio(services).processes(world.who("designer"))] == [
        "completion_filing", "manager_change", "permit_supplement", "personnel_unlock", "project_info_change",
        "rectification", "registration_review", "roster_change", "unit_change"]


def test_a_version_is_stored_as_a_bundle_with_hashes_who_and_note(services, designer):
    [v1] = _studio(services).versions(designer, "personnel_unlock")
    assert v1.is_current and v1.note == "从 bpmn/ 目录部署" and v1.deployed_by == "flask bpmn deploy"
    assert v1.diagram_hash == hashlib.sha256(UNLOCK_XML.encode("utf-8")).hexdigest()
    files = dict(v1.files)
    assert set(files) == {"forms/personnel_unlock.edit.json", "forms/review.json", "tests/approve.yaml",
                          "tests/recheck_fails.yaml", "tests/return_and_report_again.yaml",
                          "tests/withdraw_before_claim.yaml", "tests/withdraw_refused_after_claim.yaml"}
    assert files["forms/review.json"] == hashlib.sha256((BPMN_DIR / "forms" / "review.json").read_bytes()).hexdigest()
    name, data = _studio(services).export_zip(designer, "personnel_unlock", 1)
    assert name == "personnel_unlock-v1.zip"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read("personnel_unlock.bpmn").decode("utf-8") == UNLOCK_XML
        assert archive.read("forms/review.json") == (BPMN_DIR / "forms" / "review.json").read_bytes()
        assert archive.read("tests/personnel_unlock/approve.yaml") == \
            (BPMN_DIR / "tests" / "personnel_unlock" / "approve.yaml").read_bytes()


def test_flask_bpmn_export_writes_the_version_as_the_repository_holds_it(ctx, tmp_path):
    result = ctx.test_cli_runner().invoke(args=["bpmn", "export", "personnel_unlock", "--version", "1",
                                                "--to", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "personnel_unlock.bpmn").read_bytes() == (BPMN_DIR / "personnel_unlock.bpmn").read_bytes()
    for name in ("personnel_unlock.edit.json", "review.json"):
        assert (tmp_path / "forms" / name).read_bytes() == (BPMN_DIR / "forms" / name).read_bytes()
    assert (tmp_path / "tests" / "personnel_unlock" / "recheck_fails.yaml").is_file()


def test_flask_bpmn_deploy_records_the_note_and_refuses_an_empty_one(ctx, services, tmp_path):
    runner = ctx.test_cli_runner()
    assert runner.invoke(args=["bpmn", "deploy", "--note", " "]).exit_code != 0
    folder = tmp_path / "bpmn"
    Bundle.from_directory(BPMN_DIR, "personnel_unlock.bpmn").write_to(folder)
    review = folder / "forms" / "review.json"
    form = json.loads(review.read_text(encoding="utf-8"))
    form["properties"]["opinion"]["maxLength"] = 300
    review.write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(args=["bpmn", "deploy", "--dir", str(folder), "--note", "审核意见限 300 字", "--by", "李设计"])
    assert result.exit_code == 0, result.output
    assert "deployed personnel_unlock v2" in result.output   # a changed form file alone is a new version
    v2 = services.engine.definitions.latest("personnel_unlock")
    assert (v2.note, v2.deployed_by) == ("审核意见限 300 字", "李设计")
    stored = db.session.scalar(select(DefinitionFile.content).where(DefinitionFile.definition_id == v2.id,
                                                                    DefinitionFile.name == "forms/review.json"))
    assert json.loads(stored)["properties"]["opinion"]["maxLength"] == 300
    assert "* personnel_unlock v2" in runner.invoke(args=["bpmn", "versions", "personnel_unlock"]).output


def test_an_instance_reads_its_forms_from_its_own_version(world, services):
    old_pm, _ = locked_person(world, "旧版本人员")
    old_app = reported_unlock(world, services, old_pm)
    review = json.loads((BPMN_DIR / "forms" / "review.json").read_text(encoding="utf-8"))
    review["required"] = ["decision", "opinion"]   # version 2 wants an opinion on every decision
    forms = Bundle.from_directory(BPMN_DIR, "personnel_unlock.bpmn").files
    forms["forms/review.json"] = json.dumps(review, ensure_ascii=False).encode("utf-8")
    from engine.definitions import Deployment
    with services.engine.command():
        v2, created = services.engine.definitions.deploy_bundle(
            Bundle("personnel_unlock.bpmn", UNLOCK_XML.encode("utf-8"), forms), Deployment("意见必填", "李设计"))
    assert created and v2.version == 2
    new_pm, _ = locked_person(world, "新版本人员")
    new_app = reported_unlock(world, services, new_pm)
    reviewer = world.who("agency_reviewer")
    tasks = {t.instance_id: t for t in db.session.scalars(select(HumanTask).where(HumanTask.state == "open"))}
    old_task, new_task = tasks[old_app.instance_id], tasks[new_app.instance_id]
    assert not services.reviews.form_of(old_task).field("opinion").required
    assert services.reviews.form_of(new_task).field("opinion").required
    for task in (old_task, new_task):
        services.reviews.claim(reviewer, task.id)
    with pytest.raises(Exception, match="请填写意见"):
        services.reviews.submit(reviewer, new_task.id, {"decision": "approve"})
    services.reviews.submit(reviewer, old_task.id, {"decision": "approve"})   # version 1: no opinion needed
    assert db.session.get(UnlockApplication, old_app.id).status == "approved"


def test_a_second_app_on_the_same_database_serves_a_deployment_at_its_next_request(ctx, world, services, designer):
    from webui import create_app
    other = create_app({"SQLALCHEMY_DATABASE_URI": ctx.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": "test",
                        "UPLOAD_DIR": ctx.config["UPLOAD_DIR"], "TESTING": True})
    other_definitions = other.extensions["services"].engine.definitions
    with other.test_client() as client:
        client.get("/auth/login")
        with other.app_context():
            assert other_definitions.current("personnel_unlock").version == 1   # cached by the other process
        deploy_due_change(services, designer, "3 working days")
        with other.app_context():
            assert other_definitions.current("personnel_unlock").version == 1   # no request yet: still cached
        client.get("/auth/login")   # its next request
        with other.app_context():
            assert other_definitions.current("personnel_unlock").version == 2
            db.session.remove()


def test_a_draft_is_saved_checked_tested_and_deployed_with_a_note(services, designer):
    studio = _studio(services)
    draft = studio.open_draft(designer, "personnel_unlock")
    assert (draft.base_version, draft.revision, draft.xml) == (1, 1, UNLOCK_XML)
    with pytest.raises(FieldErrors):
        studio.deploy_draft(designer, "personnel_unlock", "  ")
    # the scenario still expects 5 working days: deploy is refused with the failing step
    studio.save_draft(designer, "personnel_unlock", UNLOCK_XML.replace('value="5 working days"',
                                                                       'value="3 working days"'),
                      draft.files, draft.revision)
    results = {r.file: r for r in studio.test_draft(designer, "personnel_unlock")}
    assert not results["approve.yaml"].passed and results["withdraw_before_claim.yaml"].passed
    with pytest.raises(DomainError, match="流程测试有 .* 个未通过"):
        studio.deploy_draft(designer, "personnel_unlock", "审核时限改为 3 个工作日")
    assert services.engine.definitions.latest("personnel_unlock").version == 1

    changes = studio.diff(designer, "personnel_unlock", 1)   # version 1 → the draft
    assert [(c.element_id, c.property, c.old, c.new) for c in changes] == [
        ("Task_Review", "due", "5 working days", "3 working days")]
    version = deploy_due_change(services, designer, "3 working days")
    assert (version.version, version.note, version.is_current) == (2, "审核时限改为 3 个工作日", True)
    assert version.deployed_by == "李设计（云南省住房和城乡建设厅信息中心（流程设计））"
    assert studio.draft(designer, "personnel_unlock") is None   # deployed drafts are gone
    [change] = studio.diff(designer, "personnel_unlock", 1, 2)
    assert change.describe() == "修改 userTask Task_Review（审核） 的 due：5 working days → 3 working days"
    assert [v.version for v in studio.versions(designer, "personnel_unlock")] == [2, 1]


def test_an_invalid_draft_is_listed_with_its_elements_and_cannot_be_deployed(services, designer):
    studio = _studio(services)
    draft = studio.open_draft(designer, "personnel_unlock")
    broken = draft.xml.replace('<spiffworkflow:property name="candidates" value="project_regulators" />\n'
                               '          <spiffworkflow:property name="status" value="待审核" />',
                               '<spiffworkflow:property name="status" value="待审核" />')
    assert broken != draft.xml
    studio.save_draft(designer, "personnel_unlock", broken, draft.files, draft.revision)
    problems = studio.validate_draft(designer, "personnel_unlock")
    assert [(p.element_id, p.message) for p in problems] == [("Task_Review", "用户任务缺少候选规则（candidates）")]
    with pytest.raises(DomainError, match="草稿有 1 个问题，不能部署：用户任务缺少候选规则"):
        studio.deploy_draft(designer, "personnel_unlock", "去掉候选规则")
    assert services.engine.definitions.latest("personnel_unlock").version == 1


def test_a_save_over_a_newer_save_is_refused_and_bad_files_are_named(services, designer):
    studio = _studio(services)
    draft = studio.open_draft(designer, "personnel_unlock")
    studio.save_draft(designer, "personnel_unlock", draft.xml, draft.files, draft.revision)
    with pytest.raises(ConcurrentModification, match="草稿已由"):
        studio.save_draft(designer, "personnel_unlock", draft.xml, draft.files, draft.revision)
    with pytest.raises(DomainError, match="文件名 “../evil.json” 无效") as exc:
        studio.save_draft(designer, "personnel_unlock", draft.xml, {"../evil.json": "{}"})
    assert exc.value.field == "files"
    with pytest.raises(DomainError, match="与草稿的流程 “personnel_unlock” 不一致"):
        studio.save_draft(designer, "personnel_unlock", draft.xml.replace('id="personnel_unlock"', 'id="other"'), {})
    assert studio.draft(designer, "personnel_unlock").revision == 2


def test_flask_bpmn_diff_lists_the_changed_due(ctx, services, designer):
    deploy_due_change(services, designer, "3 working days")
    result = ctx.test_cli_runner().invoke(args=["bpmn", "diff", "personnel_unlock", "1", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"element_id": "Task_Review", "element_type": "userTask", "name": "审核",
                                          "change": "changed", "property": "due", "old": "5 working days",
                                          "new": "3 working days"}]


def test_the_comparison_names_added_steps_and_form_fields(services, designer):
    from handlers import version_diff
    before = Bundle.from_directory(BPMN_DIR, "personnel_unlock.bpmn")
    from pathlib import Path
    after = services.engine.definitions.with_known_forms(
        Bundle.from_directory(Path(__file__).parent / "bpmn_site_check", "personnel_unlock.bpmn"))
    changes = version_diff.diff_bundles(before, after)
    added = {c.element_id for c in changes if c.change == "added"}
    assert {"Task_SiteCheck", "Lane_site_check", "Flow_SiteCheck", "forms/site_check.json"} <= added
    assert ("Flow_Report", "targetRef", "Task_Review", "Task_SiteCheck") in \
        [(c.element_id, c.property, c.old, c.new) for c in changes]


def test_live_counts_per_element_and_the_applications_behind_them(world, services, designer, monkeypatch):
    from datetime import timedelta
    from engine.models import utcnow
    from .world import approve_into_an_incident
    apps = [reported_unlock(world, services, locked_person(world, f"人员{i}")[0]) for i in range(3)]
    tasks = {t.instance_id: t for t in db.session.scalars(select(HumanTask).where(HumanTask.state == "open"))}
    late = tasks[apps[0].instance_id]
    late.due_at = utcnow() - timedelta(days=1)
    db.session.commit()
    approve_into_an_incident(services, monkeypatch, world.who("agency_reviewer"), tasks[apps[2].instance_id].id)
    counts = _studio(services).live_counts(designer, "personnel_unlock", 1)
    assert {e: (c.waiting, c.overdue, c.incidents) for e, c in counts.items()} == {
        "Task_Review": (2, 1, 0), "Service_Apply": (0, 0, 1)}
    [row] = _studio(services).live_applications(designer, "personnel_unlock", 1, "Task_Review", "overdue")
    assert (row.application_kind, row.application_id, row.case_no) == ("unlock", apps[0].id, apps[0].case_no)
    [stuck] = _studio(services).live_applications(designer, "personnel_unlock", 1, "Service_Apply", "incident")
    assert stuck.application_id == apps[2].id and "数据库连接中断" in stuck.incident
    with pytest.raises(DomainError):
        _studio(services).live_applications(designer, "personnel_unlock", 1, "Task_Review", "everything")
    assert db.session.scalar(select(ProcessInstance.status).where(ProcessInstance.id == apps[2].instance_id)) \
        == "errored"
    assert db.session.scalar(select(ProcessDefinition.version)) == 1


def test_the_designer_logs_in_without_platform_rights(client_world):
    from .web_helpers import login
    client, _world = client_world
    assert login(client, "designer").status_code == 302
    home = client.get("/", follow_redirects=True)
    assert home.status_code == 200 and "李设计" in home.get_data(as_text=True)
    assert client.get("/admin/registrations").status_code == 403   # administration stays the administrators'


def test_an_uploaded_diagram_replaces_the_drafts_and_is_checked_the_same_way(services, designer):
    from pathlib import Path
    example = (Path(__file__).parent / "bpmn_site_check" / "personnel_unlock.bpmn").read_text(encoding="utf-8")
    stale = example.replace('<di:waypoint x="485" y="310" />', '<di:waypoint x="485" y="510" />\n'
                            '        <di:waypoint x="560" y="510" />')
    studio = _studio(services)
    with pytest.raises(DomainError, match="请上传 .bpmn 文件"):
        studio.upload_diagram(designer, "personnel_unlock", "diagram.xml", stale.encode("utf-8"))
    draft, problems = studio.upload_diagram(designer, "personnel_unlock", "unlock.bpmn", stale.encode("utf-8"))
    assert draft.xml == stale and "forms/review.json" in draft.files
    assert ("Flow_Report" in [p.element_id for p in problems]) and ("Task_SiteCheck" in [p.element_id for p in problems])
