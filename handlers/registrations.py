"""注册审核 on the engine (diagram ``bpmn/registration_review.bpmn``).

Each submission of a registration (or of one more role) is a ``Registration`` row and one process
instance, reviewed by the platform administrators from the review inbox (签收, 审核通过, 退回 with a
reason). The operators activate the account, or mark it rejected with the reason that login shows.
A returned registrant logs in with the credentials of the pending registration, is shown the reason
and corrects the details; that submits the next instance for the same account (the username stays
theirs), so every decision is kept as one row of the history.
"""
from sqlalchemy import select, update

from engine import Actor, InvalidFormData, ProcessEngine
from engine.db import db
from engine.models import HumanTask, utcnow
from engine.registry import ServiceCall

from . import accounts
from .errors import DomainError, Forbidden, NotFound
from .notifications import notify
from .models import (
    ACTIVE, APPROVED, DECLINED, ORG_KINDS, PENDING, PLATFORM, REJECTED, REPORTED, Account, Organization, Registration,
    User,
)
from .principal import Principal
from .processes import registry

PROCESS_KEY = "registration_review"
REVIEW_FORM = "registration.review"
REASON_MAX = 500


# -- what the diagram refers to ---------------------------------------------------------------
@registry.candidate_rule("platform_admins")
def _platform_admins(instance) -> list[int]:
    """The platform organisation(s): their administrators review registrations."""
    return list(db.session.scalars(select(Organization.id).where(Organization.kind == PLATFORM)))


@registry.form(REVIEW_FORM)
def _review_form(data: dict) -> dict:
    decision = data.get("decision")
    if decision not in ("approve", "return"):
        raise InvalidFormData("请选择审核结论", field="decision")
    reason = (data.get("reason") or "").strip()
    if decision == "return" and not reason:
        raise InvalidFormData("退回原因：退回时必须填写退回原因", field="reason")
    if len(reason) > REASON_MAX:
        raise InvalidFormData(f"退回原因：不能超过 {REASON_MAX} 个字", field="reason")
    return {"decision": decision, "reason": reason}


def registration_of(instance) -> Registration:
    return db.session.scalar(select(Registration).where(Registration.instance_id == instance.id))


def _decided(reg: Registration, status: str, actor: Actor) -> None:
    reg.status, reg.finished_at, reg.decided_by_name = status, utcnow(), actor.user_name
    reg.account.reviewed_at = reg.finished_at


@registry.operator("registration.activate")
def activate(call: ServiceCall) -> dict:
    """账号启用: the account may log in."""
    reg = registration_of(call.instance)
    account = reg.account
    if account.status != PENDING:
        raise RuntimeError(f"账号状态为 {account.status}，不是待审核")
    account.status, account.reject_reason = ACTIVE, None
    _decided(reg, APPROVED, call.actor)
    return {"applied": True, "message": f"{reg.org_name}（{reg.user.username}）的账号已启用"}


@registry.operator("registration.return")
def return_(call: ServiceCall) -> dict:
    """退回注册: the account is rejected with the reason; the registrant may correct and submit again."""
    reg = registration_of(call.instance)
    reason = str(call.params.get("reason") or "").strip() or "无"
    account = reg.account
    account.status, account.reject_reason = REJECTED, reason
    reg.reason = reason
    _decided(reg, DECLINED, call.actor)
    if not accounts.active_accounts(account.user):
        accounts.end_sessions(account.user_id)   # a login left with no role keeps no session
    return {"applied": True, "message": f"退回原因：{reason}"}


# -- the registrant's and the administrators' side ------------------------------------------------
class RegistrationService:
    def __init__(self, engine: ProcessEngine):
        self.engine = engine

    def register(self, reg: accounts.Registration) -> Account:
        """注册: a pending account (and its organisation if new) under review, in one unit of work."""
        with self.engine.command():
            account = accounts.create_pending_account(reg)
            self._submit(account)
        return account

    def add_role(self, user: User, reg: accounts.Registration) -> Account:
        """角色账号: one more account of a logged-in person, reviewed like a registration."""
        with self.engine.command():
            account = accounts.create_pending_role(user, reg)
            self._submit(account)
        return account

    def returned(self, user: User) -> list[Account]:
        """The user's returned accounts (the ones they may correct and submit again)."""
        return [a for a in user.accounts if a.status == REJECTED]

    def for_correction(self, user: User, account_id: int) -> tuple[Account, Registration | None]:
        """A returned account of this user, and its last submission (None for one decided before
        registrations ran on the engine)."""
        account = db.session.get(Account, account_id)
        if account is None or account.user_id != user.id or account.status != REJECTED:
            raise NotFound("该注册申请不存在或不是退回状态")
        last = db.session.scalar(select(Registration).where(Registration.account_id == account.id)
                                 .order_by(Registration.id.desc()).limit(1))
        return account, last

    def resubmit(self, user: User, account_id: int, reg: accounts.Registration) -> Account:
        """The registrant corrects a returned registration and submits it again: everything is checked
        before anything changes; the account is pending again, under a new review."""
        with self.engine.command():
            account, _last = self.for_correction(user, account_id)
            # the gate: of two tabs resubmitting at once, the second finds the account pending already
            reopened = db.session.execute(
                update(Account).where(Account.id == account.id, Account.status == REJECTED)
                .values(status=PENDING), execution_options={"synchronize_session": False}).rowcount
            if reopened != 1:
                raise DomainError("该注册申请已重新提交，请勿重复提交")
            accounts.correct_account(account, reg)
            self._submit(account)
        return account

    def submit(self, account: Account) -> Registration:
        """Submit a pending account for review: one more instance of the diagram."""
        with self.engine.command():
            return self._submit(account)

    def _submit(self, account: Account) -> Registration:
        db.session.flush()
        org, user = account.org, account.user
        reg = Registration(account=account, user=user, applicant_org_id=org.id, kind=org.kind, org_name=org.name,
                           credit_code=org.credit_code or "", contact_person=org.contact_person or user.name,
                           mobile=org.contact_phone or user.mobile, status=REPORTED)
        db.session.add(reg)
        db.session.flush()
        result = self.engine.start(
            PROCESS_KEY, f"registration:{reg.id}", Actor(user.id, user.name, org.id, org.name),
            subject=f"{org.name}注册申请", scope=f"{ORG_KINDS[org.kind]} · {user.username}", scope_id=reg.id,
            applicant_org_id=org.id, applicant_name=org.name)
        reg.instance_id = result.instance.id
        task_id = result.opened[0].id if result.opened else None
        notify("registration", _platform_admins(None), f"新的注册申请：{org.name}",
               f"{ORG_KINDS[org.kind]}“{org.name}”（用户名 {user.username}）提交了注册申请，请签收审核。",
               task_id=task_id)
        return reg

    # -- the platform administrators ------------------------------------------------------------
    def pending(self, admin: Principal) -> list[tuple[Registration, int | None]]:
        """待审核: submissions under review with their open review task (for the inbox link)."""
        _require_admin(admin)
        rows = db.session.execute(
            select(Registration, HumanTask.id)
            .outerjoin(HumanTask, (HumanTask.instance_id == Registration.instance_id) & (HumanTask.state == "open"))
            .where(Registration.status == REPORTED).order_by(Registration.id)).all()
        return [(reg, task_id) for reg, task_id in rows]

    def history(self, admin: Principal, limit: int = 200) -> list[Registration]:
        """审核记录: decided submissions, newest first: who decided, when, and a return's reason."""
        _require_admin(admin)
        return list(db.session.scalars(select(Registration).where(Registration.finished_at.is_not(None))
                                       .order_by(Registration.finished_at.desc(), Registration.id.desc())
                                       .limit(limit)))

def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden()
