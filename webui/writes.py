"""Views that read what their command then changes: the reads happen in the command's transaction."""
from functools import wraps

from flask import request

from handlers.database import write_ahead


def reads_then_writes(view):
    """A POST whose view reads what its command then changes (the task and its application before a
    decision, the application before its save).

    On SQLite a command begins with BEGIN IMMEDIATE, and beginning it ended the read transaction the
    view had read in, which expired what the view read: the command read the task and the application
    again. Here the view reads inside the write transaction, and the command goes on in it. The body
    is read first, so that a slow upload never holds SQLite's write lock; a view that ends without a
    command (a refused form) ends the transaction as any read does. PostgreSQL: nothing changes.
    """
    @wraps(view)
    def wrapper(*args, **kwargs):
        request.get_data(parse_form_data=True)   # form fields and files, parsed and kept
        write_ahead()
        return view(*args, **kwargs)
    return wrapper
