"""催办 and 督办 (domain.md §10): the applicant urges an overdue task of its own case once per working
day; the competent authority over the project acts on an overdue task with a supervision note, a new
due date (the deadline and its timers move) and a message to the holder. Each is logged and told."""
from datetime import date, datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import func, select

from engine.db import db
from engine.models import HumanTask, Job
from engine.workcalendar import local_date
from handlers import supervision
from handlers.errors import DomainError, Forbidden, NotFound
from handlers.models import Account, Notification, TaskUrge

from .web_helpers import client_world, csrf_token, login, new_client, post  # noqa: F401 (fixture)
from .world import locked_person, reported_unlock

CST = timezone(timedelta(hours=8))


def at(y, m, d, hour=10):
    return datetime(y, m, d, hour, tzinfo=CST)


def overdue_unlock(world, services, name="甲一", claim=True):
    """An unlock reported on Monday 2025-03-03 (due 03-10), claimed by the agency's reviewer."""
    person, _ = locked_person(world, name)
    with time_machine.travel(at(2025, 3, 3), tick=False):
        app = reported_unlock(world, services, person)
        task = services.unlock.open_task(app)
        if claim:
            services.reviews.claim(world.who("agency_reviewer"), task.id)
    return app, task.id


def told(kind) -> list[int]:
    """The organisations of the accounts told of ``kind``, one per message."""
    return db.session.scalars(select(Account.org_id).join(Notification, Notification.account_id == Account.id)
                              .where(Notification.kind == kind).order_by(Notification.id)).all()


def test_an_applicant_urges_an_overdue_task_once_per_working_day(world, services):
    app, task_id = overdue_unlock(world, services)
    contractor = world.who("contractor_user")
    with time_machine.travel(at(2025, 3, 7), tick=False):   # not yet overdue
        with pytest.raises(DomainError, match="超过办理期限后方可催办"):
            supervision.urge(services.engine, contractor, app)
    with time_machine.travel(at(2025, 3, 11, 9), tick=False):   # Tuesday, overdue since 03-10
        supervision.urge(services.engine, contractor, app)
        with pytest.raises(DomainError, match="每个工作日只能催办一次"):
            supervision.urge(services.engine, contractor, app)
    with time_machine.travel(at(2025, 3, 11, 17), tick=False):   # later the same day
        with pytest.raises(DomainError, match="每个工作日只能催办一次"):
            supervision.urge(services.engine, contractor, app)
    with time_machine.travel(at(2025, 3, 15), tick=False):   # Saturday counts as Monday 03-17
        supervision.urge(services.engine, contractor, app)
    with time_machine.travel(at(2025, 3, 17), tick=False):
        with pytest.raises(DomainError, match="每个工作日只能催办一次"):
            supervision.urge(services.engine, contractor, app)
    with time_machine.travel(at(2025, 3, 18), tick=False):
        supervision.urge(services.engine, contractor, app)
    assert db.session.scalars(select(TaskUrge.day).order_by(TaskUrge.id)).all() == [
        date(2025, 3, 11), date(2025, 3, 17), date(2025, 3, 18)]
    log = [(e.action, e.opinion) for e in services.unlock.operation_log(app) if e.action == "催办"]
    assert len(log) == 3 and "已超期" in log[0][1]
    # the holder is told, not the rest of the agency or the authority
    accounts = db.session.scalars(select(Notification.account_id).where(Notification.kind == "urged")).all()
    assert accounts == [world.who("agency_reviewer").account_id] * 3


def test_urging_an_unclaimed_task_tells_its_candidates_and_others_cases_are_refused(world, services):
    app, _task_id = overdue_unlock(world, services, claim=False)
    with time_machine.travel(at(2025, 3, 12), tick=False):
        with pytest.raises(Forbidden):
            supervision.urge(services.engine, world.who("contractor2_user"), app)
        supervision.urge(services.engine, world.who("contractor_user"), app)
    # nobody holds it: every reviewer of its candidate organisations is told (the authority's two, the agency's one)
    assert sorted(told("urged")) == sorted([world.org("authority").id] * 2 + [world.org("agency").id])


def test_the_authority_supervises_an_overdue_task(world, services):
    app, task_id = overdue_unlock(world, services)
    authority = world.who("auth_reviewer")
    with time_machine.travel(at(2025, 3, 7), tick=False):
        with pytest.raises(DomainError, match="尚未超过办理期限"):
            supervision.supervise(services.engine, authority, task_id, "note", "请加快")
    with time_machine.travel(at(2025, 3, 12), tick=False):
        supervision.supervise(services.engine, authority, task_id, "note", "请于本周内办结")
        supervision.supervise(services.engine, authority, task_id, "message", "赵监督同志，请今天回复进度")
        with pytest.raises(DomainError, match="督办留言"):
            supervision.supervise(services.engine, authority, task_id, "message", "  ")
        # a new due date must be a future working day
        with pytest.raises(DomainError, match="今天以后"):
            supervision.supervise(services.engine, authority, task_id, "due", "", date(2025, 3, 12))
        with pytest.raises(DomainError, match="不是工作日"):
            supervision.supervise(services.engine, authority, task_id, "due", "", date(2025, 3, 15))
        supervision.supervise(services.engine, authority, task_id, "due", "材料较多", date(2025, 3, 14))
        db.session.expire_all()
        task = db.session.get(HumanTask, task_id)
        assert local_date(task.due_at - timedelta(microseconds=1)) == date(2025, 3, 14) and task.overdue_at is None
        assert {c.due_at for c in task.candidates} == {task.due_at}
        assert services.reviews.overdue(authority) == []   # off the 督办 list until the new date passes
        # no longer overdue: nothing more to supervise
        with pytest.raises(DomainError, match="尚未超过办理期限"):
            supervision.supervise(services.engine, authority, task_id, "note", "再催")
    actions = [(e.action, e.opinion) for e in services.unlock.operation_log(app)][-3:]
    assert actions == [("督办意见", "请于本周内办结"), ("督办留言", "致昆明市建设工程质量安全监督站 赵监督：赵监督同志，请今天回复进度"),
                       ("督办调整期限", "办理期限调整为 2025-03-14。原因：材料较多")]
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.kind == "supervised")) == 3
    # the timers follow the new deadline (their jobs, stored UTC): the reminder (超期预警) at the start
    # of the last day 03-14, the overdue mark (标记超期并督办) at its end
    pending = set(db.session.scalars(select(Job.due_at).where(Job.kind == "bpmn.timer", Job.state == "pending")))
    assert {datetime(2025, 3, 13, 16), datetime(2025, 3, 14, 16)} <= pending


def test_only_the_competent_authority_over_the_project_supervises(world, services):
    _app, task_id = overdue_unlock(world, services)
    with time_machine.travel(at(2025, 3, 12), tick=False):
        with pytest.raises(Forbidden):
            supervision.supervise(services.engine, world.who("agency_reviewer"), task_id, "note", "x")
        with pytest.raises(NotFound):
            supervision.supervise(services.engine, world.who("auth2_reviewer"), task_id, "note", "x")
        with pytest.raises(Forbidden):
            supervision.supervise(services.engine, world.who("contractor_user"), task_id, "note", "x")


def test_urge_and_supervise_over_http(client_world, services, ctx):
    client, world = client_world
    app, task_id = overdue_unlock(world, services)
    with time_machine.travel(at(2025, 3, 12), tick=False):
        login(client, "contractor_user")
        url = f"/apply/unlock/{app.id}"
        page = client.get(url).get_data(as_text=True)
        assert "催办" in page and "已超期" in page
        html = post(client, f"{url}/urge", form_url=url, follow_redirects=True).get_data(as_text=True)
        assert "已催办" in html and "今天已催办" in html
        html = post(client, f"{url}/urge", form_url=url, follow_redirects=True).get_data(as_text=True)
        assert "每个工作日只能催办一次" in html
        authority = new_client(ctx)
        login(authority, "auth_reviewer")
        assert "督办" in authority.get("/review/supervision").get_data(as_text=True)
        task_url = f"/review/task/{task_id}"
        page = authority.get(task_url).get_data(as_text=True)
        assert "记录督办意见" in page and "调整办理期限" in page and "发送督办留言" in page and "催办" in page
        html = post(authority, f"{task_url}/supervise", {"action": "note", "text": "请尽快办结"}, form_url=task_url,
                    follow_redirects=True).get_data(as_text=True)
        assert "督办意见已记录" in html and "请尽快办结" in html
        html = post(authority, f"{task_url}/supervise", {"action": "due", "due": "2025-03-16"}, form_url=task_url,
                    follow_redirects=True).get_data(as_text=True)
        assert "不是工作日" in html
        html = post(authority, f"{task_url}/supervise", {"action": "due", "due": "nonsense"}, form_url=task_url,
                    follow_redirects=True).get_data(as_text=True)
        assert "请选择有效的日期" in html
        html = post(authority, f"{task_url}/supervise", {"action": "due", "due": "2025-03-17"}, form_url=task_url,
                    follow_redirects=True).get_data(as_text=True)
        assert "办理期限已调整" in html and "办理期限调整为 2025-03-17" in html
        # the agency sees the 督办 on its task page and may not supervise
        agency = new_client(ctx)
        login(agency, "agency_reviewer")
        page = agency.get(task_url).get_data(as_text=True)
        assert "督办调整期限" in page and "记录督办意见" not in page
        assert post(agency, f"{task_url}/supervise", {"action": "note", "text": "x"}, form_url=task_url).status_code == 403
        other = new_client(ctx)
        login(other, "auth2_reviewer")
        assert post(other, f"{task_url}/supervise", {"action": "note", "text": "x"}, form_url="/review/").status_code == 404


def test_a_new_due_date_moves_the_reminder_and_the_overdue_mark(world, services):
    """Set before the task fell due: the old timers' jobs find nothing due, the task is reminded on
    its new last day and marked overdue when that day ends."""
    app, task_id = overdue_unlock(world, services)
    worker = services.worker()
    with time_machine.travel(at(2025, 3, 11), tick=False):   # overdue since 03-10 (no worker ran)
        supervision.supervise(services.engine, world.who("auth_reviewer"), task_id, "due", "", date(2025, 3, 18))
    with time_machine.travel(at(2025, 3, 12), tick=False):
        worker.run_due()   # the jobs of the old times: the timers now wait for 03-18
        db.session.expire_all()
        assert db.session.get(HumanTask, task_id).overdue_at is None
        assert "超期预警" not in [e.action for e in services.unlock.operation_log(app)]
    with time_machine.travel(at(2025, 3, 18, 9), tick=False):
        worker.run_due()
        assert "超期预警" in [e.action for e in services.unlock.operation_log(app)]
        db.session.expire_all()
        assert db.session.get(HumanTask, task_id).overdue_at is None
    with time_machine.travel(at(2025, 3, 19, 9), tick=False):
        worker.run_due()
        db.session.expire_all()
        assert db.session.get(HumanTask, task_id).overdue_at is not None
        assert [t.id for t in services.reviews.overdue(world.who("auth_reviewer"))] == [task_id]
