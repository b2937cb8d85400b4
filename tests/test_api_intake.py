"""The integration API: tokens, problem+json errors, and the intake of projects and people (issue 11)."""
import csv

import pytest
from sqlalchemy import func, select

from engine.db import db
from handlers import api_tokens
from handlers.invariants import check_invariants
from handlers.models import (
    LOCKED, ApiCall, Assignment, Certificate, LockRecord, Organization, Person, Project,
)

from .api_helpers import (
    CERTS, auth, machine_token, new_credit_code, org_ref, person_payload, personal_token, project_payload,
)
from .web_helpers import client_world  # noqa: F401 (fixture)
from .world import row_counts

TABLES = (Project, Person, Certificate, Assignment, LockRecord, Organization)


@pytest.fixture()
def api(client_world):
    client, world = client_world
    return client, world, machine_token()


def _push_person(client, token, payload):
    resp = client.post("/api/v1/people", json=payload, headers=auth(token))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


# -- the document and the door ----------------------------------------------------------------------
def test_the_openapi_document_and_its_page_are_served(client_world):
    client, _ = client_world
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/projects", "/api/v1/people", "/api/v1/projects/bulk"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and "/api/v1/projects" in page.get_data(as_text=True)


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Bearer ynqs_00000000_x", "Basic abc"])
def test_a_call_without_a_valid_token_is_a_401_problem(client_world, header):
    client, _ = client_world
    resp = client.get("/api/v1/projects", headers={"Authorization": header} if header else {})
    assert resp.status_code == 401
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["detail"].startswith("缺少有效的访问令牌")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_expired_and_rotated_tokens_stop_working(api):
    client, world, token = api
    assert client.get("/api/v1/projects", headers=auth(token)).status_code == 200
    row = api_tokens.find(token.split("_")[1])
    new_row, new_token = api_tokens.rotate(row.id)
    assert client.get("/api/v1/projects", headers=auth(token)).status_code == 401
    assert client.get("/api/v1/projects", headers=auth(new_token)).status_code == 200
    assert new_row.scopes == row.scopes and db.session.get(type(row), row.id).secret_hash != new_row.secret_hash
    api_tokens.revoke(new_row.id)
    assert client.get("/api/v1/projects", headers=auth(new_token)).status_code == 401
    short, short_token = api_tokens.create_client_token("临时", "projects:read", days=1)
    from datetime import timedelta
    db.session.get(type(short), short.id).expires_at -= timedelta(days=2)
    db.session.commit()
    assert client.get("/api/v1/projects", headers=auth(short_token)).status_code == 401


def test_tokens_are_stored_hashed(api):
    _, _, token = api
    row = api_tokens.find(token.split("_")[1])
    assert token not in (row.secret_hash, row.prefix) and row.secret_hash == api_tokens.hash_token(token)


def test_a_token_without_the_scope_is_refused_with_403(client_world):
    client, world = client_world
    token = machine_token("people:write", client="人员库")
    resp = client.post("/api/v1/projects", json=project_payload(world, "BJ-S-1"), headers=auth(token))
    assert resp.status_code == 403 and "projects:write" in resp.get_json()["detail"]
    assert row_counts(Project)["project"] == 0


@pytest.mark.parametrize("method, url", [("POST", "/api/v1/projects"), ("POST", "/api/v1/people/bulk"),
                                         ("GET", "/api/v1/projects?limit=0"), ("POST", "/api/v1/webhooks"),
                                         ("PATCH", "/api/v1/applications/unlock/1"), ("POST", "/api/v1/tasks/1/return")])
def test_the_scope_is_checked_before_the_body(client_world, method, url):
    client, _ = client_world
    token = machine_token("people:read", client="人员库")
    resp = client.open(url, method=method, json={"rows": "x", "url": 5, "opinion": 5, "reason": 5},
                       headers=auth(token))
    assert resp.status_code == 403, resp.get_json()


def test_a_personal_token_cannot_push(client_world):
    client, world = client_world
    token = personal_token("contractor_user")
    resp = client.post("/api/v1/people", json=person_payload(world, "张三"), headers=auth(token))
    assert resp.status_code == 403


def test_every_call_with_a_token_is_audited(api):
    client, _, token = api
    client.get("/api/v1/projects", headers=auth(token))
    client.get("/api/v1/people/123", headers=auth(token))
    calls = db.session.scalars(select(ApiCall).order_by(ApiCall.id)).all()
    assert [(c.method, c.path, c.status) for c in calls] == [
        ("GET", "/api/v1/projects", 200), ("GET", "/api/v1/people/123", 404)]


def test_calls_are_rate_limited_per_token(api, ctx):
    client, _, token = api
    other = machine_token(client="数据交换")
    ctx.config["API_RATE_LIMIT"] = "3 per minute"
    try:
        statuses = [client.get("/api/v1/projects", headers=auth(token)).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = client.get("/api/v1/projects", headers=auth(token))
        assert limited.mimetype == "application/problem+json" and "请求过于频繁" in limited.get_json()["detail"]
        assert client.get("/api/v1/projects", headers=auth(other)).status_code == 200
    finally:
        ctx.config.pop("API_RATE_LIMIT")


def test_wrong_secrets_under_a_tokens_prefix_do_not_use_up_its_limit(api, ctx):
    client, _, token = api
    victim_prefix = token.split("_")[1]
    ctx.config["API_RATE_LIMIT"] = "5 per minute"
    try:
        forged = [client.get("/api/v1/projects", headers=auth(f"ynqs_{victim_prefix}_garbage")).status_code
                  for _ in range(20)]
        assert forged == [401] * 20
        assert client.get("/api/v1/projects", headers=auth(token)).status_code == 200
    finally:
        ctx.config.pop("API_RATE_LIMIT")


def test_failed_authentications_from_one_address_are_eventually_refused_with_429(api):
    client, _, token = api
    statuses = [client.get("/api/v1/projects", headers=auth("ynqs_00000000_guess"),
                           environ_base={"REMOTE_ADDR": "203.0.113.7"}).status_code for _ in range(40)]
    assert statuses[:30] == [401] * 30 and statuses[30:] == [429] * 10
    other = client.get("/api/v1/projects", headers=auth("ynqs_00000000_guess"),
                       environ_base={"REMOTE_ADDR": "203.0.113.8"})
    assert other.status_code == 401   # another address has its own count
    served = client.get("/api/v1/projects", headers=auth(token), environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert served.status_code == 200   # a valid token is served from the refused address


@pytest.mark.parametrize("hops, counted", [(0, "the proxy"), (1, "each client")])
def test_behind_a_trusted_proxy_failures_count_per_forwarded_address(client_world, ctx, hops, counted):
    from webui import trust_proxies
    client, _ = client_world
    wsgi_app = ctx.wsgi_app
    ctx.config.update(TRUSTED_PROXIES=hops, API_AUTH_FAILURE_LIMIT="3 per minute")
    trust_proxies(ctx)
    try:
        statuses = [client.get("/api/v1/projects", headers={"X-Forwarded-For": f"198.51.100.{i % 2}"},
                               environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code for i in range(6)]
    finally:
        ctx.wsgi_app = wsgi_app
        ctx.config.update(TRUSTED_PROXIES=0)
        ctx.config.pop("API_AUTH_FAILURE_LIMIT")
    assert statuses == {"the proxy": [401] * 3 + [429] * 3, "each client": [401] * 6}[counted]


# -- people ----------------------------------------------------------------------------------------
def test_a_person_is_upserted_by_id_card(api):
    client, world, token = api
    payload = person_payload(world, "张三")
    assert _push_person(client, token, payload)["outcome"] == "created"
    assert _push_person(client, token, payload)["outcome"] == "unchanged"
    payload["certificates"] = payload["certificates"][:1]
    payload["name"] = "张叁"
    assert _push_person(client, token, payload)["outcome"] == "updated"
    got = client.get(f"/api/v1/people/{payload['id_card']}", headers=auth(token)).get_json()
    assert got["name"] == "张叁" and len(got["certificates"]) == 1 and got["status"] == "normal"


def test_a_bad_person_names_the_field_in_chinese_and_stores_nothing(api):
    client, world, token = api
    before = row_counts(*TABLES)
    payload = person_payload(world, "张三")
    payload["id_card"] = payload["id_card"][:-1] + ("0" if payload["id_card"][-1] != "0" else "1")
    resp = client.post("/api/v1/people", json=payload, headers=auth(token))
    body = resp.get_json()
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
    assert body["errors"] == [{"field": "id_card", "message": "身份证号格式不正确"}]
    assert body["detail"] == "身份证号格式不正确"
    payload["certificates"].append({"kind": "驾驶证", "number": "1"})
    body = client.post("/api/v1/people", json=payload, headers=auth(token)).get_json()
    assert body["errors"][0]["field"] == "certificates[2].kind" and body["errors"][0]["message"].startswith("只能是")
    assert row_counts(*TABLES) == before


def test_a_schema_error_is_a_400_naming_the_field(api):
    client, world, token = api
    resp = client.post("/api/v1/people", json={"name": 5, "employer": {}}, headers=auth(token))
    body = resp.get_json()
    assert resp.status_code == 400
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert fields["id_card"] == "必填项不能为空" and fields["name"] == "必须是文本"
    assert fields["employer.credit_code"] == "必填项不能为空"


# -- projects ---------------------------------------------------------------------------------------
def _pm(client, world, token, name="项经理"):
    payload = person_payload(world, name, certs=CERTS["pm"])
    _push_person(client, token, payload)
    return payload["id_card"]


def test_a_pushed_project_assigns_and_locks_its_project_manager(api):
    client, world, token = api
    pm = _pm(client, world, token)
    resp = client.post("/api/v1/projects", json=project_payload(world, "BJ-1", {"project_manager": pm}),
                       headers=auth(token))
    body = resp.get_json()
    assert resp.status_code == 200 and body["outcome"] == "created"
    [person] = body["people"]
    assert person["outcome"] == "locked" and person["lock"]["project_id"] == body["id"]
    db.session.rollback()
    assert db.session.scalar(select(Person.status).where(Person.id_card == pm)) == LOCKED
    assert check_invariants() == []


def test_the_same_push_repeated_changes_nothing(api):
    client, world, token = api
    pm = _pm(client, world, token)
    payload = project_payload(world, "BJ-2", {"project_manager": pm})
    client.post("/api/v1/projects", json=payload, headers=auth(token))
    before = row_counts(*TABLES)
    again = client.post("/api/v1/projects", json=payload, headers=auth(token)).get_json()
    assert again["outcome"] == "unchanged" and again["people"][0]["outcome"] == "unchanged"
    assert row_counts(*TABLES) == before


def test_a_project_manager_leading_another_project_is_refused_and_nothing_is_stored(api):
    """The documented outcome (docs/api.md): refused with 409, the existing lock record named."""
    client, world, token = api
    pm = _pm(client, world, token)
    first = client.post("/api/v1/projects", json=project_payload(world, "BJ-3", {"project_manager": pm}),
                        headers=auth(token)).get_json()
    before = row_counts(*TABLES)
    resp = client.post("/api/v1/projects", json=project_payload(world, "BJ-4", {"project_manager": pm}),
                       headers=auth(token))
    body = resp.get_json()
    assert resp.status_code == 409 and resp.mimetype == "application/problem+json"
    assert body["errors"] == [{"field": "personnel.project_manager", "message": "该项目经理已有项目管理工作，请重新选择"}]
    [person] = body["people"]
    assert person["outcome"] == "over_limit" and person["lock"]["project_id"] == first["id"]
    assert row_counts(*TABLES) == before
    assert client.get("/api/v1/projects/BJ-4", headers=auth(token)).status_code == 404


def test_a_person_locked_in_one_role_cannot_take_on_a_new_project_in_another(api):
    """domain.md §4.3: a locked person cannot take on a new project under construction. 孙多岗 holds
    注册建造师, B证 and C证; as project manager of 工程BJ-31 he is locked (1 of 1), province-wide: the
    工改系统 then names him safety officer of 工程BJ-32 in another prefecture. The push is refused as the
    replacement check refuses a locked person, and nothing is stored."""
    client, world, token = api
    sun = person_payload(world, "孙多岗", certs=CERTS["pm"] + CERTS["so"])
    _push_person(client, token, sun)
    first = client.post("/api/v1/projects", json=project_payload(world, "BJ-31", {"project_manager": sun["id_card"]}),
                        headers=auth(token)).get_json()
    assert first["people"][0]["outcome"] == "locked"
    before = row_counts(*TABLES)
    elsewhere = project_payload(world, "BJ-32", {"safety_officer": sun["id_card"]},
                                authority=org_ref(world.org("authority2")), agency=org_ref(world.org("agency2")))
    resp = client.post("/api/v1/projects", json=elsewhere, headers=auth(token))
    body = resp.get_json()
    assert resp.status_code == 409 and resp.mimetype == "application/problem+json", body
    assert body["errors"] == [{"field": "personnel.safety_officer", "message": "该人员已被锁定，请重新选择"}]
    [refused] = body["people"]
    assert refused["outcome"] == "over_limit" and refused["lock"]["project_id"] == first["id"]
    assert row_counts(*TABLES) == before
    assert client.get("/api/v1/projects/BJ-32", headers=auth(token)).status_code == 404


def test_a_locked_person_may_take_another_role_on_a_project_of_the_same_contract(api):
    """Projects sharing a contract registration number are one project (§4.3): a second role there is
    not a new project, so the lock does not refuse it."""
    client, world, token = api
    qian = person_payload(world, "钱兼职", certs=CERTS["pm"] + CERTS["so"])
    _push_person(client, token, qian)
    for no, personnel in (("BJ-34", {"project_manager": qian["id_card"]}),
                          ("BJ-35", {"safety_officer": qian["id_card"]})):
        resp = client.post("/api/v1/projects", json=project_payload(world, no, personnel, contract_no="HT-34"),
                           headers=auth(token))
        assert resp.status_code == 200, resp.get_json()
    assert check_invariants() == []


def test_key_personnel_come_from_the_projects_own_contractor_and_firm(api):
    """domain.md §4.2: the project manager and the safety officer are the contractor's, the chief
    supervisor the supervising firm's. A push naming someone else's employee is refused by field."""
    client, world, token = api
    stranger = person_payload(world, "外单位安全员", org_key="contractor2", certs=CERTS["so"])
    builder = person_payload(world, "施工单位的人", certs=CERTS["cs"])
    for payload in (stranger, builder):
        _push_person(client, token, payload)
    before = row_counts(*TABLES)
    for personnel, field, message in (
            ({"safety_officer": stranger["id_card"]}, "personnel.safety_officer", "安全员外单位安全员不属于本工程的施工单位"),
            ({"chief_supervisor": builder["id_card"]}, "personnel.chief_supervisor",
             "项目总监施工单位的人不属于本工程的监理单位")):
        resp = client.post("/api/v1/projects", json=project_payload(world, "BJ-36", personnel), headers=auth(token))
        assert resp.status_code == 400, resp.get_json()
        assert resp.get_json()["errors"] == [{"field": field, "message": message}]
    assert row_counts(*TABLES) == before


def test_projects_sharing_a_contract_number_count_once(api):
    client, world, token = api
    pm = _pm(client, world, token)
    for no in ("BJ-5", "BJ-6"):
        resp = client.post("/api/v1/projects", json=project_payload(world, no, {"project_manager": pm},
                                                                    contract_no="HT-1"), headers=auth(token))
        assert resp.status_code == 200, resp.get_json()
    assert check_invariants() == []


def test_a_new_holder_replaces_the_old_one_whose_lock_closes(api):
    client, world, token = api
    old, new = _pm(client, world, token, "旧经理"), _pm(client, world, token, "新经理")
    client.post("/api/v1/projects", json=project_payload(world, "BJ-7", {"project_manager": old}), headers=auth(token))
    body = client.post("/api/v1/projects", json=project_payload(world, "BJ-7", {"project_manager": new}),
                       headers=auth(token)).get_json()
    assert body["outcome"] == "updated" and body["people"][0]["outcome"] == "locked"
    assert client.get(f"/api/v1/people/{old}", headers=auth(token)).get_json()["status"] == "normal"
    assert check_invariants() == []


def test_a_completed_push_ends_the_assignments_and_their_locks(api):
    client, world, token = api
    pm = _pm(client, world, token)
    payload = project_payload(world, "BJ-8", {"project_manager": pm})
    client.post("/api/v1/projects", json=payload, headers=auth(token))
    body = client.post("/api/v1/projects", json={**payload, "status": "竣工"}, headers=auth(token)).get_json()
    assert body["outcome"] == "updated"
    assert client.get(f"/api/v1/people/{pm}", headers=auth(token)).get_json()["open_locks"] == []
    assert client.get("/api/v1/projects/BJ-8", headers=auth(token)).get_json()["status"] == "completed"
    assert check_invariants() == []


def test_bad_project_input_names_the_field_and_stores_no_half_project(api):
    client, world, token = api
    before = row_counts(*TABLES)
    from .world import id_card
    payload = project_payload(world, "BJ-9", {"project_manager": id_card(987654)})
    payload["contractor"] = {"credit_code": new_credit_code(), "name": "新施工单位"}   # would be created
    good = new_credit_code()
    payload["agency"] = {"credit_code": good[:-1] + ("0" if good[-1] != "0" else "1")}
    resp = client.post("/api/v1/projects", json=payload, headers=auth(token))
    assert resp.status_code == 400
    fields = {e["field"] for e in resp.get_json()["errors"]}
    assert "agency.credit_code" in fields
    payload["agency"] = {"credit_code": world.org("agency").credit_code}
    resp = client.post("/api/v1/projects", json=payload, headers=auth(token))   # the person is unknown
    assert resp.status_code == 400
    assert resp.get_json()["errors"][0]["field"] == "personnel.project_manager"
    assert row_counts(*TABLES) == before   # not even the new contractor


def test_an_idempotency_key_returns_the_first_response(api):
    client, world, token = api
    payload = person_payload(world, "李四")
    first = client.post("/api/v1/people", json=payload, headers=auth(token, **{"Idempotency-Key": "k-1"}))
    payload["name"] = "李肆"
    other = client.post("/api/v1/people", json=payload, headers=auth(token, **{"Idempotency-Key": "k-1"}))
    assert other.status_code == 422 and other.get_json()["errors"][0]["field"] == "Idempotency-Key"
    payload["name"] = "李四"
    again = client.post("/api/v1/people", json=payload, headers=auth(token, **{"Idempotency-Key": "k-1"}))
    assert first.get_json() == again.get_json() and again.get_json()["outcome"] == "created"


def test_keyset_pages_cover_every_project_once(api):
    client, world, token = api
    for i in range(5):
        client.post("/api/v1/projects", json=project_payload(world, f"BJ-P{i}"), headers=auth(token))
    seen, cursor = [], None
    while True:
        page = client.get("/api/v1/projects", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})},
                          headers=auth(token)).get_json()
        seen += [p["supervision_no"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"BJ-P{i}" for i in range(5)]


@pytest.mark.parametrize("path", ["/api/v1/projects", "/api/v1/people"])
def test_a_cursor_beyond_the_directorys_ids_is_a_400_naming_it(api, path):
    client, _world, token = api
    page = client.get(path, query_string={"cursor": 3_000_000_000}, headers=auth(token))
    assert page.status_code == 400 and page.mimetype == "application/problem+json"
    assert "cursor" in page.get_data(as_text=True)


def test_bulk_reports_bad_rows_and_keeps_the_good_ones(api):
    client, world, token = api
    rows = [person_payload(world, f"批量{i}") for i in range(5)]
    rows[1]["id_card"] = "bad"
    rows[3]["employer"] = {"credit_code": new_credit_code()}   # unknown employer, no name
    body = client.post("/api/v1/people/bulk", json={"rows": rows}, headers=auth(token)).get_json()
    assert (body["accepted"], body["refused"]) == (3, 2)
    assert [r["row"] for r in body["results"] if r["status"] != 200] == [1, 3]
    assert body["results"][1]["errors"][0]["field"] == "id_card"
    db.session.rollback()
    assert row_counts(Person)["person"] == 3, body


# -- the command line -------------------------------------------------------------------------------
def test_cli_token_create_prints_the_token_last_and_it_works(client_world, ctx):
    client, _ = client_world
    runner = ctx.test_cli_runner()
    out = runner.invoke(args=["api", "token", "create", "--client", "工改系统", "--scopes", "projects:read"])
    assert out.exit_code == 0, out.output
    token = out.output.split()[-1]
    assert client.get("/api/v1/projects", headers=auth(token)).status_code == 200
    mine = runner.invoke(args=["api", "token", "create", "--user", "auth_reviewer"])
    assert mine.exit_code == 0 and mine.output.split()[-1].startswith("ynqs_")
    listing = runner.invoke(args=["api", "token", "list"]).output
    assert "工改系统" in listing and token not in listing
    prefix = token.split("_")[1]
    assert runner.invoke(args=["api", "token", "revoke", prefix]).exit_code == 0
    assert client.get("/api/v1/projects", headers=auth(token)).status_code == 401
    bad = runner.invoke(args=["api", "token", "create", "--client", "x", "--scopes", "everything"])
    assert bad.exit_code != 0 and "未知的权限范围" in bad.output


def test_intake_import_of_a_file_with_three_bad_rows_among_a_thousand(ctx, world, tmp_path):
    from .world import credit_code
    path = tmp_path / "projects.csv"
    orgs = {k: world.org(k) for k in ("owner", "contractor", "firm", "authority", "agency")}
    header = ["supervision_no", "name", "contract_no", "status"] + [
        f"{name}_{col}" for name in ("construction_unit", "contractor", "supervising_firm", "authority", "agency")
        for col in ("credit_code", "name")]
    keys = {"construction_unit": "owner", "contractor": "contractor", "supervising_firm": "firm",
            "authority": "authority", "agency": "agency"}
    bad_rows = {100: ("name", ""), 500: ("status", "停工"), 900: ("agency_credit_code", credit_code(1)[:-1] + "X")}
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        for i in range(1003):
            row = {"supervision_no": f"BJ-F{i:05d}", "name": f"导入工程{i}", "contract_no": "", "status": "在建"}
            for name, key in keys.items():
                row[f"{name}_credit_code"], row[f"{name}_name"] = orgs[key].credit_code, orgs[key].name
            if i in bad_rows:
                column, value = bad_rows[i]
                row[column] = value
            out.writerow([row[h] for h in header])
    result = ctx.test_cli_runner().invoke(args=["intake", "import", str(path)])
    assert result.exit_code == 1
    assert "1000 rows imported, 3 refused" in result.output
    assert "row 102: name: 请填写工程名称" in result.output
    assert "row 502: status:" in result.output and "row 902: agency.credit_code:" in result.output
    assert row_counts(Project)["project"] == 1000


# -- the admin page -----------------------------------------------------------------------------------
def test_the_admin_page_creates_shows_once_rotates_and_revokes_tokens(client_world):
    from .web_helpers import login, post
    client, _ = client_world
    login(client, "admin")
    page = client.get("/admin/api-tokens/")
    assert page.status_code == 200 and "接口令牌" in page.get_data(as_text=True)
    resp = post(client, "/admin/api-tokens/client", {"client": "工改系统", "scopes": ["projects:write"], "days": "30"},
                form_url="/admin/api-tokens/")
    html = resp.get_data(as_text=True)
    token = html.split('<code class="token">')[1].split("<")[0]
    assert client.get("/api/v1/projects", headers=auth(token)).status_code == 403   # write only
    assert token not in client.get("/admin/api-tokens/").get_data(as_text=True)
    bad = post(client, "/admin/api-tokens/client", {"client": "", "scopes": []}, form_url="/admin/api-tokens/")
    assert bad.status_code == 400 and "请填写客户端名称" in bad.get_data(as_text=True)
    db.session.rollback()
    row = api_tokens.find(token.split("_")[1])
    rotated = post(client, f"/admin/api-tokens/{row.id}/rotate", form_url="/admin/api-tokens/")
    new_token = rotated.get_data(as_text=True).split('<code class="token">')[1].split("<")[0]
    assert client.post("/api/v1/projects", json={}, headers=auth(token)).status_code == 401
    db.session.rollback()
    post(client, f"/admin/api-tokens/{api_tokens.find(new_token.split('_')[1]).id}/revoke",
         form_url="/admin/api-tokens/")
    assert client.post("/api/v1/projects", json={}, headers=auth(new_token)).status_code == 401
    personal = post(client, "/admin/api-tokens/personal", {"personal-username": "auth_reviewer"},
                    form_url="/admin/api-tokens/")
    assert '<code class="token">ynqs_' in personal.get_data(as_text=True)


def test_only_administrators_reach_the_token_page(client_world):
    from .web_helpers import login
    client, _ = client_world
    login(client, "contractor_user")
    assert client.get("/admin/api-tokens/").status_code == 403


# -- natural keys and text ----------------------------------------------------------------------------
def test_a_lower_case_credit_code_names_the_organisation_already_kept(api):
    client, world, token = api
    for name, code in (("张三", "91350100M000100Y43"), ("李四", "91350100m000100y43")):
        payload = person_payload(world, name)
        payload["employer"] = {"credit_code": code, "name": "云南省第三建设有限公司", "kind": "contractor"}
        _push_person(client, token, payload)
    db.session.rollback()   # read what the requests committed
    assert db.session.scalars(select(Organization.credit_code).where(Organization.name == "云南省第三建设有限公司")
                              ).all() == ["91350100M000100Y43"]
    assert len(set(db.session.scalars(select(Person.enterprise_id)))) == 1


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def test_supervision_numbers_differing_in_case_width_or_invisible_characters_are_one_project(api):
    client, world, token = api
    spellings = ("BJ-2026-001", "bj-2026-001", _fullwidth("BJ-2026-001"), "BJ-2026\u200b-001", "\ufeffBJ-2026-001 ")
    outcomes = [client.post("/api/v1/projects", json=project_payload(world, no, name="一号楼"), headers=auth(token))
                .get_json()["outcome"] for no in spellings]
    assert outcomes == ["created"] + ["unchanged"] * 4
    db.session.rollback()
    assert db.session.scalars(select(Project.supervision_no)).all() == ["BJ-2026-001"]
    for no in spellings[1:3]:
        assert client.get(f"/api/v1/projects/{no}", headers=auth(token)).get_json()["supervision_no"] == "BJ-2026-001"


def test_id_card_and_certificate_numbers_are_kept_in_one_spelling(api):
    client, world, token = api
    payload = person_payload(world, "李四")
    id_card = payload["id_card"]
    payload["id_card"] = _fullwidth(id_card.lower()) + "\u200b"
    payload["certificates"] = [{"kind": "注册建造师", "number": " ｚ0001\u00ad"}]
    _push_person(client, token, payload)
    person = client.get(f"/api/v1/people/{id_card.lower()}", headers=auth(token)).get_json()
    assert person["id_card"] == id_card and person["certificates"] == [{"kind": "constructor", "number": "Z0001"}]


def test_a_push_cannot_create_a_regulator(api):
    client, world, token = api
    before = row_counts(*TABLES)
    for field in ("authority", "agency"):
        payload = project_payload(world, "BJ-REG")
        payload[field] = {"credit_code": new_credit_code(), "name": "不存在的监管部门"}
        resp = client.post("/api/v1/projects", json=payload, headers=auth(token))
        assert resp.status_code == 400
        [error] = resp.get_json()["errors"]
        assert error["field"] == f"{field}.credit_code" and "须先由平台登记" in error["message"]
    assert row_counts(*TABLES) == before


def test_line_breaks_in_intake_text_become_a_space_and_control_characters_are_refused(api):
    client, world, token = api
    payload = person_payload(world, "王\r\n五")
    _push_person(client, token, payload)
    db.session.rollback()
    assert db.session.scalar(select(Person.name)) == "王 五"
    project = project_payload(world, "BJ-CR", name="一号\r\nBcc: x@evil.example 楼", address="昆明\t呈贡")
    assert client.post("/api/v1/projects", json=project, headers=auth(token)).status_code == 200
    db.session.rollback()
    assert db.session.execute(select(Project.name, Project.address)).one() == (
        "一号 Bcc: x@evil.example 楼", "昆明 呈贡")
    before = row_counts(*TABLES)
    for bad in ("赵\x07六", "赵\x1b[31m六", "赵\x7f六"):
        resp = client.post("/api/v1/people", json={**person_payload(world, bad)}, headers=auth(token))
        assert resp.status_code == 400 and resp.get_json()["errors"][0]["field"] == "name", resp.get_json()
    assert row_counts(*TABLES) == before
