"""Every route is guarded on the server: anonymous users are sent to the login page, and each
role reaches only its own pages (others get 403). Object-level checks (someone else's ids) are
in the per-area web tests."""
import pytest

from .web_helpers import FreshClient, client_world, csrf_token, login  # noqa: F401 (fixture)

PUBLIC = {"static", "healthz", "favicon", "main.help", "main.home", "auth.login", "auth.logout", "auth.register", "public.lookup",
          "public.verify", "public.verify_link", "public.verify_upload",   # 证明核验 (tests/test_certificates.py)
          "auth.register_details", "auth.register_done", "auth.register_guide", "auth.forgot_password",
          "auth.reset_password", "qr.new", "qr.poll", "mobile.login",
          # the phone's pages send a phone that is not signed in to their own login page (tests/test_qr_login.py)
          "mobile.scan", "mobile.confirm", "mobile.cancel",
          # the operators' endpoints are for probes and Prometheus, not users: /healthz and /readyz
          # say only ok/ready or why not; /metrics is 404 unless METRICS_TOKEN or METRICS_ALLOWED_IPS
          # allows the scraper (tests/test_operability.py)
          "readyz", "metrics"}
SAMPLE_ARGS = {"kind": "unlock", "app_id": 1, "round_": 1, "att_id": 1, "task_id": 1, "account_id": 1, "instance_id": 1,
               "definition_id": 1, "person_id": 1, "job_id": 1, "notification_id": 1, "phrase_id": 1, "token_id": 1,
               "subscription_id": 1, "delivery_id": 1, "supervision_no": "BJ1", "id_card": "1",
               "project_id": 1, "process_key": "personnel_unlock", "version": 1, "plan_id": 1, "fmt": "csv",
               "serial": "ZM-2026-000001"}
API_PUBLIC = {"api-docs.openapi_json", "api_docs.docs"}   # the API's document and its page

USERS = {"contractor_user": "contractor", "firm_user": "firm", "owner_user": "owner",
         "agency_reviewer": "agency", "auth_reviewer": "authority", "admin": "admin"}
# page -> the roles that may open it
PAGES = {
    "/apply/unlock/": {"contractor", "firm"},
    "/apply/change/": {"contractor", "firm"},
    "/apply/completion/": {"owner"},
    "/apply/unlock/new": {"contractor", "firm"},
    "/apply/completion/new": {"owner"},
    "/apply/info/": {"owner"},
    "/apply/roster/": {"owner"},
    "/apply/unit/": {"owner"},
    "/enterprise/info": {"contractor", "firm", "owner"},
    "/enterprise/people": {"contractor", "firm"},
    "/enterprise/projects": {"owner"},
    "/review/": {"agency", "authority", "admin"},   # admins review registrations there
    "/admin/registrations": {"admin"},
    "/admin/definitions": {"admin"},
    "/admin/certificates": {"admin"},
    "/messages/": {"contractor", "firm", "owner", "agency", "authority", "admin"},
    "/messages/settings": {"contractor", "firm", "owner", "agency", "authority", "admin"},
}


def _guarded_rules(app, api=False):
    """The pages' rules, or (api=True) the API's: bearer tokens, no login page."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC or rule.endpoint in API_PUBLIC or rule.rule.startswith("/api/") != api:
            continue
        args = {name: SAMPLE_ARGS[name] for name in rule.arguments}
        yield rule, rule.build(args)[1]


def test_every_route_sends_anonymous_users_to_login(client_world, ctx):
    client, _ = client_world
    token = csrf_token(client, "/auth/login")
    checked = 0
    for rule, url in _guarded_rules(ctx):
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            resp = client.open(url, method=method, data={"csrf_token": token})
            assert resp.status_code == 302, (method, url, resp.status_code)
            assert "/auth/login" in resp.headers["Location"], (method, url)
            checked += 1
    assert checked >= 30   # the sweep really walked the application's routes


def test_every_api_route_answers_anonymous_callers_with_401(client_world, ctx):
    """The API never reads the session: a logged-in browser without a token is anonymous there too."""
    client, _ = client_world
    login(client, "admin")
    from webui.api.security import limiter
    checked = 0
    for rule, url in _guarded_rules(ctx, api=True):
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            limiter.reset()   # more routes than the failed-authentication limit allows a minute (30)
            resp = client.open(url, method=method, json={})
            assert resp.status_code == 401, (method, url, resp.status_code)
            assert resp.mimetype == "application/problem+json"
            checked += 1
    assert checked >= 25


@pytest.mark.parametrize("username", sorted(USERS))
def test_each_role_reaches_only_its_pages(client_world, ctx, username):
    client, _ = client_world
    login(client, username)
    role = USERS[username]
    for url, allowed in PAGES.items():
        status = client.get(url).status_code
        if role in allowed:
            assert status == 200, (username, url, status)
        else:
            assert status == 403, (username, url, status)
