"""注册审核 (domain.md §2) on the engine: the catalog entry, the operators and the service.

Each submission of a registration (or of one more role) is a ``Registration`` row and one instance
of ``bpmn/registration_review.bpmn``, reviewed by the platform administrators from the same 待办
inbox as every other review (签收, 审核通过, 退回 with a reason). The operators activate the account,
or mark it rejected with the reason that login shows. A returned registrant logs in with the
credentials of the registration, is shown the reason and corrects the details; that submits the
next instance for the same account (the username stays theirs), so each decision stays in the record.

A registrant has no organisation account yet, so nothing of theirs is a user task: the return ends
the submission (status 未通过), and the correction is the next submission.
"""
from sqlalchemy import func, select, update

from engine import Actor
from engine.db import db
from engine.models import HumanTask, utcnow
from engine.registry import ServiceCall

from .. import accounts, catalog
from ..applications import ApplicationService, Upload
from ..catalog import Column, ProcessEntry
from ..errors import DomainError, Forbidden, NotFound
from ..models import (
    ACTIVE, APPROVED, DECLINED, ORG_KINDS, PENDING, PLATFORM, REJECTED, REPORTED, Account, Attachment, Organization,
    Registration, User,
)
from ..notifications import notify
from ..principal import Principal
from . import registry

PROCESS_KEY = "registration_review"
ENTRY_KIND = "registration"
LICENCE, LICENCE_LABEL = "licence", "营业执照扫描件"


# -- what the diagram refers to ---------------------------------------------------------------
@registry.candidate_rule("platform_admins")
def platform_admins(instance=None) -> list[int]:
    """The platform organisation(s): their administrators review registrations."""
    return list(db.session.scalars(select(Organization.id).where(Organization.kind == PLATFORM)))


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
class RegistrationService(ApplicationService):
    """Registrations are filed from the registration pages, not the applicant's pages (no filers);
    the review pages read the rest of ApplicationService (log, diagram, attachments: none)."""

    def register(self, reg: accounts.Registration, licence: Upload | None = None) -> Account:
        """注册: a pending account (and its organisation if new) under review, with the business
        licence scan (营业执照) the reviewers see, in one unit of work."""
        with self.engine.command():
            account = accounts.create_pending_account(reg)
            submission = self._submit(account)
            if licence is not None:
                self._attach_licence(submission, licence)
        return account

    def get(self, principal: Principal, app_id: int) -> Registration:
        """A submission (and its licence) is the platform administrators' and its organisation's only."""
        reg = db.session.get(Registration, app_id)
        if reg is None or not (principal.is_admin or reg.applicant_org_id == principal.org_id):
            raise NotFound()
        return reg

    def check_licence(self, licence: Upload | None) -> None:
        """The registration page's upload: present, and a file the upload rules accept."""
        if licence is None or not licence.filename:
            raise DomainError(f"{LICENCE_LABEL}：请上传营业执照扫描件", LICENCE)
        self.uploads.check(licence.data, licence.filename, LICENCE, LICENCE_LABEL)

    def _attach_licence(self, submission: Registration, licence: Upload) -> Attachment:
        stored = self.uploads.save(licence.data, licence.filename, LICENCE, LICENCE_LABEL)
        attachment = Attachment(owner_type=ENTRY_KIND, owner_id=submission.id, kind=LICENCE, sha256=stored.sha256,
                                size=stored.size, content_type=stored.content_type, filename=stored.filename,
                                org_id=submission.applicant_org_id, uploaded_by_user_id=submission.user_id)
        db.session.add(attachment)
        return attachment

    def attachment_labels(self) -> dict[str, str]:
        return {LICENCE: LICENCE_LABEL}

    def attachments(self, app) -> list[Attachment]:
        """A submission's licence; a corrected submission shows the account's latest licence."""
        rows = list(db.session.scalars(select(Attachment).where(
            Attachment.owner_type == ENTRY_KIND, Attachment.owner_id == app.id).order_by(Attachment.id)))
        if rows:
            return rows
        earlier = select(Registration.id).where(Registration.account_id == app.account_id, Registration.id < app.id)
        return list(db.session.scalars(select(Attachment).where(
            Attachment.owner_type == ENTRY_KIND, Attachment.owner_id.in_(earlier))
            .order_by(Attachment.id.desc()).limit(1)))

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

    def resubmit(self, user: User, account_id: int, reg: accounts.Registration,
                 licence: Upload | None = None) -> Account:
        """The registrant corrects a returned registration and submits it again: everything is checked
        before anything changes; the account is pending again, under a new review. A new licence
        scan, if given, goes with the new submission; without one the reviewers see the last one."""
        with self.engine.command():
            account, _last = self.for_correction(user, account_id)
            if licence is not None:
                self.check_licence(licence)
            # the gate: of two tabs resubmitting at once, the second finds the account pending already
            reopened = db.session.execute(
                update(Account).where(Account.id == account.id, Account.status == REJECTED)
                .values(status=PENDING), execution_options={"synchronize_session": False}).rowcount
            if reopened != 1:
                raise DomainError("该注册申请已重新提交，请勿重复提交")
            accounts.correct_account(account, reg)
            submission = self._submit(account)
            if licence is not None:
                self._attach_licence(submission, licence)
        return account

    def submit(self, account: Account, licence: Upload | None = None) -> Registration:
        """Submit a pending account for review: one more instance of the diagram."""
        with self.engine.command():
            submission = self._submit(account)
            if licence is not None:
                self._attach_licence(submission, licence)
            return submission

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
        notify("registration", platform_admins(), f"新的注册申请：{org.name}",
               f"{ORG_KINDS[org.kind]}“{org.name}”（用户名 {user.username}）提交了注册申请，请签收审核。",
               task_id=task_id)
        return reg

    def subject(self, app) -> str:
        return f"{app.org_name}注册申请"

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


def _round(reg: Registration) -> int:
    """Which submission of its account this is (a registration corrected after a return is the 2nd …)."""
    return db.session.scalar(select(func.count()).select_from(Registration).where(
        Registration.account_id == reg.account_id, Registration.id <= reg.id))


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden()


ENTRY = catalog.register(ProcessEntry(
    key=PROCESS_KEY, kind=ENTRY_KIND, title="注册审核", prefix="ZC",
    menu=("平台管理", "注册审核"), filers=(), reviewers=(PLATFORM,), notifies_applicant=False,
    model=Registration, service=RegistrationService, edit_form=None,
    picker_title="", picker_empty="", picks=lambda service, principal, flt: [],
    columns=(), basics=(),
    summary=(
        Column("账号类型", lambda r: ORG_KINDS[r.kind]),
        Column("单位名称", lambda r: r.org_name),
        Column("统一社会信用代码", lambda r: r.credit_code, "mono"),
        Column("联系人", lambda r: r.contact_person),
        Column("手机号码", lambda r: r.mobile),
        Column("用户名", lambda r: r.user.username),
        Column("提交次数", lambda r: f"第 {_round(r)} 次提交", when=lambda r: _round(r) > 1),
    ),
    operators=("registration.activate", "registration.return"),
    approval_operators=("registration.activate",),
))
