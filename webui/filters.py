"""Template filters shared by every page."""
import math

from flask import request, url_for
from markupsafe import Markup, escape

from handlers.catalog import local_dt, mask_id

_SLOT = 9_187_201_950_435_737_471   # an id no page shows (beyond any BIGINT key used): the pattern's slot


def url_pattern(endpoint: str, key: str, **values):
    """``url_for(endpoint, key=id, **values)`` as a function of the id, built once: a list's links
    to each row (20 rows, one URL build instead of 20). For integer ids (``<id:…>``/``<bigid:…>``)."""
    head, slot, tail = url_for(endpoint, **{key: _SLOT}, **values).partition(str(_SLOT))
    if not slot:
        raise ValueError(f"{endpoint}: {key} is not in the path")
    return lambda value: f"{head}{int(value)}{tail}"


def page_url(endpoint: str, **values) -> str:
    """The pages' ``url_for``: the same URL, remembered per endpoint, values and request root. A page
    builds a dozen links (tabs, filters, the pager, the navigation), most of them the same on every
    request, and a build walks Werkzeug's rules for each; the URL is a function of what the key
    holds (the application has no url_defaults callbacks: tests/test_page_urls.py), so every worker
    remembers the same. An external URL (with the host) is built each time."""
    if values.get("_external"):
        return url_for(endpoint, **values)
    try:
        key = (endpoint, request.blueprint if endpoint[:1] == "." else None, request.script_root,
               tuple(sorted(values.items())))
        url = _URLS.get(key)
    except TypeError:   # a value that cannot be part of a key (a list): built each time
        return url_for(endpoint, **values)
    if url is None:
        url = url_for(endpoint, **values)
        if len(_URLS) >= _URLS_KEPT:   # searches put user text in links: keep a bounded number
            _URLS.clear()
        _URLS[key] = url
    return url


_URLS: dict = {}
_URLS_KEPT = 4096


def row_cells(columns, row) -> Markup:
    """A list row's cells of the catalog entry's columns: a clipped text carries the whole value as
    its title, an ID number is set in the fixed-width font. One call per row instead of a template
    loop over the columns (a list page has 20 rows of five or more)."""
    cells = []
    for column in columns:
        text = escape(cell_text(column, row))
        if column.fmt == "clip":
            whole = column.value(row)
            cells.append(f'<td class="clip" title="{escape("" if whole is None else whole)}">{text}</td>')
        elif column.fmt == "mask_id":
            cells.append(f'<td class="mono">{text}</td>')
        else:
            cells.append(f"<td>{text}</td>")
    return Markup("".join(cells))


def cell_text(column, row, empty=""):
    """One value of a catalog Column as the pages show it: ``empty`` for None or "", formatted by the
    column's ``fmt`` (a function, not a macro: a list calls it for every cell)."""
    value = column.value(row)
    if value is None or value == "":
        return empty
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
    app.jinja_env.globals["url_for"] = page_url
    app.add_template_global(due_state)
    app.add_template_global(url_pattern)
    app.add_template_global(cell_text)
    app.add_template_global(row_cells)
    app.add_template_filter(local_day)
    app.add_template_filter(local_dt)
    app.add_template_filter(mask_id)
    app.add_template_filter(file_size)
