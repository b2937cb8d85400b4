"""Deadlines declared in the diagrams (engine.deadlines): computed when a task opens, stored on the
inbox row, paused by 退回, flagged provisional in unpublished years, shown in the inbox and 督办."""
import json
from datetime import date, datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import select

from engine import DefinitionError, calendar_store, deadlines
from engine.db import db, unit_of_work
from engine.inbox import InboxFilter
from engine.models import HumanTask, ProcessInstance, TaskCandidate
from handlers.deadlines import clock_of, late_filing_days
from handlers.errors import Forbidden
from handlers.services import BPMN_DIR

from .web_helpers import login, new_client
from .world import locked_person, reported_unlock

CST = timezone(timedelta(hours=8))


def at(y, m, d, hour=10):
    """A local (China) time, for time_machine."""
    return datetime(y, m, d, hour, tzinfo=CST)


def local_due_day(task) -> date:
    return deadlines.last_day(task.due_at)


def review_task(app) -> HumanTask:
    db.session.expire_all()
    return db.session.scalar(select(HumanTask).where(HumanTask.instance_id == app.instance_id,
                                                     HumanTask.form_key == "review").order_by(HumanTask.id.desc()))


# -- the syntax --------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, rule", [
    ("5 working days", "wd:5"), ("1 working day", "wd:1"), ("5 个工作日", "wd:5"), ("5工作日", "wd:5"),
    ("15 days", "d:15"), ("1 day", "d:1"), ("15 日", "d:15"), ("15 天", "d:15"), (" 15 Days ", "d:15"),
])
def test_due_syntax(text, rule):
    assert deadlines.parse_due(text).rule == rule


@pytest.mark.parametrize("text", ["", "5", "five days", "5 weeks", "0 days", "5 working", "-3 days", "P5D"])
def test_bad_due_values_are_refused(text):
    with pytest.raises(ValueError, match="时限"):
        deadlines.parse_due(text)


@pytest.mark.parametrize("prop, reason", [
    ('<spiffworkflow:property name="due" value="5 weeks" />', "时限 “5 weeks” 格式不正确"),
    ('<spiffworkflow:property name="due" value="5 working days" />'
     '<spiffworkflow:property name="due_restart" value="yes" />', "due_restart 只能为 true 或 false"),
])
def test_deploy_refuses_a_bad_due_naming_file_and_element(services, prop, reason):
    src = (BPMN_DIR / "personnel_unlock.bpmn").read_text("utf-8")
    bad = src.replace('<spiffworkflow:property name="due" value="5 working days" />', prop)
    assert bad != src
    with pytest.raises(DefinitionError) as exc:
        with services.engine.command():
            services.engine.definitions.deploy(bad.encode("utf-8"), "bad_due.bpmn")
    assert (exc.value.file, exc.value.element_id) == ("bad_due.bpmn", "Task_Review")
    assert reason in exc.value.message and "bad_due.bpmn" in exc.value.message


# -- computed when the task opens ---------------------------------------------------------------------
def test_review_due_crosses_spring_festival_2025(world, services):
    pm, _ = locked_person(world, "张三")
    with time_machine.travel(at(2025, 1, 24), tick=False):
        app = reported_unlock(world, services, pm)
    task = review_task(app)
    # 5 working days after Friday 01-24: Sun 01-26 (make-up), 01-27, 02-05, 02-06, 02-07
    assert task.due_rule == "wd:5" and local_due_day(task) == date(2025, 2, 7)
    assert task.due_at == datetime(2025, 2, 7, 16, 0)     # the end of 02-07 in China, stored as UTC
    assert not task.due_provisional
    assert {c.due_at for c in db.session.scalars(select(TaskCandidate).where(TaskCandidate.task_id == task.id))} \
        == {task.due_at}
    # the edit task has no deadline
    edit = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == app.instance_id,
                                                     HumanTask.form_key == "personnel_unlock.edit"))
    assert edit.due_at is None and edit.due_rule is None


def test_manager_change_review_is_due_in_five_working_days_over_qingming_2025(world, services):
    """domain.md §8 (decided): 5 working days for a key-manager change, declared in its diagram."""
    from handlers.models import CONSTRUCTOR, SAFETY_B
    old, project = locked_person(world, "原经理")
    new = world.add_person("新经理", "contractor", CONSTRUCTOR, SAFETY_B)
    applicant = world.who("contractor_user")
    [assignment] = services.change.changeable(applicant)
    with time_machine.travel(at(2025, 4, 3), tick=False):          # Thursday before 清明 (04-04..04-06)
        app = services.change.create(applicant, assignment.id)
        services.change.save(applicant, app.id, {"new_person_id": new.id, "reason": "原经理调离"})
        services.change.report(applicant, app.id)
    task = review_task(app)
    diagram = (BPMN_DIR / "manager_change.bpmn").read_text("utf-8")
    assert '<spiffworkflow:property name="due" value="5 working days" />' in diagram
    # 04-07, 04-08, 04-09, 04-10, 04-11
    assert task.due_rule == "wd:5" and local_due_day(task) == date(2025, 4, 11)


def test_completion_review_15_days_over_national_day_ends_on_a_working_day(world, services):
    applicant = world.who("owner_user")
    project = world.add_project("国庆工程")
    with time_machine.travel(at(2025, 9, 20), tick=False):
        app = services.completion.create(applicant, project.id)
        services.completion.save(applicant, app.id, {"acceptance_date": "2025-09-10", "conclusion": "合格",
                                                     "permit_no": "530100202501010101"})
        services.completion.report(applicant, app.id)
    task = review_task(app)
    # 09-20 + 15 days = 10-05, inside the holiday (10-01..10-08): the period ends on 10-09 (民法典 Art. 203)
    assert task.due_rule == "d:15" and local_due_day(task) == date(2025, 10, 9)
    # acceptance 09-10, filed 09-20: in time
    assert late_filing_days(app) is None


def test_late_completion_filing_is_flagged(world, services):
    applicant = world.who("owner_user")
    project = world.add_project("迟报工程")
    with time_machine.travel(at(2025, 3, 20), tick=False):
        app = services.completion.create(applicant, project.id)
        services.completion.save(applicant, app.id, {"acceptance_date": "2025-03-01", "conclusion": "合格",
                                                     "permit_no": "530100202501010102"})
        services.completion.report(applicant, app.id)
    # 03-01 + 15 days = 03-16, a Sunday: the last day is Monday 03-17; filed 03-20 → 3 days late
    assert late_filing_days(app) == 3


# -- the clock stops on 退回 and runs on with what was left ----------------------------------------------------
def test_return_pauses_the_clock_and_re_report_resumes_it(world, services):
    pm, _ = locked_person(world, "李四")
    applicant, reviewer = world.who("contractor_user"), world.who("agency_reviewer")
    with time_machine.travel(at(2025, 3, 3), tick=False):          # Monday
        app = reported_unlock(world, services, pm)
    first = review_task(app)
    assert local_due_day(first) == date(2025, 3, 10)
    with time_machine.travel(at(2025, 3, 5), tick=False):          # Wednesday: 3 working days left
        services.reviews.claim(reviewer, first.id)
        services.reviews.return_(reviewer, first.id, "请补充材料")
    instance = db.session.get(ProcessInstance, app.instance_id)
    assert json.loads(instance.clock) == {"Task_Review": ["wd", 3]}
    with time_machine.travel(at(2025, 3, 12), tick=False):         # a week later, re-reported
        services.unlock.report(applicant, app.id)
    second = review_task(app)
    assert second.id != first.id and second.due_rule == "wd:3"
    assert local_due_day(second) == date(2025, 3, 17)              # 03-13, 03-14, 03-17
    # the application page's clock: two stretches and the pause between them
    stretches = clock_of(app)
    assert [s.task.id for s in stretches] == [first.id, second.id]
    assert stretches[0].left == 3 and stretches[0].paused_until == second.created_at
    assert stretches[1].paused_until is None and stretches[1].ended == ""


def test_a_clock_already_overdue_when_returned_stays_overdue(world, services):
    pm, _ = locked_person(world, "王五")
    applicant, reviewer = world.who("contractor_user"), world.who("agency_reviewer")
    with time_machine.travel(at(2025, 3, 3), tick=False):
        app = reported_unlock(world, services, pm)
    first = review_task(app)
    with time_machine.travel(at(2025, 3, 12), tick=False):          # 2 working days after the 03-10 due
        services.reviews.claim(reviewer, first.id)
        services.reviews.return_(reviewer, first.id, "请补充材料")
    with time_machine.travel(at(2025, 3, 19), tick=False):
        services.unlock.report(applicant, app.id)
        second = review_task(app)
        assert second.due_rule == "wd:-2"
        assert deadlines.state(second.due_at).label == "已超期 2 个工作日"


def test_due_restart_starts_a_fresh_period():
    props = {"due": "5 working days", "due_restart": "true"}
    clock = json.dumps({"Task_Review": ["wd", 1]})
    opened = datetime(2025, 3, 12, 2)                               # 10:00 in China
    assert deadlines.opening(props, clock, "Task_Review", opened)["due_rule"] == "wd:5"
    assert deadlines.opening({"due": "5 working days"}, clock, "Task_Review", opened)["due_rule"] == "wd:1"
    assert deadlines.opening({"due": "5 working days"}, clock, "Task_Other", opened)["due_rule"] == "wd:5"


# -- provisional years ------------------------------------------------------------------------------------------
def _logged_in(app, username):
    client = new_client(app)
    login(client, username)
    return client


def test_a_due_date_in_an_unpublished_year_is_provisional_and_recomputed_on_import(world, services, ctx):
    pm, _ = locked_person(world, "赵六")
    with time_machine.travel(at(2026, 12, 28), tick=False):
        app = reported_unlock(world, services, pm)
        task = review_task(app)
        # 12-29, 12-30, 12-31, 2027-01-01 (weekends alone: a working Friday), 01-04
        assert local_due_day(task) == date(2027, 1, 4) and task.due_provisional
        page = _logged_in(ctx, "agency_reviewer").get("/review/").get_data(as_text=True)
        assert "待确认" in page
        with unit_of_work():
            year, count, recomputed = calendar_store.import_year(
                "2027-01-01,休,元旦\n2027-01-04,休,本地测试\n", "2027.csv", "测试")
        assert (year, count, recomputed) == (2027, 2, 1)
        task = review_task(app)
        assert local_due_day(task) == date(2027, 1, 6) and not task.due_provisional
        assert db.session.scalar(select(TaskCandidate.due_at).where(TaskCandidate.task_id == task.id)) == task.due_at
        assert "待确认" not in _logged_in(ctx, "agency_reviewer").get("/review/").get_data(as_text=True)


# -- the due state shown -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("now, kind, label", [
    (at(2025, 1, 24), "ok", "剩余 5 个工作日"),
    (at(2025, 2, 5), "soon", "剩余 2 个工作日"),
    (at(2025, 2, 7, 23), "today", "今日到期"),
    (at(2025, 2, 8, 0), "overdue", "已超期 1 个工作日"),    # a make-up Saturday counts
    (at(2025, 2, 10), "overdue", "已超期 2 个工作日"),
])
def test_due_state(now, kind, label):
    due = datetime(2025, 2, 7, 16, 0)
    st = deadlines.state(due, now=now.astimezone(timezone.utc).replace(tzinfo=None), calendar=deadlines.workcalendar.WorkCalendar())
    assert (st.kind, st.label) == (kind, label)
    assert deadlines.state(due, True, now=datetime(2025, 1, 24), calendar=deadlines.workcalendar.WorkCalendar()) \
        .label.endswith("（待确认）")


def test_before_due_is_the_start_of_the_last_working_day():
    due = datetime(2025, 2, 7, 16, 0)                  # end of Friday 02-07 in China
    cal = deadlines.workcalendar.WorkCalendar()
    assert deadlines.before_due(due, 1, cal) == datetime(2025, 2, 6, 16, 0)      # 02-07 00:00 in China
    assert deadlines.before_due(due, 2, cal) == datetime(2025, 2, 5, 16, 0)      # 02-06 00:00
    assert deadlines.before_due(datetime(2025, 2, 4, 16, 0), 2, cal) == datetime(2025, 1, 26, 16, 0)


def _three_reviews(world, services):
    """Three reported unlocks on 2025-03-03, 03-10 and 03-13 (due 03-10, 03-17, 03-20)."""
    apps = []
    for name, day in (("甲", 3), ("乙", 10), ("丙", 13)):
        pm, _ = locked_person(world, name)
        with time_machine.travel(at(2025, 3, day), tick=False):
            apps.append(reported_unlock(world, services, pm))
    return apps


def test_inbox_sorts_by_due_and_filters_soon_and_overdue_with_counts(world, services):
    a, b, c = _three_reviews(world, services)
    reviewer = world.who("agency_reviewer")
    with time_machine.travel(at(2025, 3, 14), tick=False):
        page = services.reviews.inbox(reviewer, "open", InboxFilter(sort="due"))
        assert [t.instance_id for t in page.rows] == [a.instance_id, b.instance_id, c.instance_id]
        assert (page.due_counts["overdue"], page.due_counts["soon"], page.counts["open"]) == (1, 1, 3)
        overdue = services.reviews.inbox(reviewer, "open", InboxFilter(due="overdue"))
        assert [t.instance_id for t in overdue.rows] == [a.instance_id]
        assert overdue.counts["open"] == 1 and overdue.due_counts["soon"] == 1     # counts keep both due numbers
        soon = services.reviews.inbox(reviewer, "open", InboxFilter(due="soon"))
        assert [t.instance_id for t in soon.rows] == [b.instance_id]            # 03-17: 1 working day left
        # keyset pages in due order
        first = services.reviews.inbox(reviewer, "open", InboxFilter(sort="due"), limit=2)
        rest = services.reviews.inbox(reviewer, "open", InboxFilter(sort="due"), cursor=first.next_cursor, limit=2)
        assert [t.instance_id for t in first.rows + rest.rows] == [a.instance_id, b.instance_id, c.instance_id]
        # a claimed task leaves 待签收's due counts and enters 我的待办's
        services.reviews.claim(reviewer, review_task(a).id)
        assert services.reviews.inbox(reviewer, "open").due_counts["overdue"] == 0
        assert services.reviews.inbox(reviewer, "mine").due_counts["overdue"] == 1


def test_supervision_lists_the_authoritys_overdue_tasks_whoever_holds_them(world, services):
    a, b, c = _three_reviews(world, services)
    other_pm, _ = locked_person(world, "丁", authority="authority2", agency="agency2")
    with time_machine.travel(at(2025, 3, 3), tick=False):
        other = reported_unlock(world, services, other_pm)
    with time_machine.travel(at(2025, 3, 19), tick=False):
        services.reviews.claim(world.who("agency_reviewer"), review_task(a).id)   # held by the agency
        mine = services.reviews.overdue(world.who("auth_reviewer"))
        assert [t.instance_id for t in mine] == [a.instance_id, b.instance_id]
        assert mine[0].claimed_by_name == "赵监督"
        assert [t.instance_id for t in services.reviews.overdue(world.who("auth2_reviewer"))] == [other.instance_id]
        with pytest.raises(Forbidden):
            services.reviews.overdue(world.who("agency_reviewer"))
