"""Webhooks out: machine clients subscribe to events; deliveries are an outbox sent by the job executor.

- ``emit(event, data)`` records an event in the session; the session's commit writes one
  ``webhook_delivery`` row and one ``webhook.deliver`` job per matching subscription, in the same
  transaction as the event. A rolled-back transaction (or savepoint) drops its events: no delivery.
- ``project.changed`` is emitted by the approval of 变更工程信息 with the changed facts (before, after).
- Lock records opened or closed and projects completed are seen at flush time, whatever code path
  changed them (approvals, intake); applications reported, returned or approved and tasks offered
  come from the notification hooks (``on_notification``).
- The job POSTs the event with ``X-Ynqs-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``.
  A failed attempt is logged (``webhook_attempt``) and the delivery re-enqueued after the executor's
  exponential backoff; after ``MAX_ATTEMPTS`` it is ``failed`` and shown to administrators to redeliver.
"""
import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import event as sa_event, func, inspect, select
from sqlalchemy.orm import Session

from engine import jobs
from engine.db import db, unit_of_work
from engine.models import utcnow

from . import catalog
from .errors import DomainError, NotFound
from .models import (
    COMPLETED, LockRecord, Project, WebhookAttempt, WebhookDelivery, WebhookSubscription,
)
from .registry import registry

EVENTS = {
    "task.offered": "任务待签收", "application.reported": "申请已上报", "application.returned": "申请被退回",
    "application.approved": "申请已办结", "lock.opened": "人员锁定", "lock.closed": "锁定解除",
    "project.completed": "工程竣工", "project.changed": "工程信息变更",
}
DELIVER_JOB = "webhook.deliver"
MAX_ATTEMPTS = 8
TIMEOUT = 10
_PENDING = "webhook_events"
# notifications that are events too
_BY_NOTIFICATION = {"task_offered": ["task.offered", "application.reported"], "returned": ["application.returned"],
                    "recheck_failed": ["application.returned"], "approved": ["application.approved"]}


# -- subscriptions -------------------------------------------------------------------------------
def subscribe(client: str, url: str, events: list[str]) -> tuple[WebhookSubscription, str]:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 500:
        raise DomainError("回调地址必须是 http(s) 网址（不超过 500 个字符）", "url")
    unknown = [e for e in events if e not in EVENTS]
    if unknown or not events:
        raise DomainError("请选择要订阅的事件（可选：" + "、".join(EVENTS) + "）", "events")
    secret = secrets.token_urlsafe(32)
    with unit_of_work():
        sub = WebhookSubscription(client=client, url=url, events=sorted(set(events)), secret=secret)
        db.session.add(sub)
    return sub, secret


def subscriptions(client: str | None = None) -> list[WebhookSubscription]:
    stmt = select(WebhookSubscription).order_by(WebhookSubscription.id)
    if client is not None:
        stmt = stmt.where(WebhookSubscription.client == client)
    return list(db.session.scalars(stmt))


def unsubscribe(client: str, subscription_id: int) -> None:
    with unit_of_work():
        sub = db.session.get(WebhookSubscription, subscription_id)
        if sub is None or sub.client != client:
            raise NotFound("订阅不存在")
        sub.active = False


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
        entry = catalog.entry_of(app) if app is not None else None
        data = {"application": {"kind": entry.kind if entry else None, "process": entry.key if entry else None,
                                "id": app.id, "status": app.status,
                                "project": app.project.supervision_no}} if app is not None else {}
        if event == "task.offered":
            data["task_id"] = task_id
        emit(event, data)


@sa_event.listens_for(Session, "after_flush")
def _watch(session, _context):
    for obj in session.new:
        if isinstance(obj, LockRecord) and obj.closed_at is None:
            emit("lock.opened", _lock(obj), session)
    for obj in session.dirty:
        if isinstance(obj, LockRecord) and _became(obj, "closed_at", lambda v: v is not None):
            emit("lock.closed", _lock(obj), session)
        elif isinstance(obj, Project) and _became(obj, "status", lambda v: v == COMPLETED):
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
        session.info[_PENDING] = [e for e in pending if not _within(e[0], previous_transaction)]


def _within(txn, ancestor) -> bool:
    while txn is not None:
        if txn is ancestor:
            return True
        txn = txn.parent
    return False


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
    subs = list(session.scalars(select(WebhookSubscription).where(WebhookSubscription.active.is_(True))))
    if not subs:
        return
    deliveries = [WebhookDelivery(subscription_id=s.id, event=event, payload=data)
                  for _txn, event, data in events for s in subs if event in s.events]
    if deliveries:
        session.add_all(deliveries)
        session.flush()
        jobs.enqueue_many([(DELIVER_JOB, {"delivery_id": d.id}, None) for d in deliveries])


# -- sending -------------------------------------------------------------------------------------
def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@registry.job_handler(DELIVER_JOB)
def _deliver(job) -> None:
    delivery = db.session.get(WebhookDelivery, job.payload["delivery_id"])
    if delivery is None or delivery.state != "pending":
        return
    sub = delivery.subscription
    body = json.dumps({"id": delivery.id, "event": delivery.event, "created_at": delivery.created_at.isoformat() + "Z",
                       "data": delivery.payload}, ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(sub.url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "ynqs-webhooks/1", "X-Ynqs-Event": delivery.event,
        "X-Ynqs-Delivery": str(delivery.id), "X-Ynqs-Timestamp": timestamp,
        "X-Ynqs-Signature": signature(sub.secret, timestamp, body)})
    started, status, error = time.monotonic(), None, None
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:   # noqa: S310 (http(s) only)
            status = response.status
    except urllib.error.HTTPError as e:
        status, error = e.code, f"HTTP {e.code}"
    except (OSError, ValueError) as e:
        error = f"{type(e).__name__}: {e}"[:500]
    db.session.add(WebhookAttempt(delivery_id=delivery.id, status_code=status, error=error,
                                  duration_ms=int((time.monotonic() - started) * 1000)))
    delivery.attempts += 1
    if status is not None and 200 <= status < 300:
        delivery.state, delivery.delivered_at, delivery.last_error = "delivered", utcnow(), None
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.state, delivery.last_error = "failed", error
    else:
        delivery.last_error = error
        jobs.enqueue(DELIVER_JOB, {"delivery_id": delivery.id}, due_at=utcnow() + retry_after(delivery.attempts))


def retry_after(attempts: int) -> timedelta:
    """The executor's exponential backoff (30 s, 1 min, 2 min, … capped at 1 h)."""
    return jobs.backoff(attempts)
