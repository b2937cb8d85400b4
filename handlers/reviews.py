"""The regulators' side: the review inbox, claim (签收), release (退回签收), approve, return."""
from contextlib import contextmanager

from sqlalchemy import select

from engine import NotCandidate, ProcessEngine, TaskNotFound
from engine.db import db
from engine.inbox import InboxFilter, InboxPage, ReviewInbox, overdue_for
from engine.models import HumanTask, TaskCandidate

from .applications import ApplicationService, sync_status
from .errors import Forbidden, NotFound
from .models import APPLICATION_BY_PROCESS, AUTHORITY
from .principal import Principal
from .processes import REVIEW_FORM

RETURN_ACTION = "退回"   # the log's name for a reviewer's return


class ReviewService:
    def __init__(self, engine: ProcessEngine, services: list[ApplicationService]):
        self.engine = engine
        self.services = {s.model.process_key: s for s in services}

    def inbox(self, principal: Principal, view: str = "open", flt: InboxFilter | None = None,
              cursor: str | None = None, limit: int = 20) -> InboxPage:
        self._require_regulator(principal)
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
        self._require_regulator(principal)
        task = db.session.get(HumanTask, task_id)
        if task is None or task.form_key != REVIEW_FORM:
            raise NotFound("任务不存在或无权访问")
        offered = db.session.scalar(select(TaskCandidate.task_id).where(
            TaskCandidate.task_id == task_id, TaskCandidate.org_id == principal.org_id))
        if offered is None:
            raise NotFound("任务不存在或无权访问")
        return task, self.application_for(task.instance_id, task.process_key)

    def application_for(self, instance_id: int, process_key: str):
        model = APPLICATION_BY_PROCESS[process_key]
        return db.session.scalar(select(model).where(model.instance_id == instance_id))

    def claim(self, principal: Principal, task_id: int) -> HumanTask:
        self._require_regulator(principal)
        with self.engine.command(), _not_found_for_strangers():
            return self.engine.claim(task_id, principal.actor)

    def release(self, principal: Principal, task_id: int) -> HumanTask:
        self._require_regulator(principal)
        with self.engine.command(), _not_found_for_strangers():
            return self.engine.release(task_id, principal.actor)

    def approve(self, principal: Principal, task_id: int, opinion: str = ""):
        return self._decide(principal, task_id, "approve", "审核通过", opinion)

    def return_(self, principal: Principal, task_id: int, opinion: str):
        return self._decide(principal, task_id, "return", RETURN_ACTION, opinion)

    def _decide(self, principal, task_id, decision, label, opinion):
        self._require_regulator(principal)
        with self.engine.command(), _not_found_for_strangers():
            result = self.engine.complete(task_id, principal.actor, {"decision": decision, "opinion": opinion},
                                          action=label, opinion=(opinion or "").strip() or None, outcome=decision)
            app = self.application_for(result.instance.id, result.instance.process_key)
            sync_status(app, result.instance.status)
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
