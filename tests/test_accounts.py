"""Registration, its review by the platform administrator, and login (domain.md §2)."""
from dataclasses import replace

import pytest

from engine import InvalidFormData, TaskClosed
from handlers import accounts
from handlers.accounts import PENDING_MESSAGE, WRONG_PASSWORD, Registration
from handlers.errors import DomainError, Forbidden, NotFound
from handlers.models import ACTIVE, CONTRACTOR, PENDING, PLATFORM, REJECTED, Account, Organization, User

from .world import credit_code, review_registration, row_counts

GOOD = Registration(kind=CONTRACTOR, org_name="云南省第三建设有限公司", credit_code="91350100M000100Y43",
                    contact_person="刘联系", mobile="13888001234", username="yn3jian", password="ynqs2026x")


@pytest.mark.parametrize("change, message", [
    ({"credit_code": "91350100M000100Y44"}, "统一社会信用代码：格式或校验位不正确（应为 18 位）"),
    ({"credit_code": "9135010"}, "统一社会信用代码：格式或校验位不正确（应为 18 位）"),
    ({"password": "abc123"}, "密码：至少 8 位，且须同时包含字母和数字"),
    ({"password": "12345678"}, "密码：至少 8 位，且须同时包含字母和数字"),
    ({"password": "abcdefgh"}, "密码：至少 8 位，且须同时包含字母和数字"),
    ({"mobile": "1388800123"}, "手机号码：请填写 11 位手机号码"),
    ({"kind": PLATFORM}, "账号类型：请选择有效的账号类型"),
    ({"org_name": "  "}, "单位名称：请填写单位名称"),
    ({"contact_person": ""}, "联系人：请填写联系人"),
    ({"username": "a b"}, "用户名：4–50 位字母、数字或 _ . @ -"),
    ({"password": "abc12345"}, "密码：该密码过于常见，容易被猜中，请换一个"),
    ({"password": "Password123"}, "密码：该密码过于常见，容易被猜中，请换一个"),
    ({"password": "qq5201314"}, "密码：该密码过于常见，容易被猜中，请换一个"),
    ({"password": "YN3jian2026"}, "密码：密码不能包含用户名"),
])
def test_registration_is_validated(services, change, message):
    before = row_counts(User, Account, Organization)
    with pytest.raises(DomainError) as exc:
        services.registration.register(replace(GOOD, **change))
    assert exc.value.message == message
    assert row_counts(User, Account, Organization) == before


def test_a_full_width_lower_case_credit_code_is_kept_in_its_one_spelling(services):
    wide = "".join(chr(ord(c) + 0xFEE0) for c in GOOD.credit_code.lower())
    account = services.registration.register(replace(GOOD, credit_code=" \u200b" + wide))
    assert account.org.credit_code == GOOD.credit_code
    second = services.registration.register(replace(GOOD, credit_code=GOOD.credit_code.lower(), username="other1"))
    assert second.org_id == account.org_id


def test_pending_then_approved_account_logs_in(world, services):
    account = services.registration.register(GOOD)
    assert account.status == PENDING
    with pytest.raises(DomainError) as exc:
        accounts.authenticate("yn3jian", "ynqs2026x")
    assert exc.value.message == PENDING_MESSAGE == "账号正在审核中，请等待平台管理员审核通过后再登录"
    assert account in [reg.account for reg, _task in services.registration.pending(world.who("admin"))]
    with pytest.raises(Forbidden):
        services.registration.pending(world.who("contractor_user"))
    with pytest.raises(Forbidden):   # the review task is the platform administrators' only
        review_registration(services, world.who("contractor_user"), account, "approve")
    with pytest.raises(NotFound):
        review_registration(services, world.who("agency_reviewer"), account, "approve")
    review_registration(services, world.who("admin"), account, "approve")
    assert account.status == ACTIVE
    user = accounts.authenticate("yn3jian", "ynqs2026x")
    principal = accounts.act_as(user, account.id)
    assert principal.org_name == "云南省第三建设有限公司" and principal.kind == CONTRACTOR
    with pytest.raises(TaskClosed) as exc:   # a second decision on the same registration
        review_registration(services, world.who("admin"), account, "return", "重复处理")
    assert exc.value.message == "该任务已处理完毕"
    assert account.status == ACTIVE


def test_rejected_account_is_told_the_reason(world, services):
    account = services.registration.register(GOOD)
    with pytest.raises(InvalidFormData) as exc:
        review_registration(services, world.who("admin"), account, "return", "  ")
    assert exc.value.message == "退回原因：退回时必须填写退回原因"
    assert account.status == PENDING
    review_registration(services, world.who("admin"), account, "return", "营业执照信息与单位名称不符")
    assert account.status == REJECTED
    with pytest.raises(DomainError) as exc:
        accounts.authenticate("yn3jian", "ynqs2026x")
    assert exc.value.message == "注册申请未通过审核，原因：营业执照信息与单位名称不符"


def test_wrong_password_and_unknown_user_get_the_same_message(world, services):
    services.registration.register(GOOD)
    for username, password in (("yn3jian", "wrong1234"), ("nobody", "ynqs2026x"), ("yn3jian", "")):
        with pytest.raises(DomainError) as exc:
            accounts.authenticate(username, password)
        assert exc.value.message == WRONG_PASSWORD == "用户名或密码错误"


def test_duplicate_username_and_kind_conflict_are_refused(world, services):
    services.registration.register(GOOD)
    with pytest.raises(DomainError) as exc:
        services.registration.register(replace(GOOD, credit_code=credit_code(990001)))
    assert exc.value.message == "用户名：该用户名已被注册"
    contractor_code = world.org("contractor").credit_code
    with pytest.raises(DomainError) as exc:
        services.registration.register(replace(GOOD, username="another1", credit_code=contractor_code, kind="supervising_firm"))
    assert exc.value.message == "统一社会信用代码：该单位已以其他账号类型登记"


def test_act_as_only_own_approved_accounts(world, services):
    pending = services.registration.register(GOOD)
    review_registration(services, world.who("admin"), pending, "approve")
    user = accounts.authenticate("yn3jian", "ynqs2026x")
    from handlers.errors import NotFound
    other_account_id = world.who("contractor_user").account_id
    with pytest.raises(NotFound):
        accounts.act_as(user, other_account_id)


def test_registration_joins_the_open_unit_of_work(services):
    """One unit of work: inside an outer command nothing is committed until the command ends."""
    from engine.db import unit_of_work
    before = row_counts(User, Account, Organization)
    with pytest.raises(RuntimeError):
        with unit_of_work():
            services.registration.register(GOOD)
            raise RuntimeError("a later step of the same command fails")
    assert row_counts(User, Account, Organization) == before


def test_a_failing_later_field_changes_nothing_in_the_enterprise_info(world):
    """Every field is checked before any is written: the name stays, even if the session is
    committed afterwards by something else in the same request."""
    from engine.db import db
    from handlers.models import OrgInfoChange
    principal = world.who("contractor_user")
    org = db.session.get(Organization, principal.org_id)
    name, address = org.name, org.address
    with pytest.raises(DomainError, match="地址：内容过长"):
        accounts.update_enterprise(principal, {"name": "改过的名称", "address": "长" * 201})
    db.session.commit()
    db.session.expire_all()
    org = db.session.get(Organization, principal.org_id)
    assert (org.name, org.address) == (name, address)
    assert row_counts(OrgInfoChange) == {"org_info_change": 0}


def test_a_failing_registration_stores_no_organisation(services):
    """The organisation of a refused registration is not left behind for a later commit."""
    from engine.db import db
    services.registration.register(GOOD)
    before = row_counts(User, Account, Organization)
    other_org = replace(GOOD, credit_code=credit_code(777), org_name="新单位")
    with pytest.raises(DomainError, match="用户名：该用户名已被注册"):
        services.registration.register(other_org)
    db.session.commit()
    assert row_counts(User, Account, Organization) == before


@pytest.mark.parametrize("kind, label", [
    ("construction_unit", "建设单位"), ("contractor", "施工单位"), ("supervising_firm", "监理单位"),
    ("agency", "监督机构"), ("authority", "主管部门")])
def test_every_enterprise_and_regulator_registration_waits_for_the_administrator(world, services, kind, label):
    """domain.md §2 (decided): enterprise and regulator accounts all need review. Each kind stays
    pending, cannot log in until a platform administrator approves, then acts as its kind."""
    registration = replace(GOOD, kind=kind, org_name=f"注册测试{label}", credit_code=credit_code(880000 + len(kind)),
                           username=f"reg_{kind}")
    account = services.registration.register(registration)
    assert account.status == PENDING and account.org.kind == kind and account.org.kind_label == label
    with pytest.raises(DomainError) as exc:
        accounts.authenticate(registration.username, registration.password)
    assert exc.value.message == "账号正在审核中，请等待平台管理员审核通过后再登录"
    review_registration(services, world.who("admin"), account, "approve")
    principal = accounts.act_as(accounts.authenticate(registration.username, registration.password), account.id)
    assert (principal.kind, principal.org_name) == (kind, f"注册测试{label}")


def test_an_account_belongs_to_exactly_one_organisation(world):
    """domain.md §1: every user account belongs to exactly one organisation; a second role of the same
    person is a second account (one login, two accounts, see test_web_auth)."""
    from sqlalchemy.exc import IntegrityError

    from engine.db import db
    user = User(username="no_org_user", password_hash="x", name="无单位")
    db.session.add(Account(user=user, status=PENDING))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    assert Account.org_id.property.columns[0].nullable is False
