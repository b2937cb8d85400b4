"""Webhook targets: internal addresses are refused in every spelling at subscription and again on
every delivery's resolution (DNS rebinding), the delivery connects to the address it checked,
redirects are not followed, and a failed attempt does not tell what listens. Nothing is sent
anywhere but to loopback receivers on the allow-list."""
import socket

import pytest
from sqlalchemy import func, select

from engine.db import db
from handlers import webhooks
from handlers.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from handlers.webhook_targets import AllowList

from .api_helpers import auth, machine_token
from .receivers import RawReceiver, Receiver, subscription, webhook_settings
from .web_helpers import client_world  # noqa: F401 (fixture)
from .world import locked_person

INTERNAL = [
    "http://127.0.0.1:5432/", "http://127.0.0.1:6379/", "http://localhost/", "http://LOCALHOST./x",
    "http://foo.localhost/", "http://[::1]/", "http://[0:0:0:0:0:0:0:1]/", "http://2130706433/",
    "http://0x7f000001/", "http://0177.0.0.1/", "http://127.1/", "http://0x7f.1/", "http://017700000001/",
    "http://127.000.000.001/", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/",
    "http://10.255.255.254/", "http://172.16.0.1/", "http://172.31.255.1/", "http://192.168.0.1/",
    "http://192.168.255.254/", "http://100.64.0.1/", "http://0.0.0.0/", "http://0/", "http://[::]/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[::ffff:a9fe:a9fe]/",
    "http://[::127.0.0.1]/", "http://[64:ff9b::a9fe:a9fe]/", "http://[2002:7f00:1::]/", "http://[fc00::1]/",
    "http://[fd12:3456::1]/", "http://[fe80::1]/", "http://[fe80::1%25eth0]/", "http://224.0.0.1/",
    "http://[ff02::1]/", "http://240.0.0.1/", "http://255.255.255.255/", "https://198.18.0.1/",
]
MALFORMED = ["http://[::1", "http://[::1]:99999/", "http://example.com:abc/", "ftp://example.com/",
             "javascript:alert(1)", "http:///hook", "http://exa mple.com/", "http://a\u0000b/",
             "http://user:pw@example.com/", "http://[zz::1]/", "//example.com/hook"]


def _sent(client, token, url):
    return client.post("/api/v1/webhooks", json={"url": url, "events": ["task.offered"]}, headers=auth(token))


def test_every_spelling_of_an_internal_target_is_refused_at_subscription(client_world):
    client, _ = client_world
    token = machine_token("webhooks:manage", client="数据交换")
    for url in INTERNAL + MALFORMED:
        resp = _sent(client, token, url)
        assert resp.status_code in (400, 422), (url, resp.status_code)
        assert [e["field"] for e in resp.get_json()["errors"]] == ["url"], url
        # a NUL is refused by the body's character check before the address rules, naming the field too
        assert any(word in resp.get_json()["errors"][0]["message"] for word in ("回调地址", "空字符")), url
    assert db.session.scalar(select(func.count()).select_from(WebhookSubscription)) == 0


def test_the_allow_list_lets_named_internal_hosts_through(client_world):
    client, _ = client_world
    token = machine_token("webhooks:manage", client="数据交换")
    with webhook_settings("127.0.0.1:8080, hooks.intranet, 10.20.0.0/16, [fd00::7]:8443"):
        for url in ("http://127.0.0.1:8080/hook", "http://hooks.intranet:9000/x", "https://10.20.3.4/",
                    "https://[fd00::7]:8443/"):
            assert _sent(client, token, url).status_code == 201, url
        for url in ("http://127.0.0.1:6379/", "http://10.21.0.1/", "https://[fd00::7]/", "http://localhost:8080/"):
            assert _sent(client, token, url).status_code == 400, url


def test_allow_list_entries_are_parsed_or_refused():
    allowed = AllowList.parse("hooks.intranet., Relay.Local:8443 10.0.0.0/8 127.0.0.1:9000 [::1]:7000 fd00::/8")
    assert allowed.names == {("hooks.intranet", None), ("relay.local", 8443)}
    assert len(allowed.networks) == 4
    for bad in ("host:0", "host:http", "10.0.0.0/33", "[::1]:x", ":80"):
        with pytest.raises(ValueError):
            AllowList.parse(bad)


@pytest.fixture()
def resolver(monkeypatch):
    """``hooks.example.test`` resolves to whatever the test says next; other names as usual."""
    answers, calls, real = [], [], socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "hooks.example.test":
            return real(host, port, *args, **kwargs)
        calls.append(host)
        address = answers.pop(0) if len(answers) > 1 else answers[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, calls


def _attempts():
    db.session.rollback()
    return db.session.execute(select(WebhookAttempt.status_code, WebhookAttempt.error)
                              .order_by(WebhookAttempt.id)).all()


def test_each_delivery_checks_the_resolved_address_and_connects_to_the_one_it_checked(
        ctx, world, services, resolver):
    answers, calls = resolver
    inside, swapped = Receiver(), Receiver(host="127.0.0.2")
    try:
        # subscribed while the name pointed at a public address; at delivery it points inside
        answers[:] = ["93.184.215.14", "127.0.0.1"]
        subscription(f"http://hooks.example.test:{inside.port}/hook", ["lock.opened"])
        locked_person(world, "张三")
        assert services.worker().run_due() == 1
        assert inside.received == [] and _attempts() == [(None, webhooks.TARGET_REFUSED)]
        # allowed now, yet a second resolution would give another address: the checked one is used
        db.session.execute(WebhookSubscription.__table__.update().values(
            url=f"http://hooks.example.test:{swapped.port}/hook"))
        db.session.commit()
        with webhook_settings("127.0.0.1/32"):
            answers[:], calls[:] = ["127.0.0.1", "127.0.0.2"], []
            locked_person(world, "李四")
            services.worker().run_due()
        assert calls == ["hooks.example.test"]   # resolved once
        assert swapped.received == []
    finally:
        inside.close()
        swapped.close()


def test_a_redirect_is_an_answer_not_followed(ctx, world, services):
    elsewhere = Receiver()
    redirecting = Receiver([302], headers={"Location": elsewhere.url})
    try:
        with webhook_settings("127.0.0.1"):
            subscription(redirecting.url, ["lock.opened"])
            locked_person(world, "王五")
            services.worker().run_due()
        assert len(redirecting.received) == 1 and elsewhere.received == []
        assert _attempts() == [(302, "HTTP 302")]
        [delivery] = db.session.scalars(select(WebhookDelivery)).all()
        assert (delivery.state, delivery.attempts) == ("pending", 1)
    finally:
        elsewhere.close()
        redirecting.close()


def test_a_failed_attempt_does_not_tell_what_listens(ctx, world, services):
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()   # nothing listens there now
    garbage = RawReceiver(b"-ERR unknown command\r\n")   # something that is not HTTP (Redis)
    try:
        with webhook_settings("127.0.0.1"):
            subscription(f"http://127.0.0.1:{closed_port}/", ["lock.opened"], client="甲")
            subscription(garbage.url, ["lock.opened"], client="乙")
            locked_person(world, "赵六")
            services.worker().run_due()
        errors = [error for _status, error in _attempts()]
        assert errors == [webhooks.UNDELIVERABLE, webhooks.UNDELIVERABLE]
    finally:
        garbage.close()
