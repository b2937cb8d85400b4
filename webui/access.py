"""Route guards: every route names who may use it; objects are checked in the services."""
from functools import wraps

from flask import abort, g, redirect, request, url_for
from flask_login import current_user

from .auth import current_principal


def principal_required(*kinds: str):
    """Require a logged-in user acting as an account of one of ``kinds`` (any kind when empty).

    Sets ``g.principal``. Not logged in: to the login page; no role chosen: to the role
    picker; wrong kind: 403.
    """
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect(url_for("auth.login", next=request.full_path))
            principal = current_principal()
            if principal is None:
                return redirect(url_for("auth.choose_role", next=request.full_path))
            if kinds and principal.kind not in kinds:
                abort(403)
            g.principal = principal
            return view(*args, **kwargs)
        return wrapper
    return decorate
