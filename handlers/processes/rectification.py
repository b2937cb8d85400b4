"""差评整改 (domain.md §10): the catalog entry, the candidate rule and the operator of
``bpmn/rectification.bpmn``.

A 差评 (不满意 or 非常不满意, handlers.ratings) starts one instance for a ``Rectification`` row:
its one step 整改 is offered to the organisation that decided the rated case, due within the period
the administrators set (the instance starts with that period on its clock, engine.deadlines). The
holder writes what was rectified (整改情况); the operator keeps it on the row, where the applicant's
page of the rated case shows it.
"""
from sqlalchemy import select

from engine.db import db
from engine.models import ProcessInstance, utcnow
from engine.registry import ServiceCall

from .. import catalog
from ..applications import ApplicationService
from ..catalog import Column, ProcessEntry
from ..errors import NotFound
from ..models import AGENCY, APPROVED, AUTHORITY, RATING_LEVELS, Rectification
from ..principal import Principal
from . import registry

PROCESS_KEY = "rectification"
ENTRY_KIND = "rectification"
TASK_ELEMENT = "Task_Rectify"   # the step whose period the administrators set


@registry.candidate_rule("rectifying_org")
def rectifying_org(instance) -> list[int]:
    """The organisation that decided the rated case (``Rectification.org_id``; scope_id is the row)."""
    row = db.session.get(Rectification, instance.scope_id) if instance.scope_id else None
    return [row.org_id] if row else []


def rectification_of(instance) -> Rectification:
    return db.session.scalar(select(Rectification).where(Rectification.instance_id == instance.id))


@registry.operator("rectification.record")
def record(call: ServiceCall) -> dict:
    """整改完成: the answer is kept for the applicant to read."""
    row = rectification_of(call.instance)
    row.answer = str(call.params.get("answer") or "").strip()
    row.answered_by_name = f"{call.actor.org_name} {call.actor.user_name}".strip()
    row.status, row.finished_at = APPROVED, utcnow()
    return {"applied": True, "message": f"整改情况：{row.answer}"}


class RectificationService(ApplicationService):
    """Rectifications are opened by a 差评, never filed: the review pages read the rest
    (log, diagram, attachments: none)."""

    def get(self, principal: Principal, app_id: int) -> Rectification:
        row = db.session.get(Rectification, app_id)
        if row is None or principal.org_id not in (row.org_id, row.applicant_org_id):
            raise NotFound()
        return row

    def subject(self, app) -> str:
        return f"差评整改：{app.rating.level_label}"


def _case(row: Rectification) -> str:
    rating = row.rating
    entry = catalog.by_key(rating.process_key)
    case_no = db.session.scalar(select(ProcessInstance.case_no).where(ProcessInstance.id == rating.instance_id))
    return f"{entry.title if entry else rating.process_key}（{case_no or '—'}）"


ENTRY = catalog.register(ProcessEntry(
    key=PROCESS_KEY, kind=ENTRY_KIND, title="差评整改", prefix="ZG",
    menu=("审核", "差评整改"), filers=(), reviewers=(AGENCY, AUTHORITY), notifies_applicant=False,
    model=Rectification, service=RectificationService, edit_form=None,
    picker_title="", picker_empty="", picks=lambda service, principal, flt: [],
    columns=(), basics=(),
    summary=(
        Column("被评价的办件", _case),
        Column("评价单位", lambda r: r.applicant_org.name),
        Column("评价等级", lambda r: RATING_LEVELS[r.rating.level]),
        Column("评价内容", lambda r: r.rating.comment or "—", "pre"),
        Column("追加评价", lambda r: "\n".join(a.text for a in r.rating.additions), "pre",
               when=lambda r: bool(r.rating.additions)),
        Column("评价时间", lambda r: r.rating.rated_at, "datetime"),
        Column("整改情况", lambda r: r.answer, "pre", when=lambda r: bool(r.answer)),
    ),
    operators=("rectification.record",),
))
