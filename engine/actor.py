from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who performs a command: a user acting for one organisation.

    The names are copied into the operation log and inbox rows so that history
    stays readable even if accounts are renamed later.
    """
    user_id: int | None
    user_name: str
    org_id: int | None
    org_name: str

    @classmethod
    def system(cls) -> "Actor":
        return cls(None, "系统", None, "系统")
