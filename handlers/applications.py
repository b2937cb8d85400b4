"""The applicant's side of every catalogued process: add, save (确定/暂存), report (上报), withdraw.

Every command is one engine command: the domain row, the workflow, the inbox rows and
the operation log change in one transaction.
"""
from dataclasses import dataclass, replace

from sqlalchemy import bindparam, func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from engine import NotCandidate, ProcessEngine, StepResult
from engine.audit import OperationLog
from engine.case_numbers import next_case_no, normalise
from engine.db import db, insert_now, read_values, write_changes, write_now
from engine.diagram import BUSINESS, FULL, instance_svg
from engine.forms import FieldSpec, FormSpec
from engine.inbox import contains_pattern, instance_tasks, open_tasks, operation_log
from engine.models import HumanTask, ProcessInstance, TaskCandidate, utcnow

from . import catalog, corrections
from .catalog import ALL_PICKS, LOCAL_OFFSET, Pick, PickFilter, ProcessEntry
from .deadlines import clock_of
from .notifications import notify
from .listing import list_query
from .errors import DomainError, FieldErrors, Forbidden, NotFound, Problems
from .models import APPLICATION_STATUS, DISCARDED, DRAFT, REPORTED, STATUS_BY_LABEL, Attachment, Organization, Project
from .principal import Principal
from .uploads import UploadStore
from .webhooks import application_event

TEXT_MAX, REASON_MAX = 2000, 500
SAVE_ACTION = "暂存"   # the log's word for a save, on every process
ANSWER_ACTION = "答复补正事项"   # the log's word for answers to a correction notice
ATTACHMENTS = "attachments"   # the field uploads without a form slot are filed under


@dataclass
class PickPage:
    """One page of the 添加 dialog: ``picks`` found for ``q``; ``has_next`` when more follow."""
    picks: list[Pick]
    q: str
    page: int
    has_next: bool


PICKS_PER_PAGE = 24


@dataclass
class Upload:
    kind: str         # the form file's slot: its attachment kind ("attachment", "unlock_form", …)
    filename: str
    data: bytes


def apply_status(app, result: StepResult) -> None:
    """The application's status is what the diagram declares where its workflow now stands
    (the ``status`` properties of user tasks and end events); an errored step changes nothing."""
    for name, value in declared_changes(app, result).items():
        setattr(app, name, value)


def declared_changes(app, result: StepResult) -> dict:
    """What ``apply_status`` changes: only what differs (an attribute set to the value it has still
    makes the object dirty, and a dirty object costs the unit of work a flush that writes nothing)."""
    code = STATUS_BY_LABEL.get(result.status) if result.status else None
    if code is None:
        return {}
    changes = {"status": code} if app.status != code else {}
    if result.completed:
        if app.finished_at is None:
            changes["finished_at"] = utcnow()
        if getattr(app, "open_key", None) is not None:   # the kinds that keep one (not registrations)
            changes["open_key"] = None
    return changes


def apply_status_of(result: StepResult):
    """apply_status for a command no application service drove (an operator's retry); returns
    the application, if the instance has one."""
    entry = catalog.by_key(result.instance.process_key)
    if entry is not None:
        app = db.session.scalar(select(entry.model).where(entry.model.instance_id == result.instance.id))
        if app is not None:
            apply_status(app, result)
        return app
    return None


class ApplicationService:
    """What every catalogued process shares; subclasses add their fields and checks."""

    def __init__(self, engine: ProcessEngine, uploads: UploadStore, entry: ProcessEntry):
        self.engine, self.uploads, self.entry = engine, uploads, entry
        self.model = entry.model
        self.allowed_kinds = entry.filers

    @property
    def form(self) -> FormSpec | None:
        """The application fields (the entry's edit form file, from the current version's bundle);
        None for a process filed elsewhere."""
        if not self.entry.edit_form:
            return None
        return self.engine.definitions.current_form(self.entry.key, self.entry.edit_form)

    def form_of_app(self, app) -> FormSpec | None:
        """The edit form of the version the application runs on (its checklists and fields)."""
        if not self.entry.edit_form:
            return None
        if app.instance_id is None:
            return self.form
        spec = self.engine.definitions.form_of_instance(app.instance_id, self.entry.edit_form)
        return spec if isinstance(spec, FormSpec) else self.form

    def attachment_labels(self) -> dict[str, str]:
        return {f.kind: f.title for f in self.form.file_fields} if self.form else {}

    # -- queries --------------------------------------------------------------------
    def list_own(self, principal: Principal, page: int = 1, per_page: int = 20, status: str | None = None,
                 case_no: str | None = None):
        """The enterprise's applications of this process, newest first; ``case_no`` matches part of
        the case number (办件编号)."""
        stmt, params, total, _shape = self._own_page(principal, page, per_page, status, case_no)
        return list(db.session.scalars(stmt, params)), total

    def list_rows(self, principal: Principal, page: int = 1, per_page: int = 20, status: str | None = None,
                  case_no: str | None = None):
        """``list_own`` as the list page shows it: each application a row of the values its list
        columns read (handlers.listing), from one SELECT, without loading the applications."""
        query = list_query(self.entry)
        stmt, params, total, shape = self._own_page(principal, page, per_page, status, case_no)
        key = (query, shape)
        rows = _LIST_ROWS.get(key)
        if rows is None:
            rows = _LIST_ROWS[key] = query.select(stmt)
        return query.rows(db.session.execute(rows, params)), total

    def _own_page(self, principal, page, per_page, status, case_no):
        """The page's statement, its parameters, the number of rows under the filters and the
        statement's shape (the model and which filters are given): the statements are built once per
        shape (building one costs more than running it), every value a parameter."""
        self._require_kind(principal)
        case_no = normalise(case_no) if case_no else None
        key = (self.model, bool(status), bool(case_no))
        found = _OWN_PAGES.get(key)
        if found is None:
            found = _OWN_PAGES[key] = self._own_statements(bool(status), bool(case_no))
        count, stmt = found
        params = {"org_id": principal.org_id, "status": status or None,
                  "case_no": contains_pattern(case_no),
                  "limit": per_page, "offset": (max(page, 1) - 1) * per_page}
        params = {k: v for k, v in params.items() if v is not None}
        return stmt, params, db.session.scalar(count, params), key

    def _own_statements(self, status: bool, case_no: bool):
        m = self.model
        stmt = select(m).where(m.applicant_org_id == bindparam("org_id"))
        if status:
            stmt = stmt.where(m.status == bindparam("status"))
        if case_no:
            stmt = stmt.where(m.case_no.like(bindparam("case_no"), escape="/"))
        count = select(func.count()).select_from(stmt.with_only_columns(m.id).subquery())
        return count, stmt.order_by(m.id.desc()).limit(bindparam("limit")).offset(bindparam("offset"))

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

    @staticmethod
    def regulators(app) -> tuple[Organization, Organization]:
        """The project's competent authority and supervision agency, loaded together (one
        statement instead of one per organisation) when the project does not hold them yet."""
        project = app.project
        if {"authority", "agency"} & inspect(project).unloaded:
            db.session.execute(_PROJECT_REGULATORS, {"project_id": project.id}).all()
        return project.authority, project.agency

    def offered_to(self, app, task: HumanTask) -> list[Organization]:
        """The organisations a step is offered to (its candidate rows): the project's competent
        authority first, then its supervision agency, as the pages name them, then any other."""
        ids = set(db.session.scalars(select(TaskCandidate.org_id).where(TaskCandidate.task_id == task.id)))
        known = [org for org in self.regulators(app) if org is not None and org.id in ids]
        others = ids - {org.id for org in known}
        if others:
            known += db.session.scalars(select(Organization).where(Organization.id.in_(others))
                                        .order_by(Organization.name)).all()
        return known

    def attachments(self, app) -> list[Attachment]:
        return list(db.session.scalars(_ATTACHMENTS, {"owner_type": self.entry.kind, "owner_id": app.id}))

    @staticmethod
    def diagram_view(principal: Principal, app) -> str:
        """The applicant sees the business path of its application (no deadline reminders or
        督办); the reviewers and the administrators see every element."""
        return BUSINESS if principal.org_id == app.applicant_org_id else FULL

    def diagram(self, app, view: str = FULL) -> str:
        """The process diagram (SVG) with the application's current step marked."""
        return instance_svg(app_instance(app), view=view)

    def progress(self, app, view: str = FULL) -> tuple[str, list]:
        """The diagram with the current step marked and the review clock, from one read of the
        instance's tasks."""
        tasks = instance_tasks(app.instance_id) if app.instance_id is not None else []
        return instance_svg(app_instance(app), tasks, view), clock_of(app, tasks)

    def open_task(self, app) -> HumanTask | None:
        tasks = open_tasks(app.instance_id)
        return tasks[0] if tasks else None

    def pick_page(self, principal: Principal, q: str = "", page: int = 1,
                  per_page: int = PICKS_PER_PAGE) -> PickPage:
        """One page of the 添加 dialog, searched (the entry's ``pick_search`` columns) and paged by
        the database; one more row than the page is read to know whether another page follows."""
        page = max(page, 1)
        found = self.entry.picks(self, principal, PickFilter.search(q, per_page + 1, (page - 1) * per_page))
        return PickPage(self._greyed(principal, found[:per_page]), q, page, len(found) > per_page)

    def picks(self, principal: Principal) -> list[Pick]:
        """Every record the 添加 dialog offers (the API's choices), greyed as the dialog greys them."""
        return self._greyed(principal, self.entry.picks(self, principal, ALL_PICKS))

    def _greyed(self, principal: Principal, picks: list[Pick]) -> list[Pick]:
        """A record that already has an open application is greyed with the reason (its case number
        and status), after the ones that can be picked."""
        # the records are the organisation's own, and only it files for them: its open applications
        # (row tuples, one statement of constant text, however many records the dialog lists)
        busy = {row.open_key: row for row in db.session.execute(self._open_keys(), {"org_id": principal.org_id})
                } if any(p.open_key and p.reason is None for p in picks) else {}
        marked = [replace(p, reason=f"已有未办结的申请（{busy[p.open_key].case_no}，"
                                    f"{APPLICATION_STATUS[busy[p.open_key].status]}）")
                  if p.reason is None and p.open_key in busy else p for p in picks]
        return sorted(marked, key=lambda p: p.reason is not None)   # stable: the entry's order within each

    def _open_keys(self):
        stmt = _OPEN_KEYS.get(self.model)
        if stmt is None:   # built once per model
            m = self.model
            stmt = _OPEN_KEYS[m] = select(m.open_key, m.case_no, m.status).where(
                m.applicant_org_id == bindparam("org_id"), m.open_key.is_not(None))
        return stmt

    # -- commands -------------------------------------------------------------------
    def save(self, principal: Principal, app_id: int, fields: dict, uploads: list[Upload] = (),
             answers: dict | None = None):
        """暂存: keep the form's fields and files (and the answers to a correction notice's items,
        ``answers``: item id -> (kind, text)). The log says what was done (暂存), whatever the
        page's button is labelled (the unlock page's 确定, as the manual names it)."""
        with self.engine.command():
            app = self._editable(principal, app_id)
            self._save_form(principal, app, fields, uploads, self._validate_saved, answers)
            self.engine.record(app.instance_id, principal.actor, SAVE_ACTION)
        return app

    def correction_items(self, app) -> list:
        """The latest correction notice's items while the applicant answers them (一次性告知)."""
        return corrections.open_items(app)

    def _answer(self, principal, app, answers) -> None:
        """Apply posted answers to the notice's items; a changed answer is logged, item by item."""
        if not answers:
            return
        changed = corrections.answer(app, self.form, self.attachments(app), principal, answers)
        if changed:
            items = corrections.open_items(app)
            self.engine.record(app.instance_id, principal.actor, ANSWER_ACTION, corrections.summary(items))

    def _save_form(self, principal, app, fields: dict, uploads, check, answers=None) -> None:
        """Apply the form's fields and files, then ``check`` the result. Every refusal is collected
        and raised together (FieldErrors), so that one submit names all of them; the command then
        rolls back and nothing is kept."""
        problems = Problems()
        for name, value in fields.items():
            problems.check(self._apply_fields, principal, app, {name: value})
        app.updated_at = utcnow()
        write_changes(app)   # the fields set so far: one UPDATE now, not a flush of the application
        refused = len(problems.errors)
        problems.check(self.uploads.check_count, len(uploads))
        if len(problems.errors) == refused:   # too many files: none is stored
            for upload in uploads:
                problems.check(self._attach, principal, app, upload)
        problems.check(check, app)
        if answers:
            problems.raise_any()   # the answers are checked against the saved fields
            problems.check(self._answer, principal, app, answers)
        problems.raise_any()
        self.engine.update_subject(app.instance_id, subject=self.subject(app))

    def remove_attachment(self, principal: Principal, app_id: int, attachment_id: int):
        with self.engine.command():
            app = self._editable(principal, app_id)
            att = db.session.get(Attachment, attachment_id)
            if att is None or att.owner_type != self.entry.kind or att.owner_id != app.id:
                raise NotFound("附件不存在")
            db.session.delete(att)
            self.engine.record(app.instance_id, principal.actor, "删除附件", att.filename)
        return app

    def report(self, principal: Principal, app_id: int, fields: dict | None = None, uploads: list[Upload] = (),
               answers: dict | None = None):
        """上报: send the application to the project's competent authority and supervision agency.

        It reports what the form shows: ``fields`` and ``uploads`` (the page's unsaved edits) are saved
        first, in the same command, under the report's checks; any refusal keeps nothing. The user
        did one thing, so the log gets one line: 上报.
        """
        with self.engine.command():
            app = self._editable(principal, app_id, "该申请已上报，请勿重复提交")
            if fields is not None or uploads or answers:
                self._save_form(principal, app, fields or {}, uploads, self._validate_for_report, answers)
            else:
                problems = Problems()
                problems.check(self._validate_for_report, app)
                problems.raise_any()
            # 一次性告知: every item of the notice answered before the case goes back to the reviewers
            if app.reported_at is not None:   # returned: a first report has no notice to answer
                corrections.require_answered(app, self.form, self.attachments(app))
            self._complete_edit(principal, app, "report", "上报", reported_at=utcnow())
            application_event("application.reported", app)
        return app

    def withdraw(self, principal: Principal, app_id: int):
        """撤回: a returned application ends through its edit step; a reported one, while no
        reviewer has claimed it, through the diagram's withdraw event (ProcessEngine.withdraw:
        refused, naming the holder, once a reviewer has claimed it). A draft that was never
        reported is not withdrawn from anyone: it is discarded (作废)."""
        with self.engine.command():
            app = self.get_own(principal, app_id)
            if app.status == DRAFT:
                return self._discard(principal, app)
            if app.status == REPORTED:
                apply_status(app, self.engine.withdraw(app.instance_id, principal.actor))
                return app
            if not app.is_editable:
                raise DomainError("该申请当前不可撤回")
            self._complete_edit(principal, app, "withdraw", "撤回")
        return app

    def discard(self, principal: Principal, app_id: int):
        """作废: a draft never reported ends through its edit step's withdraw path and is kept,
        marked 已作废, with 作废 in its log (its case number is not reused); what it was about
        can be picked again."""
        with self.engine.command():
            app = self.get_own(principal, app_id)
            if app.status != DRAFT:
                raise DomainError("只有尚未上报的草稿可以作废")
            return self._discard(principal, app)

    def _discard(self, principal, app):
        # the diagram's end is 已撤回; a draft nobody else saw is discarded
        self._complete_edit(principal, app, "withdraw", "作废", status=DISCARDED)
        return app

    def can_withdraw(self, app) -> bool:
        """Whether 撤回 is offered: returned, or reported and not yet claimed by a reviewer (a
        draft offers 作废 instead)."""
        if app.status == DRAFT:
            return False
        if app.is_editable:
            return True
        task = self.open_task(app) if app.status == REPORTED else None
        return task is not None and task.claimed_by_user_id is None

    # -- helpers for subclasses ------------------------------------------------------
    def _start(self, principal: Principal, app, open_key: str):
        self._require_kind(principal)
        app.open_key = open_key
        app.applicant_org_id, app.created_by_user_id = principal.org_id, principal.user_id
        try:   # its own INSERT: a flush of the one new row costs the unit of work most of this command
            insert_now(app)
        except IntegrityError as exc:
            # an open application for the same thing (two tabs added it at once, or one was added
            # before): the unique open_key lets one through; the command rolls back with the refusal
            if "open_key" not in str(exc.orig):
                raise
            raise DomainError(self.duplicate_message) from exc
        result = self.engine.start(
            self.entry.key, f"{self.entry.kind}:{app.id}", principal.actor,
            subject=self.subject(app), scope=app.project.name, scope_id=app.project_id,
            applicant_org_id=principal.org_id, applicant_name=principal.org_name, action="新建",
            case_no=next_case_no(self.entry.prefix, (utcnow() + LOCAL_OFFSET).year))
        # the link to its instance, written now (as a change of the object it would take a second
        # flush of the application, most of this command's ORM work)
        write_now(app, {"instance_id": result.instance.id})
        db.session.expire(app, ["case_no"])   # read from the instance just written
        apply_status(app, result)
        return app

    def _complete_edit(self, principal, app, action_value, label, **changes):
        """Complete the applicant's edit step; ``changes`` (e.g. reported_at) are set with the new
        status, so that the application is written once."""
        task = self.open_task(app)
        if task is None:
            raise DomainError("该申请当前不可操作")
        try:   # the step must be the applicant's own: the engine's gate checks the candidate row
            result = self.engine.complete(task.id, principal.actor, {"action": action_value}, action=label,
                                          outcome=action_value)
        except NotCandidate:
            raise DomainError("该申请当前不可操作") from None
        # the status and ``changes`` are all this step changes of the application: one UPDATE now
        # (engine.db.write_now) instead of a flush of its own
        write_now(app, {**declared_changes(app, result), **changes})
        tell_offered(app, result, lambda opened: f"{principal.org_name}上报了{self.entry.title}"
                                                  f"“{opened.subject}”（{opened.scope}），请签收办理。")

    def _editable(self, principal, app_id, message="该申请已上报，当前不可编辑"):
        app = self.get_own(principal, app_id)
        if not app.is_editable:
            raise DomainError(message)
        return app

    def _require_kind(self, principal):
        if principal.kind not in self.allowed_kinds:
            raise Forbidden("您的账号类型无权办理该业务")

    def _attach(self, principal, app, upload: Upload, slot: FieldSpec | None = None) -> Attachment:
        """Store an upload under its form slot (the edit form's, unless a review form's is given)."""
        slot = slot or next((f for f in self.form.file_fields if f.kind == upload.kind), None)
        field, label = (slot.name, slot.title) if slot else (ATTACHMENTS, "附件")
        stored = self.uploads.save(upload.data, upload.filename, field, label)
        attachment = Attachment(
            owner_type=self.entry.kind, owner_id=app.id, kind=upload.kind, sha256=stored.sha256,
            size=stored.size, content_type=stored.content_type, filename=stored.filename,
            org_id=principal.org_id, uploaded_by_user_id=principal.user_id)
        insert_now(attachment)
        return attachment

    def _common_text(self, app, fields):
        if "reason" in fields:
            app.reason = _text(fields["reason"], REASON_MAX, self._title("reason", "原因"), "reason")
        if "explanation" in fields:
            app.explanation = _text(fields["explanation"], TEXT_MAX, self._title("explanation", "说明"), "explanation")

    def _title(self, name: str, default: str) -> str:
        f = self.form.field(name)
        return f.title if f else default

    def _require_fields(self, app):
        """The edit form file's required fields, all missing ones at once, in its order:
        请填写… / 请选择… / 请上传“…”."""
        kinds = set(read_values(_ATTACHMENT_KINDS, {"owner_type": self.entry.kind, "owner_id": app.id}).scalars())
        values = {f.name: (f.kind in kinds) or None if f.is_file else getattr(app, f.name, None)
                  for f in self.form.targeted("application")}
        missing = self.form.missing_required(values)
        if missing:
            raise FieldErrors({m.field: m.message for m in missing})

    # subclass hooks
    duplicate_message = "已有未办结的申请"

    def subject(self, app) -> str:
        raise NotImplementedError

    def _apply_fields(self, principal, app, fields):
        self._common_text(app, fields)

    def _validate_saved(self, app):
        pass

    def _validate_for_report(self, app):
        pass


def tell_offered(app, result: StepResult, body) -> None:
    """新的待审核任务: each step the command opened is told to exactly the organisations it is
    offered to (its candidate rows), not the applicant's own step; ``body(opened)`` says why."""
    for opened in result.opened:
        orgs = [org for org in result.offered_to.get(opened.id, ()) if org != app.applicant_org_id]
        if orgs:
            notify("task_offered", orgs, f"待{opened.name}：{opened.subject}", body(opened), app=app,
                   task_id=opened.id)


def application_for(process_key: str, instance_id: int):
    """The application an instance runs for. One this unit of work has loaded already (the task's
    page, the operator of the approval being applied) is taken from the session, not read again."""
    model = catalog.by_key(process_key).model
    for loaded in db.session.identity_map.values():
        if type(loaded) is model and loaded.instance_id == instance_id:
            return loaded
    stmt = _BY_INSTANCE.get(model)
    if stmt is None:   # built once per model
        stmt = _BY_INSTANCE[model] = select(model).where(model.instance_id == bindparam("instance_id"))
    return db.session.scalar(stmt, {"instance_id": instance_id})


_BY_INSTANCE: dict = {}   # model -> its statement by instance id (application_for)
_OWN_PAGES: dict = {}     # (model, status given, case number given) -> list_own's count and page statements
_OPEN_KEYS: dict = {}     # model -> the organisation's open applications' keys (_greyed)
_LIST_ROWS: dict = {}     # (list query, the page's shape) -> list_rows' statement
_PROJECT_REGULATORS = select(Project).where(Project.id == bindparam("project_id")).options(
    joinedload(Project.authority), joinedload(Project.agency))
_ATTACHMENTS = select(Attachment).where(Attachment.owner_type == bindparam("owner_type"),
                                        Attachment.owner_id == bindparam("owner_id")).order_by(Attachment.id)
_ATTACHMENT_KINDS = select(Attachment.__table__.c.kind).where(   # what _require_fields needs: run as Core
    Attachment.__table__.c.owner_type == bindparam("owner_type"),
    Attachment.__table__.c.owner_id == bindparam("owner_id"))


def app_instance(app) -> ProcessInstance:
    return db.session.get(ProcessInstance, app.instance_id)


def _text(value, limit, label, field) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise DomainError(f"{label}：不能超过 {limit} 个字", field)
    return value
