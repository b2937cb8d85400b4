class DomainError(Exception):
    """A business rule refused the action. The message is shown to the user as is; ``field`` is the
    name of the field it is about (e.g. ``"reason"``), for the page to place it, never a label."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class AccessRefused(Exception):
    """The actor may not see or do this: a 404 or 403 page, never a message beside a field.

    Not a DomainError, so views that show domain refusals need not re-raise these first."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(AccessRefused):
    """The object does not exist or the actor may not see it (never tell which)."""

    def __init__(self, message: str = "记录不存在或无权访问"):
        super().__init__(message)


class Forbidden(AccessRefused):
    def __init__(self, message: str = "无权执行该操作"):
        super().__init__(message)


class FieldErrors(DomainError):
    """Several fields refused at once: ``errors`` maps each field name to its message, in the
    order of the form (the page shows each under its field and focuses the first)."""

    def __init__(self, errors: dict[str, str]):
        first_field = next(iter(errors))
        super().__init__("；".join(errors.values()), first_field)
        self.errors = dict(errors)


class Problems:
    """Runs independent checks and keeps every refusal, so that one submit reports them all."""

    def __init__(self):
        self.errors: dict[str, str] = {}

    def check(self, check, *args, **kwargs):
        try:
            return check(*args, **kwargs)
        except FieldErrors as exc:
            for field, message in exc.errors.items():
                self.errors.setdefault(field, message)
        except DomainError as exc:
            self.errors.setdefault(exc.field or "_", exc.message)
        return None

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    def raise_any(self) -> None:
        if self.errors:
            raise FieldErrors(self.errors)
