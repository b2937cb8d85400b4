"""Route, query and form input parsed in one place, so that no malformed value reaches a query.

- Path ids use the ``<id:…>`` converter: ASCII digits only, 1 .. 2**31-1 (PostgreSQL INTEGER, the
  id of most tables), else the route does not match (404); ids of the BIGINT tables (applications,
  tasks, instances, notifications, jobs, deliveries) use ``<bigid:…>``, 1 .. 2**63-1. A value beyond
  the column's range would reach PostgreSQL and fail there ("integer out of range"). Python's
  ``int()`` accepts "²"-like Unicode digits and any size.
- Query parameters are read through ``page_arg``, ``count_arg``, ``id_arg`` and ``cursor_arg``: a bad
  value is ignored as a bad filter (the default is used), never passed on.
- NUL characters, which PostgreSQL refuses in text, are refused for the whole request (400 with a
  Chinese message) before any view runs: in the path, query parameters, form fields and upload
  file names. Refusing, rather than stripping, keeps what was stored equal to what was sent.
"""
import re
from datetime import date, datetime

from flask import abort, request
from werkzeug.routing import BaseConverter, ValidationError

MAX_ID = 2**31 - 1            # PostgreSQL INTEGER: the id columns of most tables
MAX_BIG_ID = 2**63 - 1        # PostgreSQL BIGINT: the id columns of the growing tables
MAX_PAGE = 100_000            # far beyond any list; keeps LIMIT/OFFSET inside BIGINT
_DIGITS = re.compile(r"[0-9]{1,19}")
_CURSOR = re.compile(r"(\d{4}-\d{2}-\d{2}T[0-9:.]{8,15})_([0-9]{1,19})")
# dates a filter may name; beyond them a date is ignored (and no date arithmetic can overflow)
MIN_DATE, MAX_DATE = date(1900, 1, 1), date(2999, 12, 31)
NUL_MESSAGE = "请求内容不能包含空字符（\\0），请检查后重新提交"


def parse_id(value, maximum: int = MAX_ID) -> int | None:
    """A database id from text: ASCII digits within 1 .. ``maximum`` (an INTEGER id unless told), else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 < value <= maximum else None
    value = (value or "").strip() if isinstance(value, str) else ""
    if not _DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if 0 < number <= maximum else None


class IdConverter(BaseConverter):
    """``<id:name>``: the id of an INTEGER-keyed table, a positive signed 32-bit number in ASCII digits."""
    regex = r"[0-9]{1,19}"
    maximum = MAX_ID

    def to_python(self, value: str) -> int:
        number = parse_id(value, self.maximum)
        if number is None:
            raise ValidationError()
        return number

    def to_url(self, value) -> str:
        return str(int(value))


class BigIdConverter(IdConverter):
    """``<bigid:name>``: the id of a BIGINT-keyed table, a positive signed 64-bit number."""
    maximum = MAX_BIG_ID


def page_arg(name: str = "page") -> int:
    """A page number from the query string; anything else is page 1."""
    number = parse_id(request.args.get(name))
    return number if number is not None and number <= MAX_PAGE else 1


def count_arg(name: str) -> int:
    """A non-negative counter (e.g. the inbox's row offset ``n``); a bad value is 0."""
    value = request.args.get(name, "")
    if value == "0":
        return 0
    number = parse_id(value)
    return number if number is not None and number <= MAX_PAGE * 100 else 0


def year_arg(name: str = "year") -> int | None:
    """A calendar year from the query string, within the dates a filter may name; else None."""
    number = parse_id(request.args.get(name))
    return number if number is not None and MIN_DATE.year <= number <= MAX_DATE.year else None


def id_arg(name: str) -> int | None:
    return parse_id(request.args.get(name))


def cursor_arg(name: str = "cursor") -> str | None:
    """An inbox cursor ``<ISO time>_<id>`` that the engine can decode, else None (the first page)."""
    value = request.args.get(name) or ""
    match = _CURSOR.fullmatch(value)
    if not match or parse_id(match.group(2), MAX_BIG_ID) is None:   # a task id
        return None
    try:
        at = datetime.fromisoformat(match.group(1))
    except ValueError:
        return None
    return value if MIN_DATE <= at.date() <= MAX_DATE else None


def text_arg(name: str, max_length: int = 100) -> str | None:
    """A search text from the query string, trimmed; empty or too long is no filter."""
    value = (request.args.get(name) or "").strip()
    return value if value and len(value) <= max_length else None


def choice_arg(name: str, choices) -> str | None:
    """A query value that must be one of ``choices``; anything else is no filter."""
    value = request.args.get(name)
    return value if value in choices else None


def date_in_range(value: date | None) -> bool:
    return value is None or MIN_DATE <= value <= MAX_DATE


def refuse_nul() -> None:
    """before_request: 400 when any part of the request carries a NUL character."""
    if "\x00" in request.path:
        abort(400, NUL_MESSAGE)
    # without a Content-Type there is no body to parse: the form and the files are empty
    body = request.want_form_data_parsed
    for multi in (request.args, request.form) if body else (request.args,):
        for key, values in multi.lists():
            if _has_nul(key) or any(_has_nul(v) for v in values):
                abort(400, NUL_MESSAGE)
    if body:
        for key, storage in request.files.items(multi=True):
            if "\x00" in key or "\x00" in (storage.filename or ""):
                abort(400, NUL_MESSAGE)


def _has_nul(value) -> bool:
    """A form part without a name or a value (a malformed multipart body) carries no NUL either."""
    return isinstance(value, str) and "\x00" in value


def init_app(app) -> None:
    app.url_map.converters["id"] = IdConverter
    app.url_map.converters["bigid"] = BigIdConverter
    app.before_request(refuse_nul)
