"""The three project changes of chapter 2.3 (domain.md §4.8–§4.10): 变更工程信息, 变更工程人员 and
变更参建单位, each a process on the catalog filed by the construction unit."""
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.db import db
from engine.inbox import operation_log
from handlers import lock_rule, webhooks
from handlers.applications import Upload
from handlers.errors import DomainError
from handlers.invariants import check_invariants
from handlers.models import (
    ACTIVE, APPROVED, BUILDER, CHIEF_SUPERVISOR, COMPLETED, CONSTRUCTOR, CONTRACTOR, LOCKED, NORMAL, POST_BUILDER,
    POST_QUALITY, PROJECT_MANAGER, QUALITY_OFFICER, REPORTED, RETURNED, SAFETY_B, SAFETY_C, SAFETY_OFFICER,
    SPECIALIST_SUPERVISOR, SUPERVISING_FIRM, SUPERVISION_ENGINEER, Assignment, Notification, Person, Project,
    ProjectChange, RosterEntry, WebhookDelivery,
)
from handlers.processes import RECHECK_FAILED, RECHECK_PREFIX
from handlers.processes.roster_change import COUNTED_ROLE

from .receivers import subscription
from .test_list_rows import assert_rows_match
from .world import PDF_BYTES, row_counts

PROOF = Upload("proof", "变更说明.pdf", PDF_BYTES)
UNIT_FILES = [Upload("termination", "解除合同协议.pdf", PDF_BYTES), Upload("new_contract", "新合同.pdf", PDF_BYTES)]


def _decide(world, services, service, app, approve=True, opinion="", reviewer_key="agency_reviewer"):
    reviewer = world.who(reviewer_key)
    task = service.open_task(app)
    services.reviews.claim(reviewer, task.id)
    if approve:
        services.reviews.approve(reviewer, task.id, opinion)
    else:
        services.reviews.return_(reviewer, task.id, opinion)
    db.session.expire_all()
    return db.session.get(type(app), app.id)


def _refused(call, *args) -> str:
    with pytest.raises(DomainError) as exc:
        call(*args)
    return exc.value.message


def code_of(world, key) -> str:
    return world.orgs[key].credit_code


def _last(app):
    entry = operation_log(app.instance_id)[-1]
    return entry.action, entry.opinion


# -- 变更工程信息 (§4.8) --------------------------------------------------------------------------
INFO = {"name": "呈贡新区安置房（二期）", "address": "昆明市呈贡区彩云北路 8 号", "scale": "建筑面积 12500 平方米",
        "cost": "8650.50", "structure_type": "框架-剪力墙结构", "planned_start": "2025-03-01",
        "planned_end": "2026-12-31", "reason": "规划调整", "explanation": "经规划部门批准，工程名称与规模调整"}


def _info_app(world, services, fields=INFO, project=None):
    owner = world.who("owner_user")
    project = project or world.add_project("呈贡新区安置房")
    app = services.info.create(owner, project.id)
    services.info.save(owner, app.id, fields, [PROOF])
    return owner, project, app


def test_info_change_updates_the_project_keeps_history_and_sends_the_event(world, services):
    subscription("https://gg.example/hook", ["project.changed"], client="工改系统")
    owner, project, app = _info_app(world, services)
    assert app.name == "呈贡新区安置房（二期）" and app.cost == Decimal("8650.50")
    services.info.report(owner, app.id)
    app = _decide(world, services, services.info, app, opinion="同意变更")
    project = db.session.get(Project, project.id)
    assert app.status == APPROVED
    assert (project.name, project.scale, project.cost, project.structure_type, str(project.planned_end)) == (
        "呈贡新区安置房（二期）", "建筑面积 12500 平方米", Decimal("8650.50"), "框架-剪力墙结构", "2026-12-31")
    [history] = db.session.scalars(select(ProjectChange).where(ProjectChange.project_id == project.id)).all()
    assert history.process == "变更工程信息" and history.case_no == app.case_no
    assert history.applicant == "云南城投置业有限公司" and history.approved_by == "昆明市建设工程质量安全监督站 赵监督"
    assert history.changes[0] == ["工程名称", "呈贡新区安置房", "呈贡新区安置房（二期）"]
    assert ["工程造价（万元）", "", "8650.50"] in history.changes
    [delivery] = db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.event == "project.changed")).all()
    assert delivery.payload["project"]["supervision_no"] == project.supervision_no
    assert delivery.payload["changes"]["name"] == ["呈贡新区安置房", "呈贡新区安置房（二期）"]
    assert [e.action for e in operation_log(app.instance_id)] == ["新建", "暂存", "上报", "签收", "审核通过", "变更生效"]
    assert check_invariants() == []


def test_info_change_refusals_name_the_field_and_keep_nothing(world, services):
    owner = world.who("owner_user")
    project = world.add_project("五华区保障房")
    app = services.info.create(owner, project.id)
    with pytest.raises(DomainError) as exc:
        services.info.report(owner, app.id)
    assert list(exc.value.errors.values()) == ["变更原因：请填写变更原因", "变更说明：请填写变更说明", "请上传“变更说明及证明材料”"]
    assert _refused(services.info.save, owner, app.id, {"cost": "八千万"}) == "工程造价（万元）：请填写数字，如 12500.50"
    assert _refused(services.info.save, owner, app.id, {"cost": "-1"}) == "工程造价（万元）：请填写不小于 0、最多两位小数的数字"
    assert _refused(services.info.save, owner, app.id, {"planned_start": "2026-05-01", "planned_end": "2026-01-01"}) \
        == "计划竣工日期：不能早于计划开工日期"
    assert _refused(services.info.save, owner, app.id, {"planned_start": "2026-02-30"}) == "计划开工日期：日期格式不正确"
    services.info.save(owner, app.id, {"reason": "无", "explanation": "无"}, [PROOF])
    assert _refused(services.info.report, owner, app.id) == "工程信息未作任何变更"
    db.session.expire_all()
    assert db.session.get(Project, project.id).name == "五华区保障房"
    with pytest.raises(DomainError) as exc:
        services.info.create(owner, project.id)
    assert exc.value.message == "该工程已有未办结的工程信息变更"


def test_info_change_returned_then_reported_again(world, services):
    owner, project, app = _info_app(world, services, {**INFO, "cost": "865000"})
    services.info.report(owner, app.id)
    app = _decide(world, services, services.info, app, approve=False, opinion="工程造价单位应为万元")
    assert app.status == RETURNED and db.session.get(Project, project.id).cost is None
    services.info.save(owner, app.id, {"cost": "86.50"})
    services.info.report(owner, app.id)
    app = _decide(world, services, services.info, app)
    assert app.status == APPROVED and db.session.get(Project, project.id).cost == Decimal("86.50")


def test_info_change_approval_rechecks_the_project(world, services):
    owner, project, app = _info_app(world, services)
    services.info.report(owner, app.id)
    project.status = COMPLETED
    db.session.commit()
    app = _decide(world, services, services.info, app)
    assert app.status == RETURNED and _last(app) == (RECHECK_FAILED, RECHECK_PREFIX + "该工程已不在建")
    assert db.session.get(Project, project.id).name == "呈贡新区安置房"
    assert db.session.scalars(select(ProjectChange)).all() == []


# -- 变更工程人员 (§4.9) -------------------------------------------------------------------------
def _roster_app(world, services, project, fields):
    owner = world.who("owner_user")
    app = services.roster.create(owner, project.id)
    services.roster.save(owner, app.id, {"reason": "岗位调整", **fields})
    return owner, app


def test_roster_add_replace_remove(world, services):
    project = world.add_project("官渡区学校")
    quality = world.add_person("钱质量", "contractor", POST_QUALITY)
    other = world.add_person("孙质量", "contractor", POST_QUALITY)
    owner, app = _roster_app(world, services, project, {"operation": "add", "role": QUALITY_OFFICER,
                                                       "person_id": str(quality.id)})
    services.roster.report(owner, app.id)
    assert _decide(world, services, services.roster, app).status == APPROVED
    [entry] = db.session.scalars(select(RosterEntry).where(RosterEntry.project_id == project.id)).all()
    assert (entry.person_id, entry.role, entry.org_id, entry.ended_at) == (quality.id, QUALITY_OFFICER,
                                                                           world.orgs["contractor"].id, None)
    owner, app = _roster_app(world, services, project, {"operation": "replace", "entry_id": str(entry.id),
                                                       "person_id": str(other.id)})
    assert app.role == QUALITY_OFFICER   # the entry's role
    services.roster.report(owner, app.id)
    _decide(world, services, services.roster, app)
    owner, app = _roster_app(world, services, project, {"operation": "remove", "entry_id": str(
        db.session.scalar(select(RosterEntry.id).where(RosterEntry.person_id == other.id)))})
    services.roster.report(owner, app.id)
    _decide(world, services, services.roster, app)
    rows = db.session.scalars(select(RosterEntry).where(RosterEntry.project_id == project.id)
                              .order_by(RosterEntry.id)).all()
    assert [(r.person_id, r.ended_at is not None) for r in rows] == [(quality.id, True), (other.id, True)]
    history = db.session.scalars(select(ProjectChange.changes).order_by(ProjectChange.id)).all()
    assert history == [[["质量员", "", "钱质量"]], [["质量员", "钱质量", "孙质量"]], [["质量员", "孙质量", ""]]]
    assert check_invariants() == []
    # the list's rows (read as columns) show added, replaced and removed people as the applications do
    assert [c.value(r) for r in assert_rows_match(services.roster, owner) for c in services.roster.entry.columns[3:]] \
        == ["孙质量 → （无）", "钱质量 → 孙质量", "（无） → 钱质量"]


def test_roster_refusals_with_their_messages(world, services):
    project = world.add_project("盘龙区医院")
    owner, app = _roster_app(world, services, project, {"operation": "add"})
    for role in (PROJECT_MANAGER, SAFETY_OFFICER, CHIEF_SUPERVISOR):
        assert _refused(services.roster.save, owner, app.id, {"role": role}) == COUNTED_ROLE
    assert COUNTED_ROLE == "项目经理、安全员、项目总监的变更请由其所在单位通过“项目主要管理人员变更”办理"
    stranger = world.add_person("外单位", "contractor2", POST_QUALITY)
    no_post = world.add_person("无证书", "contractor")
    builder_only = world.add_person("施工员甲", "contractor", POST_BUILDER)
    firm_person = world.add_person("监理员乙", "firm")
    cases = [({"role": QUALITY_OFFICER, "person_id": stranger.id}, "人员：该人员不属于本工程的施工单位，请重新选择"),
             ({"role": QUALITY_OFFICER, "person_id": no_post.id}, "人员：该质量员未取得岗位证书（质量员），请重新选择"),
             ({"role": QUALITY_OFFICER, "person_id": builder_only.id}, "人员：该质量员未取得岗位证书（质量员），请重新选择"),
             ({"role": BUILDER, "person_id": no_post.id}, "人员：该施工员未取得岗位证书（施工员），请重新选择"),
             ({"role": SPECIALIST_SUPERVISOR, "person_id": firm_person.id},
              "人员：该专业监理工程师未取得注册监理工程师或监理员证书，请重新选择"),
             ({"role": SPECIALIST_SUPERVISOR, "person_id": no_post.id}, "人员：该人员不属于本工程的监理单位，请重新选择")]
    counts = row_counts(RosterEntry)
    for fields, message in cases:
        assert _refused(services.roster.save, owner, app.id, {k: str(v) for k, v in fields.items()}) == message
    services.roster.save(owner, app.id, {"role": BUILDER, "person_id": str(builder_only.id)})   # no certificate needed
    services.roster.save(owner, app.id, {"role": "technical_lead", "person_id": str(no_post.id)})
    with pytest.raises(DomainError) as exc:
        services.roster.save(owner, app.id, {"operation": "remove", "entry_id": ""})
        services.roster.report(owner, app.id)
    assert exc.value.message == "名册人员：请选择名册人员"
    assert row_counts(RosterEntry) == counts


def test_roster_returned_reported_again_and_rechecked(world, services):
    project = world.add_project("西山区体育馆")
    person = world.add_person("李技术", "contractor")
    owner, app = _roster_app(world, services, project, {"operation": "add", "role": "technical_lead",
                                                       "person_id": str(person.id)})
    services.roster.report(owner, app.id)
    app = _decide(world, services, services.roster, app, approve=False, opinion="请附任命文件")
    assert app.status == RETURNED
    services.roster.save(owner, app.id, {}, [Upload("attachment", "任命文件.pdf", PDF_BYTES)])
    services.roster.report(owner, app.id)
    project.contractor_id = world.orgs["contractor2"].id   # the contractor was replaced meanwhile
    db.session.commit()
    app = _decide(world, services, services.roster, app)
    assert app.status == RETURNED
    assert _last(app) == (RECHECK_FAILED, RECHECK_PREFIX + "该人员不属于本工程的施工单位，请重新选择")
    assert db.session.scalars(select(RosterEntry)).all() == []


# -- 变更参建单位 (§4.10) ------------------------------------------------------------------------
def _unit_world(world):
    """P and its contract sibling P2 (合同登记编号 HT-1) under the contractor: 甲经理 is project manager
    on both (counted once, locked), 乙安全 safety officer on P alone (locked), 丙质量 on P's roster.
    contractor2 has a free, qualified manager and safety officer."""
    p = world.add_project("滇池路综合体一期", contract_no="HT-1")
    p2 = world.add_project("滇池路综合体二期", contract_no="HT-1")
    manager = world.add_person("甲经理", "contractor", CONSTRUCTOR, SAFETY_B)
    safety = world.add_person("乙安全", "contractor", SAFETY_C)
    world.assign(manager, p, PROJECT_MANAGER)
    world.assign(manager, p2, PROJECT_MANAGER)
    world.assign(safety, p, SAFETY_OFFICER)
    quality = world.add_person("丙质量", "contractor", POST_QUALITY)
    db.session.add(RosterEntry(project_id=p.id, person_id=quality.id, role=QUALITY_OFFICER,
                               org_id=world.orgs["contractor"].id))
    new_manager = world.add_person("丁经理", "contractor2", CONSTRUCTOR, SAFETY_B)
    new_safety = world.add_person("戊安全", "contractor2", SAFETY_C)
    db.session.commit()
    return p, p2, manager, safety, quality, new_manager, new_safety


def _unit_app(world, services, project, fields, files=UNIT_FILES):
    owner = world.who("owner_user")
    app = services.unit.create(owner, project.id)
    services.unit.save(owner, app.id, {"unit_kind": CONTRACTOR, "reason": "原施工单位违约，解除合同", **fields}, files)
    return owner, app


def _contractor2_fields(world, new_manager, new_safety):
    return {"new_credit_code": world.orgs["contractor2"].credit_code, "manager_id": str(new_manager.id),
            "safety_id": str(new_safety.id)}


def test_unit_change_moves_the_project_people_locks_roster_and_notifies_both(world, services):
    p, p2, manager, safety, quality, new_manager, new_safety = _unit_world(world)
    owner, app = _unit_app(world, services, p, _contractor2_fields(world, new_manager, new_safety))
    assert services.unit.subject(app) == "滇池路综合体一期施工单位变更：云南建投第一建设有限公司 → 云南工程建设总承包有限公司"
    services.unit.report(owner, app.id)
    app = _decide(world, services, services.unit, app)
    assert app.status == APPROVED
    p = db.session.get(Project, p.id)
    assert p.contractor_id == world.orgs["contractor2"].id
    active = {(a.person_id, a.role) for a in db.session.scalars(select(Assignment).where(
        Assignment.project_id == p.id, Assignment.ended_at.is_(None)))}
    assert active == {(new_manager.id, PROJECT_MANAGER), (new_safety.id, SAFETY_OFFICER)}
    # 甲经理 still manages the contract sibling: one contract counts once, the lock stays
    assert db.session.get(Person, manager.id).status == LOCKED and lock_rule.open_locks(manager.id)
    assert db.session.get(Person, safety.id).status == NORMAL and lock_rule.open_locks(safety.id) == []
    assert db.session.get(Person, new_manager.id).status == LOCKED
    assert db.session.get(Person, new_safety.id).status == LOCKED
    assert db.session.scalar(select(RosterEntry.ended_at).where(RosterEntry.person_id == quality.id)) is not None
    # the old unit loses the project in its pages; its own applications stay visible to it
    old = world.who("contractor_user")
    assert p.id not in {a.project_id for a in services.change.changeable(old)}
    assert p2.id in {a.project_id for a in services.change.changeable(old)}
    for key in ("contractor_user", "contractor2_user"):
        titles = db.session.scalars(select(Notification.title).where(
            Notification.user_id == world.who(key).user_id, Notification.kind == "unit_changed")).all()
        assert titles == [f"参建单位变更：滇池路综合体一期（{app.case_no}）"]
    [history] = db.session.scalars(select(ProjectChange.changes)).all()
    assert history == [["施工单位", "云南建投第一建设有限公司", "云南工程建设总承包有限公司"],
                       ["项目经理", "甲经理", "丁经理"], ["安全员", "乙安全", "戊安全"]]
    assert check_invariants() == []


def test_unit_change_people_get_the_key_manager_change_messages(world, services):
    p, _p2, _m, _s, _q, new_manager, new_safety = _unit_world(world)
    owner, app = _unit_app(world, services, p, {"new_credit_code": code_of(world, "contractor2")})
    busy = world.add_person("忙经理", "contractor2", CONSTRUCTOR, SAFETY_B)
    world.assign(busy, world.add_project("别处工程"), PROJECT_MANAGER)
    no_b = world.add_person("无B证", "contractor2", CONSTRUCTOR)
    no_c = world.add_person("无C证", "contractor2", SAFETY_B)
    stranger = world.add_person("他单位", "contractor", CONSTRUCTOR, SAFETY_B)
    cases = [({"manager_id": busy.id}, "变更后项目经理：该项目经理已有项目管理工作，请重新选择"),
             ({"manager_id": no_b.id}, "变更后项目经理：该项目经理未取得安全生产考核合格证书（B证），请重新选择"),
             ({"safety_id": no_c.id}, "变更后安全员：该安全员未取得安全生产考核合格证书（C证），请重新选择"),
             ({"manager_id": stranger.id}, "变更后项目经理：该人员不属于变更后的施工单位，请重新选择"),
             ({"new_credit_code": code_of(world, "contractor")}, "变更后单位统一社会信用代码：变更后单位不能与原单位相同"),
             ({"new_credit_code": code_of(world, "firm")},
              "变更后单位统一社会信用代码：未找到该统一社会信用代码对应的施工单位"),
             ({"new_credit_code": "91530100000000000X"},
              "变更后单位统一社会信用代码：统一社会信用代码格式不正确（18 位，含校验位）")]
    for fields, message in cases:
        assert _refused(services.unit.save, owner, app.id, {k: str(v) for k, v in fields.items()}) == message
    locked_safety = world.add_person("锁定安全员", "contractor2", SAFETY_C)
    world.assign(locked_safety, world.add_project("锁定工程"), SAFETY_OFFICER)
    assert _refused(services.unit.save, owner, app.id, {"safety_id": str(locked_safety.id)}) \
        == "变更后安全员：该安全员已有项目管理工作，请重新选择"
    with pytest.raises(DomainError) as exc:
        services.unit.report(owner, app.id)
    assert exc.value.errors == {"manager_id": "变更后项目经理：请选择变更后项目经理",
                                "safety_id": "变更后安全员：请选择变更后安全员"}
    assert app.status != REPORTED


def test_unit_change_of_the_supervising_firm(world, services):
    firm2 = world.add_org("firm2", SUPERVISING_FIRM, "云南新监理有限公司")
    world.add_account("firm2_user", "firm2", "褚监理")
    p = world.add_project("安宁市工业园")
    chief = world.add_person("原总监", "firm", SUPERVISION_ENGINEER)
    world.assign(chief, p, CHIEF_SUPERVISOR)
    full = world.add_person("满负荷总监", "firm2", SUPERVISION_ENGINEER)
    for i in range(3):
        world.assign(full, world.add_project(f"满负荷工程{i}", firm="firm2"), CHIEF_SUPERVISOR)
    new_chief = world.add_person("新总监", "firm2", SUPERVISION_ENGINEER)
    owner = world.who("owner_user")
    app = services.unit.create(owner, p.id)
    services.unit.save(owner, app.id, {"unit_kind": SUPERVISING_FIRM, "new_credit_code": firm2.credit_code,
                                       "reason": "监理合同解除"}, UNIT_FILES)
    assert _refused(services.unit.save, owner, app.id, {"chief_id": str(full.id)}) \
        == "变更后项目总监：该项目总监已有 3 个及以上项目请重新选择"
    services.unit.report(owner, app.id, {"chief_id": str(new_chief.id)})
    app = _decide(world, services, services.unit, app, reviewer_key="auth_reviewer")
    assert app.status == APPROVED and db.session.get(Project, p.id).supervising_firm_id == firm2.id
    assert db.session.get(Person, chief.id).status == NORMAL   # 1 of 3 projects: never locked
    assert db.session.get(Person, new_chief.id).status == NORMAL
    assert check_invariants() == []


def test_unit_change_returned_reported_again_and_rechecked(world, services):
    p, _p2, manager, safety, _q, new_manager, new_safety = _unit_world(world)
    owner, app = _unit_app(world, services, p, _contractor2_fields(world, new_manager, new_safety), files=UNIT_FILES[:1])
    with pytest.raises(DomainError) as exc:
        services.unit.report(owner, app.id)
    assert exc.value.message == "请上传“新合同”"
    services.unit.report(owner, app.id, {}, UNIT_FILES[1:])
    app = _decide(world, services, services.unit, app, approve=False, opinion="新合同未盖章")
    assert app.status == RETURNED
    services.unit.report(owner, app.id, {}, [Upload("new_contract", "新合同（盖章）.pdf", PDF_BYTES)])
    world.assign(new_manager, world.add_project("丁经理的新工程", contractor="contractor2"), PROJECT_MANAGER)   # taken meanwhile
    counts = row_counts(Assignment, RosterEntry, ProjectChange)
    app = _decide(world, services, services.unit, app)
    assert app.status == RETURNED
    assert _last(app) == (RECHECK_FAILED, RECHECK_PREFIX + "该项目经理已有项目管理工作，请重新选择")
    assert row_counts(Assignment, RosterEntry, ProjectChange) == counts
    assert db.session.get(Project, p.id).contractor_id == world.orgs["contractor"].id
    assert db.session.get(Person, safety.id).status == LOCKED
    assert check_invariants() == []


def test_a_new_unit_must_be_an_active_registered_enterprise(world, services):
    from handlers.models import Account
    p = world.add_project("晋宁区道路")
    owner = world.who("owner_user")
    app = services.unit.create(owner, p.id)
    account = db.session.scalar(select(Account).where(Account.org_id == world.orgs["contractor2"].id))
    account.status = "pending"
    db.session.commit()
    assert _refused(services.unit.save, owner, app.id, {"new_credit_code": code_of(world, "contractor2")}) \
        == "变更后单位统一社会信用代码：该单位尚未通过注册审核，不能作为变更后单位"
    account.status = ACTIVE
    db.session.commit()


# -- the pages ----------------------------------------------------------------------------------
from .web_helpers import client_world, csrf_token, login, logout  # noqa: E402,F401 (fixture)


def test_the_construction_unit_files_a_unit_change_through_its_pages(client_world, services):
    client, world = client_world
    p, _p2, _m, _s, _q, new_manager, new_safety = _unit_world(world)
    login(client, "owner_user")
    nav = client.get("/apply/unit/").get_data(as_text=True)
    for label in ("工程变更", "变更工程信息", "变更工程人员", "变更参建单位", "项目管理 › 在建 › 工程变更"):
        assert label in nav
    resp = client.post("/apply/unit/new", data={"target_id": str(p.id), "csrf_token": csrf_token(client, "/apply/unit/new")})
    detail_url = resp.headers["Location"]
    page = client.get(detail_url).get_data(as_text=True)
    assert "变更后单位统一社会信用代码" in page and 'name="manager_id"' not in page   # no unit named yet
    token = csrf_token(client, detail_url)
    resp = client.post(detail_url, data={"csrf_token": token, "unit_kind": "contractor", "reason": "解除合同",
                                         "new_credit_code": world.orgs["contractor"].credit_code})
    assert resp.status_code == 400 and "变更后单位不能与原单位相同" in resp.get_data(as_text=True)
    client.post(detail_url, data={"csrf_token": token, "unit_kind": "contractor", "reason": "解除合同",
                                  "new_credit_code": world.orgs["contractor2"].credit_code})
    page = client.get(detail_url).get_data(as_text=True)
    assert 'name="manager_id"' in page and "丁经理" in page and 'name="chief_id"' not in page
    from io import BytesIO
    resp = client.post(detail_url.rstrip("/") + "/report", data={
        "csrf_token": token, "edit": "1", "unit_kind": "contractor", "reason": "解除合同",
        "new_credit_code": world.orgs["contractor2"].credit_code, "manager_id": str(new_manager.id),
        "safety_id": str(new_safety.id), "termination": (BytesIO(PDF_BYTES), "解除合同协议.pdf"),
        "new_contract": (BytesIO(PDF_BYTES), "新合同.pdf")}, content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    assert "已上报" in client.get(resp.headers["Location"]).get_data(as_text=True)
    logout(client)
    login(client, "agency_reviewer")
    db.session.rollback()   # end this session's read snapshot: the page's request wrote the report
    [task] = services.reviews.inbox(world.who("agency_reviewer")).rows
    services.reviews.claim(world.who("agency_reviewer"), task.id)
    review = client.get(f"/review/task/{task.id}").get_data(as_text=True)
    assert "丁经理 将成为 滇池路综合体一期 项目经理" in review and "云南工程建设总承包有限公司 将收到通知" in review
    services.reviews.approve(world.who("agency_reviewer"), task.id, "同意")
    logout(client)
    login(client, "owner_user")
    project_page = client.get(f"/enterprise/projects/{p.id}").get_data(as_text=True)
    assert "变更记录" in project_page and "施工单位：云南建投第一建设有限公司 → 云南工程建设总承包有限公司" in project_page
    assert client.get(f"/enterprise/projects/{p.id}").status_code == 200
    logout(client)
    login(client, "contractor_user")
    assert client.get(f"/enterprise/projects/{p.id}").status_code == 403


def test_a_roster_entry_left_behind_by_its_unit_is_an_invariant_break(world, services):
    """The check that proves the unit change's roster step: without it the old unit's entry would stay."""
    p, *_rest = _unit_world(world)
    assert check_invariants() == []
    p.contractor_id = world.orgs["contractor2"].id   # moved without the process
    db.session.commit()
    # the old unit's key people are reported too (assignments outside their unit); the roster's own line:
    [line] = [found for found in check_invariants() if "名册记录" in found]
    assert "已不是该工程的参建单位" in line
