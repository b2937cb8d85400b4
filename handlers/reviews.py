"""The regulators' side: the review inbox, claim (签收), release (退回签收) and any review step's form.

A review step is any user task offered to regulators; what it asks is its form file, so a
designer's new step (e.g. 现场核查) is served by the same pages and commands.
"""
from contextlib import contextmanager

from sqlalchemy import select

from engine import NotCandidate, ProcessEngine, TaskNotFound
from engine.db import db
from engine.forms import FormSpec
from engine.inbox import InboxFilter, InboxPage, ReviewInbox
from engine.models import HumanTask, TaskCandidate

from . import catalog
from .applications import ApplicationService, Upload, apply_status
from .errors import Forbidden, NotFound
from .principal import Principal


class ReviewService:
    def __init__(self, engine: ProcessEngine, services: list[ApplicationService]):
        self.engine = engine
        self.services = {s.entry.key: s for s in services}

    def inbox(self, principal: Principal, view: str = "open", flt: InboxFilter | None = None,
              cursor: str | None = None, limit: int = 20) -> InboxPage:
        self._require_regulator(principal)
        return ReviewInbox(principal.user_id, principal.org_id).page(view, flt, cursor, limit)

    def task(self, principal: Principal, task_id: int):
        """The task and its application, if the principal's organisation is a candidate."""
        self._require_regulator(principal)
        task = db.session.get(HumanTask, task_id)
        if task is None or task.process_key not in self.services:
            raise NotFound("任务不存在或无权访问")
        offered = db.session.scalar(select(TaskCandidate.task_id).where(
            TaskCandidate.task_id == task_id, TaskCandidate.org_id == principal.org_id))
        if offered is None:
            raise NotFound("任务不存在或无权访问")
        return task, self.application_for(task.instance_id, task.process_key)

    def application_for(self, instance_id: int, process_key: str):
        model = catalog.by_key(process_key).model
        return db.session.scalar(select(model).where(model.instance_id == instance_id))

    def service_for(self, task: HumanTask) -> ApplicationService:
        return self.services[task.process_key]

    def form_of(self, task: HumanTask) -> FormSpec:
        """The task's form, as its diagram names it (``formKey``) and its form file declares it."""
        spec = self.engine.registry.forms.get(task.form_key)
        if not isinstance(spec, FormSpec):
            raise NotFound("该任务的表单不存在")
        return spec

    def claim(self, principal: Principal, task_id: int) -> HumanTask:
        self._require_regulator(principal)
        with self.engine.command(), _not_found_for_strangers():
            return self.engine.claim(task_id, principal.actor)

    def release(self, principal: Principal, task_id: int) -> HumanTask:
        self._require_regulator(principal)
        with self.engine.command(), _not_found_for_strangers():
            return self.engine.release(task_id, principal.actor)

    def approve(self, principal: Principal, task_id: int, opinion: str = ""):
        return self.submit(principal, task_id, {"decision": "approve", "opinion": opinion})

    def return_(self, principal: Principal, task_id: int, opinion: str):
        return self.submit(principal, task_id, {"decision": "return", "opinion": opinion})

    def submit(self, principal: Principal, task_id: int, data: dict, uploads: list[Upload] = ()):
        """Complete a review step with its form: files are attached to the application and their
        attachment ids go into the data; the form file says what is workflow data, what goes to
        the operation log and which field is the outcome."""
        self._require_regulator(principal)
        with self.engine.command(), _not_found_for_strangers():
            task, app = self.task(principal, task_id)
            spec, service = self.form_of(task), self.service_for(task)
            data = dict(data)
            for upload in uploads:
                slot = next((f for f in spec.file_fields if f.kind == upload.kind), None)
                if slot is not None:
                    data[slot.name] = service._attach(principal, app, upload, slot.title).id
            cleaned = spec.clean(data)
            result = self.engine.complete(task_id, principal.actor, data, action=cleaned.action or task.name,
                                          opinion=cleaned.opinion, outcome=cleaned.outcome)
            apply_status(app, result)
            return app

    @staticmethod
    def _require_regulator(principal):
        if not principal.is_regulator:
            raise Forbidden("仅监督机构和主管部门可以审核")


@contextmanager
def _not_found_for_strangers():
    """A task that does not exist and one offered to other organisations look the same."""
    try:
        yield
    except (TaskNotFound, NotCandidate):
        raise NotFound("任务不存在或无权访问") from None
