"""Timer expressions: the functions the script engine offers, and the due periods of user tasks.

Timer expressions are Python expressions evaluated by SpiffWorkflow when a timer starts
waiting; they must give an ISO 8601 date-time, duration or cycle. Working days are counted
on the calendar of ``engine.workcalendar`` in China's time zone (UTC+8, no daylight saving).
"""
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, time, timedelta, timezone

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition, DurationTimerEventDefinition, TimerEventDefinition,
)

from . import deadlines, workcalendar

LOCAL_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


class DueSyntaxError(ValueError):
    pass


_SHIFT: ContextVar[timedelta] = ContextVar("timer_clock_shift", default=timedelta(0))


def now_local() -> datetime:
    return (datetime.now(timezone.utc) - _SHIFT.get()).astimezone(LOCAL_TZ)


@contextmanager
def backdated(delta: timedelta):
    """Timer expressions evaluated inside count from ``delta`` ago (demo data that is already late)."""
    token = _SHIFT.set(delta)
    try:
        yield
    finally:
        _SHIFT.reset(token)


def working_days(n: int, start: datetime | None = None) -> str:
    """The moment n working days from now (same time of day), as an ISO date-time."""
    start = start or now_local()
    return _at(workcalendar.add_working_days(start.date(), int(n)), start).isoformat()


def _at(d: date, like: datetime) -> datetime:
    return datetime.combine(d, time(like.hour, like.minute, like.second), like.tzinfo or LOCAL_TZ)


# -- the functions a timer expression may call ----------------------------------------------------
def attached_task(spec):
    """The user task a boundary event ``spec`` is attached to, or None."""
    for split in getattr(spec, "inputs", []):
        for sibling in getattr(split, "outputs", []):
            if sibling is not spec and getattr(sibling, "manual", False):
                return sibling
    return None


def timer_functions(spec, start: datetime | None = None, clock: str | None = None,
                    due: datetime | None = None) -> dict:
    """The names a timer expression of ``spec`` may use: ``working_days(n)``, ``due_at()`` and
    ``due_minus_working_days(n)``. The last two give the attached user task's due time exactly as
    its inbox row gets it (``engine.deadlines.opening``: its ``due`` property, resumed from what
    the instance's ``clock`` kept when a 退回 paused it), or ``due`` (stored UTC) when the task's
    deadline was moved (督办: ProcessEngine.set_due)."""
    def due_utc() -> datetime:
        if due is not None:
            return due
        task = attached_task(spec)
        props = ((task.extensions or {}).get("properties") or {}) if task is not None else {}
        if deadlines.DUE not in props:
            raise DueSyntaxError("due_at() 只能用于附着在声明了 due 属性的用户任务上的边界事件")
        opened = (start or now_local()).astimezone(timezone.utc).replace(tzinfo=None)
        return deadlines.opening(props, clock, task.bpmn_id, opened)["due_at"]

    def due_at() -> str:
        return _local_iso(due_utc())

    def due_minus_working_days(n: int) -> str:
        return _local_iso(deadlines.before_due(due_utc(), int(n)))

    def not_past(fn):
        # a moment already past fires through its job a second from now, after this step's inbox
        # rows exist, rather than inside the step that started the timer
        def wrapped(*args):
            soonest = datetime.now(timezone.utc) + timedelta(seconds=1)
            return max(datetime.fromisoformat(fn(*args)), soonest).astimezone(LOCAL_TZ).isoformat()
        return wrapped

    return {"working_days": not_past(lambda n: working_days(n, start)), "due_at": not_past(due_at),
            "due_minus_working_days": not_past(due_minus_working_days)}


def check_timer(spec) -> str | None:
    """Why the timer expression of ``spec`` is unusable (evaluated now, without task data), or None."""
    definition = spec.event_definition
    try:
        value = eval(compile(definition.expression, f"<{spec.bpmn_id}>", "eval"), timer_functions(spec))
        if isinstance(definition, CycleTimerEventDefinition):
            TimerEventDefinition.parse_iso_recurring_interval(value)
        elif isinstance(definition, DurationTimerEventDefinition):
            TimerEventDefinition.parse_iso_duration(value)
        else:
            TimerEventDefinition.parse_time_or_duration(value)
    except Exception as exc:  # noqa: BLE001 — every failure is reported to the designer
        return f"定时器表达式 {definition.expression!r} 无效：{exc}"
    return None


def fire_time(task) -> datetime | None:
    """When a waiting timer task fires (naive UTC), from the value Spiff stored when it started waiting."""
    value = task._get_internal_data("event_value")
    if value is None:
        return None
    if isinstance(value, dict):   # a cycle: its next occurrence
        value = value.get("next")
    try:
        at = TimerEventDefinition.get_datetime(value) if isinstance(value, str) else None
    except ValueError:
        at = None
    return None if at is None else at.astimezone(timezone.utc).replace(tzinfo=None)


def _local_iso(naive_utc: datetime) -> str:
    return naive_utc.replace(tzinfo=timezone.utc).astimezone(LOCAL_TZ).isoformat()


class TimerFunctionsMixin:
    """For a PythonScriptEngine subclass: timer expressions see the functions of ``timer_functions``."""

    def evaluate(self, task, expression, external_context=None):
        if getattr(task.task_spec, "event_definition", None) is not None:
            step = getattr(self, "step", None)
            clock = step.instance.clock if step is not None and step.instance is not None else None
            external_context = {**timer_functions(task.task_spec, clock=clock), **(external_context or {})}
        return super().evaluate(task, expression, external_context)
