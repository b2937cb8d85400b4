"""Sessions end when the user ends them: a copy of the session cookie taken before logout, a
password change or an account being disabled no longer logs anyone in."""
from sqlalchemy import select

from engine.db import db
from handlers.models import ACTIVE, DISABLED, PENDING, REJECTED, Account, User

from .web_helpers import client_world, csrf_token, login, logout, new_client, post  # noqa: F401 (fixture)
from .world import review_registration

PAGE = "/auth/password"   # a page behind the login, for any role


def _copy(app, client):
    """Another browser holding a copy of ``client``'s session cookie."""
    thief = new_client(app)
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def _logged_in(client) -> bool:
    resp = client.get(PAGE)
    assert resp.status_code in (200, 302)
    return resp.status_code == 200


def test_a_cookie_copied_before_logout_no_longer_works(client_world, ctx):
    client, _world = client_world
    login(client, "contractor_user")
    thief = _copy(ctx, client)
    assert _logged_in(thief)
    logout(client)
    assert not _logged_in(client)
    resp = thief.get(PAGE)
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]
    assert login(new_client(ctx), "contractor_user").status_code == 302   # logging in again works


def test_a_password_change_ends_every_other_session_and_keeps_this_one(client_world, ctx):
    client, _world = client_world
    login(client, "contractor_user")
    thief = _copy(ctx, client)
    other_device = new_client(ctx)
    login(other_device, "contractor_user")
    assert _logged_in(thief) and _logged_in(other_device)
    resp = post(client, "/auth/password", {"old_password": "demo1234", "new_password": "ynqs2026x",
                                           "confirm": "ynqs2026x"})
    assert resp.status_code == 302
    assert _logged_in(client)
    assert not _logged_in(thief)
    assert not _logged_in(other_device)


def test_disabling_an_account_ends_its_sessions(client_world, ctx):
    client, world = client_world
    login(client, "contractor_user")
    thief = _copy(ctx, client)
    admin = new_client(ctx)
    login(admin, "admin")
    account_id = world.who("contractor_user").account_id
    assert "contractor_user" in admin.get("/admin/accounts").get_data(as_text=True)
    resp = admin.post(f"/admin/accounts/{account_id}/disable",
                      data={"csrf_token": csrf_token(admin, "/admin/accounts")})
    assert resp.status_code == 302
    assert "其登录会话已全部结束" in admin.get("/admin/accounts").get_data(as_text=True)
    assert not _logged_in(client) and not _logged_in(thief)
    db.session.rollback()
    assert db.session.get(Account, account_id).status == DISABLED
    assert "账号已停用，请联系平台管理员" in login(new_client(ctx), "contractor_user").get_data(as_text=True)
    admin.post(f"/admin/accounts/{account_id}/enable", data={"csrf_token": csrf_token(admin, "/admin/accounts")})
    db.session.rollback()
    assert db.session.get(Account, account_id).status == ACTIVE
    assert login(new_client(ctx), "contractor_user").status_code == 302


def test_only_an_administrator_disables_and_not_their_own_account(client_world, ctx):
    client, world = client_world
    login(client, "contractor_user")
    assert client.get("/admin/accounts").status_code == 403
    target = world.who("contractor_user").account_id
    assert client.post(f"/admin/accounts/{target}/disable",
                       data={"csrf_token": csrf_token(client, "/help")}).status_code == 403
    admin = new_client(ctx)
    login(admin, "admin")
    own = world.who("admin").account_id
    admin.post(f"/admin/accounts/{own}/disable", data={"csrf_token": csrf_token(admin, "/admin/accounts")})
    assert "不能停用当前登录的账号" in admin.get("/admin/accounts").get_data(as_text=True)
    assert _logged_in(admin)
    assert admin.post("/admin/accounts/999999/disable",
                      data={"csrf_token": csrf_token(admin, "/admin/accounts")}).status_code == 404


def test_rejecting_a_login_s_only_role_ends_its_sessions_but_not_a_second_role(client_world, ctx):
    """A login whose last possible role is rejected keeps no session; rejecting an extra role
    applied for by someone already working leaves their session alone."""
    client, world = client_world
    login(client, "contractor_user")
    user = db.session.scalar(select(User).where(User.username == "contractor_user"))
    extra = Account(user=user, org=world.org("contractor2"), status=PENDING)
    db.session.add(extra)
    db.session.commit()
    services = ctx.extensions["services"]
    services.registration.submit(extra)
    review_registration(services, world.who("admin"), extra, "return", "非本单位人员")
    db.session.commit()
    assert db.session.get(Account, extra.id).status == REJECTED
    assert _logged_in(client)
    epoch = db.session.scalar(select(User.session_epoch).where(User.id == user.id))
    assert epoch == 0


def test_a_session_from_before_the_epoch_existed_is_logged_out(client_world, ctx):
    client, _world = client_world
    login(client, "contractor_user")
    with client.session_transaction() as s:
        s.pop("session_epoch")
    assert not _logged_in(client)


def test_rejecting_the_only_role_of_a_login_moves_its_epoch_on(world, ctx):
    from werkzeug.security import generate_password_hash

    user = User(username="only_pending", password_hash=generate_password_hash("ynqs2026x"), name="新用户")
    account = Account(user=user, org=world.org("contractor2"), status=PENDING)
    db.session.add_all([user, account])
    db.session.commit()
    services = ctx.extensions["services"]
    services.registration.submit(account)
    review_registration(services, world.who("admin"), account, "return", "资料不全")
    assert db.session.scalar(select(User.session_epoch).where(User.username == "only_pending")) == 1


def test_a_password_change_revokes_the_logins_personal_api_tokens(client_world, ctx):
    from handlers import api_tokens
    client, _world = client_world
    mine = api_tokens.create_personal_token("contractor_user")[1]
    others = api_tokens.create_personal_token("firm_user")[1]
    machine = api_tokens.create_client_token("工改系统", "projects:read")[1]
    tokens = {"mine": mine, "others": others, "machine": machine}
    url = {"mine": "/api/v1/inbox", "others": "/api/v1/inbox", "machine": "/api/v1/projects"}

    def working():
        return {name: client.get(url[name], headers={"Authorization": f"Bearer {t}"}).status_code != 401
                for name, t in tokens.items()}
    assert working() == {"mine": True, "others": True, "machine": True}
    login(client, "contractor_user")
    resp = post(client, "/auth/password", {"old_password": "demo1234", "new_password": "ynqs2026x",
                                           "confirm": "ynqs2026x"}, follow_redirects=True)
    assert "您的个人接口令牌已全部吊销" in resp.get_data(as_text=True)
    assert working() == {"mine": False, "others": True, "machine": True}
    logout(client)
    login(client, "admin")
    assert "用户修改密码时，其个人令牌全部自动吊销" in client.get("/admin/api-tokens/").get_data(as_text=True)
