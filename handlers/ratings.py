"""好差评 (domain.md §10; 国办发〔2019〕51号, GB/T 39735-2020): the applicant organisation rates an
ended case once (一事一评) on five levels with a comment, and may append to the comment later
(追评: appended, never edited). A 差评 (不满意, 非常不满意) opens a 整改 (bpmn/rectification.bpmn) for the
organisation that decided the case, due within the period the administrators set
(``rectification_days``, 5 working days unless they change it).

Every rating is one command: the rating row, its log entry on the rated case, the 整改 instance with
its inbox row, the notification and the ``case.rated`` webhook event commit together or not at all.
"""
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from engine import ProcessEngine
from engine.case_numbers import next_case_no
from engine.db import db, unit_of_work
from engine.models import HumanTask, ProcessInstance, utcnow

from . import catalog
from .catalog import LOCAL_OFFSET, api_time
from .errors import DomainError, Forbidden
from .models import (
    APPROVED, BAD_RATINGS, RATING_LEVELS, WITHDRAWN, AdminSetting, CaseRating, CaseRatingAddition, Organization,
    Rectification,
)
from .notifications import notify
from .principal import Principal
from .webhooks import emit

RATEABLE = (APPROVED, WITHDRAWN)   # ended cases a reviewer decided (a withdrawn one only if reviewed before)
COMMENT_MAX = 500
RATE_ACTION, ADD_ACTION = "评价", "追加评价"
PERIOD_KEY, DEFAULT_PERIOD, PERIOD_MAX = "rectification_days", 5, 60
ALREADY_RATED = "该办件已评价，每个办件只能评价一次（一事一评）；如需补充，请使用“追加评价”"


# -- the administrators' setting ----------------------------------------------------------------
def rectification_days() -> int:
    """The 整改 period in working days (an administrator's setting; 5 by default)."""
    value = db.session.scalar(select(AdminSetting.value).where(AdminSetting.key == PERIOD_KEY))
    return int(value) if value and value.isdigit() else DEFAULT_PERIOD


def set_rectification_days(principal: Principal, value: str) -> int:
    """Change the period of 整改 tasks opened from now on (those open keep theirs)."""
    if not principal.is_admin:
        raise Forbidden()
    text = (value or "").strip()
    if not text.isdigit() or not 1 <= int(text) <= PERIOD_MAX:
        raise DomainError(f"整改期限：请填写 1 至 {PERIOD_MAX} 之间的整数（工作日）", "days")
    with unit_of_work():
        row = db.session.get(AdminSetting, PERIOD_KEY)
        if row is None:
            row = AdminSetting(key=PERIOD_KEY, value=text)
            db.session.add(row)
        row.value, row.changed_at = text, utcnow()
        row.changed_by = f"{principal.user_name}（{principal.org_name}）"
    return int(text)


def period_setting() -> AdminSetting | None:
    return db.session.get(AdminSetting, PERIOD_KEY)


# -- who decided a case ----------------------------------------------------------------------------
def deciding_org_id(app) -> int | None:
    """The organisation whose reviewer completed the case's last review step (a step completed by
    someone of another organisation than the applicant), or None when no reviewer decided it."""
    if app.instance_id is None:
        return None
    return db.session.scalar(
        select(HumanTask.completed_by_org_id).where(
            HumanTask.instance_id == app.instance_id, HumanTask.state == "completed",
            HumanTask.completed_by_org_id.is_not(None), HumanTask.completed_by_org_id != app.applicant_org_id)
        .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc()).limit(1))


@dataclass(frozen=True)
class RatingView:
    """What the case's page shows: the rating (None: not yet), whether it may be rated now, and why not."""
    rating: CaseRating | None
    can_rate: bool
    reason: str | None


class RatingService:
    def __init__(self, engine: ProcessEngine):
        self.engine = engine

    def rating_of(self, app) -> CaseRating | None:
        if app.instance_id is None:
            return None
        return db.session.scalar(select(CaseRating).where(CaseRating.instance_id == app.instance_id))

    def view(self, principal: Principal, app) -> RatingView:
        rating = self.rating_of(app)
        if rating is not None:
            return RatingView(rating, False, None)
        reason = self._why_not(principal, app)
        return RatingView(None, reason is None, reason)

    def _why_not(self, principal: Principal, app) -> str | None:
        if app.applicant_org_id != principal.org_id:
            return "只有申请单位可以评价"
        if app.status not in RATEABLE:
            return "办件办结后才可以评价"
        if deciding_org_id(app) is None:
            return "该办件未经审核人员办理，无需评价"
        return None

    def rate(self, principal: Principal, app, level: str, comment: str) -> CaseRating:
        """一事一评: the rating of an ended case; a 差评 opens its 整改 in the same command."""
        if level not in RATING_LEVELS:
            raise DomainError("评价等级：请选择" + "、".join(RATING_LEVELS.values()) + "之一", "level")
        comment = (comment or "").strip()
        if len(comment) > COMMENT_MAX:
            raise DomainError(f"评价内容：不能超过 {COMMENT_MAX} 个字", "comment")
        if level in BAD_RATINGS and not comment:
            raise DomainError("评价内容：不满意时请写明原因，以便整改", "comment")
        with self.engine.command():
            if self.rating_of(app) is not None:
                raise DomainError(ALREADY_RATED)
            reason = self._why_not(principal, app)
            if reason:
                raise DomainError(reason)
            entry = catalog.entry_of(app)
            rating = CaseRating(instance_id=app.instance_id, process_key=entry.key, app_kind=entry.kind,
                                app_id=app.id, applicant_org_id=app.applicant_org_id,
                                reviewer_org_id=deciding_org_id(app), level=level, comment=comment,
                                rated_by_user_id=principal.user_id, rated_by_name=principal.user_name,
                                rated_at=utcnow())
            db.session.add(rating)
            try:
                db.session.flush()   # the unique case: of two tabs rating at once, one gets through
            except IntegrityError as exc:
                raise DomainError(ALREADY_RATED) from exc
            label = RATING_LEVELS[level]
            self.engine.record(app.instance_id, principal.actor, RATE_ACTION,
                               f"{label}：{comment}" if comment else label)
            if level in BAD_RATINGS:
                self._open_rectification(principal, app, rating)
            emit("case.rated", rating_event(rating, app))
            return rating

    def add(self, principal: Principal, app, text: str) -> CaseRatingAddition:
        """追评: text appended to the rating's comment; the rating itself never changes."""
        text = (text or "").strip()
        if not text:
            raise DomainError("追加评价：请填写追加评价的内容", "text")
        if len(text) > COMMENT_MAX:
            raise DomainError(f"追加评价：不能超过 {COMMENT_MAX} 个字", "text")
        with self.engine.command():
            if app.applicant_org_id != principal.org_id:
                raise DomainError("只有申请单位可以追加评价")
            rating = self.rating_of(app)
            if rating is None:
                raise DomainError("该办件尚未评价，请先评价")
            addition = CaseRatingAddition(rating_id=rating.id, text=text, by_user_id=principal.user_id,
                                          by_name=principal.user_name, at=utcnow())
            db.session.add(addition)
            self.engine.record(app.instance_id, principal.actor, ADD_ACTION, text)
            return addition

    def _open_rectification(self, principal: Principal, app, rating: CaseRating) -> Rectification:
        from .processes.rectification import PROCESS_KEY, TASK_ELEMENT
        row = Rectification(rating_id=rating.id, org_id=rating.reviewer_org_id,
                            applicant_org_id=app.applicant_org_id, created_at=utcnow())
        db.session.add(row)
        db.session.flush()
        entry, days = catalog.entry_of(app), rectification_days()
        result = self.engine.start(
            PROCESS_KEY, f"rectification:{row.id}", principal.actor,
            subject=f"差评整改：{entry.title}（{app.case_no or '—'}）", scope=getattr(app.project, "name", ""),
            scope_id=row.id, applicant_org_id=app.applicant_org_id, applicant_name=principal.org_name,
            action="差评", case_no=next_case_no(catalog.by_key(PROCESS_KEY).prefix, (utcnow() + LOCAL_OFFSET).year),
            periods={TASK_ELEMENT: f"{days} working days"})
        row.instance_id = result.instance.id
        task = result.opened[0] if result.opened else None
        notify("rectification", [row.org_id],
               f"待整改：{entry.title}（{app.case_no or '—'}）收到{RATING_LEVELS[rating.level]}评价",
               f"{principal.org_name}对{entry.title}“{app.case_no or ''}”的评价为{RATING_LEVELS[rating.level]}："
               f"{rating.comment}。请在 {days} 个工作日内签收整改并填写整改情况。",
               task_id=task.id if task else None)
        return row

    # -- 统计 --------------------------------------------------------------------------------------
    @staticmethod
    def monthly(principal: Principal, year: int) -> list[dict]:
        """Ratings per deciding organisation and month of ``year`` (local time): the regulators
        see their own organisation, administrators every one. Rows: org, month, counts per level,
        total, 差评 and the 满意率 (非常满意 + 满意 + 基本满意 of all)."""
        if not (principal.is_regulator or principal.is_admin):
            raise Forbidden()
        from datetime import datetime
        start, end = datetime(year, 1, 1) - LOCAL_OFFSET, datetime(year + 1, 1, 1) - LOCAL_OFFSET
        stmt = (select(CaseRating.reviewer_org_id, Organization.name, CaseRating.rated_at, CaseRating.level)
                .join(Organization, Organization.id == CaseRating.reviewer_org_id)
                .where(CaseRating.rated_at >= start, CaseRating.rated_at < end))
        if not principal.is_admin:
            stmt = stmt.where(CaseRating.reviewer_org_id == principal.org_id)
        table: dict[tuple, dict] = {}
        for org_id, name, at, level in db.session.execute(stmt):
            month = (at + LOCAL_OFFSET).month
            row = table.setdefault((name, org_id, month), {"org_id": org_id, "org": name, "month": month,
                                                          **{k: 0 for k in RATING_LEVELS}})
            row[level] += 1
        rows = [table[k] for k in sorted(table)]
        for row in rows:
            row["total"] = sum(row[k] for k in RATING_LEVELS)
            row["bad"] = sum(row[k] for k in BAD_RATINGS)
            row["satisfied_rate"] = round(100 * (row["total"] - row["bad"]) / row["total"], 1)
        return rows


def rating_event(rating: CaseRating, app=None) -> dict:
    """The ``case.rated`` webhook's data and the API's ``rating`` object."""
    data = {"rating": rating_json(rating)}
    if app is not None:
        entry = catalog.entry_of(app)
        data["application"] = {"kind": entry.kind, "process": entry.key, "id": app.id, "status": app.status,
                               "case_no": app.case_no, "project": app.project.supervision_no}
    return data


def rating_json(rating: CaseRating | None) -> dict | None:
    if rating is None:
        return None
    rect = rating.rectification
    return {
        "level": rating.level, "level_label": RATING_LEVELS[rating.level], "bad": rating.is_bad,
        "comment": rating.comment, "rated_at": api_time(rating.rated_at),
        "reviewer_org": rating.reviewer_org.name if rating.reviewer_org else None,
        "additions": [{"text": a.text, "at": api_time(a.at)} for a in rating.additions],
        "rectification": None if rect is None else {
            "status": "done" if rect.status == APPROVED else "open", "answer": rect.answer or None,
            "answered_at": api_time(rect.finished_at),
            "due_at": api_time(db.session.scalar(select(func.max(HumanTask.due_at)).where(
                HumanTask.instance_id == rect.instance_id))) if rect.instance_id else None,
            "case_no": db.session.scalar(select(ProcessInstance.case_no).where(
                ProcessInstance.id == rect.instance_id)) if rect.instance_id else None},
    }
