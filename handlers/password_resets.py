"""忘记密码: a reset link by e-mail, single-use and expiring.

Asking for a link answers the same whatever the name (no account enumeration): a login with an
e-mail address gets a reset row and an e-mail job; any other name gets nothing, in the same time
(no e-mail is sent inside the request). The token is made by the job that sends the e-mail and
only its SHA-256 is written, so no table holds a usable link. Using the link sets the password,
uses the row (one conditional UPDATE: a second use finds it used) and ends every session.
"""
import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import func, select, update
from werkzeug.security import generate_password_hash

from engine import jobs
from engine.db import db, unit_of_work
from engine.models import utcnow

from . import accounts
from .errors import DomainError
from .models import ACTIVE, PasswordReset, User
from .notifications import CHANNELS
from .registry import registry

EMAIL_JOB = "password_reset.email"
PER_USER_PER_HOUR = 3   # links one login may be sent in an hour, whoever asks
LINK_INVALID = "重置链接无效或已过期，请重新申请"
LINK_USED = "该重置链接已使用，请重新申请"
LINK_EXPIRED = "该重置链接已过期（有效期 {minutes} 分钟），请重新申请"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_reset(username: str, base_url: str, minutes: int, address: str) -> None:
    """Queue a reset e-mail for the login, if it exists, is usable and has an e-mail address. The
    caller answers the same either way."""
    name = (username or "").strip()
    if not name or len(name) > 200:
        return
    user = db.session.scalar(select(User).where((User.username == name) | (func.lower(User.email) == name.lower())))
    if user is None or not user.email or not any(a.status == ACTIVE for a in user.accounts):
        return
    now = utcnow()
    with unit_of_work():
        recent = db.session.scalar(select(func.count()).select_from(PasswordReset).where(
            PasswordReset.user_id == user.id, PasswordReset.created_at > now - timedelta(hours=1)))
        if recent >= PER_USER_PER_HOUR:
            return
        reset = PasswordReset(user_id=user.id, created_at=now, expires_at=now + timedelta(minutes=minutes),
                              address=(address or "")[:64])
        db.session.add(reset)
        db.session.flush()
        jobs.enqueue(EMAIL_JOB, {"reset_id": reset.id, "base_url": base_url.rstrip("/"), "minutes": minutes})


@registry.job_handler(EMAIL_JOB)
def _send(job) -> None:
    """Make the link's token, keep its hash and send it; a failed send rolls the hash back and the
    retry makes another token."""
    channel = CHANNELS["email"]
    if not channel.available():
        raise RuntimeError("未配置 SMTP（SMTP_HOST）")
    reset = db.session.get(PasswordReset, job.payload["reset_id"])
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        return   # nothing worth sending any more
    user = db.session.get(User, reset.user_id)
    token = secrets.token_urlsafe(32)
    reset.token_hash = _hash(token)
    db.session.flush()
    link = f"{job.payload['base_url']}/auth/reset/{token}"
    minutes = job.payload.get("minutes", 30)
    channel.send(user.email, "【质量安全管理系统】重置密码",
                 f"{user.name}，您好：\n\n有人为您的账号（用户名 {user.username}）申请了重置密码。"
                 f"请在 {minutes} 分钟内打开以下链接设置新密码，链接只能使用一次：\n\n{link}\n\n"
                 "如果不是您本人申请，请忽略本邮件，您的密码不会改变。")


def _valid(token: str) -> PasswordReset:
    reset = db.session.scalar(select(PasswordReset).where(PasswordReset.token_hash == _hash(token or ""))) \
        if token and len(token) <= 100 else None
    if reset is None:
        raise DomainError(LINK_INVALID)
    if reset.used_at is not None:
        raise DomainError(LINK_USED)
    if reset.expires_at <= utcnow():
        minutes = int((reset.expires_at - reset.created_at).total_seconds() // 60)
        raise DomainError(LINK_EXPIRED.format(minutes=minutes))
    return reset


def check_link(token: str) -> User:
    """The login a link may reset, or a refusal saying why not (invalid / used / expired)."""
    return db.session.get(User, _valid(token).user_id)


def reset_password(token: str, new: str) -> User:
    """Set the new password through the link: once, before it expires; every session ends."""
    user = check_link(token)
    accounts.check_new_password(new, user.username)
    now = utcnow()
    with unit_of_work():
        used = db.session.execute(
            update(PasswordReset).where(PasswordReset.token_hash == _hash(token), PasswordReset.used_at.is_(None),
                                        PasswordReset.expires_at > now).values(used_at=now),
            execution_options={"synchronize_session": False})
        if used.rowcount != 1:
            raise DomainError(LINK_USED)
        accounts.set_password(user.id, new)
    return user

