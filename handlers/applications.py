"""The applicant's side of the three processes: add, save (确定/暂存), report (上报), withdraw.

Every command is one engine command: the domain row, the workflow, the inbox rows and
the operation log change in one transaction.
"""
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from engine import ProcessEngine
from engine.audit import OperationLog
from engine.db import db
from engine.diagram import instance_svg
from engine.inbox import open_tasks, operation_log
from engine.models import HumanTask, ProcessInstance, utcnow

from . import lock_rule
from .notifications import notify
from .errors import DomainError, Forbidden, NotFound
from .models import (
    APPROVED, CONSTRUCTION_UNIT, CONTRACTOR, DRAFT, LOCKED, OPEN_STATUSES,
    REPORTED, RETURNED, ROLE_EMPLOYER, ROLES, SUPERVISING_FIRM, UNDER_CONSTRUCTION,
    WITHDRAWN, Assignment, Attachment, CompletionFiling, LockRecord, ManagerChangeApplication, Person,
    Project, UnlockApplication,
)
from .principal import Principal
from .processes import EDIT_FORM, REVIEW_FORM, manager_change_problem
from .uploads import UploadStore

# which key roles each enterprise kind employs (and so may file changes for)
ROLES_BY_KIND = {kind: tuple(r for r, k in ROLE_EMPLOYER.items() if k == kind) for kind in set(ROLE_EMPLOYER.values())}
TEXT_MAX, REASON_MAX = 2000, 500
UNLOCK_FORM = "unlock_form"
UNLOCK_FORM_LABEL = "建设工程项目人员解锁申请表"
ATTACHMENTS = "attachments"   # the field other uploads are filed under


@dataclass
class Upload:
    kind: str         # "attachment" or UNLOCK_FORM
    filename: str
    data: bytes


def sync_status(app, instance_status: str) -> None:
    """Derive the application's status from where its workflow stands."""
    if app.status == APPROVED:
        return
    if instance_status == "completed":
        app.status, app.finished_at, app.open_key = WITHDRAWN, utcnow(), None
        return
    if instance_status == "errored":
        return
    forms = {t.form_key for t in open_tasks(app.instance_id)}
    if REVIEW_FORM in forms:
        app.status = REPORTED
    elif EDIT_FORM in forms:
        app.status = RETURNED if app.reported_at else DRAFT


class ApplicationService:
    """What the three processes share; subclasses add their fields and checks."""
    model = None
    allowed_kinds: tuple[str, ...] = ()

    def __init__(self, engine: ProcessEngine, uploads: UploadStore):
        self.engine, self.uploads = engine, uploads

    # -- queries --------------------------------------------------------------------
    def list_own(self, principal: Principal, page: int = 1, per_page: int = 20, status: str | None = None):
        self._require_kind(principal)
        m = self.model
        stmt = select(m).where(m.applicant_org_id == principal.org_id)
        if status:
            stmt = stmt.where(m.status == status)
        total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = db.session.scalars(stmt.order_by(m.id.desc()).limit(per_page).offset((max(page, 1) - 1) * per_page))
        return list(rows), total

    def get(self, principal: Principal, app_id: int):
        """The application if this principal may see it: its applicant, the project's regulators
        once it was reported, or a platform administrator. Anyone else gets NotFound."""
        app = db.session.get(self.model, app_id)
        if app is None:
            raise NotFound()
        if app.applicant_org_id == principal.org_id or principal.is_admin:
            return app
        if principal.is_regulator and principal.org_id in app.project.regulator_ids and app.reported_at:
            return app
        raise NotFound()

    def get_own(self, principal: Principal, app_id: int):
        app = self.get(principal, app_id)
        if app.applicant_org_id != principal.org_id:
            raise Forbidden()
        return app

    def operation_log(self, app) -> OperationLog:
        return operation_log(app.instance_id)

    def attachments(self, app) -> list[Attachment]:
        return list(db.session.scalars(select(Attachment).where(
            Attachment.owner_type == self.model.kind, Attachment.owner_id == app.id).order_by(Attachment.id)))

    def diagram(self, app) -> str:
        """The process diagram (SVG) with the application's current step marked."""
        return instance_svg(app_instance(app))

    def open_task(self, app) -> HumanTask | None:
        tasks = open_tasks(app.instance_id)
        return tasks[0] if tasks else None

    # -- commands -------------------------------------------------------------------
    def save(self, principal: Principal, app_id: int, fields: dict, uploads: list[Upload] = (),
             action: str = "保存"):
        with self.engine.command():
            app = self._editable(principal, app_id)
            self._apply_fields(principal, app, fields)
            self.uploads.check_count(len(uploads))
            for upload in uploads:
                self._attach(principal, app, upload)
            app.updated_at = utcnow()
            self._validate_saved(app)
            self.engine.update_subject(app.instance_id, subject=self.subject(app))
            self.engine.record(app.instance_id, principal.actor, action)
        return app

    def remove_attachment(self, principal: Principal, app_id: int, attachment_id: int):
        with self.engine.command():
            app = self._editable(principal, app_id)
            att = db.session.get(Attachment, attachment_id)
            if att is None or att.owner_type != self.model.kind or att.owner_id != app.id:
                raise NotFound("附件不存在")
            db.session.delete(att)
            self.engine.record(app.instance_id, principal.actor, "删除附件", att.filename)
        return app

    def report(self, principal: Principal, app_id: int):
        """上报: send the application to the project's competent authority and supervision agency."""
        with self.engine.command():
            app = self._editable(principal, app_id, "该申请已上报，请勿重复提交")
            self._validate_for_report(app)
            app.reported_at = utcnow()
            self._complete_edit(principal, app, "report", "上报")
        return app

    def withdraw(self, principal: Principal, app_id: int):
        """撤回: end an application that was never reported or was returned."""
        with self.engine.command():
            app = self._editable(principal, app_id, "该申请当前不可撤回")
            self._complete_edit(principal, app, "withdraw", "撤回")
        return app

    # -- helpers for subclasses ------------------------------------------------------
    def _start(self, principal: Principal, app, open_key: str):
        self._require_kind(principal)
        if db.session.scalar(select(self.model.id).where(self.model.open_key == open_key)):
            raise DomainError(self.duplicate_message)
        app.open_key = open_key
        app.applicant_org_id, app.created_by_user_id = principal.org_id, principal.user_id
        db.session.add(app)
        try:
            db.session.flush()
        except IntegrityError as exc:
            # two tabs added the same thing at once: the unique open_key lets one through
            if "open_key" not in str(exc.orig):
                raise
            raise DomainError(self.duplicate_message) from exc
        result = self.engine.start(
            self.model.process_key, f"{self.model.kind}:{app.id}", principal.actor,
            subject=self.subject(app), scope=app.project.name, scope_id=app.project_id,
            applicant_org_id=principal.org_id, applicant_name=principal.org_name)
        app.instance_id = result.instance.id
        self.engine.record(app.instance_id, principal.actor, "新建")
        return app

    def _complete_edit(self, principal, app, action_value, label):
        task = self.open_task(app)
        if task is None or task.form_key != EDIT_FORM:
            raise DomainError("该申请当前不可操作")
        result = self.engine.complete(task.id, principal.actor, {"action": action_value}, action=label,
                                      outcome=action_value)
        sync_status(app, result.instance.status)
        for opened in result.opened:
            if opened.form_key == REVIEW_FORM:
                notify("task_offered", app.project.regulator_ids, f"待审核：{opened.subject}",
                       f"{principal.org_name}上报了{app.title}“{opened.subject}”（{opened.scope}），请签收办理。",
                       app=app, task_id=opened.id)

    def _editable(self, principal, app_id, message="该申请已上报，当前不可编辑"):
        app = self.get_own(principal, app_id)
        if not app.is_editable:
            raise DomainError(message)
        return app

    def _require_kind(self, principal):
        if principal.kind not in self.allowed_kinds:
            raise Forbidden("您的账号类型无权办理该业务")

    def _attach(self, principal, app, upload: Upload):
        field, label = (UNLOCK_FORM, UNLOCK_FORM_LABEL) if upload.kind == UNLOCK_FORM else (ATTACHMENTS, "附件")
        stored = self.uploads.save(upload.data, upload.filename, field, label)
        db.session.add(Attachment(
            owner_type=self.model.kind, owner_id=app.id, kind=upload.kind, sha256=stored.sha256,
            size=stored.size, content_type=stored.content_type, filename=stored.filename,
            org_id=principal.org_id, uploaded_by_user_id=principal.user_id))
        db.session.flush()

    def _common_text(self, app, fields):
        if "reason" in fields:
            app.reason = _text(fields["reason"], REASON_MAX, self.reason_label, "reason")
        if "explanation" in fields:
            app.explanation = _text(fields["explanation"], TEXT_MAX, "说明", "explanation")

    # subclass hooks
    duplicate_message = "已有未办结的申请"
    reason_label = "原因"

    def subject(self, app) -> str:
        raise NotImplementedError

    def _apply_fields(self, principal, app, fields):
        self._common_text(app, fields)

    def _validate_saved(self, app):
        pass

    def _validate_for_report(self, app):
        pass


class UnlockService(ApplicationService):
    """人员解锁申请 (2.2.1.1)."""
    model = UnlockApplication
    allowed_kinds = (CONTRACTOR, SUPERVISING_FIRM)
    duplicate_message = "该锁定记录已有未办结的解锁申请"
    reason_label = "解锁原因"

    def lockable(self, principal: Principal) -> list[LockRecord]:
        """The enterprise's own open lock records without an open unlock application (添加 dialog)."""
        self._require_kind(principal)
        busy = select(UnlockApplication.lock_record_id).where(UnlockApplication.status.in_(OPEN_STATUSES))
        return list(db.session.scalars(
            select(LockRecord).join(Person, Person.id == LockRecord.person_id)
            .where(Person.enterprise_id == principal.org_id, LockRecord.closed_at.is_(None),
                   LockRecord.id.not_in(busy))
            .order_by(Person.name, LockRecord.id)))

    def create(self, principal: Principal, lock_record_id: int) -> UnlockApplication:
        with self.engine.command():
            lock = db.session.get(LockRecord, lock_record_id)
            if lock is None or lock.person.enterprise_id != principal.org_id:
                raise NotFound("只能为本单位被锁定的人员申请解锁")
            if lock.closed_at is not None:
                raise DomainError("该人员已不再锁定，无需申请解锁")
            app = UnlockApplication(lock_record_id=lock.id, person_id=lock.person_id, project_id=lock.project_id)
            app.lock_record, app.person, app.project = lock, lock.person, lock.project
            return self._start(principal, app, f"lock:{lock.id}")

    def subject(self, app) -> str:
        return f"{app.person.name}（{ROLES[app.lock_record.role]}）解锁"

    def has_form(self, app) -> bool:
        return any(a.kind == UNLOCK_FORM for a in self.attachments(app))

    def _validate_saved(self, app):
        if not app.reason:
            raise DomainError("解锁原因：请填写解锁原因", "reason")
        if not self.has_form(app):
            raise DomainError(f"请上传“{UNLOCK_FORM_LABEL}”", UNLOCK_FORM)

    def _validate_for_report(self, app):
        self._validate_saved(app)
        if app.lock_record.closed_at is not None:
            raise DomainError("该人员已不再锁定，无需申请解锁")


class ManagerChangeService(ApplicationService):
    """项目主要管理人员变更 (2.2.1.2)."""
    model = ManagerChangeApplication
    allowed_kinds = (CONTRACTOR, SUPERVISING_FIRM)
    duplicate_message = "该人员在该工程已有未办结的变更申请"
    reason_label = "变更原因"

    def changeable(self, principal: Principal) -> list[Assignment]:
        """Locked people of the enterprise on projects under construction (添加 dialog)."""
        self._require_kind(principal)
        return list(db.session.scalars(
            select(Assignment).join(Person, Person.id == Assignment.person_id)
            .join(Project, Project.id == Assignment.project_id)
            .where(Person.enterprise_id == principal.org_id, Person.status == LOCKED,
                   Assignment.ended_at.is_(None), Assignment.role.in_(ROLES_BY_KIND[principal.kind]),
                   Project.status == UNDER_CONSTRUCTION)
            .order_by(Assignment.role, Person.name)))

    def create(self, principal: Principal, assignment_id: int) -> ManagerChangeApplication:
        with self.engine.command():
            self._require_kind(principal)
            a = db.session.get(Assignment, assignment_id)
            if a is None or a.person.enterprise_id != principal.org_id \
                    or a.role not in ROLES_BY_KIND[principal.kind]:
                raise NotFound("只能为本单位的项目经理、安全员、项目总监申请变更")
            if a.ended_at is not None or a.project.status != UNDER_CONSTRUCTION:
                raise DomainError("该人员已不在该在建工程任职")
            if a.person.status != LOCKED:
                raise DomainError("只能为被锁定的人员申请变更")
            app = ManagerChangeApplication(project_id=a.project_id, role=a.role, old_person_id=a.person_id)
            app.project, app.old_person = a.project, a.person
            return self._start(principal, app, f"change:{a.project_id}:{a.role}:{a.person_id}")

    def replacement_choices(self, principal: Principal, app) -> list[tuple[Person, str | None]]:
        """The enterprise's people with the message each would get as the replacement."""
        people = list(db.session.scalars(select(Person).where(
            Person.enterprise_id == principal.org_id, Person.id != app.old_person_id).order_by(Person.name)))
        problems = lock_rule.replacement_problems(app.role, people, principal.org_id, app.old_person_id)
        return [(p, problems[p.id]) for p in people]

    def check_replacement(self, principal: Principal, app_id: int, person_id: int) -> str | None:
        app = self.get_own(principal, app_id)
        person = db.session.get(Person, person_id)
        if person is None:
            return lock_rule.NOT_OWN_MESSAGE
        return lock_rule.replacement_problem(app.role, person, principal.org_id, app.old_person_id)

    def subject(self, app) -> str:
        new = app.new_person.name if app.new_person else "待定"
        return f"{app.role_label}变更：{app.old_person.name} → {new}"

    def _apply_fields(self, principal, app, fields):
        self._common_text(app, fields)
        if fields.get("new_person_id"):
            person = db.session.get(Person, int(fields["new_person_id"]))
            if person is None:
                raise DomainError(f"变更后人员：{lock_rule.NOT_OWN_MESSAGE}", "new_person_id")
            problem = lock_rule.replacement_problem(app.role, person, principal.org_id, app.old_person_id)
            if problem:
                raise DomainError(f"变更后人员：{problem}", "new_person_id")
            app.new_person_id, app.new_person = person.id, person

    def _validate_for_report(self, app):
        if app.new_person is None:
            raise DomainError("变更后人员：请选择变更后人员", "new_person_id")
        if not app.reason:
            raise DomainError("变更原因：请填写变更原因", "reason")
        problem = manager_change_problem(app)
        if problem:
            raise DomainError(f"变更后人员：{problem}", "new_person_id")


class CompletionService(ApplicationService):
    """竣工验收备案 (2.3.2)."""
    model = CompletionFiling
    allowed_kinds = (CONSTRUCTION_UNIT,)
    duplicate_message = "该工程已有未办结的竣工验收备案"
    reason_label = "备注"

    def completable(self, principal: Principal) -> list[Project]:
        self._require_kind(principal)
        return list(db.session.scalars(select(Project).where(
            Project.construction_unit_id == principal.org_id, Project.status == UNDER_CONSTRUCTION)
            .order_by(Project.name)))

    def create(self, principal: Principal, project_id: int) -> CompletionFiling:
        with self.engine.command():
            self._require_kind(principal)
            project = db.session.get(Project, project_id)
            if project is None or project.construction_unit_id != principal.org_id:
                raise NotFound("只能为本单位的工程发起竣工验收备案")
            if project.status != UNDER_CONSTRUCTION:
                raise DomainError("该工程已竣工")
            app = CompletionFiling(project_id=project.id, permit_no=project.permit_no or "")
            app.project = project
            return self._start(principal, app, f"completion:{project.id}")

    def subject(self, app) -> str:
        return f"{app.project.name}竣工验收备案"

    def _apply_fields(self, principal, app, fields):
        self._common_text(app, fields)
        if "acceptance_date" in fields:
            value = fields["acceptance_date"]
            if isinstance(value, str) and value:
                try:
                    value = date.fromisoformat(value)
                except ValueError:
                    raise DomainError("竣工验收日期：日期格式不正确", "acceptance_date") from None
            if value and value > date.today():
                raise DomainError("竣工验收日期：不能晚于今天", "acceptance_date")
            app.acceptance_date = value or None
        if "conclusion" in fields:
            app.conclusion = _text(fields["conclusion"], TEXT_MAX, "验收结论", "conclusion")
        if "permit_no" in fields:
            app.permit_no = _text(fields["permit_no"], 50, "施工许可证号", "permit_no")

    def _validate_for_report(self, app):
        if not app.acceptance_date:
            raise DomainError("竣工验收日期：请填写竣工验收日期", "acceptance_date")
        if not app.conclusion:
            raise DomainError("验收结论：请填写验收结论", "conclusion")
        if not app.permit_no:
            raise DomainError("施工许可证号：请填写施工许可证号", "permit_no")
        if app.project.status != UNDER_CONSTRUCTION:
            raise DomainError("该工程已竣工")


def app_instance(app) -> ProcessInstance:
    return db.session.get(ProcessInstance, app.instance_id)


def _text(value, limit, label, field) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise DomainError(f"{label}：不能超过 {limit} 个字", field)
    return value
