"""No input produces a server error (issue 8, section 2).

A table-driven sweep sends families of malformed input to every route of the application
(``app.url_map``), for each role, and asserts that no response is a 5xx and that refused input
stores nothing. Runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL.
"""
import io
import json

import pytest
from sqlalchemy import func, select

from engine.db import db
from engine.models import Job
from handlers import api_tokens, lock_rule, login_codes, webhooks
from handlers.models import (
    Assignment, Notification, Organization, Person, Registration, UnlockApplication, WebhookSubscription,
)
from webui.inputs import IdConverter

from .conftest import is_postgres
from .race_helpers import run_at_once
from .receivers import subscription, webhook_settings
from .web_helpers import client_world, login, token_from  # noqa: F401 (fixture)
from .world import PDF_BYTES, locked_person, reported_unlock, row_counts

BIG = "99999999999999999999"          # beyond 64 bits
OVER = "9223372036854775808"          # 2**63, one past the largest BIGINT
INT32_OVER = "2147483648"             # 2**31, one past the largest INTEGER (the id of most tables)
NUL = "a\x00b"
BAD_PATH_IDS = (BIG, OVER, INT32_OVER, "²", "١٢", "0")
INT_FIELDS = ("target_id", "new_person_id", "account_id", "person_id")
TEXT_FIELDS = ("reason", "explanation", "conclusion", "permit_no", "acceptance_date", "opinion", "decision",
               "name", "contact_person", "contact_phone", "legal_representative", "address", "region",
               "business_scope", "username", "password", "old_password", "new_password", "confirm", "org_name",
               "credit_code", "mobile", "kind", "next", "back", "role", "method", "q")
FILE_FIELDS = ("unlock_form", "attachments", "licence")

QUERY_FAMILIES = {
    "beyond 64 bits": {"page": BIG, "n": BIG, "person_id": BIG, "cursor": f"2026-01-01T00:00:00_{BIG}"},
    "beyond 32 bits": {"page": INT32_OVER, "n": INT32_OVER, "person_id": INT32_OVER,
                       "cursor": f"2026-01-01T00:00:00_{INT32_OVER}"},
    "unicode digits": {"page": "²", "n": "²", "person_id": "²", "cursor": "2026-01-01T00:00:00_²"},
    "negative": {"page": "-5", "n": "-1", "person_id": "-1", "cursor": "2026-01-01T00:00:00_-1"},
    "malformed cursor": {"cursor": "garbage"},
    "cursor at the end of time": {"cursor": "9999-12-31T23:59:59.999999_1"},
    "cursor before time": {"cursor": "0001-01-01T00:00:00_1"},
    "date extremes high": {"date_from": "9999-12-31", "date_to": "9999-12-31"},
    "date extremes low": {"date_from": "0001-01-01", "date_to": "0001-01-01", "view": "done"},
    "NUL": {k: NUL for k in ("q", "status", "view", "scope", "applicant", "next", "process_key", "kind",
                             "date_from", "cursor", "page")},
}


def _post_families(token):
    def fields(names, value):
        return {name: value for name in names}
    return {
        "beyond 64 bits": {**fields(INT_FIELDS, BIG), "csrf_token": token},
        "2**63": {**fields(INT_FIELDS, OVER), "csrf_token": token},
        "2**31": {**fields(INT_FIELDS, INT32_OVER), "csrf_token": token},
        "unicode digits": {**fields(INT_FIELDS, "²"), "csrf_token": token},
        "text in a file field": {**fields(FILE_FIELDS, "not a file"), "csrf_token": token},
        "NUL in every text field": {**fields(TEXT_FIELDS + INT_FIELDS, NUL), "csrf_token": token},
        "NUL in a file name": {**{f: (io.BytesIO(PDF_BYTES), "表\x00.pdf") for f in FILE_FIELDS},
                               "reason": "停工", "csrf_token": token},
    }


ROLES = (None, "contractor_user", "firm_user", "owner_user", "agency_reviewer", "auth_reviewer", "admin")


def _objects(world, services):
    """Real objects so that good path ids reach the views' deeper code."""
    pm, _ = locked_person(world, "张三")
    reported = reported_unlock(world, services, pm)
    other, _ = locked_person(world, "李四")
    applicant = world.who("contractor_user")
    draft = services.unlock.create(applicant, lock_rule.open_locks(other.id)[0].id)
    mover, _ = locked_person(world, "王五")
    change = services.change.create(applicant, db.session.scalar(
        select(Assignment.id).where(Assignment.person_id == mover.id)))
    finished, _ = locked_person(world, "赵六")   # an approved case, and so its certificate (办结通知书)
    approved = reported_unlock(world, services, finished)
    reviewer = world.who("agency_reviewer")
    done = next(t for t in services.reviews.inbox(reviewer).rows if t.instance_id == approved.instance_id)
    services.reviews.claim(reviewer, done.id)
    services.reviews.approve(reviewer, done.id, "同意")
    [certificate] = services.certificates.of_instance(approved.instance_id)
    task = services.reviews.inbox(world.who("agency_reviewer")).rows[0]
    att = services.unlock.attachments(reported)[0]
    phrase = services.reviews.add_phrase(world.who("agency_reviewer"), "材料齐全，同意。")
    return {"phrase_id": phrase.id, "app_id": draft.id, "att_id": att.id, "task_id": task.id, "person_id": pm.id,
            "account_id": world.who("contractor_user").account_id, "instance_id": reported.instance_id,
            "definition_id": 1, "kind": "unlock", "_change": change.id,
            "job_id": db.session.scalar(select(func.min(Job.id))),
            "notification_id": db.session.scalar(select(func.min(Notification.id))),
            "supervision_no": reported.project.supervision_no, "id_card": pm.id_card,
            "project_id": reported.project_id,
            "token_id": api_tokens.create_client_token("扫描", "projects:read")[0].id,
            "subscription_id": _subscription_id(),
            "delivery_id": 1, "process_key": "personnel_unlock", "version": 1, "plan_id": 1, "fmt": "csv", "round_": 1,
            "code": login_codes.issue("Mozilla/5.0 sweep", "127.0.0.1", 120).code,   # a QR login code
            "token": "not-a-reset-token", "serial": certificate.serial}


def _subscription_id() -> int:
    with webhook_settings("127.0.0.1:9"):   # a loopback target is refused unless the operator allows it
        return subscription("http://127.0.0.1:9/hook", ["lock.opened"], client="扫描")[0].id


def _total_rows() -> tuple:
    """Every table's row count, in one query; not the rate-limit counters, which count every
    limited request whatever its input (webui/limiter.py)."""
    counts = [select(func.count()).select_from(t).scalar_subquery() for t in db.metadata.sorted_tables
              if t.name != "rate_limit_counter"]
    row = db.session.execute(select(*counts)).one()
    db.session.rollback()
    return tuple(row)


def _urls(rule, good):
    """The rule's URL with good ids, then with each id replaced by each bad value."""
    sentinels = {name: 7_700_000 + i for i, name in enumerate(sorted(rule.arguments))
                 if name != "kind"}
    base = rule.build({**{n: good[n] for n in rule.arguments if n == "kind"}, **sentinels})[1]
    url = base
    for name, s in sentinels.items():
        url = url.replace(str(s), str(good[name]))
    yield "good", url
    for name, s in sentinels.items():
        for bad in BAD_PATH_IDS:
            bad_url = base
            for other, so in sentinels.items():
                bad_url = bad_url.replace(str(so), bad if other == name else str(good[other]))
            yield f"{name}={bad!r}", bad_url
    if "kind" in rule.arguments:
        yield "kind=NUL", url.replace("/unlock/", "/%00/", 1)
        change = url.replace("/unlock/", "/change/", 1)
        if "app_id" in rule.arguments:
            change = change.replace(f"/{good['app_id']}", f"/{good['_change']}", 1)
        yield "good", change   # the change form has the integer and multi-file fields


def _not_ready(url, resp) -> bool:
    """/readyz's 503 is its answer, not an error: the suite's schema is created from the models,
    without the migrations' version (tests/test_operability.py)."""
    return url.split("?")[0] == "/readyz" and resp.status_code == 503 and \
        resp.get_json(silent=True) == {"status": "unavailable",
                                       "reason": "database has no migration version (alembic_version): run flask init-db"}


class Sweep:
    def __init__(self, client):
        self.client, self.tried, self.failures = client, 0, []
        self.rows = None   # the row counts after the last request, when known

    def send(self, label, method, url, check_rows=True, **kw):
        before = (self.rows or _total_rows()) if check_rows else None
        self.rows = None
        self.tried += not label.endswith(" good")   # the unaltered request of each route is a baseline
        try:
            resp = self.client.open(url, method=method, **kw)
        except Exception as exc:   # the error page itself failed: the user gets a bare 500
            self.failures.append(f"500 (no error page: {type(exc).__name__}) {method} {url} {label}")
            return None
        if resp.status_code >= 500 and not _not_ready(url, resp):
            self.failures.append(f"{resp.status_code} {method} {url} {label}")
        elif check_rows:
            self.rows = _total_rows()
            if self.rows != before:
                self.failures.append(f"stored: {resp.status_code} {method} {url} {label}")
        return resp


# routes whose POST takes no input: whatever the body, it is the action itself (a new QR login code;
# 停用 / 启用 / 重置密码, each written to the administrators' action log)
INPUTLESS = {"qr.new", "admin.disable_account", "admin.enable_account", "admin.reset_password"}
# routes whose one text field takes any words: a family that carries it (the file-name family's
# reason 停工) is a valid request (作废 of a certificate, with that reason)
ANY_TEXT = {"certificates.revoke"}


def _sweep_role(app, client, role, good) -> Sweep:
    sweep = Sweep(client)
    html = client.get("/help").get_data(as_text=True)
    token = token_from(html) if "csrf" in html else ""
    # the login pages last, and logout at the very end: they may change who the client is
    order = lambda r: (r.endpoint.startswith("auth."), r.endpoint == "auth.logout", r.rule)  # noqa: E731
    for rule in sorted(app.url_map.iter_rules(), key=order):
        if rule.endpoint == "static":
            continue
        for variant, url in _urls(rule, good):
            if "GET" in rule.methods:
                sweep.send(f"{role} {variant}", "GET", url)
                if variant == "good":
                    for family, args in QUERY_FAMILIES.items():
                        sweep.send(f"{role} {family}", "GET", url, query_string=args)
            if "POST" in rule.methods:
                # a bare POST with only its token may be a valid action (上报, 签收): rows unchecked
                sweep.send(f"{role} {variant}", "POST", url, data={"csrf_token": token},
                           check_rows=variant != "good")
                if variant == "good":
                    for family, data in _post_families(token).items():
                        sweep.send(f"{role} {family}", "POST", url, data=data,
                                   check_rows=rule.endpoint not in INPUTLESS | ANY_TEXT)
    return sweep


@pytest.fixture()
def no_propagation(ctx):
    """Let unhandled errors reach the 500 page (as in production) instead of the test."""
    old = ctx.config["PROPAGATE_EXCEPTIONS"]
    ctx.config["PROPAGATE_EXCEPTIONS"] = False
    yield
    ctx.config["PROPAGATE_EXCEPTIONS"] = old


@pytest.mark.parametrize("role", ROLES)
def test_no_route_answers_bad_input_with_a_server_error(client_world, services, no_propagation, ctx, role):
    client, world = client_world
    good = _objects(world, services)
    if role:
        login(client, role)
    sweep = _sweep_role(ctx, client, role, good)
    print(f"{role}: {sweep.tried} bad inputs tried, {len(sweep.failures)} failures", *sweep.failures, sep="\n  ")
    assert sweep.tried > 400
    assert sweep.failures == []


def test_a_host_label_over_63_characters_is_a_bad_request(client_world, no_propagation):
    client, _ = client_world
    sweep, statuses = Sweep(client), []
    for host in ("a" * 64 + ".example.com", "www." + "b" * 100, "c" * 63 + "." + "d" * 64 + ".cn"):
        for url in ("/", "/auth/login", "/help", "/no-such-page"):
            resp = sweep.send(f"host {host}", "GET", url, check_rows=False, headers={"Host": host})
            statuses.append(resp and (resp.status_code, "请求的主机名无效" in resp.get_data(as_text=True)))
    print(f"hosts: {sweep.tried} bad inputs tried, {len(sweep.failures)} failures")
    assert sweep.failures == []
    assert set(statuses) == {(400, True)}


# -- families found by probing from outside -----------------------------------------------------------

def _registration(services):
    from handlers.accounts import Registration
    return services.registration.register(Registration(
        kind="contractor", org_name="云南省第三建设有限公司", credit_code="91350100M000100Y43",
        contact_person="刘联系", mobile="13888001234", username="yn3jian", password="ynqs2026x"))


@pytest.mark.parametrize("role", ("agency_reviewer", "auth_reviewer", "contractor_user"))
def test_a_registration_opened_by_anyone_but_its_registrant_and_the_admins_is_a_404(
        client_world, services, no_propagation, role):
    client, world = client_world
    reg = db.session.scalar(select(Registration).where(Registration.account_id == _registration(services).id))
    token = api_tokens.create_personal_token(role)[1]
    db.session.commit()
    login(client, role)
    statuses = [client.get(f"/apply/registration/{reg.id}/files/1{view}").status_code for view in ("", "/view")]
    statuses += [client.get(f"/api/v1/applications/registration/{reg.id}{part}",
                            headers={"Authorization": f"Bearer {token}"}).status_code
                 for part in ("", "/log", "/diagram")]
    assert statuses == [404] * 5


def _int_routes(app):
    """Every GET and POST rule with an ``<id:…>`` argument."""
    for rule in app.url_map.iter_rules():
        ids = [name for name, conv in rule._converters.items() if isinstance(conv, IdConverter)]
        if ids:
            yield rule, ids


@pytest.mark.parametrize("role", ("contractor_user", "agency_reviewer", "admin"))
def test_ids_beyond_the_integer_columns_are_a_404_on_every_route(client_world, services, no_propagation, ctx, role):
    client, world = client_world
    good = _objects(world, services)
    login(client, role)
    token = api_tokens.create_personal_token(role)[1]
    db.session.commit()
    sweep = Sweep(client)
    html = client.get("/help").get_data(as_text=True)
    csrf = token_from(html)
    headers = {"Authorization": f"Bearer {token}"}
    statuses = set()
    for rule, ids in _int_routes(ctx):
        for name in ids:
            values = {n: (good[n] if n in good else 1) for n in rule.arguments}
            values[name] = 7_700_001
            url = rule.build(values)[1].replace("7700001", INT32_OVER)
            for method in {"GET", "POST", "PATCH", "DELETE"} & rule.methods:
                kw = {"headers": headers} if url.startswith("/api/") else \
                    {"data": {"csrf_token": csrf}} if method == "POST" else {}
                resp = sweep.send(f"{role} {name}=2**31", method, url, check_rows=False, **kw)
                if resp is not None:
                    statuses.add((resp.status_code, url))
    print(f"{role}: {sweep.tried} ids tried, {len(sweep.failures)} failures", *sweep.failures, sep="\n  ")
    assert sweep.tried > 40
    assert sweep.failures == []
    # the replacement check answers its JSON "please choose a person" before it looks the application up
    answered = {status for status, url in statuses if not url.endswith("/check")}
    assert answered <= {302, 400, 403, 404, 405}, sorted(statuses)


BAD_TEXT = {"NUL": "意见\x00", "lone surrogate": "意见\ud800"}


@pytest.mark.parametrize("bad", BAD_TEXT)
def test_nul_and_lone_surrogates_in_api_json_bodies_are_a_400_naming_the_field(
        client_world, services, no_propagation, bad):
    client, world = client_world
    good = _objects(world, services)
    applicant = api_tokens.create_personal_token("contractor_user")[1]
    reviewer = api_tokens.create_personal_token("agency_reviewer")[1]
    hooks = api_tokens.create_client_token("工改系统", "webhooks:manage,projects:write,people:write")[1]
    services.reviews.claim(world.who("agency_reviewer"), good["task_id"])   # so that the return is read
    db.session.commit()
    value = BAD_TEXT[bad]
    calls = [
        ("PATCH", f"/api/v1/applications/unlock/{good['app_id']}", applicant, {"reason": value}),
        ("POST", f"/api/v1/tasks/{good['task_id']}/return", reviewer, {"opinion": value}),
        ("POST", "/api/v1/webhooks", hooks, {"url": "http://127.0.0.1:9/" + value, "events": ["lock.opened"]}),
        ("POST", "/api/v1/people", hooks, {"id_card": "x", "name": value, "employer": {"credit_code": value}}),
    ]
    sweep, before = Sweep(client), row_counts(WebhookSubscription, Person, Organization, UnlockApplication)
    for method, url, token, body in calls:
        # every call with a token writes its audit row: the tables it could have changed are compared
        resp = sweep.send(f"{bad} {method} {url}", method, url, data=json.dumps(body), check_rows=False,
                          headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        if resp is not None and resp.status_code < 500:
            problem = resp.get_json()
            assert resp.status_code == 400, (url, problem)
            assert "字符" in problem["detail"] and problem["errors"][0]["field"], (url, problem)
    assert sweep.failures == []
    assert row_counts(WebhookSubscription, Person, Organization, UnlockApplication) == before
    assert db.session.get(UnlockApplication, good["app_id"]).reason != value


def test_the_webhook_url_http_bracket_is_a_400(client_world, no_propagation):
    client, _ = client_world
    token = api_tokens.create_client_token("工改系统", "webhooks:manage")[1]
    db.session.commit()
    for url in ("http://[::1", "http://[::1]:99999/", "http://:80/", "http:///x"):
        resp = client.post("/api/v1/webhooks", json={"url": url, "events": ["lock.opened"]},
                           headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 400, (url, resp.get_data(as_text=True))
        assert resp.get_json()["errors"][0]["field"] == "url"


RACE = pytest.mark.skipif(not is_postgres(), reason="a race needs concurrent writers: SQLite serialises them all")


@RACE
def test_the_same_phrase_saved_twice_at_once_is_stored_once_and_refused_once(ctx, world, services):
    reviewer = world.who("agency_reviewer")
    results = run_at_once(ctx, 2, lambda _i: services.reviews.add_phrase(reviewer, "材料齐全，同意。").id)
    outcomes = sorted((kind, getattr(value, "message", None)) for kind, value in results)
    assert outcomes == [("error", "常用意见：该意见已保存"), ("ok", None)]
    assert len(services.reviews.phrases(reviewer)) == 1


@RACE
def test_phrases_saved_at_once_never_pass_the_limit(ctx, world, services):
    reviewer = world.who("agency_reviewer")
    results = run_at_once(ctx, 36, lambda i: services.reviews.add_phrase(reviewer, f"意见第 {i} 条").id)
    refused = [value.message for kind, value in results if kind == "error"]
    assert len(services.reviews.phrases(reviewer)) == 30
    assert refused == ["常用意见：最多保存 30 条，请先删除不用的"] * 6
