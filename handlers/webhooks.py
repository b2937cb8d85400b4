"""Webhooks out: machine clients subscribe to events; deliveries are an outbox sent by the job executor.

- ``emit(event, data)`` records an event in the session; the session's commit writes one
  ``webhook_delivery`` row and one ``webhook.deliver`` job per matching subscription, in the same
  transaction as the event. A rolled-back transaction (or savepoint) drops its events: no delivery.
- ``project.changed`` is emitted by the approval of 变更工程信息 with the changed facts (before, after).
- Lock records opened or closed and projects completed are seen at flush time, whatever code path
  changed them (approvals, intake); applications reported, returned or approved and tasks offered
  come from the notification hooks (``on_notification``).
- The job POSTs the event with ``X-Ynqs-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``,
  outside any transaction and within one deadline (``webhook_http``), only to addresses the target
  rules allow (``webhook_targets``: checked at subscription and on every delivery's resolution).
  A failed attempt is logged (``webhook_attempt``) and the delivery re-enqueued after the executor's
  exponential backoff; after ``MAX_ATTEMPTS`` it is ``failed`` and shown to administrators to redeliver.
"""
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import event as sa_event, func, inspect, select, update
from sqlalchemy.orm import Session

from engine import generations, jobs
from engine.db import after_insert_now, after_write_now, db, end_reading, unit_of_work, within_transaction
from engine.models import utcnow

from . import catalog, corrections, webhook_http as http, webhook_targets as targets
from .errors import DomainError, NotFound
from .models import (
    COMPLETED, ApiToken, LockRecord, Project, WebhookAttempt, WebhookDelivery, WebhookSubscription,
)
from .registry import registry
from .webhook_targets import AllowList

log = logging.getLogger(__name__)
_IN_FLIGHT: set[int] = set()   # subscriptions with a delivery being sent by this process
_IN_FLIGHT_LOCK = threading.Lock()

EVENTS = {
    "task.offered": "任务待签收", "application.reported": "申请已上报", "application.returned": "申请被退回",
    "application.approved": "申请已办结", "lock.opened": "人员锁定", "lock.closed": "锁定解除",
    "project.completed": "工程竣工", "project.changed": "工程信息变更", "case.rated": "办件已评价",
}
DELIVER_JOB = "webhook.deliver"
MAX_ATTEMPTS = 8
DEADLINE = 10.0   # seconds for a whole delivery: connect, send, the answer
TARGET_REFUSED = "目标地址不允许"
UNDELIVERABLE = "无法投递（连接失败、超时或应答不是 HTTP）"
SUBSCRIPTION_ENDED = "订阅已停用（令牌已吊销、过期或已取消订阅）"
_PENDING = "webhook_events"
# notifications that are events too
# (application.reported is raised by 上报 itself: a step opened after a review step is offered,
# not reported)
_BY_NOTIFICATION = {"task_offered": ["task.offered"], "task_moved": ["task.offered"],
                    "returned": ["application.returned"],
                    "recheck_failed": ["application.returned"], "approved": ["application.approved"]}


# -- subscriptions -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """The operator's choices (WEBHOOK_ALLOWED_HOSTS, WEBHOOK_DEADLINE: docs/operators.md)."""
    allowed: AllowList = field(default_factory=AllowList)
    deadline: float = DEADLINE


settings = Settings()


def configure(new: Settings) -> None:
    global settings
    settings = new


def subscribe(token_id: int, url: str, events: list[str]) -> tuple[WebhookSubscription, str]:
    """A subscription of the machine client behind ``token_id`` (its rotations inherit it)."""
    targets.check_subscribed(targets.parse(url), settings.allowed)
    unknown = [e for e in events if e not in EVENTS]
    if unknown or not events:
        raise DomainError("请选择要订阅的事件（可选：" + "、".join(EVENTS) + "）", "events")
    secret = secrets.token_urlsafe(32)
    with unit_of_work():
        token = db.session.get(ApiToken, token_id)
        if token is None or token.client is None:
            raise DomainError("只有机器客户端可以订阅事件", "token")
        sub = WebhookSubscription(token_id=token.id, client=token.client, url=url, events=sorted(set(events)),
                                  secret=secret)
        db.session.add(sub)
        changed()
    return sub, secret


def subscriptions(token_id: int | None = None) -> list[WebhookSubscription]:
    stmt = select(WebhookSubscription).order_by(WebhookSubscription.id)
    if token_id is not None:
        stmt = stmt.where(WebhookSubscription.token_id == token_id)
    return list(db.session.scalars(stmt))


def unsubscribe(token_id: int, subscription_id: int) -> None:
    with unit_of_work():
        sub = db.session.get(WebhookSubscription, subscription_id)
        if sub is None or sub.token_id != token_id:
            raise NotFound("订阅不存在")
        sub.active = False
        changed()


def end_subscriptions(token_ids: list[int]) -> None:
    """Revoked tokens' subscriptions stop (inside the revocation's unit of work): nothing more is
    written for them, and what is still pending is not sent (``_send``)."""
    if token_ids:
        db.session.execute(update(WebhookSubscription).where(WebhookSubscription.token_id.in_(token_ids))
                           .values(active=False), execution_options={"synchronize_session": False})
        changed()


def _listening():
    """Subscriptions that still receive: active, and their token neither revoked nor expired."""
    now = utcnow()
    return (select(WebhookSubscription).join(ApiToken, ApiToken.id == WebhookSubscription.token_id)
            .where(WebhookSubscription.active.is_(True), ApiToken.revoked_at.is_(None),
                   (ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > now)))


def _listening_events():
    """The id, events and token expiry of every subscription that may still receive (active, its
    token not revoked; ``_listening`` less the expiry, checked at each use): built once, run as Core."""
    sub, token = WebhookSubscription.__table__.c, ApiToken.__table__.c
    return (select(sub.id, sub.events, token.expires_at)
            .join_from(WebhookSubscription.__table__, ApiToken.__table__, token.id == sub.token_id)
            .where(sub.active.is_(True), token.revoked_at.is_(None)))


_LISTENING_EVENTS = _listening_events()
# The subscriptions that may receive, per database (engine), as the last commit that raised events
# read them: most commits raise events and subscriptions change rarely. Every change to them bumps
# the ``webhooks`` generation in its transaction (``changed``): the process that made it forgets at
# once, every other one at its next request or job batch (engine.generations). A process that does
# not check generations (a CLI command) reads them again after LISTENERS_FOR seconds.
LISTENERS_FOR = 30.0
_listeners: dict = {}   # engine -> (when read, monotonic; [(subscription id, events, token expiry)])
_CHANGED = "webhooks_changed"


def forget_listeners() -> None:
    _listeners.clear()


def changed(session=None) -> None:
    """Subscriptions or their tokens changed in this transaction: every process reads them again."""
    session = session or db.session()
    generations.bump(generations.WEBHOOKS)
    session.info[_CHANGED] = True
    forget_listeners()


def _listening_now(session) -> list:
    """(id, events) of the subscriptions that receive now (``_listening``), from the cache when it holds."""
    conn = session.connection()
    cached = _listeners.get(conn.engine)
    if cached is None or session.info.get(_CHANGED) or time.monotonic() - cached[0] > LISTENERS_FOR:
        rows = [(r.id, frozenset(r.events), r.expires_at) for r in conn.execute(_LISTENING_EVENTS)]
        if not session.info.get(_CHANGED):   # what this transaction changed is not kept before it commits
            _listeners[conn.engine] = (time.monotonic(), rows)
    else:
        rows = cached[1]
    now = utcnow()
    return [(sub_id, events) for sub_id, events, expires in rows if expires is None or expires > now]


@sa_event.listens_for(Session, "after_commit")
@sa_event.listens_for(Session, "after_rollback")
def _changes_ended(session):
    if session.info.pop(_CHANGED, None):
        forget_listeners()


def hand_over(old_token_id: int, new_token_id: int) -> None:
    """A rotated token's subscriptions go to the token that replaces it (inside its unit of work)."""
    db.session.execute(update(WebhookSubscription).where(WebhookSubscription.token_id == old_token_id)
                       .values(token_id=new_token_id))
    changed()


def failing() -> list[dict]:
    """Subscriptions with failed deliveries, and how many (the administrators' page)."""
    rows = db.session.execute(
        select(WebhookDelivery.subscription_id, func.count()).where(WebhookDelivery.state == "failed")
        .group_by(WebhookDelivery.subscription_id)).all()
    counts = dict(rows)
    return [{"subscription": s, "failed": counts.get(s.id, 0)} for s in subscriptions() if counts.get(s.id)]


def failed_deliveries(limit: int = 200) -> list[WebhookDelivery]:
    return list(db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.state == "failed")
                                   .order_by(WebhookDelivery.id.desc()).limit(limit)))


def attempts(delivery_id: int) -> list[WebhookAttempt]:
    return list(db.session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)
                                   .order_by(WebhookAttempt.id)))


def redeliver(delivery_id: int) -> WebhookDelivery:
    """An administrator sends a failed delivery again: pending, due now, attempts counted afresh."""
    with unit_of_work():
        delivery = db.session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            raise NotFound("推送记录不存在")
        if delivery.state != "failed":
            raise DomainError("只有失败的推送可以重新推送")
        if db.session.scalar(_listening().where(WebhookSubscription.id == delivery.subscription_id)) is None:
            raise DomainError("该推送的订阅已停用（令牌已吊销、过期或已取消订阅），不能重新推送")
        delivery.state, delivery.attempts, delivery.last_error = "pending", 0, None
        jobs.enqueue(DELIVER_JOB, {"delivery_id": delivery.id})
    return delivery


# -- events --------------------------------------------------------------------------------------
def emit(event: str, data: dict, session=None) -> None:
    """Record an event in the open transaction; it is delivered only if that transaction commits."""
    session = session or db.session()
    txn = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append((txn, event, data))


def on_notification(kind: str, app=None, task_id: int | None = None) -> None:
    """The notification hooks name the application events (handlers/notifications.py calls this)."""
    for event in _BY_NOTIFICATION.get(kind, ()):
        data = _application(app)
        if event == "task.offered":
            data["task_id"] = task_id
        if kind == "returned" and app is not None:   # a reviewer's return: its correction notice
            data["correction_items"] = corrections.item_count(app.instance_id)
        emit(event, data)


def application_event(event: str, app) -> None:
    """An application event no notification stands for (application.reported)."""
    emit(event, _application(app))


def _application(app) -> dict:
    if app is None:
        return {}
    entry = catalog.entry_of(app)
    return {"application": {"kind": entry.kind if entry else None, "process": entry.key if entry else None,
                            "id": app.id, "status": app.status, "project": app.project.supervision_no}}


@sa_event.listens_for(Session, "after_flush")
def _watch(session, _context):
    for obj in session.new:
        _added(obj, session)
    for obj in session.dirty:
        _changed(obj, lambda name, test: _became(obj, name, test), session)


@after_insert_now
def _added(obj, session=None) -> None:
    """The events of a new row, flushed or written by a statement of its own (engine.db.insert_now)."""
    if isinstance(obj, LockRecord) and obj.closed_at is None:
        emit("lock.opened", _lock(obj), session)


@after_write_now
def _watch_written(obj, old: dict, new: dict) -> None:
    """The same events for a row's columns written by a statement of their own (engine.db.write_now),
    which no flush sees."""
    _changed(obj, lambda name, test: name in new and test(new[name]) and not test(old[name]))


def _changed(obj, became, session=None) -> None:
    """The events of a changed row: ``became(name, test)`` says whether the column now passes ``test``
    and did not before."""
    if isinstance(obj, LockRecord) and became("closed_at", lambda v: v is not None):
        emit("lock.closed", _lock(obj), session)
    elif isinstance(obj, Project) and became("status", lambda v: v == COMPLETED):
        emit("project.completed", {"project": {"id": obj.id, "supervision_no": obj.supervision_no}}, session)


def _became(obj, name, test) -> bool:
    history = inspect(obj).attrs[name].history
    return bool(history.added) and test(history.added[0]) and not any(test(v) for v in history.deleted)


def _lock(lock: LockRecord) -> dict:
    return {"lock": {"id": lock.id, "person_id": lock.person_id, "role": lock.role, "project_id": lock.project_id,
                     "reason": lock.close_reason if lock.closed_at else lock.reason}}


@sa_event.listens_for(Session, "after_soft_rollback")
def _dropped(session, previous_transaction):
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [e for e in pending if not within_transaction(e[0], previous_transaction)]


@sa_event.listens_for(Session, "before_commit")
def _outbox(session):
    """Write the committed events' deliveries and jobs in the same transaction."""
    if session.in_nested_transaction():
        return   # a savepoint released: its events wait for the transaction's own commit
    # before_commit runs before the commit's own flush: flush first, so that the changes still
    # pending (a lock record added just now) raise their events before they are collected
    if session.new or session.dirty or session.deleted:
        session.flush()
    events = session.info.pop(_PENDING, None)
    if not events:
        return
    subs = _listening_now(session)
    if not subs:
        return
    deliveries = [WebhookDelivery(subscription_id=sub_id, event=event, payload=data)
                  for _txn, event, data in events for sub_id, listens in subs if event in listens]
    if deliveries:
        session.add_all(deliveries)
        session.flush()
        jobs.enqueue_many([(DELIVER_JOB, {"delivery_id": d.id}, None) for d in deliveries])


# -- sending -------------------------------------------------------------------------------------
def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: a status code, or a generic error that tells nothing about what listens."""
    status: int | None
    error: str | None
    duration_ms: int


def _send(job) -> Outcome | None:
    """POST the delivery, outside any transaction: the slow part of the job (engine.jobs.IOJob)."""
    delivery = db.session.get(WebhookDelivery, job.payload["delivery_id"])
    if delivery is None or delivery.state != "pending":
        end_reading()
        return None
    sub = delivery.subscription
    if db.session.scalar(_listening().where(WebhookSubscription.id == sub.id)) is None:
        end_reading()
        return Outcome(None, SUBSCRIPTION_ENDED, 0)   # revoked or unsubscribed since it was written
    with _one_at_a_time(sub.id):
        return _post(delivery, sub)


@contextmanager
def _one_at_a_time(subscription_id: int):
    """One delivery per subscription at a time in this process: a slow receiver holds at most one
    delivery thread, the others keep delivering to everyone else. A delivery that finds its
    subscription busy is put back a moment (NotDue: no attempt counted)."""
    with _IN_FLIGHT_LOCK:
        busy = subscription_id in _IN_FLIGHT
        _IN_FLIGHT.add(subscription_id)
    if busy:
        end_reading()
        raise jobs.NotDue(utcnow() + timedelta(seconds=1))
    try:
        yield
    finally:
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT.discard(subscription_id)


def _post(delivery: WebhookDelivery, sub: WebhookSubscription) -> Outcome:
    url, secret, event, delivery_id = sub.url, sub.secret, delivery.event, delivery.id
    body = json.dumps({"id": delivery.id, "event": delivery.event, "created_at": catalog.api_time(delivery.created_at),
                       "data": delivery.payload}, ensure_ascii=False).encode()
    end_reading()   # no transaction stays open while the receiver takes its time
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "User-Agent": "ynqs-webhooks/1", "X-Ynqs-Event": event,
               "X-Ynqs-Delivery": str(delivery_id), "X-Ynqs-Timestamp": timestamp,
               "X-Ynqs-Signature": signature(secret, timestamp, body)}
    started, current = time.monotonic(), settings
    status, error = None, None
    try:
        target = targets.parse(url)
        addresses = targets.resolve(target, current.allowed)   # checked now, and connected to as checked
        status = http.post(target.host, target.port, target.tls, addresses, target.path, body, headers,
                           current.deadline)
        error = None if 200 <= status < 300 else f"HTTP {status}"
    except (targets.TargetRefused, DomainError) as e:
        log.warning("webhook delivery %s refused: %s", delivery_id, e)
        error = TARGET_REFUSED
    except (OSError, http.Undeliverable) as e:
        log.info("webhook delivery %s undeliverable: %s", delivery_id, e)
        error = UNDELIVERABLE
    return Outcome(status, error, int((time.monotonic() - started) * 1000))


def _record(job, outcome: Outcome | None) -> None:
    """Log the attempt; delivered, failed after MAX_ATTEMPTS, or sent again after the backoff."""
    delivery = db.session.get(WebhookDelivery, job.payload["delivery_id"])
    if outcome is None or delivery is None or delivery.state != "pending":
        return
    db.session.add(WebhookAttempt(delivery_id=delivery.id, status_code=outcome.status, error=outcome.error,
                                  duration_ms=outcome.duration_ms))
    delivery.attempts += 1
    if outcome.error is None:
        delivery.state, delivery.delivered_at, delivery.last_error = "delivered", utcnow(), None
    elif outcome.error == SUBSCRIPTION_ENDED or delivery.attempts >= MAX_ATTEMPTS:
        delivery.state, delivery.last_error = "failed", outcome.error
    else:
        delivery.last_error = outcome.error
        jobs.enqueue(DELIVER_JOB, {"delivery_id": delivery.id}, due_at=utcnow() + retry_after(delivery.attempts))


registry.job_handler(DELIVER_JOB)(jobs.IOJob(_send, _record))


def retry_after(attempts: int) -> timedelta:
    """The executor's exponential backoff (30 s, 1 min, 2 min, … capped at 1 h)."""
    return jobs.backoff(attempts)
