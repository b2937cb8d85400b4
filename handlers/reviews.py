"""The regulators' side: the review inbox, claim (签收), release (退回签收) and any review step's form.

A review step is any user task offered to regulators; what it asks is its form file, so a
designer's new step (e.g. 现场核查) is served by the same pages and commands.
"""
from contextlib import contextmanager

from sqlalchemy import bindparam, exists, select

from engine import NotCandidate, ProcessEngine, TaskNotFound
from engine.db import db
from engine.definitions import know_version, version_of_task
from engine.forms import FormSpec
from engine.inbox import InboxFilter, InboxPage, ReviewInbox, overdue_for
from engine.models import HumanTask, TaskCandidate, utcnow

from . import catalog, corrections
from .applications import ApplicationService, Upload, application_for, apply_status, tell_offered
from .errors import Forbidden, NotFound
from .models import APPROVED, AUTHORITY, RETURNED
from .notifications import notify
from .preview import Preview, preview_application
from .principal import Principal
from .review_desk import ReviewDesk

RETURN_ACTION = "退回"   # the log's name for a reviewer's return
RETURN = "return"        # the review form's outcome that sends the case back for correction


# the task if it is offered to the organisation, with the version its instance runs on (the task's
# form comes from it): built once (ReviewService.task)
_OFFERED_TASK = select(HumanTask, version_of_task(HumanTask)).where(
    HumanTask.id == bindparam("task_id"),
    exists().where(TaskCandidate.task_id == HumanTask.id, TaskCandidate.org_id == bindparam("org_id")))


class ReviewService(ReviewDesk):
    def __init__(self, engine: ProcessEngine, services: list[ApplicationService], certificates=None):
        self.engine = engine
        self.services = {s.entry.key: s for s in services}
        self.certificates = certificates   # handlers.certificates.CertificateService: approvals issue one

    def inbox(self, principal: Principal, view: str = "open", flt: InboxFilter | None = None,
              cursor: str | None = None, limit: int = 20) -> InboxPage:
        self._require_reviewer(principal)
        return ReviewInbox(principal.user_id, principal.org_id).page(view, flt, cursor, limit)

    def overdue(self, principal: Principal):
        """督办: overdue tasks of the projects under this competent authority, whoever holds them.

        The authority is a candidate of every review task of its projects, and its candidate rows
        stay open while an agency reviewer holds the task; so its area is exactly its candidate rows.
        """
        if principal.kind != AUTHORITY:
            raise Forbidden("仅主管部门可以查看督办")
        return overdue_for(principal.org_id)

    def task(self, principal: Principal, task_id: int):
        """The task and its application, if the principal's organisation is a candidate."""
        self._require_reviewer(principal)
        # the task only if it is offered to the principal's organisation: one statement
        row = db.session.execute(_OFFERED_TASK, {"task_id": task_id, "org_id": principal.org_id}).first()
        if row is None:
            raise NotFound("任务不存在或无权访问")
        task, version = row
        know_version(task.instance_id, version)
        return self.offered(principal, task)

    def offered(self, principal: Principal, task: HumanTask):
        """``task``'s checks for a task known to be offered to the principal's organisation (read by
        ``task``, or returned by the gate of this principal's claim or release): the process's
        reviewers and the project's regulators. Returns (task, application)."""
        if task.process_key not in self.services or principal.kind not in catalog.by_key(task.process_key).reviewers:
            raise NotFound("任务不存在或无权访问")
        app = application_for(task.process_key, task.instance_id)
        project = getattr(app, "project", None)
        if principal.is_regulator and project is not None and principal.org_id not in project.regulator_ids:
            # a task completed before its project moved to other regulators: its application is
            # theirs now, as its own pages say (ApplicationService.get)
            raise NotFound("任务不存在或无权访问")
        return task, app

    def approval_preview(self, principal: Principal, task_id: int, app=None) -> Preview:
        """What 审核通过 would do now, dry-run by the approval's own operators (handlers.preview);
        ``app``: the task's application, when the caller has it from ``task``."""
        if app is None:
            _task, app = self.task(principal, task_id)
        return preview_application(self.engine, app, principal.actor)

    def service_for(self, task: HumanTask) -> ApplicationService:
        return self.services[task.process_key]

    def correction_choices(self, task: HumanTask, app):
        """What the return's checklist offers: the application's fields and attachment slots, the
        step's common items (its version's form file), every notice so far with its answers, and
        the previous notice's items to ask again."""
        service = self.service_for(task)
        form = service.form_of_app(app) if service.form is not None else None
        rounds = corrections.history(app.instance_id)
        last, previous = rounds[-1] if rounds else (None, [])
        return {"fields": corrections.fields_of(form), "checklist": corrections.checklist(form, task.element_id),
                "previous": previous, "previous_notice": last, "history": rounds}

    def form_of(self, task: HumanTask) -> FormSpec:
        """The task's form, as its diagram names it (``formKey``) and its form file declares it."""
        spec = task.__dict__.get("_bundle_form")   # a page asks twice: one read of the instance's version
        if spec is None:
            spec = self.engine.definitions.form_of_instance(task.instance_id, task.form_key)   # its version's bundle
            task.__dict__["_bundle_form"] = spec
        if not isinstance(spec, FormSpec):
            raise NotFound("该任务的表单不存在")
        return spec

    def claim(self, principal: Principal, task_id: int) -> HumanTask:
        self._require_reviewer(principal)
        with self.engine.command(), _not_found_for_strangers():
            asked_at = utcnow()
            task = self.engine.claim(task_id, principal.actor)
            if task.claimed_at < asked_at:
                return task   # the holder claiming again: nothing happened, nobody is told
            entry = catalog.by_key(task.process_key)
            if entry.notifies_applicant:
                app = application_for(task.process_key, task.instance_id)
                notify("claimed", [app.applicant_org_id], f"申请已签收：{task.subject}",
                       f"您上报的{entry.title}“{task.subject}”已由{principal.org_name}签收，正在审核。", app=app)
            return task

    def release(self, principal: Principal, task_id: int) -> HumanTask:
        self._require_reviewer(principal)
        with self.engine.command(), _not_found_for_strangers():
            task = self.engine.release(task_id, principal.actor)
            app = application_for(task.process_key, task.instance_id)
            candidates = db.session.scalars(select(TaskCandidate.org_id).where(TaskCandidate.task_id == task.id))
            notify("task_released", list(candidates), f"任务已退回签收：{task.subject}",
                   f"{principal.org_name}的{principal.user_name}退回签收了“{task.subject}”，请重新签收办理。",
                   app=app if catalog.by_key(task.process_key).notifies_applicant else None, task_id=task.id,
                   exclude_user_id=principal.user_id)
            return task

    def approve(self, principal: Principal, task_id: int, opinion: str = ""):
        return self.submit(principal, task_id, {"decision": "approve", "opinion": opinion})

    def return_(self, principal: Principal, task_id: int, opinion: str,
                items: list[corrections.Requested] = ()):
        return self.submit(principal, task_id, {"decision": "return", "opinion": opinion}, items=items)

    def submit(self, principal: Principal, task_id: int, data: dict, uploads: list[Upload] = (),
               items: list[corrections.Requested] = (), seen=None):
        """Complete a review step with its form: files are attached to the application and their
        attachment ids go into the data; the form file says what is workflow data, what goes to
        the operation log and which field is the outcome. A return (退回) of an application keeps
        its correction notice: ``items``, what is to be corrected, and the opinion (一次性告知).
        ``seen``: (task, application) as ``task`` gave them to this principal in this request (the
        page that checked the form), so they are not read again; the command's gate re-checks the
        task's state and holder in its own statement."""
        self._require_reviewer(principal)
        with self.engine.command(), _not_found_for_strangers():
            task, app = seen if seen is not None and seen[0].id == task_id else self.task(principal, task_id)
            spec, service = self.form_of(task), self.service_for(task)
            data = dict(data)
            for upload in uploads:
                slot = next((f for f in spec.file_fields if f.kind == upload.kind), None)
                if slot is not None:
                    data[slot.name] = service._attach(principal, app, upload, slot).id
            cleaned = spec.clean(data)
            if cleaned.outcome == RETURN and service.form is not None:
                corrections.record_return(app, service.form_of_app(app), service.attachments(app), task,
                                          principal, list(items), cleaned.opinion)
            result = self.engine.complete(task_id, principal.actor, data, action=cleaned.action or task.name,
                                          opinion=cleaned.opinion, outcome=cleaned.outcome)
            apply_status(app, result)
            if app.status == APPROVED and result.completed and self.certificates is not None:
                # 办结: the case's certificate, issued by the approving organisation in this command
                self.certificates.issue_for(app, (principal.org_id, principal.org_name), instance=result.instance)
            self._tell_applicant(app, cleaned.outcome, cleaned.opinion, principal)
            title = catalog.entry_of(app).title
            tell_offered(app, result, lambda opened: f"{principal.org_name}已完成“{task.name}”，{title}"
                                                     f"“{opened.subject}”（{opened.scope}）待{opened.name}，请签收办理。")
            return app

    @staticmethod
    def _tell_applicant(app, decision, opinion, principal):
        if not catalog.entry_of(app).notifies_applicant:
            return
        subject = f"{catalog.entry_of(app).title}（{app.project.name}）"
        if decision == "return":
            notify("returned", [app.applicant_org_id], f"申请被退回：{subject}",
                   f"{principal.org_name}退回了您的申请。意见：{(opinion or '').strip()}", app=app)
        elif app.status == APPROVED:
            notify("approved", [app.applicant_org_id], f"申请已办结：{subject}",
                   f"{principal.org_name}审核通过，业务已办结。", app=app)
        elif app.status == RETURNED:
            notify("recheck_failed", [app.applicant_org_id], f"复核未通过：{subject}",
                   _recheck_message(app.instance_id), app=app)

    @staticmethod
    def _require_reviewer(principal):
        """Regulators review applications, platform administrators registrations (catalog ``reviewers``)."""
        if not catalog.reviewed_by(principal.kind):
            raise Forbidden("仅监督机构和主管部门可以审核")


def _recheck_message(instance_id: int) -> str:
    """The service task's message from the operation log (why the approval could not be applied)."""
    from engine.models import AuditEntry
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.instance_id == instance_id,
                                                       AuditEntry.user_id.is_(None), AuditEntry.opinion.is_not(None))
                              .order_by(AuditEntry.id.desc()).limit(1))
    return f"{catalog.without_full_stop(entry.opinion)}。申请已退回，请修改后重新上报。" if entry \
        else "审核通过时复核未通过，申请已退回。"


@contextmanager
def _not_found_for_strangers():
    """A task that does not exist and one offered to other organisations look the same."""
    try:
        yield
    except (TaskNotFound, NotCandidate):
        raise NotFound("任务不存在或无权访问") from None
