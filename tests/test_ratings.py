"""好差评 (domain.md §10): an ended case is rated once by its applicant organisation, with a comment
it may add to later; a 差评 opens a 整改 for the organisation that decided the case, due on the
working-day calendar within the administrators' period; its answer is shown to the applicant.
Ratings are counted per organisation and month in 统计, carried by the API and the webhooks."""
from datetime import date, datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import func, select

from engine.db import db
from engine.models import HumanTask
from engine.workcalendar import local_date
from handlers import ratings
from handlers.errors import DomainError, NotFound
from handlers.models import CaseRating, CaseRatingAddition, Rectification, WebhookDelivery
from handlers.ratings import RatingService

from .web_helpers import client_world, csrf_token, login, new_client, post  # noqa: F401 (fixture)
from .world import locked_person, reported_unlock

CST = timezone(timedelta(hours=8))


def at(y, m, d, hour=10):
    return datetime(y, m, d, hour, tzinfo=CST)


def approved_unlock(world, services, name="甲一", reviewer="agency_reviewer"):
    """An unlock application reported and approved by ``reviewer``: an ended case."""
    person, _ = locked_person(world, name)
    app = reported_unlock(world, services, person)
    task = services.unlock.open_task(app)
    services.reviews.claim(world.who(reviewer), task.id)
    services.reviews.approve(world.who(reviewer), task.id, "同意")
    db.session.expire_all()
    return services.unlock.get(world.who("contractor_user"), app.id)


def rectification_task(rating) -> HumanTask:
    rect = db.session.scalar(select(Rectification).where(Rectification.rating_id == rating.id))
    return db.session.scalar(select(HumanTask).where(HumanTask.instance_id == rect.instance_id))


def test_a_bad_rating_opens_a_rectification_due_on_the_right_working_day(world, services):
    contractor = world.who("contractor_user")
    # approved on Monday 2025-09-29; the National Day holiday runs 10-01..10-08, Saturday 10-11 is a
    # make-up working day: 5 working days are 09-30, 10-09, 10-10, 10-11 and 10-13
    with time_machine.travel(at(2025, 9, 29), tick=False):
        app = approved_unlock(world, services)
        rating = RatingService(services.engine).rate(contractor, app, "dissatisfied", "审核意见没有说明依据")
    assert rating.reviewer_org_id == world.org("agency").id   # the organisation whose reviewer decided
    task = rectification_task(rating)
    assert task.name == "整改" and task.process_key == "rectification" and task.state == "open"
    assert local_date(task.due_at - timedelta(microseconds=1)) == date(2025, 10, 13)
    assert [c.org_id for c in task.candidates] == [world.org("agency").id]
    # the case's log says it was rated; the reviewing organisation hears of the 整改
    log = [e.action for e in services.unlock.operation_log(app)]
    assert log[-1] == "评价"

    # the agency's reviewer answers; the applicant sees the answer on the case's page
    reviewer = world.who("agency_reviewer")
    services.reviews.claim(reviewer, task.id)
    services.reviews.submit(reviewer, task.id, {"answer": "已对审核人员进行培训，今后退回和通过均写明依据"})
    db.session.expire_all()
    rect = db.session.scalar(select(Rectification).where(Rectification.rating_id == rating.id))
    assert rect.status == "approved" and rect.answer.startswith("已对审核人员进行培训")
    assert ratings.rating_json(rect.rating)["rectification"]["answer"] == rect.answer
    from handlers.invariants import check_invariants
    assert check_invariants() == []   # the 整改's status agrees with its finished instance


def test_the_administrators_period_sets_the_rectification_due(world, services):
    ratings.set_rectification_days(world.who("admin"), "3")
    with pytest.raises(DomainError, match="整改期限"):
        ratings.set_rectification_days(world.who("admin"), "0")
    assert ratings.rectification_days() == 3
    with time_machine.travel(at(2025, 9, 29), tick=False):
        app = approved_unlock(world, services)
        rating = RatingService(services.engine).rate(world.who("contractor_user"), app, "very_dissatisfied",
                                                     "办理拖延")
    # 3 working days from 09-29 across the holiday: 09-30, 10-09, 10-10
    task = rectification_task(rating)
    assert local_date(task.due_at - timedelta(microseconds=1)) == date(2025, 10, 10)
    assert task.due_rule == "wd:3"


@pytest.mark.parametrize("level", ["very_satisfied", "satisfied", "basic"])
def test_a_satisfied_rating_opens_no_rectification(world, services, level):
    app = approved_unlock(world, services)
    RatingService(services.engine).rate(world.who("contractor_user"), app, level, "")
    assert db.session.scalar(select(func.count()).select_from(Rectification)) == 0
    assert db.session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.process_key == "rectification")) == 0


def test_a_case_is_rated_once_and_comments_are_appended(world, services):
    app = approved_unlock(world, services)
    service = RatingService(services.engine)
    contractor = world.who("contractor_user")
    service.rate(contractor, app, "satisfied", "办理及时")
    with pytest.raises(DomainError, match="一事一评"):
        service.rate(contractor, app, "very_dissatisfied", "改主意了")
    service.add(contractor, app, "后续咨询也很耐心")
    service.add(contractor, app, "再补充一句")
    with pytest.raises(DomainError, match="追加评价"):
        service.add(contractor, app, "   ")
    db.session.expire_all()
    rating = service.rating_of(app)
    assert rating.level == "satisfied" and rating.comment == "办理及时"   # the rating never changes
    assert [a.text for a in rating.additions] == ["后续咨询也很耐心", "再补充一句"]
    assert db.session.scalar(select(func.count()).select_from(CaseRating)) == 1
    assert [e.action for e in services.unlock.operation_log(app)][-3:] == ["评价", "追加评价", "追加评价"]


def test_only_an_ended_case_of_ones_own_organisation_is_rated(world, services):
    person, _ = locked_person(world, "乙二")
    open_app = reported_unlock(world, services, person)
    service = RatingService(services.engine)
    with pytest.raises(DomainError, match="办结后"):
        service.rate(world.who("contractor_user"), open_app, "satisfied", "")
    app = approved_unlock(world, services, "丙三")
    with pytest.raises(DomainError, match="评价等级"):
        service.rate(world.who("contractor_user"), app, "excellent", "")
    with pytest.raises(DomainError, match="评价内容"):
        service.rate(world.who("contractor_user"), app, "dissatisfied", "")   # a 差评 says why
    with pytest.raises(NotFound):
        services.unlock.get(world.who("contractor2_user"), app.id)   # another enterprise's case
    assert db.session.scalar(select(func.count()).select_from(CaseRating)) == 0


def test_two_tabs_rating_at_once_make_one_rating(client_world, services, ctx):
    _, world = client_world
    app = approved_unlock(world, services)
    tabs = [new_client(ctx), new_client(ctx)]
    for tab in tabs:
        login(tab, "contractor_user")
    url = f"/apply/unlock/{app.id}"
    tokens = [csrf_token(tab, url) for tab in tabs]
    first = tabs[0].post(f"{url}/rating", data={"level": "satisfied", "comment": "好", "csrf_token": tokens[0]},
                         follow_redirects=True)
    second = tabs[1].post(f"{url}/rating", data={"level": "very_dissatisfied", "comment": "差",
                                                 "csrf_token": tokens[1]}, follow_redirects=True)
    assert "评价已提交" in first.get_data(as_text=True)
    assert "每个办件只能评价一次" in second.get_data(as_text=True)
    db.session.rollback()   # a fresh snapshot after the requests' own transactions
    assert db.session.scalars(select(CaseRating.level)).all() == ["satisfied"]


def test_rating_over_http_shows_the_rectification_answer_to_the_applicant(client_world, services, ctx):
    client, world = client_world
    app = approved_unlock(world, services)
    login(client, "contractor_user")
    url = f"/apply/unlock/{app.id}"
    page = client.get(url).get_data(as_text=True)
    assert "好差评" in page and "提交评价" in page and "非常不满意" in page
    resp = post(client, f"{url}/rating", {"level": "dissatisfied", "comment": "退回理由不清楚"}, form_url=url,
                follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "评价已提交" in html and "整改中" in html and "退回理由不清楚" in html
    # another enterprise gets 404 for the case and its rating
    other = new_client(ctx)
    login(other, "contractor2_user")
    assert other.get(url).status_code == 404
    assert post(other, f"{url}/rating", {"level": "satisfied"}).status_code == 404
    # the agency answers from its inbox
    db.session.rollback()
    reviewer = new_client(ctx)
    login(reviewer, "agency_reviewer")
    rating = db.session.scalar(select(CaseRating))
    task = rectification_task(rating)
    inbox = reviewer.get("/review/").get_data(as_text=True)
    assert "差评整改" in inbox
    task_url = f"/review/task/{task.id}"
    page = reviewer.get(task_url).get_data(as_text=True)
    assert "退回理由不清楚" in page and "不满意" in page
    post(reviewer, f"{task_url}/claim", form_url=task_url)
    post(reviewer, f"{task_url}/decide", {"answer": "已补充退回依据的说明模板"}, form_url=task_url)
    html = client.get(url).get_data(as_text=True)
    assert "已整改" in html and "已补充退回依据的说明模板" in html
    # the authority is no candidate of the agency's 整改: 404
    authority = new_client(ctx)
    login(authority, "auth_reviewer")
    assert authority.get(task_url).status_code == 404


def test_ratings_per_organisation_and_month_in_statistics(client_world, services, ctx):
    client, world = client_world
    service = RatingService(services.engine)
    with time_machine.travel(at(2025, 3, 3), tick=False):
        a = approved_unlock(world, services, "甲一")
        b = approved_unlock(world, services, "乙二")
        service.rate(world.who("contractor_user"), a, "very_satisfied", "")
        service.rate(world.who("contractor_user"), b, "dissatisfied", "慢")
    with time_machine.travel(at(2025, 4, 1), tick=False):
        c = approved_unlock(world, services, "丙三", reviewer="auth_reviewer")
        d = approved_unlock(world, services, "丁四")
        service.rate(world.who("contractor_user"), c, "basic", "")
        service.rate(world.who("contractor_user"), d, "satisfied", "")
    rows = service.monthly(world.who("agency_reviewer"), 2025)
    assert [(r["org"], r["month"], r["total"], r["bad"]) for r in rows] == [
        ("昆明市建设工程质量安全监督站", 3, 2, 1), ("昆明市建设工程质量安全监督站", 4, 1, 0)]
    assert rows[0]["satisfied_rate"] == 50.0 and rows[0]["very_satisfied"] == 1
    everyone = service.monthly(world.who("admin"), 2025)
    assert ("昆明市住房和城乡建设局", 4, 1) in [(r["org"], r["month"], r["basic"]) for r in everyone]
    with time_machine.travel(at(2025, 5, 1), tick=False):
        login(client, "agency_reviewer")
        html = client.get("/review/stats?year=2025").get_data(as_text=True)
        assert "好差评" in html and "2025-03" in html and "50.0%" in html
        export = client.get("/review/stats/ratings.xlsx?year=2025")
        assert export.status_code == 200 and export.data[:2] == b"PK"


def test_a_rating_is_a_webhook_event(world, services):
    from handlers.models import ApiToken
    token = ApiToken(prefix="t1", secret_hash="x" * 64, client="省平台", scopes=["webhooks:manage"])
    db.session.add(token)
    db.session.commit()
    from handlers.models import WebhookSubscription
    db.session.add(WebhookSubscription(token_id=token.id, client="省平台", url="https://hooks.example/x",
                                       events=["case.rated"], secret="s"))
    db.session.commit()
    app = approved_unlock(world, services)
    RatingService(services.engine).rate(world.who("contractor_user"), app, "very_dissatisfied", "太慢")
    delivery = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.event == "case.rated"))
    assert delivery.payload["rating"]["level"] == "very_dissatisfied"
    assert delivery.payload["rating"]["rectification"]["status"] == "open"
    assert delivery.payload["application"]["case_no"] == app.case_no


def test_the_api_carries_a_cases_rating(client_world, services, ctx):
    from .api_helpers import personal_token
    client, world = client_world
    app = approved_unlock(world, services)
    headers = {"Authorization": f"Bearer {personal_token('contractor_user')}"}
    url = f"/api/v1/applications/unlock/{app.id}/rating"
    state = client.get(url, headers=headers).get_json()
    assert state == {"rating": None, "can_rate": True, "reason": None}
    bad = client.post(url, json={"level": "great"}, headers=headers)
    assert bad.status_code == 400
    resp = client.post(url, json={"level": "dissatisfied", "comment": "办理拖延"}, headers=headers)
    assert resp.status_code == 201
    rating = resp.get_json()["rating"]
    assert rating["level_label"] == "不满意" and rating["bad"] and rating["rectification"]["status"] == "open"
    assert rating["reviewer_org"] == "昆明市建设工程质量安全监督站"
    again = client.post(url, json={"level": "satisfied"}, headers=headers)
    assert again.status_code == 400 and "一事一评" in again.get_json()["detail"]
    added = client.post(f"{url}/additions", json={"text": "补充：电话也打不通"}, headers=headers).get_json()
    assert [a["text"] for a in added["rating"]["additions"]] == ["补充：电话也打不通"]
    other = {"Authorization": f"Bearer {personal_token('contractor2_user')}"}
    assert client.get(url, headers=other).status_code == 404
