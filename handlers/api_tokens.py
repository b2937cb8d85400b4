"""Bearer tokens of the integration API: machine clients with scopes, users' personal tokens.

A token reads ``ynqs_<prefix>_<secret>``. Only the SHA-256 of the whole token is stored; the
prefix is its visible id (lists, audit, revocation). A personal token acts as one account and
is turned into the same ``Principal`` the pages build, with ``acting_principal``'s checks: the account
is re-checked (still the user's, still active) on every call, exactly as a session is.
"""
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine import generations
from engine.db import db, end_reading, holds_changes, in_unit_of_work, read_values, unit_of_work
from engine.models import utcnow

from . import webhooks
from .errors import DomainError, NotFound
from .models import ACTIVE, API_SCOPES, Account, ApiCall, ApiToken, IdempotentResponse, Organization, User
from .principal import Principal

TOKEN_PREFIX = "ynqs"
DEFAULT_DAYS = 365
MAX_DAYS = 3650


@dataclass(frozen=True)
class Caller:
    """Who calls the API: a token, and the principal it acts as (personal tokens only)."""
    token_id: int
    prefix: str
    client: str | None
    scopes: frozenset
    principal: Principal | None
    last_used_at: datetime | None = None   # as the token check read it (``record_call``)

    def may(self, scope: str) -> bool:
        return self.principal is None and scope in self.scopes


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_secret() -> tuple[str, str]:
    prefix = secrets.token_hex(4)
    return prefix, f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"


def parse_scopes(text: str | list) -> list[str]:
    scopes = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    unknown = [s for s in scopes if s not in API_SCOPES]
    if unknown:
        raise DomainError(f"未知的权限范围：{'、'.join(unknown)}（可选：{'、'.join(API_SCOPES)}）", "scopes")
    if not scopes:
        raise DomainError("请至少选择一个权限范围", "scopes")
    return sorted(set(scopes))


def _expiry(days: int | None) -> datetime | None:
    if days is None:
        days = DEFAULT_DAYS
    if not 0 < days <= MAX_DAYS:
        raise DomainError(f"有效期须在 1 至 {MAX_DAYS} 天之间", "days")
    return utcnow() + timedelta(days=days)


def create_client_token(client: str, scopes, days: int | None = None) -> tuple[ApiToken, str]:
    """A machine client's token; returns the row and the token text (shown once)."""
    client = (client or "").strip()
    if not client or len(client) > 100:
        raise DomainError("请填写客户端名称（不超过 100 个字符）", "client")
    return _create(client=client, scopes=parse_scopes(scopes), expires_at=_expiry(days))


def create_personal_token(username: str, account_id: int | None = None,
                          days: int | None = None) -> tuple[ApiToken, str]:
    """A user's personal token acting as one of their active accounts (the first, unless named)."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise DomainError("用户不存在", "user")
    accounts = [a for a in user.accounts if a.status == ACTIVE]
    if account_id is not None:
        accounts = [a for a in accounts if a.id == account_id]
    if not accounts:
        raise DomainError("该用户没有可用的已通过账号", "account")
    return _create(account_id=accounts[0].id, scopes=[], expires_at=_expiry(days))


def _create(**columns) -> tuple[ApiToken, str]:
    prefix, token = _new_secret()
    with unit_of_work():
        row = ApiToken(prefix=prefix, secret_hash=hash_token(token), **columns)
        db.session.add(row)
    return row, token


def rotate(token_id: int, days: int | None = None) -> tuple[ApiToken, str]:
    """A new token with the same client, account and scopes; the old one is revoked at once."""
    with unit_of_work():
        old = _get(token_id)
        if old.revoked_at is not None:
            raise DomainError("该令牌已吊销，不能轮换", "token")
        prefix, token = _new_secret()
        row = ApiToken(prefix=prefix, secret_hash=hash_token(token), client=old.client,
                       account_id=old.account_id, scopes=list(old.scopes), expires_at=_expiry(days),
                       rotated_from_id=old.id)
        old.revoked_at = utcnow()
        db.session.add(row)
        db.session.flush()
        webhooks.hand_over(old.id, row.id)
    return row, token


def revoke(token_id: int) -> ApiToken:
    with unit_of_work():
        row = _get(token_id)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            webhooks.end_subscriptions([row.id])   # a revoked client hears nothing more
    return row


def revoke_personal(user_id: int) -> int:
    """Revoke every personal token acting as one of the user's accounts, in the caller's unit of work
    (a password change: whoever knew the old password may have made one). Returns how many."""
    mine = select(Account.id).where(Account.user_id == user_id)
    revoked = list(db.session.scalars(
        update(ApiToken).where(ApiToken.account_id.in_(mine), ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow()).returning(ApiToken.id), execution_options={"synchronize_session": False}))
    webhooks.end_subscriptions(revoked)
    return len(revoked)


def find(prefix_or_id: str) -> ApiToken:
    """A token by its visible prefix or its id (for the CLI)."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.prefix == prefix_or_id))
    if row is None and prefix_or_id.isdigit():
        row = db.session.get(ApiToken, int(prefix_or_id))
    if row is None:
        raise NotFound("令牌不存在")
    return row


def tokens(limit: int = 500) -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc()).limit(limit)))


def owner_label(row: ApiToken) -> str:
    if row.account_id is None:
        return row.client or ""
    account = db.session.get(Account, row.account_id)
    return f"{account.user.username}（{account.org.name}）" if account else ""


def _get(token_id: int) -> ApiToken:
    row = db.session.get(ApiToken, token_id)
    if row is None:
        raise NotFound("令牌不存在")
    return row


# The token and, for a personal token, the account it acts as with its user's and organisation's
# names: one statement (built once), no ORM object.
_AUTHENTICATE = (
    select(ApiToken.id, ApiToken.prefix, ApiToken.secret_hash, ApiToken.client, ApiToken.account_id,
           ApiToken.scopes, ApiToken.revoked_at, ApiToken.expires_at, ApiToken.last_used_at,
           Account.user_id, Account.org_id, Account.status.label("account_status"), Account.role,
           User.name.label("user_name"), Organization.name.label("org_name"), Organization.kind.label("org_kind"),
           generations.carried())
    .outerjoin(Account, Account.id == ApiToken.account_id)
    .outerjoin(User, User.id == Account.user_id)
    .outerjoin(Organization, Organization.id == Account.org_id)
    .where(ApiToken.secret_hash == bindparam("digest")))


def authenticate(token: str) -> Caller | None:
    """The caller behind a bearer token, or None (unknown, revoked, expired, or its account gone).

    A personal token's account is checked as ``acting_principal`` checks a session's (still there,
    still active), in the same statement that finds the token."""
    return authenticate_carrying(token)[0]


def authenticate_carrying(token: str) -> tuple[Caller | None, str | None | bool]:
    """``authenticate``, and the cache generations its statement carried (engine.generations.carried;
    False when no statement ran or no token was found): the call's generation check reads nothing."""
    if not token or len(token) > 200 or not token.startswith(TOKEN_PREFIX + "_"):
        return None, False
    digest = hash_token(token)
    row = read_values(_AUTHENTICATE, {"digest": digest}).first()   # as Core: a row of values
    if row is None:
        return None, False
    return _caller(row, digest), row.generations


def _caller(row, digest: str) -> Caller | None:
    if not hmac.compare_digest(row.secret_hash, digest):
        return None
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= utcnow()):
        return None
    principal = None
    if row.account_id is not None:
        if row.user_id is None or row.account_status != ACTIVE:
            return None
        principal = Principal(row.account_id, row.user_id, row.user_name, row.org_id, row.org_name, row.org_kind,
                              row.role)
    return Caller(row.id, row.prefix, row.client, frozenset(row.scopes or ()), principal, row.last_used_at)


def record_call(caller: Caller, method: str, path: str, status: int, remote_addr: str) -> None:
    """A call's audit row and, when the one stored is older than ``LAST_USE_RESOLUTION``, its token's
    last use, in the unit of work now open.

    Every call has its row in ``api_call``; ``last_used_at`` tells an administrator whether a token
    is still in use, to the minute, so a token that calls many times a minute writes it once a
    minute, not with every call. On PostgreSQL both are one statement (the token's update as a
    data-modifying CTE of the row's insert). Neither reads the token's row again: its last use came
    with the token check. The statements are built once; their values are parameters."""
    now = utcnow()
    values = {"token_id": caller.token_id, "at": now, "method": method, "path": path[:300], "status": status,
              "remote_addr": (remote_addr or "")[:64]}
    stale = caller.last_used_at is None or now - caller.last_used_at >= LAST_USE_RESOLUTION
    if stale and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(_CALL_AND_USE, values)
        return
    db.session.execute(_CALL, values)
    if stale:
        db.session.execute(_USE, {"token_id": caller.token_id, "at": now})


LAST_USE_RESOLUTION = timedelta(minutes=1)   # how fresh ``api_token.last_used_at`` is kept (record_call)
_CALL = insert(ApiCall.__table__).values(**{k: bindparam(k) for k in
                                  ("token_id", "at", "method", "path", "status", "remote_addr")})
_USE = (update(ApiToken.__table__).where(ApiToken.__table__.c.id == bindparam("token_id"))
        .values(last_used_at=bindparam("at")))
_CALL_AND_USE = _CALL.add_cte(_USE.cte("used"))


def audit(caller: Caller, method: str, path: str, status: int, remote_addr: str) -> None:
    """One audit row per call, in its own short transaction after the call's own (a call that wrote
    records it in its own transaction instead: webui/api/security.py)."""
    session = db.session()
    if not (session.in_transaction() and session.get_bind().dialect.name == "postgresql" and status < 400
            and not in_unit_of_work() and not holds_changes(session)):
        end_reading()   # a call that only read ends with COMMIT: PostgreSQL keeps its prepared statements
        db.session.rollback()   # whatever else the call left open ends here
    # PostgreSQL, a call that only read and succeeded: its read transaction goes on as the audit's
    # (READ COMMITTED, nothing held): one COMMIT instead of two
    with unit_of_work():
        record_call(caller, method, path, status, remote_addr)


def recent_calls(token_id: int, limit: int = 50) -> list[ApiCall]:
    return list(db.session.scalars(select(ApiCall).where(ApiCall.token_id == token_id)
                                   .order_by(ApiCall.id.desc()).limit(limit)))


def run_idempotent(token_id: int, key: str | None, request_hash: str, action) -> tuple[int, dict]:
    """Run ``action`` (returns status, body) once per Idempotency-Key: the response is stored in the
    same unit of work as the write, and a repeat of the key gets it back without running again.

    A unique-key race (two pushes creating the same project or person, or reusing one key at once)
    is run again once: the second run finds the winner's rows, or its stored response."""
    if key is not None and len(key) > 200:
        raise DomainError("Idempotency-Key 不能超过 200 个字符", "idempotency_key")
    for attempt in (1, 2):
        stored = _stored(token_id, key, request_hash) if key else None
        if stored:
            return stored
        try:
            with unit_of_work():
                status, body = action()
                if key:
                    db.session.add(IdempotentResponse(token_id=token_id, key=key, request_hash=request_hash,
                                                      status=status, body=body))
            return status, body
        except IntegrityError:
            db.session.rollback()
            if attempt == 2:
                raise DomainError("并发推送冲突，请稍后重试")


def _stored(token_id, key, request_hash):
    row = db.session.scalar(select(IdempotentResponse).where(
        IdempotentResponse.token_id == token_id, IdempotentResponse.key == key))
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise DomainError("该 Idempotency-Key 已用于另一个请求，请换一个", "idempotency_key")
    return row.status, row.body
