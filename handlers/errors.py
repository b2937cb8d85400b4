class DomainError(Exception):
    """A business rule refused the action. The message is shown to the user as is."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """The object does not exist or the actor may not see it (never tell which)."""

    def __init__(self, message: str = "记录不存在或无权访问"):
        super().__init__(message)


class Forbidden(DomainError):
    def __init__(self, message: str = "无权执行该操作"):
        super().__init__(message)
