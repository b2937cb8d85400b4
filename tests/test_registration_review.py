"""注册审核 on the engine: a registration is an instance reviewed by the platform administrators
(签收, 审核通过, 退回 with a reason); a returned registrant corrects and submits again."""
from dataclasses import replace

import pytest
from sqlalchemy import select

from engine import InvalidFormData, TaskClosed
from engine.db import db
from engine.models import AuditEntry, HumanTask, ProcessInstance
from handlers import accounts
from handlers.accounts import PENDING_MESSAGE, Registration
from handlers.errors import DomainError, Forbidden, NotFound
from handlers.models import ACTIVE, PENDING, REJECTED, Account, Organization
from handlers.models import Registration as Submission

from .web_helpers import client_world  # noqa: F401 (fixture)
from .world import credit_code, row_counts
from .world import review_registration as review

GOOD = Registration(kind="contractor", org_name="云南省第三建设有限公司", credit_code="91350100M000100Y43",
                    contact_person="刘联系", mobile="13888001234", username="yn3jian", password="ynqs2026x")


def open_task(account) -> HumanTask:
    return db.session.scalar(select(HumanTask).join(Submission, Submission.instance_id == HumanTask.instance_id)
                             .where(Submission.account_id == account.id, HumanTask.state == "open"))


def test_a_registration_is_a_review_task_of_the_platform_administrators(world, services):
    account = services.registration.register(GOOD)
    assert account.status == PENDING
    task = open_task(account)
    assert task.name == "注册审核" and task.process_key == "registration_review" and task.claim_required
    assert task.subject == "云南省第三建设有限公司注册申请"
    assert [c.org_id for c in task.candidates] == [world.org("platform").id]
    [(reg, task_id)] = services.registration.pending(world.who("admin"))
    assert (reg.account_id, task_id) == (account.id, task.id)
    from handlers.models import Notification
    [note] = db.session.scalars(select(Notification).where(Notification.kind == "registration")).all()
    assert note.account_id == world.who("admin").account_id and note.task_id == task.id
    assert note.title == "新的注册申请：云南省第三建设有限公司"
    with pytest.raises(Forbidden):
        services.registration.pending(world.who("agency_reviewer"))
    # a regulator is no candidate: the task is not theirs to see or claim; an enterprise is no reviewer
    with pytest.raises(NotFound):
        services.reviews.claim(world.who("agency_reviewer"), task.id)
    with pytest.raises(NotFound):
        services.reviews.task(world.who("agency_reviewer"), task.id)
    assert services.reviews.inbox(world.who("agency_reviewer")).rows == []
    with pytest.raises(Forbidden):
        services.reviews.claim(world.who("contractor_user"), task.id)
    [row] = services.reviews.inbox(world.who("admin")).rows
    assert row.id == task.id


def _log(account):
    reg_ids = select(Submission.instance_id).where(Submission.account_id == account.id)
    return [(e.action, e.user_name, e.opinion) for e in db.session.scalars(
        select(AuditEntry).where(AuditEntry.instance_id.in_(reg_ids)).order_by(AuditEntry.id))]


def test_approval_activates_the_account_and_is_kept_in_the_history(world, services):
    admin = world.who("admin")
    account = services.registration.register(GOOD)
    with pytest.raises(DomainError) as exc:
        accounts.authenticate("yn3jian", "ynqs2026x")
    assert exc.value.message == PENDING_MESSAGE
    task = open_task(account)
    reg = review(services, admin, account, "approve")
    assert (reg.status, db.session.get(ProcessInstance, reg.instance_id).end_element_id) == ("approved", "End_Approved")
    assert account.status == ACTIVE and account.reject_reason is None and account.reviewed_at is not None
    user = accounts.authenticate("yn3jian", "ynqs2026x")
    assert accounts.act_as(user, account.id).org_name == "云南省第三建设有限公司"
    assert _log(account) == [("签收", admin.user_name, None), ("审核通过", admin.user_name, None),
                             ("账号启用", "系统", "云南省第三建设有限公司（yn3jian）的账号已启用")]
    [decided] = services.registration.history(admin)
    assert (decided.status, decided.decided_by_name, decided.reason) == ("approved", admin.user_name, "")
    assert decided.finished_at is not None
    assert services.registration.pending(admin) == []
    with pytest.raises(TaskClosed):   # a second decision on the same registration
        services.reviews.submit(admin, task.id, {"decision": "return", "reason": "重复处理"})
    assert account.status == ACTIVE


def test_a_return_needs_a_reason_and_changes_nothing_without_one(world, services):
    admin = world.who("admin")
    account = services.registration.register(GOOD)
    with pytest.raises(InvalidFormData) as exc:
        review(services, admin, account, "return", "  ")
    assert exc.value.message == "退回原因：退回时必须填写退回原因"
    db.session.expire_all()
    assert account.status == PENDING and open_task(account) is not None
    assert services.registration.history(admin) == []


def test_returned_registrant_sees_the_reason_corrects_and_is_approved(world, services):
    admin = world.who("admin")
    account = services.registration.register(GOOD)
    reg = review(services, admin, account, "return", "营业执照信息与单位名称不符")
    assert (reg.status, db.session.get(ProcessInstance, reg.instance_id).end_element_id) == ("declined", "End_Returned")
    assert (account.status, account.reject_reason) == (REJECTED, "营业执照信息与单位名称不符")
    with pytest.raises(accounts.RegistrationReturned) as exc:
        accounts.authenticate("yn3jian", "ynqs2026x")
    assert exc.value.message == "注册申请未通过审核，原因：营业执照信息与单位名称不符"
    assert (exc.value.user_id, exc.value.account_id) == (account.user_id, account.id)
    # the username is still theirs: registering it anew is refused, correcting is the way
    with pytest.raises(DomainError, match="用户名：该用户名已被注册"):
        services.registration.register(GOOD)
    user = account.user
    assert services.registration.returned(user) == [account]
    fixed = replace(GOOD, org_name="云南省第三建设集团有限公司", credit_code=credit_code(424242), mobile="13888005678")
    services.registration.resubmit(user, account.id, fixed)
    assert (account.status, account.reject_reason) == (PENDING, None)
    org = account.org
    assert (org.name, org.credit_code, org.contact_phone) == ("云南省第三建设集团有限公司", credit_code(424242),
                                                              "13888005678")
    assert user.mobile == "13888005678"
    with pytest.raises(DomainError) as exc:
        accounts.authenticate("yn3jian", "ynqs2026x")
    assert exc.value.message == PENDING_MESSAGE
    [(pending, _task)] = services.registration.pending(admin)
    assert pending.org_name == "云南省第三建设集团有限公司"
    review(services, admin, account, "approve")
    assert account.status == ACTIVE
    assert accounts.authenticate("yn3jian", "ynqs2026x").id == user.id
    approved, returned = services.registration.history(admin)
    assert (approved.status, approved.org_name) == ("approved", "云南省第三建设集团有限公司")
    assert (returned.status, returned.org_name, returned.reason) == ("declined", "云南省第三建设有限公司",
                                                                     "营业执照信息与单位名称不符")
    assert [a for a, _u, _o in _log(account)] == ["签收", "退回", "退回注册", "签收", "审核通过", "账号启用"]


def test_a_bad_correction_changes_nothing(world, services):
    admin = world.who("admin")
    account = services.registration.register(GOOD)
    review(services, admin, account, "return", "联系人有误")
    before = row_counts(Account, Organization, Submission, ProcessInstance)
    for change, message in (({"credit_code": "91350100M000100Y44"}, "统一社会信用代码：格式或校验位不正确（应为 18 位）"),
                            ({"mobile": "1388"}, "手机号码：请填写 11 位手机号码"),
                            ({"kind": "platform"}, "账号类型：请选择有效的账号类型"),
                            ({"credit_code": world.org("firm").credit_code},
                             "统一社会信用代码：该单位已以其他账号类型登记")):
        with pytest.raises(DomainError) as exc:
            services.registration.resubmit(account.user, account.id, replace(GOOD, **change))
        assert exc.value.message == message
        db.session.commit()
        db.session.expire_all()
        assert row_counts(Account, Organization, Submission, ProcessInstance) == before
        assert (account.status, account.org.name) == (REJECTED, "云南省第三建设有限公司")


def test_only_the_registrant_may_correct_and_only_a_returned_registration(world, services):
    admin = world.who("admin")
    account = services.registration.register(GOOD)
    with pytest.raises(NotFound):   # still under review
        services.registration.resubmit(account.user, account.id, GOOD)
    review(services, admin, account, "return", "资料不全")
    other = services.registration.register(replace(GOOD, username="other1", credit_code=credit_code(5151)))
    with pytest.raises(NotFound):
        services.registration.resubmit(other.user, account.id, GOOD)
    with pytest.raises(NotFound):
        services.registration.for_correction(other.user, account.id)


def test_a_correction_may_name_an_organisation_already_registered(world, services):
    """The registrant typed a wrong credit code; the right one belongs to an organisation already on
    the platform: the account moves to it, which keeps its name."""
    admin = world.who("admin")
    account = services.registration.register(GOOD)
    review(services, admin, account, "return", "信用代码有误")
    existing = world.org("contractor2")
    services.registration.resubmit(account.user, account.id, replace(GOOD, credit_code=existing.credit_code))
    assert account.org_id == existing.id and existing.name != GOOD.org_name
    review(services, admin, account, "approve")
    principal = accounts.act_as(accounts.authenticate("yn3jian", "ynqs2026x"), account.id)
    assert principal.org_id == existing.id


def test_another_role_is_reviewed_and_corrected_the_same_way(world, services):
    admin = world.who("admin")
    user = db.session.get(Account, world.who("contractor_user").account_id).user
    name, mobile = user.name, user.mobile
    role = services.registration.add_role(user, replace(GOOD, kind="supervising_firm", username="", password=""))
    assert role.status == PENDING and open_task(role) is not None
    review(services, admin, role, "return", "非本单位人员")
    assert accounts.authenticate("contractor_user", "demo1234").id == user.id   # the first role still works
    services.registration.resubmit(user, role.id, replace(GOOD, kind="supervising_firm", org_name="改正的监理公司"))
    review(services, admin, role, "approve")
    assert role.status == ACTIVE and role.org.name == "改正的监理公司"
    assert (user.name, user.mobile) == (name, mobile)   # a login with an approved role keeps its own contact


def test_a_registration_is_one_unit_of_work_with_its_instance(ctx, world):
    """Nothing of a registration is kept when a later step of the same command fails."""
    from engine.db import unit_of_work
    services = ctx.extensions["services"]
    before = row_counts(Account, Organization, Submission, ProcessInstance, HumanTask)
    with pytest.raises(RuntimeError):
        with unit_of_work():
            services.registration.register(GOOD)
            raise RuntimeError("a later step of the same command fails")
    assert row_counts(Account, Organization, Submission, ProcessInstance, HumanTask) == before


def test_two_tabs_resubmitting_at_once_start_one_review(ctx, world, services):
    """Of two resubmissions of one returned registration at the same moment, one starts a review and
    the other is refused; the account has one submission under review."""
    from handlers.models import User
    from .race_helpers import run_at_once
    account = services.registration.register(GOOD)
    review(services, world.who("admin"), account, "return", "资料不全")
    account_id, user_id = account.id, account.user_id
    db.session.commit()

    def resubmit(i):
        user = db.session.get(User, user_id)
        return services.registration.resubmit(user, account_id, replace(GOOD, org_name=f"改正后的名称{i}")).id

    results = run_at_once(ctx, 4, resubmit)
    assert sorted(kind for kind, _ in results) == ["error", "error", "error", "ok"]
    for kind, outcome in results:
        if kind == "error":
            assert isinstance(outcome, (DomainError, NotFound)), outcome
    db.session.expire_all()
    assert db.session.get(Account, account_id).status == PENDING
    assert len(services.registration.pending(world.who("admin"))) == 1


def test_the_api_serves_an_administrator_s_registration_task(client_world_api):
    """The integration API reads the same review tasks: an administrator's registration task comes
    with its application (no project)."""
    client, world, services, token = client_world_api
    account = services.registration.register(GOOD)
    task = open_task(account)
    db.session.commit()
    resp = client.get(f"/api/v1/tasks/{task.id}", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    app = resp.get_json()["application"]
    assert (app["kind"], app["project"], app["applicant_org"]) == ("registration", None, "云南省第三建设有限公司")
    assert app["status_label"] == "待审核"


@pytest.fixture()
def client_world_api(client_world, services):
    from .api_helpers import personal_token
    client, world = client_world
    return client, world, services, personal_token("admin")


def test_the_approval_preview_says_the_account_will_be_activated(world, services):
    """The administrator's 审核通过 activates the account: the preview says so, not that nothing
    changes; and it is a rehearsal (the account stays pending)."""
    account = services.registration.register(GOOD)
    admin = world.who("admin")
    task = open_task(account)
    services.reviews.claim(admin, task.id)
    preview = services.reviews.approval_preview(admin, task.id)
    assert preview.applied
    assert preview.text == "云南省第三建设有限公司的账号 yn3jian（刘联系）将启用，可以登录本系统"
    assert "不改变" not in preview.text
    db.session.expire_all()
    assert db.session.get(Account, account.id).status == PENDING
