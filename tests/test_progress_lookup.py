"""办件进度查询: public (no login), the case number and the applicant's credit code, nothing
personal, CSRF on its form, rate-limited."""
import pytest

from .web_helpers import client_world, csrf_token  # noqa: F401 (fixture)
from .world import locked_person, reported_unlock


@pytest.fixture(autouse=True)
def _fresh_limits(ctx):
    """The counters are shared by every worker (webui/limiter.py): each test starts with none."""
    from webui import limiter
    limiter.reset()


def _lookup(client, case_no, credit_code, token=None):
    token = token or csrf_token(client, "/progress")
    return client.post("/progress", data={"case_no": case_no, "credit_code": credit_code, "csrf_token": token})


def test_the_pair_shows_status_step_and_dates_and_nothing_personal(client_world, services):
    client, world = client_world
    pm, _ = locked_person(world, "张三")
    app = reported_unlock(world, services, pm, reason="项目已停工，张三申请解锁")
    resp = _lookup(client, app.case_no.lower(), world.org("contractor").credit_code)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    for text in (app.case_no, "人员解锁申请", "待审核", "当前环节", "审核", "上报日期", "上报"):
        assert text in html, text
    for personal in ("张三", "项目已停工", world.org("contractor").name, "吴施工", pm.id_card):
        assert personal not in html, personal


def test_full_width_and_invisible_characters_in_the_pair_are_read_as_typed_on_paper(client_world, services):
    client, world = client_world
    pm, _ = locked_person(world, "张三")
    app = reported_unlock(world, services, pm)
    wide = lambda text: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)  # noqa: E731
    resp = _lookup(client, "\u200b" + wide(app.case_no.lower()), wide(world.org("contractor").credit_code) + "\ufeff")
    assert resp.status_code == 200 and "当前环节" in resp.get_data(as_text=True)


def test_a_wrong_credit_code_gets_the_same_answer_as_an_unknown_case(client_world, services):
    client, world = client_world
    pm, _ = locked_person(world, "张三")
    app = reported_unlock(world, services, pm)
    wrong = _lookup(client, app.case_no, world.org("contractor2").credit_code).get_data(as_text=True)
    unknown = _lookup(client, "RJ-1999-000001", world.org("contractor").credit_code).get_data(as_text=True)
    for html in (wrong, unknown):
        assert "未查询到该办件，请核对办件编号和统一社会信用代码" in html
        assert "办理状态" not in html


def test_the_form_needs_its_csrf_token(client_world):
    client, world = client_world
    resp = client.post("/progress", data={"case_no": "RJ-2026-000001", "credit_code": "x"})
    assert resp.status_code == 400


def test_lookups_are_rate_limited_per_address(client_world):
    client, world = client_world
    token = csrf_token(client, "/progress")
    limit = client.application.config["PROGRESS_LOOKUPS_PER_MINUTE"]
    statuses = [_lookup(client, "RJ-2026-000001", "x", token).status_code for _ in range(limit + 1)]
    assert statuses[:limit] == [200] * limit
    assert statuses[-1] == 429
    assert "查询过于频繁" in _lookup(client, "RJ-2026-000001", "x", token).get_data(as_text=True)
