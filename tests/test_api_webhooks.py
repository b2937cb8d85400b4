"""Webhooks out (issue 11, part 5): deliveries written with the event, sent by the job executor with
an HMAC-SHA256 signature, retried with backoff after a failure, each attempt logged; none for a
rolled-back transaction. A local HTTP receiver on 127.0.0.1 (on the allow-list) plays the subscriber."""
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from engine import generations
from engine.db import db, unit_of_work
from engine.models import utcnow
from handlers import api_tokens, lock_rule, webhooks
from handlers.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

from .api_helpers import auth, machine_token
from .receivers import Receiver, subscription, webhook_settings
from .web_helpers import client_world  # noqa: F401 (fixture)
from .world import locked_person, reported_unlock


@pytest.fixture(autouse=True)
def _loopback_allowed():
    """The local receivers are on 127.0.0.1, which deliveries reach only through the allow-list."""
    with webhook_settings("127.0.0.1"):
        yield


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.close()


def _deliveries():
    db.session.rollback()
    return db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


def test_a_subscription_over_the_api_receives_signed_events(client_world, services, receiver):
    client, world = client_world
    token = machine_token("webhooks:manage", client="数据交换")
    resp = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["lock.opened", "application.reported"]},
                       headers=auth(token))
    assert resp.status_code == 201
    secret = resp.get_json()["secret"]
    assert "secret" not in client.get("/api/v1/webhooks", headers=auth(token)).get_json()["items"][0]
    pm, project = locked_person(world, "张三")
    reported_unlock(world, services, pm)
    assert sorted(d.event for d in _deliveries()) == ["application.reported", "lock.opened"]
    assert services.worker().run_due() == 2
    assert len(receiver.received) == 2
    for headers, body in receiver.received:
        expected = "sha256=" + hmac.new(secret.encode(), headers["X-Ynqs-Timestamp"].encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Ynqs-Signature"], expected)
        assert json.loads(body)["event"] == headers["X-Ynqs-Event"]
    lock_event = next(json.loads(b) for h, b in receiver.received if h["X-Ynqs-Event"] == "lock.opened")
    assert lock_event["data"]["lock"]["person_id"] == pm.id and lock_event["data"]["lock"]["project_id"] == project.id
    assert {d.state for d in _deliveries()} == {"delivered"}
    bad = client.post("/api/v1/webhooks", json={"url": "ftp://x", "events": ["lock.opened"]}, headers=auth(token))
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["field"] == "url"


def test_a_500_is_retried_after_the_backoff_and_each_attempt_is_logged(ctx, world, services):
    receiver = Receiver([500])
    try:
        subscription(receiver.url, ["lock.opened"])
        locked_person(world, "李四")
        worker = services.worker()
        assert worker.run_due() == 1
        [delivery] = _deliveries()
        assert (delivery.state, delivery.attempts, delivery.last_error) == ("pending", 1, "HTTP 500")
        assert worker.run_due() == 0   # not before its backoff
        with time_machine.travel(utcnow() + timedelta(seconds=31), tick=False):
            assert worker.run_due() == 1
        [delivery] = _deliveries()
        assert (delivery.state, delivery.attempts) == ("delivered", 2)
        log = db.session.scalars(select(WebhookAttempt.status_code).order_by(WebhookAttempt.id)).all()
        assert log == [500, 200]
        assert len(receiver.received) == 2
        assert receiver.received[0][1] == receiver.received[1][1]   # the same event, the same body
    finally:
        receiver.close()


def test_no_delivery_for_a_rolled_back_transaction(ctx, world, receiver):
    subscription(receiver.url, ["lock.opened", "lock.closed"])
    pm = world.add_person("王五", "contractor", "constructor", "safety_b")
    project = world.add_project("王五的工程")
    with pytest.raises(RuntimeError):
        with unit_of_work():
            lock_rule.assign(pm, project, "project_manager")
            raise RuntimeError("the action fails after the lock opened")
    world.add_person("钱七", "contractor")   # a later commit must not carry the lost event either
    assert _deliveries() == []
    from engine.models import Job
    assert db.session.scalars(select(Job).where(Job.kind == webhooks.DELIVER_JOB)).all() == []


def test_a_failed_delivery_is_shown_to_administrators_and_redelivered(client_world, services):
    from .web_helpers import login, post
    client, world = client_world
    receiver = Receiver([500] * webhooks.MAX_ATTEMPTS)
    try:
        subscription(receiver.url, ["lock.opened"], client="工改系统")
        locked_person(world, "赵六")
        worker, at = services.worker(), utcnow()
        for i in range(webhooks.MAX_ATTEMPTS):
            at += timedelta(hours=2)
            with time_machine.travel(at, tick=False):
                worker.run_due()
        [delivery] = _deliveries()
        assert (delivery.state, delivery.attempts) == ("failed", webhooks.MAX_ATTEMPTS)
        login(client, "admin")
        page = client.get("/admin/api-tokens/webhooks").get_data(as_text=True)
        assert "工改系统" in page and "HTTP 500" in page
        post(client, f"/admin/api-tokens/webhooks/deliveries/{delivery.id}/redeliver",
             form_url="/admin/api-tokens/webhooks")
        with time_machine.travel(at + timedelta(seconds=1), tick=False):
            assert worker.run_due() == 1
        [delivery] = _deliveries()
        assert delivery.state == "delivered"
    finally:
        receiver.close()


def test_a_second_token_with_the_same_client_name_cannot_see_or_cancel_the_first_ones_subscriptions(
        client_world, receiver):
    client, _ = client_world
    first_row, first = api_tokens.create_client_token("工改系统", "webhooks:manage")
    second = machine_token("webhooks:manage", client="工改系统")
    created = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["lock.opened"]},
                          headers=auth(first))
    sub_id = created.get_json()["id"]
    assert client.get("/api/v1/webhooks", headers=auth(second)).get_json()["items"] == []
    assert client.delete(f"/api/v1/webhooks/{sub_id}", headers=auth(second)).status_code == 404
    db.session.rollback()
    assert db.session.get(WebhookSubscription, sub_id).active
    # a rotation hands the subscriptions on to the token that replaces the first
    _, rotated = api_tokens.rotate(first_row.id)
    assert [s["id"] for s in client.get("/api/v1/webhooks", headers=auth(rotated)).get_json()["items"]] == [sub_id]
    assert client.delete(f"/api/v1/webhooks/{sub_id}", headers=auth(rotated)).status_code == 204


def test_a_revoked_token_hears_nothing_more_not_even_what_was_pending(ctx, world, services, receiver):
    """An administrator revokes a client's token (not a rotation): its subscriptions stop at once.
    A delivery written before the revocation is not sent either: it is failed with the reason, and
    cannot be redelivered."""
    sub, _ = subscription(receiver.url, ["lock.opened"], client="工改系统")
    locked_person(world, "钱七")
    [pending] = _deliveries()
    api_tokens.revoke(sub.token_id)
    assert services.worker().run_due() == 1
    assert receiver.received == []
    [pending] = _deliveries()
    assert (pending.state, pending.last_error) == ("failed", webhooks.SUBSCRIPTION_ENDED)
    assert db.session.get(WebhookSubscription, sub.id).active is False
    with pytest.raises(webhooks.DomainError, match="订阅已停用"):
        webhooks.redeliver(pending.id)
    locked_person(world, "孙八")
    assert len(_deliveries()) == 1   # nothing written for the revoked client


def test_an_expired_tokens_subscriptions_receive_nothing(ctx, world, receiver):
    sub, _ = subscription(receiver.url, ["lock.opened"], client="工改系统")
    with unit_of_work():
        db.session.get(api_tokens.ApiToken, sub.token_id).expires_at = utcnow() - timedelta(minutes=1)
    locked_person(world, "周九")
    assert _deliveries() == []


def test_a_subscription_another_process_makes_is_heard_from_this_ones_next_request(ctx, world, services, receiver):
    """The subscriptions are read once and kept (most commits raise events); another worker's
    subscription moves the ``webhooks`` generation, and this process reads them again at its next
    request (services.refresh, as every request starts), not before."""
    first, _ = subscription(receiver.url, ["lock.opened"], client="数据交换")
    locked_person(world, "甲一")   # this commit reads the subscriptions and keeps them
    assert [d.subscription_id for d in _deliveries()] == [first.id]

    # another worker: a connection and transaction of its own, with the bump its subscribe makes
    token_id = api_tokens.create_client_token("工改系统", "webhooks:manage")[0].id
    db.session.rollback()   # this process's read transaction ends, as a request's does
    with db.engine.begin() as other:
        second_id = other.execute(WebhookSubscription.__table__.insert().values(
            token_id=token_id, client="工改系统", url=receiver.url, events=["lock.opened"], secret="s",
            active=True, created_at=utcnow()).returning(WebhookSubscription.__table__.c.id)).scalar_one()
        bumped = other.execute(generations._BUMP, {"p_name": generations.WEBHOOKS}).rowcount
        assert bumped == 1   # this process's own subscribe above made the row

    locked_person(world, "乙二")   # within this process's current request: what it kept
    assert [d.subscription_id for d in _deliveries()] == [first.id, first.id]
    services.refresh()              # the next request's generation check
    locked_person(world, "丙三")
    assert [d.subscription_id for d in _deliveries()][2:] == sorted([first.id, second_id])


def test_a_subscription_ended_here_receives_nothing_from_the_next_commit(ctx, world, receiver):
    sub, _ = subscription(receiver.url, ["lock.opened"])
    locked_person(world, "丁四")
    webhooks.unsubscribe(sub.token_id, sub.id)
    locked_person(world, "戊五")
    assert len(_deliveries()) == 1


def test_an_approved_unlock_tells_lock_closed_and_a_failed_one_tells_nothing(world, services, receiver, monkeypatch):
    """自动解锁 closes the lock by a statement of its own (engine.db.write_now), which no flush sees:
    lock.closed is still told, once; an effect that fails after closing it (rolled back with its
    savepoint) tells nothing."""
    from handlers import processes
    from handlers.models import LockRecord
    subscription(receiver.url, ["lock.closed"])
    db.session.commit()
    reviewer = world.who("agency_reviewer")

    failing, _ = locked_person(world, "孙九")
    reported_unlock(world, services, failing)
    [failing_lock] = lock_rule.open_locks(failing.id)

    def closes_then_fails(call):
        lock_rule.close_lock(failing_lock, "部分生效")
        raise RuntimeError("生效过程中出错")
    monkeypatch.setitem(processes.registry.operators, "unlock.apply", closes_then_fails)
    [task] = services.reviews.inbox(reviewer).rows
    services.reviews.claim(reviewer, task.id)
    services.reviews.approve(reviewer, task.id, "同意")
    monkeypatch.undo()
    assert _deliveries() == []

    pm, _ = locked_person(world, "周十")
    app = reported_unlock(world, services, pm)
    [lock] = lock_rule.open_locks(pm.id)
    lock_id = lock.id
    task_id = services.unlock.open_task(app).id
    services.reviews.claim(reviewer, task_id)
    services.reviews.approve(reviewer, task_id, "同意")
    deliveries = _deliveries()
    assert [(d.event, d.payload["lock"]["id"]) for d in deliveries] == [("lock.closed", lock_id)]
    assert db.session.get(LockRecord, lock_id).closed_at is not None
