"""A project moved to other regulators: its applications' open review tasks move with it.

Who reviews an application is the project's competent authority and supervision agency (the
diagrams' candidate rules, ``handlers.processes``), and who may read it is the same pair, read
live (``ApplicationService.get``). The inbox rows copy the candidates when a task opens, so when
the 工改系统 pushes a project with other regulators the open tasks would stay with the old ones.
``follow_regulators`` re-offers them in the push's own transaction: the candidates are computed
again from each task's rule, a claim is released, the log says so and the new regulators are
notified. Tasks already completed keep their rows (the 统计 of who did the work), but the task
pages answer only the project's present regulators (``ReviewService.task``).
"""
from functools import cache

from sqlalchemy import exists, select

from engine import Actor, ProcessEngine
from engine.db import db
from engine.models import HumanTask

from . import catalog
from .models import Organization, Project
from .notifications import notify

MOVED = "监管单位变更"   # the log's action
PUSHED_BY = Actor(None, "系统", None, "工改系统推送")


@cache   # built from the code alone; it reads instances' specs by their version's content hash only
def _engine() -> ProcessEngine:
    from .processes import build_engine   # the process modules register what the diagrams name
    return build_engine()


def lock_open_reviews(project_id: int) -> list:
    """The project's applications that wait on an open task, in id order, with those tasks locked
    (PostgreSQL: FOR UPDATE) so that no claim or decision on them runs until the move commits."""
    open_task = exists().where(HumanTask.state == "open")
    apps = []
    for entry in catalog.entries():
        model = entry.model
        if hasattr(model, "project_id"):
            apps += db.session.scalars(select(model).where(
                model.project_id == project_id, open_task.where(HumanTask.instance_id == model.instance_id))
                .order_by(model.id))
    if not apps:
        return []
    waiting = set(db.session.scalars(
        select(HumanTask.instance_id).where(HumanTask.instance_id.in_([a.instance_id for a in apps]),
                                            HumanTask.state == "open").order_by(HumanTask.id).with_for_update()))
    return [a for a in apps if a.instance_id in waiting]


def follow_regulators(project: Project, before: list[int], applications: list) -> int:
    """Re-offer the open tasks of ``applications`` (``lock_open_reviews``) after the project's
    regulators changed from ``before``; returns how many tasks moved. Joins the caller's unit of work."""
    engine = _engine()
    names = _names({*before, *project.regulator_ids})
    moved = 0
    for app in applications:
        entry = catalog.entry_of(app)

        def opinion(task, old, new):
            text = f"工程改由{_list(names, new)}监管，“{task.name}”改由其办理（原为{_list(names, old)}）"
            if task.claimed_by_user_id is not None:
                text += f"；{task.claimed_by_org_name}{task.claimed_by_name}的签收已撤销"
            return text
        for task, orgs in engine.reoffer(app.instance_id, PUSHED_BY, MOVED, opinion):
            moved += 1
            notify("task_moved", orgs, f"待审核：{task.subject}",
                   f"工程“{project.name}”的监管单位已变更，{entry.title}“{task.subject}”改由贵单位办理，请签收。",
                   app=app, task_id=task.id)
    return moved


def _names(org_ids) -> dict[int, str]:
    return dict(db.session.execute(select(Organization.id, Organization.name).where(Organization.id.in_(org_ids))).all())


def _list(names: dict[int, str], org_ids) -> str:
    return "、".join(names.get(i, str(i)) for i in org_ids) or "无"
