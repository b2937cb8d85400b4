"""What the diagrams in bpmn/ refer to: service operators, candidate rules, forms.

Operators apply the approved business effect inside the engine's transaction; a
re-check that fails returns ``applied: False`` with the message (logged as 复核未通过),
and the diagram routes the application back to the applicant. Each operator first takes
the row locks of the projects and people its effect touches (``lock_rule.serialize``), so
its re-check reads what a concurrent effect on them committed. Each process's module (``unlock``,
``manager_change``, ``completion_filing``) registers its catalog entry and operators;
the user tasks' forms are files in ``bpmn/forms/``.
"""

from engine import ProcessEngine
from engine.db import db, write_now
from engine.models import utcnow

from .. import catalog
from ..applications import application_for
from ..models import APPROVED, Project, ProjectChange
from ..registry import registry  # noqa: F401 — the process modules register with it


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
    return application_for(instance.process_key, instance.id)


RECHECK_FAILED = "复核未通过"          # the log action of an approval whose re-check failed
RECHECK_PREFIX = "审核通过时复核未通过："


def _approved(app, message: str) -> dict:
    write_now(app, {"status": APPROVED, "finished_at": utcnow(), "open_key": None})
    return {"applied": True, "message": message}


def _recheck_failed(message: str) -> dict:
    """Nothing changed: the log records the re-check under its own name, not the effect's."""
    return {"applied": False, "message": message, "log_action": RECHECK_FAILED}


def record_project_change(app, actor, changes: list[list]) -> ProjectChange:
    """Keep an approved change in the project's change history: [[label, before, after], …]."""
    entry = catalog.entry_of(app)
    row = ProjectChange(project_id=app.project_id, process=entry.title, case_no=app.case_no,
                        applicant=app.applicant_org.name, approved_by=f"{actor.org_name} {actor.user_name}".strip(),
                        changes=changes, at=utcnow())
    db.session.add(row)
    return row


def build_engine() -> ProcessEngine:
    return ProcessEngine(registry)


# the processes, in menu order: each registers its catalog entry and operators on import
from . import unlock  # noqa: E402,F401,I001
from . import manager_change  # noqa: E402,F401
from . import completion_filing  # noqa: E402,F401
from . import permit_supplement  # noqa: E402,F401
from . import project_info_change  # noqa: E402,F401
from . import roster_change  # noqa: E402,F401
from . import unit_change  # noqa: E402,F401
from . import registration  # noqa: E402,F401
from . import rectification  # noqa: E402,F401
