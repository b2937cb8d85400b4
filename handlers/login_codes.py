"""扫码登录 (domain.md §2): QR login codes.

A computer's login page asks for a code (``issue``); the code goes into the QR code's URL, the
secret stays in that browser's session. A user signed in on a phone opens the URL, sees who asks
and confirms for one of their accounts (``confirm``) or cancels (``cancel``). The computer's page
polls (``redeem``): with the right secret, a confirmed code is used once and signs that browser
in as the chosen account. Every change of a code is one conditional ``UPDATE``, so two phones, two
polls or a poll racing the expiry cannot both win.
"""
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update

from engine.db import db, unit_of_work
from engine.models import utcnow

from .errors import DomainError
from .models import ACTIVE, Account, LoginCode, User

WAITING, CONFIRMED, USED, CANCELLED = "waiting", "confirmed", "used", "cancelled"
EXPIRED = "expired"   # not stored: a waiting or confirmed code past its lifetime
MESSAGES = {
    EXPIRED: "二维码已过期，请刷新二维码后重新扫码",
    USED: "二维码已使用，每个二维码只能登录一次",
    CANCELLED: "扫码登录已取消，请刷新二维码后重新扫码",
}
NOT_THIS_BROWSER = "该二维码不是由本浏览器生成的，只能在显示它的浏览器上登录"
UNKNOWN = "二维码无效，请刷新二维码后重新扫码"
NOT_YOUR_ACCOUNT = "请选择您本人已通过审核的账号"
KEEP_EXPIRED = timedelta(days=1)   # expired codes are kept this long (what the phone shows), then deleted


@dataclass(frozen=True)
class Issued:
    code: str
    secret: str
    expires_at: object


@dataclass(frozen=True)
class Redeemed:
    user: User
    account_id: int


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(browser: str, address: str, lifetime_seconds: int) -> Issued:
    """A new code for the computer that asks; old expired codes are deleted on the way."""
    now = utcnow()
    code, secret = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=lifetime_seconds)
    with unit_of_work():
        db.session.execute(delete(LoginCode).where(LoginCode.expires_at < now - KEEP_EXPIRED),
                           execution_options={"synchronize_session": False})
        db.session.add(LoginCode(code=code, secret_hash=_hash(secret), status=WAITING, created_at=now,
                                 expires_at=expires_at, browser=(browser or "")[:300], address=(address or "")[:64]))
    return Issued(code, secret, expires_at)


def state(row: LoginCode, now=None) -> str:
    """waiting / confirmed / used / cancelled, or expired for an unused code past its lifetime."""
    if row.status in (WAITING, CONFIRMED) and row.expires_at <= (now or utcnow()):
        return EXPIRED
    return row.status


def find(code: str) -> LoginCode | None:
    if not code or len(code) > 64:
        return None
    return db.session.scalar(select(LoginCode).where(LoginCode.code == code))


def for_phone(code: str) -> LoginCode:
    """The code a phone opened, if it may still be confirmed; else a refusal saying why."""
    row = find(code)
    if row is None:
        raise DomainError(UNKNOWN)
    now = state(row)
    if now != WAITING:
        raise DomainError(MESSAGES.get(now, UNKNOWN))
    return row


def confirm(code: str, user: User, account_id: int) -> LoginCode:
    """The phone's user confirms the code for one of their own approved accounts."""
    for_phone(code)   # an unusable code is refused for what it is before the account is looked at
    account = db.session.get(Account, account_id)
    if account is None or account.user_id != user.id or account.status != ACTIVE:
        raise DomainError(NOT_YOUR_ACCOUNT, "account_id")
    return _decide(code, CONFIRMED, user_id=user.id, account_id=account.id)


def cancel(code: str, user: User) -> LoginCode:
    return _decide(code, CANCELLED, user_id=user.id)


def _decide(code: str, status: str, **values) -> LoginCode:
    now = utcnow()
    with unit_of_work():
        done = db.session.execute(
            update(LoginCode).where(LoginCode.code == code, LoginCode.status == WAITING, LoginCode.expires_at > now)
            .values(status=status, decided_at=now, **values), execution_options={"synchronize_session": False})
        if done.rowcount != 1:
            for_phone(code)   # says why: expired, used, cancelled or unknown
            raise DomainError(MESSAGES[USED])   # confirmed meanwhile by another phone
    row = find(code)
    db.session.refresh(row)
    return row


def poll(code: str, secret: str | None) -> tuple[str, Redeemed | None]:
    """The computer's poll: (state, the login when this poll used the confirmed code).

    Only the browser holding the secret learns anything or signs in; the code is used at most once."""
    row = find(code)
    if row is None:
        raise DomainError(UNKNOWN)
    if not secret or not secrets.compare_digest(row.secret_hash, _hash(secret)):
        raise DomainError(NOT_THIS_BROWSER)
    now = utcnow()
    current = state(row, now)
    if current != CONFIRMED:
        return current, None
    with unit_of_work():
        used = db.session.execute(
            update(LoginCode).where(LoginCode.id == row.id, LoginCode.status == CONFIRMED, LoginCode.expires_at > now)
            .values(status=USED, used_at=now), execution_options={"synchronize_session": False})
    if used.rowcount != 1:   # another poll of the same browser used it first
        return USED, None
    account = db.session.get(Account, row.account_id)
    if account is None or account.status != ACTIVE:
        raise DomainError("该账号已停用，请联系平台管理员")
    return USED, Redeemed(account.user, account.id)
