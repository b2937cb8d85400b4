from dataclasses import dataclass

from engine import Actor
from engine.db import db

from .models import ACTIVE, ENTERPRISE_KINDS, PLATFORM, REGULATOR_KINDS, Account, User


@dataclass(frozen=True)
class Principal:
    """The account a user acts as: one user, one organisation."""
    account_id: int
    user_id: int
    user_name: str
    org_id: int
    org_name: str
    kind: str

    @classmethod
    def of(cls, account: Account) -> "Principal":
        return cls(account.id, account.user_id, account.user.name, account.org_id, account.org.name,
                   account.org.kind)

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


def login_user_by_id(user_id: int):
    """The User behind a login session, or None."""
    return db.session.get(User, user_id)


def acting_principal(user_id: int, account_id: int) -> Principal | None:
    """The principal of the session's account, if it is still the user's and still active."""
    account = db.session.get(Account, account_id)
    if account is None or account.user_id != user_id or account.status != ACTIVE:
        return None
    return Principal.of(account)
