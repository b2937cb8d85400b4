"""What the diagrams in bpmn/ refer to: service operators, candidate rules, forms.

Operators apply the approved business effect inside the engine's transaction; a
re-check that fails returns ``applied: False`` with the message, and the diagram
routes the application back to the applicant. Each process's module (``unlock``,
``manager_change``, ``completion_filing``) registers its catalog entry and operators;
the user tasks' forms are files in ``bpmn/forms/``.
"""
from sqlalchemy import select

from engine import EngineRegistry, ProcessEngine
from engine.db import db
from engine.models import utcnow

from .. import catalog
from ..models import APPLICATION_STATUS, APPROVED, Project

registry = EngineRegistry(
    statuses=set(APPLICATION_STATUS.values()),
    # versions deployed before diagrams declared statuses keep running: the shipped elements' statuses
    legacy_statuses={"Task_Edit": ("草稿", "已退回"), "Task_Review": ("待审核", None),
                     "End_Done": ("已办结", None), "End_Withdrawn": ("已撤回", None)})


# -- candidate rules --------------------------------------------------------------
@registry.candidate_rule("applicant")
def _applicant(instance) -> list[int]:
    return [instance.applicant_org_id]


@registry.candidate_rule("project_regulators")
def _project_regulators(instance) -> list[int]:
    """The competent authority and the supervision agency of the application's project."""
    project = db.session.get(Project, instance.scope_id)
    return project.regulator_ids if project else []


@registry.candidate_rule("project_agency")
def _project_agency(instance) -> list[int]:
    """The supervision agency (监督机构) of the application's project, e.g. for an on-site check."""
    project = db.session.get(Project, instance.scope_id)
    return [project.agency_id] if project else []


# -- shared by the operators -------------------------------------------------------
def application_of(instance):
    model = catalog.by_key(instance.process_key).model
    return db.session.scalar(select(model).where(model.instance_id == instance.id))


def _approved(app, message: str) -> dict:
    app.status, app.finished_at, app.open_key = APPROVED, utcnow(), None
    return {"applied": True, "message": message}


def build_engine() -> ProcessEngine:
    return ProcessEngine(registry)


# the processes, in menu order: each registers its catalog entry and operators on import
from . import unlock  # noqa: E402,F401,I001
from . import manager_change  # noqa: E402,F401
from . import completion_filing  # noqa: E402,F401
from . import permit_supplement  # noqa: E402,F401
