"""The 添加 picker searches by name and ID number in the database, a page at a time, and keeps
the greyed reasons: an enterprise with hundreds of locked people finds one."""
from sqlalchemy import event

from engine.db import db
from handlers import lock_rule

from .web_helpers import client_world, login  # noqa: F401 (fixture)
from .world import locked_person

MANY = 60   # more than two pages of the dialog


def _locked_people(world, n=MANY, start=0):
    return [locked_person(world, f"员工{i:03d}")[0] for i in range(start, start + n)]


def _statements(run):
    seen = []
    listener = lambda *_args: seen.append(1)   # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        result = run()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return result, len(seen)


def test_search_by_name_and_by_id_number(world, services):
    people = _locked_people(world, 30)
    applicant = world.who("contractor_user")
    page = services.unlock.pick_page(applicant, "员工017")
    assert [p.name for p in page.picks] == ["员工017"] and not page.has_next
    target = people[5]
    page = services.unlock.pick_page(applicant, target.id_card[-8:])        # part of the ID number
    assert [p.name for p in page.picks] == [target.name]
    assert services.unlock.pick_page(applicant, "张 员工").picks == []        # every word must match
    assert services.unlock.pick_page(applicant, "员工01 工程").has_next is False


def test_a_lower_case_check_letter_finds_the_id_number(world, services):
    person, _ = locked_person(world, "李四")
    person.id_card = person.id_card[:-1] + "X"
    db.session.commit()
    page = services.unlock.pick_page(world.who("contractor_user"), person.id_card[-6:].lower())
    assert [p.name for p in page.picks] == ["李四"]


def test_pages_of_the_picker_and_their_cost_do_not_grow_with_the_enterprise(world, services):
    _locked_people(world, 2)
    applicant = world.who("contractor_user")
    db.session.commit()
    _few, few_statements = _statements(lambda: services.unlock.pick_page(applicant))
    _locked_people(world, MANY - 2, start=2)
    db.session.commit()
    first, statements = _statements(lambda: services.unlock.pick_page(applicant))
    assert len(first.picks) == 24 and first.has_next
    third = services.unlock.pick_page(applicant, page=3)
    assert len(third.picks) == MANY - 48 and not third.has_next
    assert {p.id for p in first.picks}.isdisjoint(p.id for p in third.picks)
    assert statements == few_statements <= 3   # the page's rows and the open applications' keys


def test_search_results_keep_the_greyed_reason(world, services):
    _locked_people(world, 3)
    applicant = world.who("contractor_user")
    [lock] = lock_rule.open_locks(db.session.scalars(
        db.select(lock_rule.LockRecord.person_id)).first())
    app = services.unlock.create(applicant, lock.id)
    [pick] = services.unlock.pick_page(applicant, app.person.name).picks
    assert pick.reason == f"已有未办结的申请（{app.case_no}，草稿）"


def test_change_and_permit_pickers_search_their_own_columns(world, services):
    locked_person(world, "王五", project_name="滇池路小学")
    contractor = world.who("contractor_user")
    assert [p.name for p in services.change.pick_page(contractor, "滇池路").picks] == ["王五"]
    owner = world.who("owner_user")
    project = world.add_project("呈贡新区医院")
    assert [p.name for p in services.permit.pick_page(owner, project.supervision_no).picks] == ["呈贡新区医院"]
    assert [p.name for p in services.completion.pick_page(owner, "呈贡").picks] == ["呈贡新区医院"]


def test_the_dialog_search_answers_with_the_matching_choices_only(client_world):
    client, world = client_world
    _locked_people(world, 30)
    login(client, "contractor_user")
    resp = client.get("/apply/unlock/new", query_string={"q": "员工02", "partial": "1"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" not in html
    assert html.count('name="target_id"') == 10 and "员工020" in html and "员工010" not in html
    empty = client.get("/apply/unlock/new", query_string={"q": "不存在的人", "partial": "1"}).get_data(as_text=True)
    assert "未找到与“不存在的人”匹配的记录" in empty
    # without script the same search is a page with its pager
    page = client.get("/apply/unlock/new", query_string={"q": "员工"}).get_data(as_text=True)
    assert "下一页" in page and 'value="员工"' in page
