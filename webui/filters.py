"""Template filters shared by every page."""
import math

from handlers.catalog import local_dt, mask_id


def file_size(value) -> str:
    value = value or 0
    if value >= 1024 * 1024:
        return f"{value / 1024 / 1024:.1f} MB"
    return f"{max(1, math.ceil(value / 1024))} KB"


def due_state(task):
    """The due state of an inbox row (剩余 N 个工作日 / 今日到期 / 已超期 N 个工作日, or N 日 for a
    period declared in calendar days), or None."""
    from engine import deadlines
    if task is None or getattr(task, "due_at", None) is None or getattr(task, "state", "open") != "open":
        return None
    return deadlines.state(task.due_at, task.due_provisional, unit=deadlines.unit_of(getattr(task, "due_rule", None)))


def local_day(value) -> str:
    """The local last day of a stored due time."""
    from engine import deadlines
    return deadlines.last_day(value).isoformat() if value else ""


def init_app(app) -> None:
    app.add_template_global(due_state)
    app.add_template_filter(local_day)
    app.add_template_filter(local_dt)
    app.add_template_filter(mask_id)
    app.add_template_filter(file_size)
