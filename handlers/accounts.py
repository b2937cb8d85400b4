"""Registration (第一章), review of registrations, login, and enterprise basic information (2.1.1)."""
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from sqlalchemy import and_, case, func, null, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from engine.db import db, unit_of_work
from engine.models import utcnow
from engine.text import natural_key

from . import api_tokens
from .codes import is_valid_credit_code
from .common_passwords import COMMON_PASSWORDS
from .errors import DomainError, Forbidden, NotFound, Problems
from .models import (
    ACCOUNT_ROLES, ACTIVE, DISABLED, ENTERPRISE_KINDS, ORG_ADMIN, ORG_KINDS, ORG_STAFF, PENDING, PLATFORM, REJECTED,
    STAFF_KINDS, Account, AdminAction, Organization, OrgInfoChange, User,
)
from .principal import Principal

WRONG_PASSWORD = "用户名或密码错误"
PENDING_MESSAGE = "账号正在审核中，请等待平台管理员审核通过后再登录"
REJECTED_MESSAGE = "注册申请未通过审核，原因：{reason}"
DISABLED_MESSAGE = "账号已停用，请联系平台管理员"
TOO_MANY_FAILURES = "密码错误次数过多，账号已暂时锁定，请 {minutes} 分钟后再试"
PASSWORD_MIN = 8
MAX_FAILED_LOGINS = 5
LOGIN_LOCK = timedelta(minutes=15)


@lru_cache(maxsize=1)   # a constant: nothing another process changes
def _dummy_hash() -> str:
    """Checked against when the user name is unknown, so both cases take the same time."""
    return generate_password_hash("not-a-password")
EDITABLE_FIELDS = {
    "name": "企业名称", "contact_person": "联系人", "contact_phone": "联系电话",
    "legal_representative": "法定代表人", "address": "地址", "region": "所在地区", "business_scope": "经营范围",
}


class RegistrationReturned(DomainError):
    """The password was right, but the login's registration was returned: the message says why, and
    ``user_id`` may correct and submit it again (``RegistrationService.resubmit``)."""

    def __init__(self, message: str, user_id: int, account_id: int):
        super().__init__(message)
        self.user_id, self.account_id = user_id, account_id


@dataclass
class Registration:
    kind: str
    org_name: str
    credit_code: str
    contact_person: str
    mobile: str
    username: str
    password: str


def create_pending_account(reg: Registration) -> Account:
    """A pending account (and its organisation if new) for a registration: every field is checked
    before anything is written (all refusals at once, FieldErrors), in the caller's unit of work
    (``RegistrationService.register`` submits it for review in the same one)."""
    with unit_of_work():
        problems, org = _registration(reg)
        problems.raise_any()
        user = User(username=reg.username.strip(), password_hash=generate_password_hash(reg.password),
                    name=reg.contact_person.strip(), mobile=reg.mobile.strip())
        account = Account(user=user, org=org, status=PENDING, role=_first_role(org))
        db.session.add_all([org, user, account])
    return account


def registration_problems(reg: Registration) -> dict[str, str]:
    """Every refusal a registration would get (field -> message), writing nothing: the page shows
    them together with its own checks (e.g. the two passwords differ)."""
    return _registration(reg)[0].errors


def _registration(reg: Registration):
    problems = Problems()
    code = _check_organisation(reg, problems)
    username = reg.username.strip()
    if not re.fullmatch(r"[A-Za-z0-9_.@-]{4,50}", username):
        problems.add("username", "用户名：4–50 位字母、数字或 _ . @ -")
    elif db.session.scalar(select(User.id).where(User.username == username)):
        problems.add("username", "用户名：该用户名已被注册")
    problems.check(_check_password_strength, reg.password, username)
    org = problems.check(_organisation, reg, code) if code else None
    return problems, org


def create_pending_role(user: User, reg: Registration) -> Account:
    """A logged-in person applies for one more account (another organisation) under the same login;
    it waits for the administrator's review like a registration."""
    with unit_of_work():
        problems = Problems()
        code = _check_organisation(reg, problems)
        org = problems.check(_organisation, reg, code) if code else None
        problems.raise_any()
        if org.id is not None and any(a.org_id == org.id for a in user.accounts):
            raise DomainError("统一社会信用代码：您已有该单位的账号", "credit_code")
        account = Account(user=user, org=org, status=PENDING, role=_first_role(org))
        db.session.add_all([org, account])
    return account


def correct_account(account: Account, reg: Registration) -> None:
    """A returned registration corrected by its registrant: the account is pending again, for the
    organisation the corrected details name. An organisation that only this account uses (it came
    with the registration) takes the corrected details; a shared one is left as it is. Everything is
    checked before anything changes."""
    with unit_of_work():
        problems = Problems()
        code = _check_organisation(reg, problems)
        problems.raise_any()
        own = db.session.scalar(select(func.count()).select_from(Account)
                                .where(Account.org_id == account.org_id, Account.id != account.id)) == 0
        org = account.org
        if code != org.credit_code:
            found = db.session.scalar(select(Organization).where(Organization.credit_code == code))
            if found is not None:
                if found.kind != reg.kind:
                    raise DomainError("统一社会信用代码：该单位已以其他账号类型登记", "credit_code")
                if any(a.org_id == found.id for a in account.user.accounts):
                    raise DomainError("统一社会信用代码：您已有该单位的账号", "credit_code")
                org, own = found, False
            elif not own:
                org = _organisation(reg, code)   # a new organisation; the shared one stays as it is
                own = True
        elif reg.kind != org.kind and not own:
            raise DomainError("统一社会信用代码：该单位已以其他账号类型登记", "credit_code")
        if own:
            org.kind, org.name, org.credit_code = reg.kind, reg.org_name.strip(), code
            org.contact_person, org.contact_phone = reg.contact_person.strip(), reg.mobile.strip()
        user = account.user
        if not active_accounts(user):   # a first registration: its contact is the person of the login
            user.name, user.mobile = reg.contact_person.strip(), reg.mobile.strip()
        account.org, account.status, account.reject_reason = org, PENDING, None
        db.session.add(org)


def _first_role(org: Organization) -> str:
    """The first account of an organisation is its 单位管理员; later ones are 经办人 until an
    administrator changes that."""
    return ORG_ADMIN if org.id is None else ORG_STAFF


def _check_organisation(reg: Registration, problems: Problems) -> str | None:
    """Check the organisation part of a registration into ``problems``; the normalised credit code
    when it is valid."""
    if reg.kind not in ORG_KINDS or reg.kind in STAFF_KINDS:
        problems.add("kind", "账号类型：请选择有效的账号类型")
    if not reg.org_name.strip():
        problems.add("org_name", "单位名称：请填写单位名称")
    code = natural_key(reg.credit_code)
    if not is_valid_credit_code(code):
        problems.add("credit_code", "统一社会信用代码：格式或校验位不正确（应为 18 位）")
        code = None
    if not reg.contact_person.strip():
        problems.add("contact_person", "联系人：请填写联系人")
    if not re.fullmatch(r"1\d{10}", reg.mobile.strip()):
        problems.add("mobile", "手机号码：请填写 11 位手机号码")
    return code


def _organisation(reg: Registration, code: str) -> Organization:
    """The organisation with this credit code, or a new (not yet added) one; its kind must match."""
    org = db.session.scalar(select(Organization).where(Organization.credit_code == code))
    if org is None:
        return Organization(kind=reg.kind, name=reg.org_name.strip(), credit_code=code,
                            contact_person=reg.contact_person.strip(), contact_phone=reg.mobile.strip())
    if org.kind != reg.kind:
        raise DomainError("统一社会信用代码：该单位已以其他账号类型登记", "credit_code")
    return org


# -- login ------------------------------------------------------------------------------------
def authenticate(username: str, password: str) -> User:
    """The user if the password is right and at least one account is approved; else a clear refusal.

    Five wrong passwords in a row lock the login for 15 minutes. Each attempt is counted as a
    failure *before* its password is checked, by one ``UPDATE … RETURNING``: parallel guesses each
    get their own number, and only the first five of a row are checked at all. The count is its
    own short unit of work, committed before the (slow) hash check and whatever its outcome; the
    lock and the reset after a right password are one statement each.
    """
    now = utcnow()
    attempt = _count_attempt((username or "").strip(), now)
    if attempt is None:
        check_password_hash(_dummy_hash(), password or "")
        raise DomainError(WRONG_PASSWORD)
    user_id, failures, locked_until, password_hash = attempt
    if locked_until and locked_until > now:
        minutes = max(1, int((locked_until - now).total_seconds() // 60) + 1)
        raise DomainError(TOO_MANY_FAILURES.format(minutes=minutes))
    if failures > MAX_FAILED_LOGINS:   # guesses beyond the limit: refused unchecked
        _lock_login(user_id, now)
        raise DomainError(TOO_MANY_FAILURES.format(minutes=LOGIN_LOCK.seconds // 60))
    if not check_password_hash(password_hash, password or ""):
        if failures == MAX_FAILED_LOGINS:
            _lock_login(user_id, now)
            raise DomainError(TOO_MANY_FAILURES.format(minutes=LOGIN_LOCK.seconds // 60))
        raise DomainError(WRONG_PASSWORD)
    with unit_of_work():
        db.session.execute(update(User).where(User.id == user_id).values(failed_logins=0, login_locked_until=None),
                           execution_options=_NO_SYNC)
    user = db.session.get(User, user_id)
    if any(a.status == ACTIVE for a in user.accounts):
        return user
    if any(a.status == PENDING for a in user.accounts):
        raise DomainError(PENDING_MESSAGE)
    rejected = next((a for a in user.accounts if a.status == REJECTED), None)
    if rejected is None:
        raise DomainError(DISABLED_MESSAGE)
    raise RegistrationReturned(REJECTED_MESSAGE.format(reason=rejected.reject_reason or "无"), user.id, rejected.id)


_NO_SYNC = {"synchronize_session": False}


def _count_attempt(username: str, now):
    """Count one login attempt as a failure; (id, failures, locked_until, password_hash), or None
    for an unknown name. A lock that has run out starts a new row of failures."""
    expired = and_(User.login_locked_until.is_not(None), User.login_locked_until <= now)
    stmt = (update(User).where(User.username == username)
            .values(failed_logins=case((expired, 1), else_=User.failed_logins + 1),
                    login_locked_until=case((expired, null()), else_=User.login_locked_until))
            .returning(User.id, User.failed_logins, User.login_locked_until, User.password_hash))
    with unit_of_work():
        return db.session.execute(stmt, execution_options=_NO_SYNC).one_or_none()


def _lock_login(user_id: int, now) -> None:
    """Lock the login from now, unless a lock already runs (it is not prolonged by more guesses)."""
    with unit_of_work():
        db.session.execute(update(User).where(User.id == user_id)
                           .values(login_locked_until=func.coalesce(User.login_locked_until, now + LOGIN_LOCK)),
                           execution_options=_NO_SYNC)


# -- sessions ---------------------------------------------------------------------------------
def end_sessions(user_id: int) -> int:
    """End every session of this login: the login's session epoch moves on, and a session carrying
    an older one is no longer logged in. Returns the new epoch."""
    with unit_of_work():
        epoch = db.session.execute(update(User).where(User.id == user_id)
                                   .values(session_epoch=User.session_epoch + 1)
                                   .returning(User.session_epoch), execution_options=_NO_SYNC).scalar_one()
    return epoch


def session_is_current(login, epoch) -> bool:
    """Whether a session tied to ``epoch`` still logs in: ``login`` is the User, or what the request's
    login statement read of it (handlers.principal.LoginSession)."""
    return epoch is not None and epoch == login.session_epoch


def change_password(user: User, old: str, new: str) -> int:
    """修改密码: the current password is required; the new one follows the registration rule.
    Every session of the login ends and every personal API token of the login is revoked; returns
    the new session epoch for the session that asked."""
    if not check_password_hash(user.password_hash, old or ""):
        raise DomainError("原密码：原密码不正确", "old_password")
    _check_password_strength(new, user.username, "new_password", "新密码")
    if old == new:
        raise DomainError("新密码：新密码不能与原密码相同", "new_password")
    with unit_of_work():
        db.session.execute(update(User).where(User.id == user.id)
                           .values(password_hash=generate_password_hash(new), must_change_password=False),
                           execution_options=_NO_SYNC)
        epoch = end_sessions(user.id)
        api_tokens.revoke_personal(user.id)
    db.session.expire(user, ["password_hash", "must_change_password"])
    return epoch


def _check_password_strength(password: str, username: str, field: str = "password", label: str = "密码") -> None:
    password = password or ""
    if len(password) < PASSWORD_MIN or password.isdigit() or password.isalpha():
        raise DomainError(f"{label}：至少 {PASSWORD_MIN} 位，且须同时包含字母和数字", field)
    if password.lower() in COMMON_PASSWORDS:
        raise DomainError(f"{label}：该密码过于常见，容易被猜中，请换一个", field)
    if username and username.strip().lower() in password.lower():
        raise DomainError(f"{label}：密码不能包含用户名", field)


def user_by_id(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def active_accounts(user: User) -> list[Account]:
    return [a for a in user.accounts if a.status == ACTIVE]


def act_as(user: User, account_id: int) -> Principal:
    """Choose the role to act as (1.2 第一步); only the user's own approved accounts."""
    account = next((a for a in active_accounts(user) if a.id == account_id), None)
    if account is None:
        raise NotFound("账号不存在或未通过审核")
    return Principal.of(account)


# -- 账号管理 (platform administrators) -----------------------------------------------------------
ADMIN_ACTIONS = {"disable": "停用账号", "enable": "启用账号", "reset_password": "重置密码", "change_role": "变更角色"}


@dataclass
class AccountPage:
    rows: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def accounts_for_admin(admin: Principal, query: str = "", page: int = 1, per_page: int = 20) -> AccountPage:
    """账号管理: the decided accounts, newest first; ``query`` matches part of the person's name, the
    login (user name) or the organisation's name or credit code."""
    _require_admin(admin)
    stmt = select(Account).join(User, User.id == Account.user_id).join(Organization, Organization.id == Account.org_id) \
        .where(Account.status.in_((ACTIVE, DISABLED)))
    query = (query or "").strip()[:100]
    if query:
        stmt = stmt.where(User.name.contains(query, autoescape=True) | User.username.contains(query, autoescape=True)
                          | Organization.name.contains(query, autoescape=True)
                          | Organization.credit_code.contains(query.upper(), autoescape=True))
    total = db.session.scalar(select(func.count()).select_from(stmt.with_only_columns(Account.id).subquery()))
    page = min(max(page, 1), max(1, -(-total // per_page)))
    rows = list(db.session.scalars(stmt.order_by(Account.id.desc()).limit(per_page).offset((page - 1) * per_page)))
    return AccountPage(rows, total, page, per_page)


def _require_admin(admin: Principal) -> None:
    if not admin.is_admin:
        raise Forbidden()


def _decided_account(account_id: int) -> Account:
    account = db.session.get(Account, account_id)
    if account is None or account.status not in (ACTIVE, DISABLED):
        raise NotFound()
    return account


def _log(admin: Principal, action: str, account: Account, detail: str = "") -> None:
    db.session.add(AdminAction(at=utcnow(), admin_user_id=admin.user_id, admin_name=admin.user_name, action=action,
                               account_id=account.id, detail=detail,
                               target=f"{account.user.name}（{account.user.username}） · {account.org.name}"))


def set_account_disabled(admin: Principal, account_id: int, disabled: bool) -> Account:
    """停用 / 启用 an approved account. Disabling ends every session of its login at once."""
    _require_admin(admin)
    with unit_of_work():
        account = _decided_account(account_id)
        if account.id == admin.account_id:
            raise DomainError("不能停用当前登录的账号")
        account.status = DISABLED if disabled else ACTIVE
        account.reviewed_at = utcnow()
        if disabled:
            end_sessions(account.user_id)
        _log(admin, "disable" if disabled else "enable", account)
    return account


def admin_reset_password(admin: Principal, account_id: int) -> tuple[Account, str]:
    """重置密码: a new temporary password for the account's login, shown once to the administrator;
    the user must choose their own at the next login, and every session of the login ends."""
    _require_admin(admin)
    with unit_of_work():
        account = _decided_account(account_id)
        if account.user_id == admin.user_id:
            raise DomainError("不能重置自己的密码，请使用“修改密码”")
        temporary = _temporary_password()
        set_password(account.user_id, temporary, must_change=True)
        _log(admin, "reset_password", account, "已生成临时密码，用户下次登录须修改密码")
    return account, temporary


def _temporary_password() -> str:
    """Ten letters and digits (both kinds present), without look-alikes (0/O, 1/l/I)."""
    import secrets
    letters, digits = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ", "23456789"
    while True:
        word = "".join(secrets.choice(letters + digits) for _ in range(10))
        if any(c in digits for c in word) and any(c in letters for c in word):
            return word


def change_account_role(admin: Principal, account_id: int, role: str) -> Account:
    """变更角色: the account's role within its organisation (单位管理员 / 经办人)."""
    _require_admin(admin)
    if role not in ACCOUNT_ROLES:
        raise DomainError("角色：请选择有效的角色", "role")
    with unit_of_work():
        account = _decided_account(account_id)
        if account.role == role:
            raise DomainError(f"该账号的角色已是{ACCOUNT_ROLES[role]}", "role")
        before = account.role_label
        account.role = role
        _log(admin, "change_role", account, f"{before} → {ACCOUNT_ROLES[role]}")
    return account


def admin_actions(admin: Principal, account_id: int | None = None, limit: int = 50) -> list[AdminAction]:
    """The action log of 账号管理, newest first (one account's, when given)."""
    _require_admin(admin)
    stmt = select(AdminAction)
    if account_id is not None:
        stmt = stmt.where(AdminAction.account_id == account_id)
    return list(db.session.scalars(stmt.order_by(AdminAction.id.desc()).limit(limit)))


def check_new_password(password: str, username: str) -> None:
    _check_password_strength(password, username, "new_password", "新密码")


def set_password(user_id: int, password: str, must_change: bool = False) -> int:
    """Set the login's password (a reset: no old password), clear its failed logins and end every
    session. Returns the new session epoch."""
    with unit_of_work():
        db.session.execute(update(User).where(User.id == user_id).values(
            password_hash=generate_password_hash(password), must_change_password=must_change, failed_logins=0,
            login_locked_until=None), execution_options=_NO_SYNC)
        return end_sessions(user_id)


def update_enterprise(principal: Principal, values: dict) -> OrgInfoChange | None:
    """保存 the enterprise basic information; each save that changes something is kept in history.
    Every field is checked before any is changed."""
    if principal.kind not in ENTERPRISE_KINDS:
        raise Forbidden("仅企业账号可以维护企业基本信息")
    if principal.role != ORG_ADMIN:
        raise DomainError("仅单位管理员可以修改企业基本信息，请联系本单位的单位管理员")
    with unit_of_work():
        org = db.session.get(Organization, principal.org_id)
        changes = {}
        for field, label in EDITABLE_FIELDS.items():
            if field not in values:
                continue
            new = (values[field] or "").strip()
            if field == "name" and not new:
                raise DomainError("企业名称：请填写企业名称", "name")
            if len(new) > (2000 if field == "business_scope" else 200):
                raise DomainError(f"{label}：内容过长", field)
            old = getattr(org, field) or ""
            if new != old:
                changes[field] = [old, new]
        if not changes:
            return None
        for field, (_old, new) in changes.items():
            setattr(org, field, new)
        org.updated_at = utcnow()
        entry = OrgInfoChange(org_id=org.id, user_id=principal.user_id, user_name=principal.user_name,
                              changes=changes)
        db.session.add(entry)
    return entry


def enterprise_history(principal: Principal) -> list[OrgInfoChange]:
    return list(db.session.scalars(select(OrgInfoChange).where(OrgInfoChange.org_id == principal.org_id)
                                   .order_by(OrgInfoChange.id.desc())))
