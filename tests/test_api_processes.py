"""Process endpoints with personal tokens: the applicant's and the reviewer's sides through the same
services and the same Principal as the pages (issue 11, part 4)."""
import io
from datetime import timedelta

import pytest
from sqlalchemy import event, select, update

from engine.db import db
from handlers.models import NORMAL, ApiCall, ApiToken, Person, UnlockApplication

from .api_helpers import auth, machine_token, personal_token
from .web_helpers import client_world  # noqa: F401 (fixture)
from .world import PDF_BYTES, locked_person, reported_unlock


@pytest.fixture()
def api(client_world):
    client, world = client_world
    return client, world, {k: personal_token(k) for k in (
        "contractor_user", "contractor2_user", "agency_reviewer", "auth_reviewer", "agency2_reviewer", "owner_user")}


def _ok(resp, status=200):
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def test_an_applicant_files_an_unlock_and_a_reviewer_approves_it(api):
    client, world, tokens = api
    pm, _ = locked_person(world, "张三")
    me = auth(tokens["contractor_user"])
    [choice] = _ok(client.get("/api/v1/applications/unlock/choices", headers=me))["items"]
    app = _ok(client.post("/api/v1/applications/unlock", json={"target_id": choice["id"]}, headers=me), 201)
    assert app["status"] == "draft" and app["fields"]["person_id"] == pm.id
    base = f"/api/v1/applications/unlock/{app['id']}"
    refused = client.post(f"{base}/report", headers=me)
    assert refused.status_code == 400 and refused.mimetype == "application/problem+json"
    _ok(client.post(f"{base}/attachments?kind=unlock_form", headers=me,
                    data={"file": (io.BytesIO(PDF_BYTES), "解锁申请表.pdf"), "reason": "停工"}, content_type="multipart/form-data"))
    _ok(client.patch(base, json={"reason": "项目已停工"}, headers=me))
    reported = _ok(client.post(f"{base}/report", headers=me))
    assert reported["status"] == "reported" and reported["open_task_id"]
    assert [e["action"] for e in _ok(client.get(f"{base}/log", headers=me))["items"]][-1] == "上报"
    svg = client.get(f"{base}/diagram", headers=me)
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data

    reviewer = auth(tokens["agency_reviewer"])
    inbox = _ok(client.get("/api/v1/inbox", headers=reviewer))
    assert inbox["counts"]["open"] == 1 and inbox["items"][0]["id"] == reported["open_task_id"]
    task_id = inbox["items"][0]["id"]
    claimed = _ok(client.post(f"/api/v1/tasks/{task_id}/claim", headers=reviewer))
    assert claimed["task"]["claimed_by_name"] == "赵监督"
    other = client.post(f"/api/v1/tasks/{task_id}/claim", headers=auth(tokens["auth_reviewer"]))
    assert other.status_code == 409 and "赵监督" in other.get_json()["detail"]
    done = _ok(client.post(f"/api/v1/tasks/{task_id}/approve", json={"opinion": "同意"}, headers=reviewer))
    assert done["status"] == "approved"
    db.session.rollback()
    assert db.session.get(Person, pm.id).status == NORMAL
    assert _ok(client.get("/api/v1/inbox", query_string={"view": "done"}, headers=reviewer))["items"][0]["id"] == task_id


def test_a_call_that_writes_commits_once_with_its_audit_row_and_a_refused_one_keeps_its_row(api):
    """A write call's audit row is written in its command's transaction (one commit of the call's
    session); a call whose work is rolled back still leaves its row, written after it."""
    client, world, tokens = api
    locked_person(world, "王五")
    me = auth(tokens["contractor_user"])
    [choice] = _ok(client.get("/api/v1/applications/unlock/choices", headers=me))["items"]
    commits = []
    listener = lambda _conn: commits.append(1)  # noqa: E731
    event.listen(db.engine, "commit", listener)
    try:
        app = _ok(client.post("/api/v1/applications/unlock", json={"target_id": choice["id"]}, headers=me), 201)
        # the rate counter's hit (a transaction of its own), then the draft, its instance and the
        # call's audit row together
        assert len(commits) == 2
        base = f"/api/v1/applications/unlock/{app['id']}"
        refused = client.post(f"{base}/report", headers=me)   # no form uploaded: refused inside the command
        assert refused.status_code == 400
    finally:
        event.remove(db.engine, "commit", listener)
    db.session.rollback()
    calls = db.session.scalars(select(ApiCall).order_by(ApiCall.id)).all()
    assert [(c.method, c.path, c.status) for c in calls] == [
        ("GET", "/api/v1/applications/unlock/choices", 200), ("POST", "/api/v1/applications/unlock", 201),
        ("POST", f"{base}/report", 400)]
    assert db.session.get(UnlockApplication, app["id"]).status == "draft"   # the refused report kept nothing
    token = db.session.scalar(select(ApiToken).where(ApiToken.id == calls[-1].token_id))
    assert token.last_used_at == calls[0].at   # kept to the minute: the first call of the minute wrote it


def test_a_tokens_last_use_is_kept_to_the_minute(api):
    """Every call leaves its row in api_call; the token's last use is written by the first call, then
    again by the first call after a minute has passed since the stored one."""
    client, world, tokens = api
    me = auth(tokens["contractor_user"])

    def last_use():
        return db.session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == calls()[-1].token_id))

    def calls():
        db.session.rollback()   # a fresh snapshot (SQLite keeps the read transaction's)
        return db.session.scalars(select(ApiCall).order_by(ApiCall.id)).all()
    for _ in range(3):
        _ok(client.get("/api/v1/applications/unlock/choices", headers=me))
    first = calls()[0]
    assert len(calls()) == 3 and last_use() == first.at
    db.session.execute(update(ApiToken).where(ApiToken.id == first.token_id)
                       .values(last_used_at=first.at - timedelta(seconds=61)))
    db.session.commit()
    _ok(client.get("/api/v1/applications/unlock/choices", headers=me))
    assert last_use() == calls()[-1].at
    _ok(client.get("/api/v1/applications/unlock/choices", headers=me))
    assert len(calls()) == 5 and last_use() == calls()[-2].at


def test_a_return_needs_an_opinion_and_the_applicant_may_withdraw(api, services):
    client, world, tokens = api
    pm, _ = locked_person(world, "李四")
    app = reported_unlock(world, services, pm)
    reviewer = auth(tokens["auth_reviewer"])
    task_id = _ok(client.get("/api/v1/inbox", headers=reviewer))["items"][0]["id"]
    _ok(client.post(f"/api/v1/tasks/{task_id}/claim", headers=reviewer))
    _ok(client.post(f"/api/v1/tasks/{task_id}/release", headers=reviewer))
    _ok(client.post(f"/api/v1/tasks/{task_id}/claim", headers=reviewer))
    bare = client.post(f"/api/v1/tasks/{task_id}/return", json={}, headers=reviewer)
    assert bare.status_code == 400 and bare.get_json()["errors"][0]["field"] == "opinion"
    back = _ok(client.post(f"/api/v1/tasks/{task_id}/return", json={"opinion": "附件不清晰"}, headers=reviewer))
    assert back["status"] == "returned"
    me = auth(tokens["contractor_user"])
    assert _ok(client.post(f"/api/v1/applications/unlock/{app.id}/withdraw", headers=me))["status"] == "withdrawn"


def test_the_pages_rules_apply_to_tokens(api, services):
    """Same Principal, same services: strangers get 404, wrong kinds 403, machine clients 403."""
    client, world, tokens = api
    pm, _ = locked_person(world, "王五")
    app = reported_unlock(world, services, pm)
    task_id = services.reviews.inbox(world.who("agency_reviewer")).rows[0].id
    assert client.get(f"/api/v1/applications/unlock/{app.id}", headers=auth(tokens["contractor2_user"])).status_code == 404
    assert client.get(f"/api/v1/tasks/{task_id}", headers=auth(tokens["agency2_reviewer"])).status_code == 404
    assert client.post(f"/api/v1/tasks/{task_id}/claim", headers=auth(tokens["agency2_reviewer"])).status_code == 404
    assert client.get("/api/v1/applications/completion", headers=auth(tokens["contractor_user"])).status_code == 403
    assert client.get("/api/v1/inbox", headers=auth(tokens["contractor_user"])).status_code == 403
    assert client.get(f"/api/v1/applications/unlock/{app.id}", headers=auth(tokens["agency_reviewer"])).status_code == 200
    assert client.get("/api/v1/inbox", headers=auth(machine_token())).status_code == 403


def test_a_disabled_account_stops_its_personal_token(api):
    from handlers import accounts
    client, world, tokens = api
    me = auth(tokens["contractor_user"])
    assert client.get("/api/v1/applications/unlock", headers=me).status_code == 200
    accounts.set_account_disabled(world.who("admin"), world.who("contractor_user").account_id, True)
    assert client.get("/api/v1/applications/unlock", headers=me).status_code == 401


def test_the_inbox_pages_with_keyset_cursors_and_filters(api, services):
    client, world, tokens = api
    for name in ("甲", "乙", "丙"):
        pm, _ = locked_person(world, name, project_name=f"{name}工程")
        reported_unlock(world, services, pm)
    reviewer = auth(tokens["agency_reviewer"])
    seen, cursor = [], None
    while True:
        page = _ok(client.get("/api/v1/inbox", query_string={"limit": 1, **({"cursor": cursor} if cursor else {})},
                              headers=reviewer))
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 3
    only = _ok(client.get("/api/v1/inbox", query_string={"scope": "乙工程"}, headers=reviewer))
    assert [t["scope"] for t in only["items"]] == ["乙工程"]
    bad = client.get("/api/v1/inbox", query_string={"view": "all"}, headers=reviewer)
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["field"] == "query.view"


def test_every_catalog_entry_is_served(api):
    """The endpoints are generic over the catalog: each entry's filers list and pick through the API."""
    from handlers import catalog
    client, world, tokens = api
    filer_user = {"contractor": "contractor_user", "construction_unit": "owner_user"}
    for entry in catalog.entries():
        if not entry.filers:   # filed elsewhere: 注册审核 comes from the registration pages
            assert client.get(f"/api/v1/applications/{entry.kind}",
                              headers=auth(tokens["owner_user"])).status_code == 403
            continue
        user = next(filer_user[k] for k in entry.filers if k in filer_user)
        me = auth(tokens[user])
        assert _ok(client.get(f"/api/v1/applications/{entry.kind}", headers=me))["total"] == 0
        assert "items" in _ok(client.get(f"/api/v1/applications/{entry.kind}/choices", headers=me))
    assert client.get("/api/v1/applications/nosuch", headers=auth(tokens["owner_user"])).status_code == 404


def test_a_writing_calls_answer_is_what_a_fresh_read_of_it_gives(api, services):
    """A call that writes builds its answer partly from what its command returned (create: the tasks
    the start opened; claim, release: the task its gate wrote; approve: the case ended, no open task): each
    answer is byte for byte what a GET of the same resource reads afterwards."""
    client, world, tokens = api
    me, reviewer = auth(tokens["contractor_user"]), auth(tokens["agency_reviewer"])

    def same(resp, url, headers, status=200):
        assert resp.status_code == status, resp.get_json()
        fresh = client.get(url, headers=headers)
        assert fresh.status_code == 200
        assert resp.get_data() == fresh.get_data()
        return resp.get_json()

    def filed(name):
        locked_person(world, name)
        target = next(c["id"] for c in _ok(client.get("/api/v1/applications/unlock/choices", headers=me))["items"]
                      if c["reason"] is None and name in c["name"])
        created = client.post("/api/v1/applications/unlock", json={"target_id": target}, headers=me)
        url = f"/api/v1/applications/unlock/{created.get_json()['id']}"
        app = same(created, url, me, 201)
        assert app["open_task_id"] and app["status"] == "draft"
        same(client.post(f"{url}/attachments?kind=unlock_form", headers=me, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(PDF_BYTES), "解锁申请表.pdf"), "reason": "项目已停工"}), url, me)
        reported = same(client.post(f"{url}/report", headers=me), url, me)
        assert reported["status"] == "reported"
        task_id = reported["open_task_id"]
        claimed = same(client.post(f"/api/v1/tasks/{task_id}/claim", headers=reviewer), f"/api/v1/tasks/{task_id}",
                       reviewer)
        assert claimed["task"]["claimed_by_name"] and claimed["application"]["open_task_id"] == task_id
        # claiming again (the holder): the task as the engine read it; released and claimed again
        same(client.post(f"/api/v1/tasks/{task_id}/claim", headers=reviewer), f"/api/v1/tasks/{task_id}", reviewer)
        released = same(client.post(f"/api/v1/tasks/{task_id}/release", headers=reviewer),
                        f"/api/v1/tasks/{task_id}", reviewer)
        assert released["task"]["claimed_by_name"] is None
        same(client.post(f"/api/v1/tasks/{task_id}/claim", headers=reviewer), f"/api/v1/tasks/{task_id}", reviewer)
        return url, task_id

    url, task_id = filed("王五")
    done = same(client.post(f"/api/v1/tasks/{task_id}/approve", json={"opinion": "同意"}, headers=reviewer),
                url, reviewer)
    assert done["status"] == "approved" and done["open_task_id"] is None

    url, task_id = filed("赵六")
    back = same(client.post(f"/api/v1/tasks/{task_id}/return", json={"opinion": "附件不清晰"}, headers=reviewer),
                url, reviewer)
    assert back["status"] == "returned" and back["open_task_id"] not in (None, task_id)
    withdrawn = same(client.post(f"{url}/withdraw", headers=me), url, me)
    assert withdrawn["status"] == "withdrawn" and withdrawn["open_task_id"] is None

    # a draft discarded: the instance ends through its edit step
    locked_person(world, "周八")
    target = next(c["id"] for c in _ok(client.get("/api/v1/applications/unlock/choices", headers=me))["items"]
                  if c["reason"] is None and "周八" in c["name"])
    draft = _ok(client.post("/api/v1/applications/unlock", json={"target_id": target}, headers=me), 201)
    durl = f"/api/v1/applications/unlock/{draft['id']}"
    discarded = same(client.post(f"{durl}/discard", headers=me), durl, me)
    assert discarded["status"] == "discarded" and discarded["open_task_id"] is None


def test_a_save_that_picks_another_person_answers_as_a_fresh_read_of_it(api):
    """The objects a save changed are answered from the session, not read again (engine.db.call_unit):
    the replacement named in the answer is the one just saved, also when a save replaces an earlier one."""
    from handlers.models import CONSTRUCTOR, SAFETY_B
    client, world, tokens = api
    locked_person(world, "张三")
    first = world.add_person("王五", "contractor", CONSTRUCTOR, SAFETY_B)
    second = world.add_person("赵六", "contractor", CONSTRUCTOR, SAFETY_B)
    me = auth(tokens["contractor_user"])
    [choice] = _ok(client.get("/api/v1/applications/change/choices", headers=me))["items"]
    created = _ok(client.post("/api/v1/applications/change", json={"target_id": choice["id"]}, headers=me), 201)
    url = f"/api/v1/applications/change/{created['id']}"
    for person in (first, second):
        saved = client.patch(url, json={"new_person_id": person.id, "reason": "调岗"}, headers=me)
        assert saved.status_code == 200, saved.get_json()
        assert saved.get_data() == client.get(url, headers=me).get_data()
        assert saved.get_json()["subject"].endswith(f"张三 → {person.name}")
    reported = client.post(f"{url}/report", headers=me)
    assert reported.status_code == 200 and reported.get_data() == client.get(url, headers=me).get_data()
