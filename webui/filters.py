"""Template filters shared by every page."""
import math

from flask import url_for

from handlers.catalog import local_dt, mask_id

_SLOT = 9_187_201_950_435_737_471   # an id no page shows (beyond any BIGINT key used): the pattern's slot


def url_pattern(endpoint: str, key: str, **values):
    """``url_for(endpoint, key=id, **values)`` as a function of the id, built once: a list's links
    to each row (20 rows, one URL build instead of 20). For integer ids (``<id:…>``/``<bigid:…>``)."""
    head, slot, tail = url_for(endpoint, **{key: _SLOT}, **values).partition(str(_SLOT))
    if not slot:
        raise ValueError(f"{endpoint}: {key} is not in the path")
    return lambda value: f"{head}{int(value)}{tail}"


def column_formats(columns) -> list[tuple]:
    """(column, its fmt) for a list's loop over its rows: each cell tests the format without an
    attribute look-up."""
    return [(column, column.fmt) for column in columns]


def cell_text(column, row):
    """One value of a catalog Column as the pages show it (the ``cell`` macro of apps/_macros.html
    without its macro call): blank for None or "", formatted by the column's ``fmt``."""
    value = column.value(row)
    if value is None or value == "":
        return ""
    if column.fmt == "mask_id":
        return mask_id(value)
    if column.fmt == "datetime":
        return local_dt(value)
    return value


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
    app.add_template_global(url_pattern)
    app.add_template_global(cell_text)
    app.add_template_global(column_formats)
    app.add_template_filter(local_day)
    app.add_template_filter(local_dt)
    app.add_template_filter(mask_id)
    app.add_template_filter(file_size)
