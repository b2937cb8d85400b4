"""Operating the engine (the platform administrator's 流程定义 pages and ``flask engine retry``):
deployed versions, instances by status, incidents, and retry."""
from dataclasses import dataclass

from sqlalchemy import func, select

from engine import Actor, ProcessEngine, StepResult, jobs
from engine.db import db
from engine.diagram import render_svg
from engine.models import Job, ProcessDefinition, ProcessInstance

from .applications import apply_status_of
from .errors import Forbidden, NotFound
from .models import APPROVED
from .principal import Principal

INCIDENTS_SHOWN = 200
OPERATOR = Actor(None, "运维", None, "平台")   # who retries from the command line


@dataclass
class DefinitionDetail:
    definition: ProcessDefinition
    by_status: dict[str, int]   # instance count per status
    diagram: str                # SVG


class OperationsService:
    def __init__(self, engine: ProcessEngine, certificates=None):
        self.engine = engine
        self.certificates = certificates   # a retried approval that ends the case issues its certificate

    def definitions(self, admin: Principal) -> list[ProcessDefinition]:
        _require_admin(admin)
        return self.engine.definitions.versions()

    def incidents(self, admin: Principal, limit: int = INCIDENTS_SHOWN) -> list[ProcessInstance]:
        """Errored instances, the latest incident first."""
        _require_admin(admin)
        return list(db.session.scalars(
            select(ProcessInstance).where(ProcessInstance.status == "errored")
            .order_by(ProcessInstance.incident_at.desc(), ProcessInstance.id.desc()).limit(limit)))

    def definition(self, admin: Principal, definition_id: int) -> DefinitionDetail:
        _require_admin(admin)
        d = db.session.get(ProcessDefinition, definition_id)
        if d is None:
            raise NotFound("流程定义不存在")
        by_status = dict(db.session.execute(
            select(ProcessInstance.status, func.count()).where(ProcessInstance.definition_id == d.id)
            .group_by(ProcessInstance.status)).all())
        return DefinitionDetail(d, by_status, render_svg(d.xml, frozenset(), d.name))

    def retry(self, admin: Principal, instance_id: int) -> StepResult:
        """Run an errored instance's failed step again; the result tells whether it failed again."""
        _require_admin(admin)
        return self.retry_for(instance_id, admin.actor)

    def failed_jobs(self, admin: Principal, limit: int = INCIDENTS_SHOWN) -> list[Job]:
        """Jobs that kept failing (incidents), the latest first."""
        _require_admin(admin)
        return jobs.failed_jobs(limit)

    def retry_job(self, admin: Principal, job_id: int) -> bool:
        """A failed job runs again at a worker's next round, its attempts reset; False if not failed."""
        _require_admin(admin)
        return jobs.retry_failed(job_id)

    def retry_as_operator(self, instance_id: int) -> StepResult:
        """The command line's retry (whoever may run ``flask`` on the server operates the platform)."""
        return self.retry_for(instance_id, OPERATOR)

    def retry_for(self, instance_id: int, actor: Actor) -> StepResult:
        """Retry as one command; the application takes the status the diagram declares where it stops."""
        with self.engine.command():
            result = self.engine.retry(instance_id, actor)
            app = apply_status_of(result)
            if app is not None and app.status == APPROVED and result.completed and self.certificates is not None:
                self.certificates.issue_for(app)
        return result


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("仅平台管理员可以管理流程")
