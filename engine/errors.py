"""Typed engine errors. Each carries a Chinese message fit to show a user."""


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class DefinitionError(EngineError):
    """A BPMN file was refused: names the file, the element and the reason."""

    def __init__(self, file: str, element_id: str | None, reason: str):
        where = f"{file}" + (f" 元素 {element_id}" if element_id else "")
        super().__init__(f"流程定义无效：{where}：{reason}", file=file, element_id=element_id)
        self.file = file
        self.element_id = element_id
        self.reason = reason


class DefinitionNotFound(EngineError):
    pass


class UnknownOperator(EngineError):
    pass


class TaskNotFound(EngineError):
    pass


class NotCandidate(EngineError):
    pass


class TaskAlreadyClaimed(EngineError):
    def __init__(self, message: str, holder: str, holder_org: str):
        super().__init__(message, holder=holder, holder_org=holder_org)
        self.holder = holder
        self.holder_org = holder_org


class TaskNotClaimed(EngineError):
    pass


class TaskClosed(EngineError):
    pass


class InvalidFormData(EngineError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message, field=field)
        self.field = field


class ConcurrentModification(EngineError):
    pass


class InstanceErrored(EngineError):
    pass


class NotWithdrawable(EngineError):
    """撤回 refused: the case is not waiting where its diagram accepts a withdrawal."""


class RollbackOnly(EngineError):
    """An inner block of a unit of work failed and the outer block went on to commit: Camunda's
    rollback-only rule. Nothing of the action was kept."""

    def __init__(self):
        super().__init__("操作未完成：其中一步已失败，全部更改均已撤销，请重试")


class PendingWork(RuntimeError):
    """A programming error: a unit of work began while the session held changes made outside any
    unit of work. They are neither committed nor silently dropped."""


class DraftRefused(EngineError):
    """A draft was not saved or not deployed: every problem, each naming its element or file
    (``problems``: DefinitionError, or scenario failures from handlers.scenarios)."""

    def __init__(self, message: str, problems: list | None = None, field: str | None = None):
        super().__init__(message, field=field)
        self.problems = problems or []
        self.field = field
