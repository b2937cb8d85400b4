"""A slow or non-HTTP receiver: one deadline bounds the whole delivery, an answer that is not HTTP
is a failed attempt like any other, and deliveries run in threads of their own so that a slow
receiver holds up neither a timer nor another client's delivery."""
import threading
import time
from datetime import timedelta

import time_machine
from sqlalchemy import select, text

from engine.db import db, unit_of_work
from engine.jobs import enqueue
from engine.models import Job, utcnow
from handlers import webhooks
from handlers.processes import registry
from handlers.models import WebhookAttempt, WebhookDelivery
from webui.worker import run_lanes

from .receivers import RawReceiver, Receiver, subscription, webhook_settings
from .world import locked_person

# an answer that would be a success, one line a second: whole only after 100 seconds, so anything
# well short of that was cut off (the bounds below leave room for a busy machine)
TRICKLE = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: y\r\n" * 100
DEADLINE = 2.0
SLACK = 10.0          # far below the trickle's 100 s: a delivery ending within it was cut, not finished
LANE_DEADLINE = 5.0
TICKS = []


@registry.job_handler("test.tick")
def _tick(job):
    TICKS.append(time.monotonic())   # stands for a timer or an e-mail: any job that is not a webhook


def _delivery(delivery_id=None):
    db.session.rollback()
    stmt = select(WebhookDelivery).order_by(WebhookDelivery.id)
    return db.session.scalars(stmt.where(WebhookDelivery.id == delivery_id) if delivery_id else stmt).first()


def test_a_trickling_receiver_is_cut_off_at_the_deadline(ctx, world, services):
    slow = RawReceiver(TRICKLE, every=1.0)
    try:
        with webhook_settings("127.0.0.1", deadline=DEADLINE):
            subscription(slow.url, ["lock.opened"])
            locked_person(world, "张三")
            started = time.monotonic()
            assert services.worker().run_due() == 1
            took = time.monotonic() - started
        assert DEADLINE - 0.1 < took < DEADLINE + SLACK
        delivery = _delivery()
        assert (delivery.state, delivery.attempts, delivery.last_error) == ("pending", 1, webhooks.UNDELIVERABLE)
        [attempt] = db.session.scalars(select(WebhookAttempt)).all()
        assert attempt.status_code is None and (DEADLINE - 0.1) * 1000 < attempt.duration_ms < (DEADLINE + SLACK) * 1000
    finally:
        slow.close()


def test_a_receiver_that_does_not_speak_http_fails_like_any_other_and_can_be_redelivered(ctx, world, services):
    garbage = RawReceiver(b"SSH-2.0-OpenSSH_9.2\r\n")
    try:
        with webhook_settings("127.0.0.1"):
            subscription(garbage.url, ["lock.opened"])
            locked_person(world, "李四")
            worker, at = services.worker(), utcnow()
            for attempt in range(1, webhooks.MAX_ATTEMPTS + 1):
                with time_machine.travel(at, tick=False):
                    assert worker.run_due() == 1
                assert _delivery().attempts == attempt
                at += timedelta(hours=2)
        delivery = _delivery()
        assert (delivery.state, delivery.last_error) == ("failed", webhooks.UNDELIVERABLE)
        assert [d.id for d in webhooks.failed_deliveries()] == [delivery.id]
        assert garbage.connections == webhooks.MAX_ATTEMPTS
        webhooks.redeliver(delivery.id)
        assert (_delivery().state, _delivery().attempts) == ("pending", 0)
        # no job of the executor failed: each attempt was recorded, none raised
        assert db.session.scalars(select(Job.state).where(Job.kind == webhooks.DELIVER_JOB)).all().count("failed") == 0
    finally:
        garbage.close()


def test_a_slow_receiver_delays_neither_a_timer_nor_another_clients_delivery(ctx, world, services):
    slow, fast = RawReceiver(TRICKLE, every=1.0), Receiver()
    stop, TICKS[:] = threading.Event(), []
    worker = threading.Thread(target=run_lanes, args=(ctx, services.lanes(2), stop, 0.05), daemon=True)
    try:
        with webhook_settings("127.0.0.1", deadline=LANE_DEADLINE):
            subscription(slow.url, ["lock.opened"], client="慢的客户端")
            locked_person(world, "王五")
            slow_delivery = _delivery().id
            subscription(fast.url, ["lock.opened"], client="另一家单位")
            locked_person(world, "赵六")   # both clients get this one
            with unit_of_work():
                enqueue("test.tick")
            # what happened when, by the order of events rather than by wall-clock bounds: the
            # timer and the other client's delivery come while the slow receiver still trickles
            started, seen = time.monotonic(), {}
            worker.start()
            while "slow_done" not in seen and time.monotonic() - started < LANE_DEADLINE + 60:
                now = time.monotonic()
                if TICKS:
                    seen.setdefault("tick", now)
                if fast.received:
                    seen.setdefault("fast", now)
                if _delivery(slow_delivery).attempts:
                    seen.setdefault("slow_done", now)
                time.sleep(0.05)
            assert "slow_done" in seen, "the slow delivery was never cut off"
            assert seen.get("tick", float("inf")) < seen["slow_done"]   # the timer did not wait for it
            assert seen.get("fast", float("inf")) < seen["slow_done"]   # nor did the other client's delivery
            assert len(fast.received) == 1
            [attempt] = db.session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == slow_delivery)).all()
            assert (LANE_DEADLINE - 0.1) * 1000 < attempt.duration_ms < (LANE_DEADLINE + SLACK) * 1000
            assert _delivery(slow_delivery).last_error == webhooks.UNDELIVERABLE
    finally:
        stop.set()
        worker.join(10)
        slow.close()
        fast.close()
        db.session.rollback()
    assert not worker.is_alive()
    assert db.session.execute(text("SELECT 1")).scalar() == 1
