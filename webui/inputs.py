"""Route, query and form input parsed in one place, so that no malformed value reaches a query.

- Path ids use the ``<id:…>`` converter: ASCII digits only, 1 .. 2**63-1 (PostgreSQL BIGINT), else
  the route does not match (404). Python's ``int()`` accepts "²"-like Unicode digits and any size.
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

MAX_ID = 2**63 - 1
MAX_PAGE = 100_000            # far beyond any list; keeps LIMIT/OFFSET inside BIGINT
_DIGITS = re.compile(r"[0-9]{1,19}")
_CURSOR = re.compile(r"(\d{4}-\d{2}-\d{2}T[0-9:.]{8,15})_([0-9]{1,19})")
# dates a filter may name; beyond them a date is ignored (and no date arithmetic can overflow)
MIN_DATE, MAX_DATE = date(1900, 1, 1), date(2999, 12, 31)
NUL_MESSAGE = "请求内容不能包含空字符（\\0），请检查后重新提交"


def parse_id(value) -> int | None:
    """A database id from text: ASCII digits within 1 .. 2**63-1, else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 < value <= MAX_ID else None
    value = (value or "").strip() if isinstance(value, str) else ""
    if not _DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


class IdConverter(BaseConverter):
    """``<id:name>``: a positive signed 64-bit id in ASCII digits."""
    regex = r"[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = parse_id(value)
        if number is None:
            raise ValidationError()
        return number

    def to_url(self, value) -> str:
        return str(int(value))


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
    if not match or parse_id(match.group(2)) is None:
        return None
    try:
        at = datetime.fromisoformat(match.group(1))
    except ValueError:
        return None
    return value if MIN_DATE <= at.date() <= MAX_DATE else None


def date_in_range(value: date | None) -> bool:
    return value is None or MIN_DATE <= value <= MAX_DATE


def refuse_nul() -> None:
    """before_request: 400 when any part of the request carries a NUL character."""
    if "\x00" in request.path:
        abort(400, NUL_MESSAGE)
    for multi in (request.args, request.form):
        for key, values in multi.lists():
            if _has_nul(key) or any(_has_nul(v) for v in values):
                abort(400, NUL_MESSAGE)
    for key, storage in request.files.items(multi=True):
        if "\x00" in key or "\x00" in (storage.filename or ""):
            abort(400, NUL_MESSAGE)


def _has_nul(value) -> bool:
    """A form part without a name or a value (a malformed multipart body) carries no NUL either."""
    return isinstance(value, str) and "\x00" in value


def init_app(app) -> None:
    app.url_map.converters["id"] = IdConverter
    app.before_request(refuse_nul)
