from dataclasses import dataclass

from engine import Actor, generations
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import aliased

from engine.db import db

from .models import ACTIVE, DESIGNER, ENTERPRISE_KINDS, ORG_ADMIN, PLATFORM, REGULATOR_KINDS, Account, Notification, User


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


def login_session(user_id: int, account_id: int | None):
    """(user, account, header counts, generations) of a login session: the User, or None; the
    session's account when it is the user's; (active accounts of the login, unread messages of the
    account) as of now, for the page header; and the cache generations as of now
    (``engine.generations.carried``: the request's check then reads nothing), or False when they
    were not read.

    With an account it is one statement: the account, its user and its organisation (the
    account's joined loads), the two counts and the generations as subqueries. The caller keeps the
    account for the request, so that the principal is then read from the session's identity map
    (which holds objects only weakly) instead of being loaded again."""
    if account_id is not None:
        row = db.session.execute(_LOGIN, {"account_id": account_id}).one_or_none()
        if row is not None and row[0].user_id == user_id:
            return row[0].user, row[0], (row[1] or 0, row[2] or 0), row[3]
    return login_user_by_id(user_id), None, None, False


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


# built once: building a statement (an alias above all) costs more than running it
_LOGIN = select(Account, *_counts(Account.user_id, Account.id), generations.carried()) \
    .where(Account.id == bindparam("account_id"))
_HEADER = select(*_counts(bindparam("user_id"), bindparam("account_id")))


def acting_principal(user_id: int, account_id: int) -> Principal | None:
    """The principal of the session's account, if it is still the user's and still active."""
    account = db.session.get(Account, account_id)
    if account is None or account.user_id != user_id or account.status != ACTIVE:
        return None
    return Principal.of(account)
