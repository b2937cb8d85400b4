"""Rate limits hold for the whole site, not per worker (docs/operators.md "Rate limits").

The product has one limiter (Flask-Limiter, webui/limiter.py). It counts in the application's
database by default (engine.ratecounter), or in Redis when ``RATELIMIT_STORAGE_URI`` names it.
Here two gunicorn workers serve one site and one address makes 100 wrong progress lookups: at
most the documented number are answered, whichever worker takes each one; the rest are refused
with 429 and the page's message. The same holds for the API's failed authentications.
"""
import threading
import time
import urllib.error
import urllib.request

import pytest
import redis
from sqlalchemy import func, select

from engine import ratecounter
from engine.db import db
from engine.models import RateLimitCounter
from handlers import progress

from .test_deploy_coherence import Browser, gunicorn

REDIS_URL = "redis://127.0.0.1:6379/2"
STORES = {"database": {}, "redis": {"RATELIMIT_STORAGE_URI": REDIS_URL}}


@pytest.fixture()
def empty_redis():
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


def _wrong_lookup(browser: Browser, token: str) -> tuple[int, str]:
    return browser.request("/progress", {"case_no": "RJ-2026-999999", "credit_code": "91530100MA6K000000",
                                         "csrf_token": token})


def _token(browser: Browser) -> str:
    from .test_deploy_coherence import _CSRF
    m = _CSRF.search(browser.request("/progress")[1])
    return m.group(1) or m.group(2)


@pytest.mark.parametrize("store", sorted(STORES))
def test_100_wrong_lookups_over_two_workers_get_at_most_the_documented_answers(ctx, empty_redis, store):
    limit = ctx.config["PROGRESS_LOOKUPS_PER_MINUTE"]   # 10 a minute, as docs/operators.md says
    with gunicorn(ctx, **STORES[store]) as base:
        browser = Browser(base)
        token = _token(browser)
        started = time.monotonic()
        answers = [_wrong_lookup(browser, token) for _ in range(100)]
        windows = 1 + int(time.monotonic() - started) // 60   # a fixed window: a new one each minute at most
    answered = [html for status, html in answers if status == 200]
    refused = [html for status, html in answers if status == 429]
    assert len(answered) + len(refused) == 100
    assert limit <= len(answered) <= limit * windows
    assert all(progress.NOT_FOUND in html for html in answered)
    assert all("查询过于频繁，请一分钟后再试" in html for html in refused)
    if store == "redis":
        assert empty_redis.dbsize() > 0   # counted there
        assert db.session.scalar(select(func.count()).select_from(RateLimitCounter)) == 0
    else:
        db.session.rollback()
        assert db.session.scalar(select(RateLimitCounter.count).where(RateLimitCounter.key.contains("progress"))) == 100


@pytest.mark.parametrize("store", sorted(STORES))
def test_failed_api_authentications_are_counted_once_for_all_workers(ctx, empty_redis, store):
    with gunicorn(ctx, API_AUTH_FAILURE_LIMIT="5 per minute", **STORES[store]) as base:
        started, statuses = time.monotonic(), []
        for _ in range(40):
            req = urllib.request.Request(base + "/api/v1/projects", headers={"Authorization": "Bearer ynqs_0_x",
                                                                             "Connection": "close"})
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    statuses.append(resp.status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
        windows = 1 + int(time.monotonic() - started) // 60
    assert statuses[:5] == [401] * 5 and set(statuses) == {401, 429}
    assert statuses.count(401) <= 5 * windows


# -- the database store ---------------------------------------------------------------------------
def test_concurrent_hits_are_each_counted_once(ctx):
    """Workers that hit the same counter at once each get their own count: nothing lost, nothing twice."""
    storage = ratecounter.DatabaseStorage()
    seen, errors = [], []

    def worker():
        with ctx.app_context():
            try:
                for _ in range(20):
                    seen.append(storage.incr("LIMITER/progress/203.0.113.9/10/1/minute", 60))
            except Exception as exc:   # noqa: BLE001 — reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(seen) == list(range(1, 121))
    assert storage.get("LIMITER/progress/203.0.113.9/10/1/minute") == 120


def test_a_window_starts_again_once_it_has_ended_and_ended_windows_are_deleted(ctx):
    storage = ratecounter.DatabaseStorage()
    assert [storage.incr("k", 60) for _ in range(3)] == [1, 2, 3]
    assert storage.get("k") == 3 and storage.get_expiry("k") > time.time() + 50
    with db.engine.begin() as conn:   # the window ended a second ago
        conn.execute(RateLimitCounter.__table__.update().values(expires_at=time.time() - 1))
    assert storage.get("k") == 0
    assert storage.incr("k", 60) == 1   # a fresh window
    storage.incr("old", 1)
    with db.engine.begin() as conn:
        conn.execute(RateLimitCounter.__table__.update().where(RateLimitCounter.key == "old")
                     .values(expires_at=time.time() - 1))
        assert ratecounter.purge_expired(conn) == 1
    assert db.session.scalars(select(RateLimitCounter.key)).all() == ["k"]
    storage.clear("k")
    assert storage.get("k") == 0 and storage.check()


def test_a_hit_is_committed_apart_from_the_requests_transaction(ctx):
    """A request that fails and rolls back keeps its count: the hit has its own transaction."""
    storage = ratecounter.DatabaseStorage()
    db.session.execute(select(func.count()).select_from(RateLimitCounter))   # the request's open transaction
    assert storage.incr("k", 60) == 1
    db.session.rollback()
    assert storage.get("k") == 1


def test_ended_windows_are_deleted_on_the_way(ctx, monkeypatch):
    storage = ratecounter.DatabaseStorage()
    monkeypatch.setattr(ratecounter, "PURGE_EVERY", 3)
    storage.incr("old", 60)
    with db.engine.begin() as conn:
        conn.execute(RateLimitCounter.__table__.update().values(expires_at=time.time() - 1))
    storage.incr("new", 60)
    assert db.session.scalars(select(RateLimitCounter.key).order_by(RateLimitCounter.key)).all() == ["new", "old"]
    db.session.rollback()
    storage.incr("new", 60)   # the process's third hit also deletes what has ended
    assert db.session.scalars(select(RateLimitCounter.key)).all() == ["new"]


def test_an_unreachable_store_lets_the_lookup_through_and_says_so(ctx, caplog):
    """A Redis outage must not close the public pages: the lookup is answered, the failure logged."""
    from webui import create_app
    other = create_app({"SQLALCHEMY_DATABASE_URI": ctx.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": "test",
                        "UPLOAD_DIR": ctx.config["UPLOAD_DIR"], "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"})
    client = other.test_client()
    from .web_helpers import csrf_token
    token = csrf_token(client, "/progress")
    for _ in range(ctx.config["PROGRESS_LOOKUPS_PER_MINUTE"] + 2):
        resp = client.post("/progress", data={"case_no": "RJ-2026-999999", "credit_code": "x", "csrf_token": token})
        assert resp.status_code == 200 and progress.NOT_FOUND in resp.get_data(as_text=True)
    assert "rate-limit store unavailable" in caplog.text
