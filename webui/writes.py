"""Writing requests and SQLite's one writer: the body is read before the write transaction begins,
and a view that reads what its command then changes reads inside the command's transaction."""
from functools import wraps

from flask import request

from handlers.database import begin_write


def read_body() -> None:
    """Read (and keep) the request's form fields and files now, before a write transaction begins:
    a slow upload never holds SQLite's write lock."""
    request.get_data(parse_form_data=True)


def reads_then_writes(view):
    """A POST whose view reads what its command then changes (the task and its application before a
    decision, the application before its save).

    On SQLite a command begins with BEGIN IMMEDIATE, and beginning it ended the read transaction the
    view had read in, which expired what the view read: the command read the task and the application
    again. Here the view reads inside the write transaction (``begin_write``), and the command goes on
    in it; a view that ends without a command (a refused form) ends the transaction as any read does.
    PostgreSQL: nothing changes.
    """
    @wraps(view)
    def wrapper(*args, **kwargs):
        read_body()
        begin_write()
        return view(*args, **kwargs)
    return wrapper
