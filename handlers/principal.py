from dataclasses import dataclass

from engine import Actor, generations
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import aliased

from engine.db import db, read_values

from .models import (
    ACTIVE, DESIGNER, ENTERPRISE_KINDS, ORG_ADMIN, PLATFORM, REGULATOR_KINDS, Account, Notification, Organization,
    User,
)


@dataclass(frozen=True)
class Principal:
    """The account a user acts as: one user, one organisation."""
    account_id: int
    user_id: int
    user_name: str
    org_id: int
    org_name: str
    kind: str
    role: str = ORG_ADMIN   # within the organisation (ACCOUNT_ROLES)

    @classmethod
    def of(cls, account: Account) -> "Principal":
        return cls(account.id, account.user_id, account.user.name, account.org_id, account.org.name,
                   account.org.kind, account.role)

    @property
    def actor(self) -> Actor:
        return Actor(self.user_id, self.user_name, self.org_id, self.org_name)

    @property
    def is_enterprise(self) -> bool:
        return self.kind in ENTERPRISE_KINDS

    @property
    def is_regulator(self) -> bool:
        return self.kind in REGULATOR_KINDS

    @property
    def is_admin(self) -> bool:
        return self.kind == PLATFORM

    @property
    def is_designer(self) -> bool:
        """流程设计: the studio's drafts, checks, process tests, deploys and versions (handlers.studio)."""
        return self.kind == DESIGNER


def login_user_by_id(user_id: int):
    """The User behind a login session, or None."""
    return db.session.get(User, user_id)


@dataclass(frozen=True)
class LoginSession:
    """What a request needs of its login, read with one statement (``login_session``)."""
    user_id: int
    session_epoch: int
    must_change_password: bool
    account_id: int | None = None          # the session's account, when it is the user's
    principal: Principal | None = None     # that account acting, when it is active
    header_counts: tuple[int, int] | None = None   # (active accounts of the login, unread messages)
    generations: str | None | bool = False          # engine.generations.carried; False: not read


def login_session(user_id: int, account_id: int | None) -> LoginSession | None:
    """The login session of ``user_id`` acting as ``account_id``, or None when the user is gone.

    With an account it is one statement, read as plain values (no ORM objects): the account, its
    user and its organisation, the page header's two counts and the cache generations (the request's
    generation check then reads nothing). Without one, or when the account is not the user's, the
    user alone."""
    if account_id is not None:
        # as Core (read_values): a row of values, without the ORM's execution of a statement
        row = read_values(_LOGIN, {"account_id": account_id}).one_or_none()
        if row is not None and row.user_id == user_id:
            principal = Principal(row.id, row.user_id, row.user_name, row.org_id, row.org_name, row.org_kind,
                                  row.role) if row.status == ACTIVE else None
            return LoginSession(row.user_id, row.session_epoch, bool(row.must_change_password), row.id, principal,
                                (row.accounts or 0, row.unread or 0), row.generations)
    user = login_user_by_id(user_id)
    if user is None:
        return None
    return LoginSession(user.id, user.session_epoch, bool(user.must_change_password))


def header_counts(user_id: int, account_id: int | None) -> tuple[int, int]:
    """(active accounts of the login, unread messages of the account) for the page header, in
    one statement."""
    row = db.session.execute(_HEADER, {"user_id": user_id, "account_id": account_id}).one()
    return row[0] or 0, row[1] or 0


def _counts(user_id, account_id) -> tuple:
    other = aliased(Account)
    return (select(func.count()).select_from(other).where(other.user_id == user_id, other.status == ACTIVE)
            .scalar_subquery(),
            select(func.count()).select_from(Notification)
            .where(Notification.account_id == account_id, Notification.read_at.is_(None)).scalar_subquery())


def _login():
    account, user, org = Account.__table__.c, User.__table__.c, Organization.__table__.c
    accounts, unread = _counts(account.user_id, account.id)
    return (select(account.id, account.user_id, account.status, account.role, user.name.label("user_name"),
                   user.session_epoch, user.must_change_password, account.org_id, org.name.label("org_name"),
                   org.kind.label("org_kind"), accounts.label("accounts"), unread.label("unread"),
                   generations.carried())
            .join_from(Account.__table__, User.__table__, user.id == account.user_id)
            .join(Organization.__table__, org.id == account.org_id)
            .where(account.id == bindparam("account_id")))


# built once: building a statement (an alias above all) costs more than running it
_LOGIN = _login()
_HEADER = select(*_counts(bindparam("user_id"), bindparam("account_id")))


def acting_principal(user_id: int, account_id: int) -> Principal | None:
    """The principal of the session's account, if it is still the user's and still active."""
    account = db.session.get(Account, account_id)
    if account is None or account.user_id != user_id or account.status != ACTIVE:
        return None
    return Principal.of(account)
