"""Public progress lookup (办件进度查询): a case number and the applicant's unified social credit
code show where an application stands, with nothing personal (no names, no opinions).

Both must match: a wrong pair gets the same answer as an unknown case, so the page cannot be used
to learn which case numbers exist.
"""
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from engine.case_numbers import instance_by_case_no
from engine.db import db
from engine.inbox import open_tasks, operation_log
from engine.text import natural_key

from . import catalog
from .models import APPLICATION_STATUS, Organization

# the actions the timeline shows; saves, claims and engine steps are internal
SHOWN_ACTIONS = ("新建", "上报", "签收", "退回", "审核通过", "撤回", "业务办结")
NOT_FOUND = "未查询到该办件，请核对办件编号和统一社会信用代码"


@dataclass
class Progress:
    case_no: str
    process: str
    status: str
    current_step: str
    created_at: datetime
    reported_at: datetime | None
    finished_at: datetime | None
    steps: list[tuple[datetime, str]] = field(default_factory=list)


def lookup(case_no: str, credit_code: str) -> Progress | None:
    """The case's progress, or None when the pair does not name one case of that applicant."""
    with db.session.no_autoflush:
        instance = instance_by_case_no(case_no)
        code = natural_key(credit_code)
        if instance is None or not code or instance.applicant_org_id is None:
            return None
        org_code = db.session.scalar(select(Organization.credit_code).where(
            Organization.id == instance.applicant_org_id))
        if org_code != code:
            return None
        entry = catalog.by_key(instance.process_key)
        app = db.session.scalar(select(entry.model).where(entry.model.instance_id == instance.id)) if entry else None
        if app is None:
            return None
        tasks = open_tasks(instance.id)
        current = "、".join(t.name for t in tasks) or ("已结束" if instance.status == "completed" else "系统处理中")
        steps = [(e.at, e.action) for e in operation_log(instance.id) if e.action in SHOWN_ACTIONS]
        return Progress(case_no=instance.case_no, process=entry.title,
                        status=APPLICATION_STATUS.get(app.status, app.status), current_step=current,
                        created_at=instance.created_at, reported_at=app.reported_at,
                        finished_at=app.finished_at, steps=steps)
