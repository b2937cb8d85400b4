"""What the review steps' deadline timers do (bpmn/*.bpmn: Timer_Review_Reminder, Timer_Review_Overdue).

超期预警 one working day before the due time; at the due time the task is marked overdue
(``human_task.overdue_at``: it is on the competent authority's 督办 list) and both
regulators are told.
"""
from sqlalchemy import select

from engine.db import db
from engine.models import HumanTask, TaskCandidate, utcnow
from engine.registry import ServiceCall

from .notifications import notify
from .processes import application_of, registry


def _open_reviews(instance_id: int) -> list[HumanTask]:
    """The instance's open tasks with a due time: the review steps the deadline timers watch."""
    return list(db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.state == "open", HumanTask.due_at.is_not(None))))


def _candidates(task_id: int) -> list[int]:
    return list(db.session.scalars(select(TaskCandidate.org_id).where(TaskCandidate.task_id == task_id)))


@registry.operator("review.remind")
def remind(call: ServiceCall) -> dict:
    app = application_of(call.instance)
    for task in _open_reviews(call.instance.id):
        holder = f"（签收人：{task.claimed_by_name}）" if task.claimed_by_name else "（尚未签收）"
        notify("due_soon", _candidates(task.id), f"超期预警：{task.subject}",
               f"{task.scope}的“{task.subject}”距办理期限不足 1 个工作日{holder}，请及时办理。",
               app=app, task_id=task.id)
    return {"message": "距办理期限不足 1 个工作日，已发送超期预警"}


@registry.operator("review.overdue")
def overdue(call: ServiceCall) -> dict:
    app = application_of(call.instance)
    for task in _open_reviews(call.instance.id):
        task.overdue_at = utcnow()
        notify("overdue", _candidates(task.id), f"已超期：{task.subject}",
               f"{task.scope}的“{task.subject}”已超过办理期限，已列入主管部门督办。", app=app, task_id=task.id)
    db.session.flush()
    return {"message": "已超过办理期限，已列入主管部门督办"}
