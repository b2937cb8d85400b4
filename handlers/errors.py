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
