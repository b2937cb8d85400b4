"""催办 and 督办 (domain.md §10): acting on an overdue task.

- 催办: the applicant organisation urges an overdue task of its own case, once per task and working
  day (``task_urge``'s unique key; a non-working day counts as the next working day). The task's
  holder, or its candidate organisations while nobody holds it, are told; the log of the case says so.
- 督办: the competent authority over the project (a candidate of every review task of its
  projects: its candidate row is the authorization) acts on an overdue task: a supervision note
  (督办意见), a new due date (a future working day: the task's deadline and its timers move,
  ProcessEngine.set_due) or a message to the holder (督办留言). Each is logged and told.
"""
from datetime import date, timedelta

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from engine import ProcessEngine, workcalendar
from engine.db import db
from engine.models import HumanTask, TaskCandidate, utcnow
from engine.workcalendar import local_date, local_midnight_utc

from .errors import DomainError, Forbidden, NotFound
from .models import AUTHORITY, TaskUrge
from .notifications import notify
from .principal import Principal

URGE_ACTION = "催办"
NOTE_ACTION, DUE_ACTION, MESSAGE_ACTION = "督办意见", "督办调整期限", "督办留言"
TEXT_MAX = 500
ALREADY_URGED = "今天已催办过该任务，每个工作日只能催办一次，请下一个工作日再催办"


def urge_day(now=None) -> date:
    """The working day a 催办 now counts for: today, or the next working day on a rest day."""
    today = local_date(now or utcnow())
    return workcalendar.current().next_working_day(today)


def overdue_review_task(app) -> HumanTask | None:
    """The case's open step that others work (not the applicant's own) and that is past due."""
    if app.instance_id is None:
        return None
    return db.session.scalar(select(HumanTask).where(
        HumanTask.instance_id == app.instance_id, HumanTask.state == "open", HumanTask.due_at < utcnow(),
        ~exists().where(TaskCandidate.task_id == HumanTask.id, TaskCandidate.org_id == app.applicant_org_id))
        .order_by(HumanTask.id).limit(1))


def urged_today(task_id: int) -> bool:
    return db.session.scalar(select(TaskUrge.id).where(TaskUrge.task_id == task_id,
                                                       TaskUrge.day == urge_day())) is not None


def _told(task: HumanTask) -> tuple[list[int], int | None]:
    """Who hears of an act on ``task``: its holder, or its candidate organisations."""
    if task.claimed_by_user_id is not None:
        return [task.claimed_by_org_id], task.claimed_by_user_id
    return list(db.session.scalars(select(TaskCandidate.org_id).where(TaskCandidate.task_id == task.id))), None


def urge(engine: ProcessEngine, principal: Principal, app) -> HumanTask:
    """催办 an overdue task of the principal's own case."""
    with engine.command():
        if app.applicant_org_id != principal.org_id:
            raise Forbidden()
        task = overdue_review_task(app)
        if task is None:
            raise DomainError("该申请没有已超过办理期限的审核任务，暂不能催办（超过办理期限后方可催办）")
        if urged_today(task.id):
            raise DomainError(ALREADY_URGED)
        db.session.add(TaskUrge(task_id=task.id, day=urge_day(), at=utcnow(), org_id=principal.org_id,
                                user_id=principal.user_id))
        try:
            db.session.flush()   # two tabs at once: the unique key lets one through
        except IntegrityError as exc:
            raise DomainError(ALREADY_URGED) from exc
        from engine.deadlines import state, unit_of
        due = state(task.due_at, task.due_provisional, unit=unit_of(task.due_rule))
        engine.record(app.instance_id, principal.actor, URGE_ACTION, f"催办“{task.name}”（{due.label}）")
        orgs, user_id = _told(task)
        notify("urged", orgs, f"申请人催办：{task.subject}",
               f"{principal.org_name}催办“{task.subject}”的{task.name}（{due.label}），请尽快办理。",
               app=app, task_id=task.id, only_user_id=user_id)
        return task


# -- 督办 -----------------------------------------------------------------------------------------
def supervised_task(principal: Principal, task_id: int) -> HumanTask:
    """An open overdue task of a project under this competent authority (its candidate row)."""
    if principal.kind != AUTHORITY:
        raise Forbidden("仅主管部门可以督办")
    task = db.session.scalar(select(HumanTask).where(HumanTask.id == task_id, exists().where(
        TaskCandidate.task_id == HumanTask.id, TaskCandidate.org_id == principal.org_id)))
    if task is None:
        raise NotFound("任务不存在或无权访问")
    return task


def can_supervise(principal: Principal, task: HumanTask) -> bool:
    return principal.kind == AUTHORITY and task.state == "open" and task.due_at is not None \
        and task.due_at < utcnow()


def _text(value: str, label: str, field: str) -> str:
    text = (value or "").strip()
    if not text:
        raise DomainError(f"{label}：请填写{label}", field)
    if len(text) > TEXT_MAX:
        raise DomainError(f"{label}：不能超过 {TEXT_MAX} 个字", field)
    return text


def supervise(engine: ProcessEngine, principal: Principal, task_id: int, action: str, text: str = "",
              new_due: date | None = None) -> HumanTask:
    """督办 an overdue task: ``action`` "note" (督办意见), "due" (a new due date ``new_due``, with
    ``text`` as the reason, optional) or "message" (督办留言 to the holder)."""
    if action not in ("note", "due", "message"):
        raise DomainError("请选择督办方式")
    with engine.command():
        task = supervised_task(principal, task_id)
        if task.state != "open":
            raise DomainError("该任务已处理完毕，无需督办")
        if not can_supervise(principal, task):
            raise DomainError("该任务尚未超过办理期限，无需督办")
        orgs, user_id = _told(task)
        if action == "note":
            note = _text(text, "督办意见", "text")
            engine.record(task.instance_id, principal.actor, NOTE_ACTION, note)
            notify("supervised", orgs, f"主管部门督办：{task.subject}", f"{principal.org_name}督办意见：{note}",
                   task_id=task.id, only_user_id=user_id)
        elif action == "message":
            if task.claimed_by_user_id is None:
                raise DomainError("该任务尚未被签收，没有办理人可以留言；可填写督办意见")
            message = _text(text, "督办留言", "text")
            engine.record(task.instance_id, principal.actor, MESSAGE_ACTION,
                          f"致{task.claimed_by_org_name} {task.claimed_by_name}：{message}")
            notify("supervised", orgs, f"主管部门督办留言：{task.subject}", f"{principal.org_name}：{message}",
                   task_id=task.id, only_user_id=user_id)
        else:
            day = check_new_due(new_due)
            reason = (text or "").strip()
            if len(reason) > TEXT_MAX:
                raise DomainError(f"调整原因：不能超过 {TEXT_MAX} 个字", "text")
            opinion = f"办理期限调整为 {day.isoformat()}" + (f"。原因：{reason}" if reason else "")
            engine.set_due(task.id, local_midnight_utc(day + timedelta(days=1)), principal.actor, DUE_ACTION,
                           opinion)
            notify("supervised", orgs, f"主管部门调整办理期限：{task.subject}",
                   f"{principal.org_name}将“{task.subject}”的{task.name}办理期限调整为 {day.isoformat()}，请在期限内办理。"
                   + (f"原因：{reason}" if reason else ""), task_id=task.id, only_user_id=user_id)
            db.session.refresh(task)
        return task


def check_new_due(day: date | None) -> date:
    """A new due date: a working day after today."""
    if day is None:
        raise DomainError("新的办理期限：请选择日期", "due")
    if day <= local_date(utcnow()):
        raise DomainError("新的办理期限：必须是今天以后的日期", "due")
    if not workcalendar.current().is_working_day(day):
        raise DomainError(f"新的办理期限：{day.isoformat()} 不是工作日，请选择工作日", "due")
    return day
