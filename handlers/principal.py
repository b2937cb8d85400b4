from dataclasses import dataclass

from engine import Actor

from .models import ENTERPRISE_KINDS, PLATFORM, REGULATOR_KINDS, Account


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
