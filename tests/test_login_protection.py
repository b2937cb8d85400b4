"""Login protection and 修改密码."""
from datetime import timedelta

from engine.db import db
from engine.models import utcnow
from handlers import accounts
from handlers.errors import DomainError
from handlers.models import User

import pytest
from sqlalchemy import select

from .web_helpers import client_world, login, post  # noqa: F401 (fixture)


def _user(name="contractor_user") -> User:
    db.session.rollback()
    return db.session.scalar(select(User).where(User.username == name))


def test_five_wrong_passwords_lock_the_login_for_fifteen_minutes(world):
    for _ in range(4):
        with pytest.raises(DomainError, match="用户名或密码错误"):
            accounts.authenticate("contractor_user", "wrong-pass1")
    with pytest.raises(DomainError, match="密码错误次数过多，账号已暂时锁定，请 15 分钟后再试"):
        accounts.authenticate("contractor_user", "wrong-pass1")
    # even the right password is refused while locked
    with pytest.raises(DomainError, match="账号已暂时锁定"):
        accounts.authenticate("contractor_user", "demo1234")
    user = _user()
    user.login_locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert accounts.authenticate("contractor_user", "demo1234").username == "contractor_user"
    assert _user().failed_logins == 0 and _user().login_locked_until is None


def test_a_right_password_resets_the_count_of_failures(world):
    for _ in range(4):
        with pytest.raises(DomainError):
            accounts.authenticate("contractor_user", "wrong-pass1")
    accounts.authenticate("contractor_user", "demo1234")
    for _ in range(4):
        with pytest.raises(DomainError, match="用户名或密码错误"):
            accounts.authenticate("contractor_user", "wrong-pass1")


def test_unknown_user_gets_the_same_message(world):
    with pytest.raises(DomainError, match="^用户名或密码错误$"):
        accounts.authenticate("nobody", "demo1234")


def test_change_password_over_http(client_world):
    client, _world = client_world
    login(client, "contractor_user")
    html = post(client, "/auth/password", {"old_password": "wrong-pass1", "new_password": "newpass123",
                                            "confirm": "newpass123"}).get_data(as_text=True)
    assert "原密码不正确" in html
    html = post(client, "/auth/password", {"old_password": "demo1234", "new_password": "short",
                                            "confirm": "short"}).get_data(as_text=True)
    assert "至少 8 位" in html
    resp = post(client, "/auth/password", {"old_password": "demo1234", "new_password": "newpass123",
                                            "confirm": "newpass123"})
    assert resp.status_code == 302
    with pytest.raises(DomainError):
        accounts.authenticate("contractor_user", "demo1234")
    assert accounts.authenticate("contractor_user", "newpass123")


def test_change_password_needs_a_login(client_world):
    client, _world = client_world
    resp = client.get("/auth/password")
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]


def test_forty_parallel_wrong_passwords_are_all_counted_and_only_five_checked(ctx, world, monkeypatch):
    """Each guess takes its number in one UPDATE … RETURNING before its password is checked, so no
    count is lost and guesses beyond the limit are refused without being tried."""
    import threading
    from werkzeug.security import check_password_hash

    from .race_helpers import run_at_once

    checked, mutex = [], threading.Lock()

    def counting_check(pwhash, password):
        with mutex:
            checked.append(password)
        return check_password_hash(pwhash, password)

    monkeypatch.setattr(accounts, "check_password_hash", counting_check)
    db.session.commit()
    results = run_at_once(ctx, 40, lambda i: accounts.authenticate("contractor_user", f"wrong-pass{i}"))
    outcomes = [r for r in results]
    assert all(kind == "error" and isinstance(exc, DomainError) for kind, exc in outcomes)
    messages = [exc.message for _kind, exc in outcomes]
    assert messages.count("用户名或密码错误") == accounts.MAX_FAILED_LOGINS - 1
    assert all("账号已暂时锁定" in m for m in messages if m != "用户名或密码错误")
    assert len(checked) == accounts.MAX_FAILED_LOGINS
    user = _user()
    assert user.failed_logins == 40
    assert user.login_locked_until is not None and user.login_locked_until > utcnow()
    with pytest.raises(DomainError, match="账号已暂时锁定"):
        accounts.authenticate("contractor_user", "demo1234")


def test_a_row_of_failures_left_without_a_lock_still_locks(world):
    """A checker that died after taking number five leaves no lock behind: the next guess sets it."""
    user = _user()
    user.failed_logins = accounts.MAX_FAILED_LOGINS
    db.session.commit()
    with pytest.raises(DomainError, match="账号已暂时锁定，请 15 分钟后再试"):
        accounts.authenticate("contractor_user", "demo1234")
    assert _user().login_locked_until is not None


@pytest.mark.parametrize("password, message", [
    ("password1", "新密码：该密码过于常见，容易被猜中，请换一个"),
    ("Qwerty123", "新密码：该密码过于常见，容易被猜中，请换一个"),
    ("woaini1314", "新密码：该密码过于常见，容易被猜中，请换一个"),
    ("contractor_user9", "新密码：密码不能包含用户名"),
])
def test_a_common_password_or_the_username_is_refused_under_the_field(client_world, password, message):
    client, _world = client_world
    login(client, "contractor_user")
    html = post(client, "/auth/password", {"old_password": "demo1234", "new_password": password,
                                            "confirm": password}).get_data(as_text=True)
    assert message.split("：", 1)[1] in html
    # shown under the new-password field, not as a page-level flash
    field_block = html[html.index('name="new_password"'):]
    assert message.split("：", 1)[1] in field_block[:2000]
    assert accounts.authenticate("contractor_user", "demo1234")
