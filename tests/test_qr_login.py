"""扫码登录 over HTTP: the computer (a client that shows the code and polls) and the phone (another
client, signed in with its password). Each refusal of a code, the binding to the browser that
showed it, CSRF on the phone's confirmation, and login methods as configuration."""
import re
from datetime import timedelta

import pytest
import time_machine
from werkzeug.security import generate_password_hash

from engine.db import db
from engine.models import utcnow
from handlers import login_codes
from handlers.models import ACTIVE, Account, LoginCode, User
from webui import login_methods

from .web_helpers import FreshClient, client_world, csrf_token, login, new_client, token_from  # noqa: F401

NEW, POLL = "/auth/qr/new", "/auth/qr/poll"


def show_code(computer) -> dict:
    """The login page's script: ask for a code (with the page's CSRF token)."""
    token = csrf_token(computer, "/auth/login")
    resp = computer.post(NEW, json={}, headers={"X-CSRFToken": token})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    data = resp.get_json()
    data["token"] = token
    return data


def poll(computer, shown, code=None):
    return computer.post(POLL, json={"code": code or shown["code"]}, headers={"X-CSRFToken": shown["token"]})


def phone_path(shown) -> str:
    return "/m/scan/" + shown["code"]


def phone_confirm(phone, shown, account_id=None):
    page = phone.get(phone_path(shown))
    html = page.get_data(as_text=True)
    if account_id is None:
        account_id = int(re.search(r'name="account_id" value="(\d+)"', html).group(1))
    return phone.post(phone_path(shown) + "/confirm", data={"account_id": str(account_id), "csrf_token": token_from(html)})


@pytest.fixture(autouse=True)
def _fresh_rate_limits(app):
    """Every test here asks for codes from the same address: each starts with fresh counters."""
    _reset_limits(app)
    yield
    _reset_limits(app)


def _reset_limits(app):
    from webui import limiter
    with app.app_context():
        limiter.reset()


@pytest.fixture()
def computer_and_phone(client_world, ctx):
    computer, world = client_world
    phone = ctx.test_client()
    login(phone, "contractor_user")
    return computer, phone, world


def test_the_login_page_offers_both_methods_and_the_code_is_an_svg_with_the_phone_link(computer_and_phone):
    computer, _phone, _world = computer_and_phone
    html = computer.get("/auth/login").get_data(as_text=True)
    assert "密码登录" in html and "扫码登录" in html and "qr_login.js" in html
    shown = show_code(computer)
    assert shown["state"] == "waiting" and shown["expires_in"] == 120
    assert shown["svg"].startswith("<svg") and "<script" not in shown["svg"]
    assert shown["url"].endswith(phone_path(shown))
    cookie = computer.get_cookie("qr_login", path="/auth/qr")   # the secret is in this browser, not the URL
    assert cookie.http_only and cookie.value.startswith(shown["code"] + ".")
    secret = cookie.value.partition(".")[2]
    assert secret not in shown["url"] and secret not in shown["svg"]
    row = db.session.query(LoginCode).filter_by(code=shown["code"]).one()
    assert row.secret_hash != secret and len(row.secret_hash) == 64   # only its hash is stored
    assert poll(computer, shown).get_json()["state"] == "waiting"


def test_confirmed_on_the_phone_signs_the_computer_in_once(computer_and_phone, world):
    computer, phone, _ = computer_and_phone
    shown = show_code(computer)
    page = phone.get(phone_path(shown)).get_data(as_text=True)
    assert "扫码登录确认" in page and "127.0.0.1" in page and "质量安全管理系统" in page
    assert "确认登录" in phone_confirm(phone, shown).get_data(as_text=True)
    resp = poll(computer, shown)
    assert resp.get_json()["state"] == "signed_in" and resp.get_json()["next"] == "/"
    home = computer.get("/", follow_redirects=True).get_data(as_text=True)
    assert "云南建投第一建设有限公司" in home and "吴施工" in home
    # 已使用: a second poll (the secret's cookie went with the login; the session has a new CSRF token)
    assert computer.get_cookie("qr_login", path="/auth/qr") is None
    shown["token"] = csrf_token(computer, "/help")
    assert poll(computer, shown).get_json()["state"] == "refused"
    again = phone.get(phone_path(shown))
    assert again.status_code == 410 and "二维码已使用" in again.get_data(as_text=True)


def test_a_second_use_is_refused_even_with_the_secret(computer_and_phone):
    """The same browser polling twice (two tabs, a replay) gets one login."""
    computer, phone, _ = computer_and_phone
    shown = show_code(computer)
    phone_confirm(phone, shown)
    row = db.session.query(LoginCode).filter_by(code=shown["code"]).one()
    secret = computer.get_cookie("qr_login", path="/auth/qr").value.partition(".")[2]
    state, first = login_codes.poll(shown["code"], secret)
    assert first is not None
    state, second = login_codes.poll(shown["code"], secret)
    assert (state, second) == ("used", None)
    db.session.refresh(row)
    assert row.status == "used" and row.used_at is not None


def test_another_browser_presenting_the_code_is_refused(computer_and_phone, ctx):
    computer, phone, _ = computer_and_phone
    shown = show_code(computer)
    phone_confirm(phone, shown)
    thief = ctx.test_client()
    token = csrf_token(thief, "/auth/login")
    resp = thief.post(POLL, json={"code": shown["code"]}, headers={"X-CSRFToken": token})
    assert resp.status_code == 403 and "不是由本浏览器生成" in resp.get_json()["message"]
    assert thief.get("/").status_code == 302   # still anonymous
    # the thief's own code does not lend its secret to another code
    show_code(thief)
    resp = thief.post(POLL, json={"code": shown["code"]}, headers={"X-CSRFToken": token})
    assert resp.status_code == 403
    assert poll(computer, shown).get_json()["state"] == "signed_in"   # the real browser still can


def test_an_expired_code_is_refused_on_both_sides(computer_and_phone):
    computer, phone, _ = computer_and_phone
    shown = show_code(computer)
    with time_machine.travel(utcnow() + timedelta(seconds=121), tick=False):
        resp = phone.get(phone_path(shown))
        assert resp.status_code == 410 and "二维码已过期" in resp.get_data(as_text=True)
        data = poll(computer, shown).get_json()
        assert data["state"] == "expired" and "已过期" in data["message"]


def test_a_code_confirmed_but_not_used_within_its_lifetime_signs_nobody_in(computer_and_phone):
    computer, phone, _ = computer_and_phone
    shown = show_code(computer)
    phone_confirm(phone, shown)
    with time_machine.travel(utcnow() + timedelta(seconds=121), tick=False):
        assert poll(computer, shown).get_json()["state"] == "expired"
    assert computer.get("/").status_code == 302


def test_cancelled_on_the_phone(computer_and_phone):
    computer, phone, _ = computer_and_phone
    shown = show_code(computer)
    html = phone.get(phone_path(shown)).get_data(as_text=True)
    resp = phone.post(phone_path(shown) + "/cancel", data={"csrf_token": token_from(html)})
    assert "已取消本次扫码登录" in resp.get_data(as_text=True)
    data = poll(computer, shown).get_json()
    assert data["state"] == "cancelled" and "已取消" in data["message"]
    resp = phone_confirm(phone, shown, account_id=1)
    assert "已取消" in resp.get_data(as_text=True)
    assert computer.get("/").status_code == 302


def test_the_phone_s_confirmation_needs_its_csrf_token(computer_and_phone):
    computer, phone, _ = computer_and_phone
    shown = show_code(computer)
    account = db.session.scalar(db.select(Account).join(User).where(User.username == "contractor_user"))
    resp = phone.post(phone_path(shown) + "/confirm", data={"account_id": str(account.id)})
    assert resp.status_code in (302, 400)
    assert db.session.query(LoginCode).filter_by(code=shown["code"]).one().status == "waiting"
    resp = phone.post(phone_path(shown) + "/cancel", data={})
    assert db.session.query(LoginCode).filter_by(code=shown["code"]).one().status == "waiting"
    assert poll(computer, shown).get_json()["state"] == "waiting"


def test_a_person_with_two_accounts_chooses_on_the_phone(client_world, ctx):
    computer, world = client_world
    user = User(username="two_roles", password_hash=generate_password_hash("demo1234"), name="两角色")
    db.session.add(user)
    first = Account(user=user, org=world.org("contractor"), status=ACTIVE)
    second = Account(user=user, org=world.org("agency"), status=ACTIVE)
    db.session.add_all([first, second])
    db.session.commit()
    phone = ctx.test_client()
    login(phone, "two_roles", account_id=first.id)
    shown = show_code(computer)
    html = phone.get(phone_path(shown)).get_data(as_text=True)
    assert "请选择登录的角色账号" in html
    assert f'value="{first.id}"' in html and f'value="{second.id}"' in html
    # no choice: the same page says so, the code waits
    resp = phone.post(phone_path(shown) + "/confirm", data={"csrf_token": token_from(html)})
    assert resp.status_code == 400 and "请选择您本人已通过审核的账号" in resp.get_data(as_text=True)
    # someone else's account is refused like none
    other = world.who("firm_user").account_id
    resp = phone.post(phone_path(shown) + "/confirm", data={"account_id": str(other), "csrf_token": token_from(html)})
    assert resp.status_code == 400
    resp = phone.post(phone_path(shown) + "/confirm", data={"account_id": str(second.id), "csrf_token": token_from(html)})
    assert "昆明市建设工程质量安全监督站" in resp.get_data(as_text=True)
    assert poll(computer, shown).get_json()["state"] == "signed_in"
    home = computer.get("/", follow_redirects=True).get_data(as_text=True)
    assert "昆明市建设工程质量安全监督站" in home and "待签收" in home   # acting as the chosen account, no picker


def test_a_phone_that_is_not_signed_in_logs_in_on_its_own_page_first(client_world, ctx):
    computer, _world = client_world
    shown = show_code(computer)
    phone = ctx.test_client()
    resp = phone.get(phone_path(shown))
    assert resp.status_code == 302 and "/m/login" in resp.headers["Location"]
    page = phone.get(resp.headers["Location"]).get_data(as_text=True)
    assert "登录后确认扫码" in page and "viewport" in page and "mobile.css" in page
    resp = phone.post("/m/login?next=" + phone_path(shown),
                      data={"username": "contractor_user", "password": "wrong-pass1", "csrf_token": token_from(page)})
    assert "用户名或密码错误" in resp.get_data(as_text=True)
    resp = phone.post("/m/login", data={"username": "contractor_user", "password": "demo1234",
                                        "next": phone_path(shown), "csrf_token": token_from(page)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(phone_path(shown))
    assert "扫码登录确认" in phone.get(phone_path(shown)).get_data(as_text=True)


def test_an_unknown_code_and_a_disabled_account(computer_and_phone, world):
    computer, phone, _ = computer_and_phone
    resp = phone.get("/m/scan/no-such-code")
    assert resp.status_code == 410 and "二维码无效" in resp.get_data(as_text=True)
    shown = show_code(computer)
    phone_confirm(phone, shown)
    account = db.session.get(Account, world.who("contractor_user").account_id)
    account.status = "disabled"
    db.session.commit()
    resp = poll(computer, shown)
    assert resp.status_code == 403 and "已停用" in resp.get_json()["message"]
    assert computer.get("/").status_code == 302


def test_new_codes_are_rate_limited_per_address(client_world, ctx):
    computer, _world = client_world
    ctx.config["QR_CODES_PER_MINUTE"] = 2
    try:
        show_code(computer)
        show_code(computer)
        token = csrf_token(computer, "/auth/login")
        resp = computer.post(NEW, json={}, headers={"X-CSRFToken": token})
        assert resp.status_code == 429 and "过于频繁" in resp.get_json()["message"]
    finally:
        ctx.config["QR_CODES_PER_MINUTE"] = 20


def test_login_methods_are_configuration():
    assert login_methods.parse("password, qr") == ["password", "qr"]
    assert login_methods.parse("qr") == ["qr"]
    with pytest.raises(ValueError, match="unknown"):
        login_methods.parse("password,sms")
    with pytest.raises(ValueError):
        login_methods.parse("")


def test_the_login_view_names_no_method():
    """A new method is an entry of login_methods.METHODS: the view only asks the registry."""
    import inspect

    from webui.blueprints import auth
    source = inspect.getsource(auth.login)
    assert '"password"' not in source and '"qr"' not in source and "accounts.authenticate" not in source


def test_a_password_only_site_shows_no_code(tmp_path):
    from webui import create_app
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'password-only.sqlite3'}",
                      "UPLOAD_DIR": str(tmp_path), "LOGIN_METHODS": "password"})
    with app.app_context():
        db.create_all()   # every request first reads the deployments' generation
    app.test_client_class = FreshClient
    html = app.test_client().get("/auth/login").get_data(as_text=True)
    assert "密码登录" in html and "扫码登录" not in html and "qr_login.js" not in html
    assert not any(rule.rule.startswith("/auth/qr") or rule.rule.startswith("/m/") for rule in app.url_map.iter_rules())


def test_a_posted_form_for_a_method_not_offered_is_refused(client_world):
    """The login page hands a posted form only to an offered method that takes one (not to qr)."""
    client, _world = client_world
    token = csrf_token(client, "/auth/login")
    for method in ("qr", "sms"):
        resp = client.post("/auth/login", data={"method": method, "username": "contractor_user",
                                                 "password": "demo1234", "csrf_token": token})
        assert resp.status_code == 200 and "不支持该登录方式" in resp.get_data(as_text=True), method
    resp = client.post("/auth/login", data={"method": "password", "username": "contractor_user",
                                             "password": "demo1234", "csrf_token": token})
    assert resp.status_code == 302
