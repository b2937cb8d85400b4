"""角色账号: one login applies for a second role, the administrator approves it, the user chooses."""
from engine.db import db
from handlers.models import ACCOUNT_STATUS, PENDING, User
from sqlalchemy import select

from .web_helpers import client_world, login, logout, new_client, post  # noqa: F401 (fixture)
from .world import credit_code, review_registration


def _role_form(**over):
    data = {"kind": "supervising_firm", "org_name": "云南新建监理有限公司", "credit_code": credit_code(987654),
            "contact_person": "吴施工", "mobile": "13800000000"}
    data.update(over)
    return data


def test_a_second_role_is_reviewed_then_chosen_at_login(client_world, ctx):
    client, world = client_world
    login(client, "contractor_user")
    html = post(client, "/auth/accounts", _role_form(credit_code="91530100000000000X")).get_data(as_text=True)
    assert "统一社会信用代码：格式或校验位不正确" in html
    resp = post(client, "/auth/accounts", _role_form())
    assert resp.status_code == 302
    page = client.get("/auth/accounts").get_data(as_text=True)
    assert "云南新建监理有限公司" in page and ACCOUNT_STATUS[PENDING] in page
    # the same organisation twice is refused
    again = post(client, "/auth/accounts", _role_form()).get_data(as_text=True)
    assert "您已有该单位的账号" in again

    db.session.rollback()
    user = db.session.scalar(select(User).where(User.username == "contractor_user"))
    pending = [a for a in user.accounts if a.status == PENDING]
    assert len(pending) == 1
    review_registration(ctx.extensions["services"], world.who("admin"), pending[0], "approve")
    db.session.commit()

    logout(client)
    resp = post(client, "/auth/login", {"username": "contractor_user", "password": "demo1234"}, form_url="/auth/login")
    role_page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "选择登录角色" in role_page and "云南新建监理有限公司" in role_page


def test_accounts_page_needs_a_login(client_world):
    client, _ = client_world
    resp = client.get("/auth/accounts")
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]
