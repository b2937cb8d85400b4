"""Login methods (第一章 1.2). Each method is one entry of ``METHODS``; the configuration
(LOGIN_METHODS) says which are offered and in which order. The login page shows every offered
method's panel and hands a posted form to the method it names, so a new way to log in is one
more module here: no change to the login view.

A method has a ``name`` (in the configuration and in its posted form), a ``title``, the
``template`` of its panel, ``panel()`` (what that template needs) and, when it takes a posted
login form, ``submit()``: the User to sign in, or a DomainError with the message to show. A
method may bring routes of its own (``blueprints``: (blueprint, URL prefix) pairs), e.g. the QR
code's polling and the phone's pages.
"""
from flask import current_app

from .password import PasswordLogin
from .qr import QrLogin

METHODS = {m.name: m for m in (PasswordLogin(), QrLogin())}


def parse(value: str) -> list[str]:
    """LOGIN_METHODS ("password,qr"): the names in order; an unknown name stops the start."""
    names = [n.strip() for n in (value or "").replace(" ", ",").split(",") if n.strip()]
    unknown = [n for n in names if n not in METHODS]
    if unknown or not names:
        raise ValueError(f"LOGIN_METHODS: unknown or no login method {unknown or value!r}; "
                         f"known: {', '.join(METHODS)}")
    return names


def offered() -> list:
    return [METHODS[n] for n in current_app.config["LOGIN_METHODS"]]


def offers(name: str) -> bool:
    return name in current_app.config["LOGIN_METHODS"]


def chosen(name: str | None):
    """The offered method a posted form names; without a name, the first offered one that takes a
    posted form (an older client's plain username + password post)."""
    methods = offered()
    if name:
        return next((m for m in methods if m.name == name and m.takes_form), None)
    return next((m for m in methods if m.takes_form), None)


def register(app) -> None:
    app.config["LOGIN_METHODS"] = parse(app.config["LOGIN_METHODS"]) \
        if isinstance(app.config["LOGIN_METHODS"], str) else list(app.config["LOGIN_METHODS"])
    for name in app.config["LOGIN_METHODS"]:
        for blueprint, prefix in METHODS[name].blueprints:
            app.register_blueprint(blueprint, url_prefix=prefix)
