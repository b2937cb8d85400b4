"""账号管理: search and paging, 重置密码 with the forced change at the next login, 变更角色 within
the organisation (the 单位管理员 alone saves the enterprise basic information), and the action log
of every change."""
import re

from sqlalchemy import select

from engine.db import db
from handlers import accounts
from handlers.models import ORG_ADMIN, ORG_STAFF, Account, AdminAction, User

from .web_helpers import client_world, login, new_client, post  # noqa: F401 (fixture)

ACCOUNTS = "/admin/accounts"


def _admin(client):
    login(client, "admin")
    return client


def test_search_by_name_login_and_organisation_and_paging(client_world):
    client, world = client_world
    for n in range(22):
        world.add_account(f"staff{n:02d}", "contractor2", f"经办{n:02d}")
    _admin(client)
    html = client.get(ACCOUNTS).get_data(as_text=True)
    assert "共 33 个账号" in html and "第 1 / 2 页" in html and html.count('data-account="') == 20
    page2 = client.get(ACCOUNTS + "?page=2").get_data(as_text=True)
    assert page2.count('data-account="') == 13 and "auth_reviewer" in page2   # the oldest last
    for query, expected in (("吴施工", {"contractor_user"}), ("firm_u", {"firm_user"}),
                            ("大理州住房", {"auth2_reviewer"}),
                            (world.org("agency").credit_code.lower(), {"agency_reviewer"})):
        html = client.get(ACCOUNTS, query_string={"q": query}).get_data(as_text=True)
        rows = set(re.findall(r"<td>([a-z0-9_]+)</td>\s*<td>", html))
        assert rows == expected, (query, rows)
    html = client.get(ACCOUNTS, query_string={"q": "%"}).get_data(as_text=True)
    assert "没有符合条件的账号" in html   # a wildcard is a character, not a pattern
    assert client.get(ACCOUNTS + "?page=99").status_code == 200   # past the end: the last page


def test_reset_password_forces_a_new_one_at_the_next_login(client_world, ctx):
    client, world = client_world
    target = world.who("contractor_user")
    user_session = new_client(ctx)
    login(user_session, "contractor_user")
    _admin(client)
    resp = post(client, f"{ACCOUNTS}/{target.account_id}/reset-password", form_url=ACCOUNTS)
    html = resp.get_data(as_text=True)
    temporary = re.search(r'临时密码：<strong class="mono">(\w+)</strong>', html).group(1)
    assert "此密码只显示这一次" in html
    assert "/auth/login" in user_session.get("/").headers["Location"]   # every session of the login ended
    assert "用户名或密码错误" in login(new_client(ctx), "contractor_user").get_data(as_text=True)

    fresh = new_client(ctx)
    login(fresh, "contractor_user", temporary)
    for url in ("/", "/apply/unlock/", "/enterprise/info"):
        resp = fresh.get(url)
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/auth/password"), url
    page = fresh.get("/auth/password").get_data(as_text=True)
    assert "您的密码已由平台管理员重置，请先设置新密码" in page
    resp = post(fresh, "/auth/password", {"old_password": temporary, "new_password": "mine2026x",
                                          "confirm": "mine2026x"}, form_url="/auth/password")
    assert resp.status_code == 302
    assert fresh.get("/apply/unlock/").status_code == 200
    assert db.session.get(User, target.user_id).must_change_password is False

    log = client.get(ACCOUNTS).get_data(as_text=True)
    assert "重置密码" in log and "吴施工（contractor_user）" in log and temporary not in log


def test_an_administrator_cannot_reset_their_own_password_here(client_world):
    client, world = client_world
    _admin(client)
    resp = post(client, f"{ACCOUNTS}/{world.who('admin').account_id}/reset-password", form_url=ACCOUNTS,
                follow_redirects=True)
    assert "不能重置自己的密码" in resp.get_data(as_text=True)
    assert db.session.scalar(select(AdminAction)) is None


def test_change_role_within_the_organisation(client_world, ctx):
    client, world = client_world
    target = world.who("contractor_user")
    _admin(client)
    resp = post(client, f"{ACCOUNTS}/{target.account_id}/role", {"role": ORG_STAFF}, form_url=ACCOUNTS,
                follow_redirects=True)
    assert "的角色变更为经办人" in resp.get_data(as_text=True)
    assert db.session.get(Account, target.account_id).role == ORG_STAFF
    # a 经办人 may read the enterprise basic information but not save it
    staff = new_client(ctx)
    login(staff, "contractor_user")
    info = staff.get("/enterprise/info")
    assert info.status_code == 200 and "您在本单位的角色是经办人" in info.get_data(as_text=True)
    resp = post(staff, "/enterprise/info", {"name": "改名有限公司"}, form_url="/enterprise/info")
    assert "仅单位管理员可以修改企业基本信息" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert world.org("contractor").name == "云南建投第一建设有限公司"
    # a bad role and the same role are refused, nothing logged for them
    for role, message in (("boss", "角色：请选择有效的角色"), (ORG_STAFF, "该账号的角色已是经办人")):
        resp = post(client, f"{ACCOUNTS}/{target.account_id}/role", {"role": role}, form_url=ACCOUNTS,
                    follow_redirects=True)
        assert message in resp.get_data(as_text=True)
    post(client, f"{ACCOUNTS}/{target.account_id}/role", {"role": ORG_ADMIN}, form_url=ACCOUNTS)
    db.session.rollback()   # see what the requests committed since this session last read
    actions = db.session.scalars(select(AdminAction).order_by(AdminAction.id)).all()
    assert [(a.action, a.detail) for a in actions] == [("change_role", "单位管理员 → 经办人"),
                                                         ("change_role", "经办人 → 单位管理员")]
    assert all(a.admin_name == "陈管理" and a.account_id == target.account_id for a in actions)


def test_disable_and_enable_are_logged_and_shown(client_world):
    client, world = client_world
    target = world.who("firm_user")
    _admin(client)
    post(client, f"{ACCOUNTS}/{target.account_id}/disable", form_url=ACCOUNTS)
    post(client, f"{ACCOUNTS}/{target.account_id}/enable", form_url=ACCOUNTS)
    html = client.get(ACCOUNTS).get_data(as_text=True)
    log = html[html.index('id="admin-log"'):]
    assert log.index("启用账号") < log.index("停用账号")   # newest first
    assert "冯监理（firm_user） · 云南建设监理咨询有限公司" in log


def test_only_administrators_manage_accounts(client_world, ctx):
    client, world = client_world
    login(client, "auth_reviewer")
    target = world.who("firm_user").account_id
    for url in (f"{ACCOUNTS}/{target}/reset-password", f"{ACCOUNTS}/{target}/role"):
        assert post(client, url, {"role": ORG_STAFF}, form_url="/help").status_code == 403
    assert client.get(ACCOUNTS).status_code == 403
    assert db.session.get(Account, target).role == ORG_ADMIN
    import pytest

    from handlers.errors import Forbidden
    with pytest.raises(Forbidden):
        accounts.admin_actions(world.who("auth_reviewer"))


def test_the_first_account_of_an_organisation_is_its_administrator(ctx, world, services):
    from .world import credit_code
    reg = accounts.Registration(kind="contractor", org_name="新单位", credit_code=credit_code(4242), contact_person="甲",
                                mobile="13800000001", username="first_one", password="ynqs2026x")
    first = services.registration.register(reg)
    assert first.role == ORG_ADMIN
    user = db.session.get(User, world.who("firm_user").user_id)
    second = services.registration.add_role(user, accounts.Registration(
        kind="contractor", org_name="新单位", credit_code=credit_code(4242), contact_person="乙", mobile="13800000002",
        username="", password=""))
    assert second.role == ORG_STAFF


def test_a_password_to_change_holds_back_the_pages_not_the_token_api(client_world, ctx):
    """A login whose password an administrator reset opens only the password page; its browser session
    does not turn a call of the JSON API, authenticated by its token, into a redirect to that page."""
    from handlers import api_tokens
    client, world = client_world
    target = world.who("contractor_user")
    _, token = api_tokens.create_personal_token("contractor_user")
    db.session.commit()
    _admin(client)
    resp = post(client, f"{ACCOUNTS}/{target.account_id}/reset-password", form_url=ACCOUNTS)
    temporary = re.search(r'临时密码：<strong class="mono">(\w+)</strong>', resp.get_data(as_text=True)).group(1)
    browser = new_client(ctx)
    login(browser, "contractor_user", temporary)
    assert browser.get("/apply/unlock/").headers["Location"].endswith("/auth/password")
    resp = browser.get("/api/v1/inbox", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code != 302 and resp.is_json
