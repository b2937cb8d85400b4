"""What every page's frame (base.html, _nav.html) shows that depends on code alone, built once per
process instead of on every request.

The frame's links (static files, header, footer and the regulators' and administrators' menus) are
URL builds of fixed endpoints, and the enterprises' menus are built from the process catalog
(handlers.catalog, registered when the code is imported) and the organisation kind: neither reads
the database, so no other worker or host can change them. A relative URL depends on the request
only through its script root (the mount point of the application), which is part of each key.
What depends on the request (the active link, the user, the counts, CSRF tokens) stays in the
templates.
"""
from flask import current_app, has_request_context, request
from flask.globals import request_ctx
from markupsafe import Markup, escape

EXTENSION = "page_layout"

STATIC = {
    "favicon": "favicon.svg",
    "flatpickr.css": "vendor/flatpickr/flatpickr.min.css",
    "app.css": "app.css",
    "widgets.css": "widgets.css",
    "nav.js": "nav.js",
    "flatpickr.js": "vendor/flatpickr/flatpickr.min.js",
    "flatpickr.zh.js": "vendor/flatpickr/zh.js",
    "widgets.js": "widgets.js",
}
# name: (endpoint, values); an endpoint that does not exist gives None (the menu skips it)
PAGES = {
    "home": ("main.home", {}),
    "help": ("main.help", {}),
    "messages": ("messages.index", {}),
    "switch": ("auth.switch", {}),
    "accounts": ("auth.my_accounts", {}),
    "password": ("auth.password", {}),
    "logout": ("auth.logout", {}),
    "login": ("auth.login", {}),
    "register": ("auth.register", {}),
    "lookup": ("public.lookup", {}),
    "verify": ("public.verify", {}),
    "mine": ("mine.index", {}),
    "inbox": ("review.index", {}),
    "done": ("review.index", {"view": "done"}),
    "supervision": ("review.supervision", {}),
    "stats": ("desk.stats", {}),
    "registrations": ("admin.registrations", {}),
    "account_list": ("admin.account_list", {}),
    "definitions": ("admin.definitions", {}),
    "calendar": ("admin.calendar", {}),
    "certificates": ("certificates.admin_list", {}),
    "ratings": ("admin.ratings", {}),
    "api_tokens": ("api_tokens.index", {}),
    "studio": ("studio.index", {}),
}


def _cache() -> dict:
    return current_app.extensions.setdefault(EXTENSION, {})


def _cached(key, build):
    """``build()`` once per key and application, unless templates are reloaded (development) or the
    request has no URL adapter (a host Werkzeug could not read: the build fails as it would have)."""
    if current_app.jinja_env.auto_reload or request_ctx.url_adapter is None:
        return build()
    cache = _cache()
    found = cache.get(key)
    if found is None:
        found = cache[key] = build()
    return found


def frame_urls() -> dict:
    """The frame's URLs by name (``STATIC`` and ``PAGES``) for this request's script root."""
    if not has_request_context():   # a template rendered outside a request has no frame
        return {}
    return _cached(("urls", request.script_root), _build_urls)


def _build_urls() -> dict:
    from flask import url_for

    from .blueprints.main import nav_url
    built = {name: url_for("static", filename=filename) for name, filename in STATIC.items()}
    built.update((name, nav_url(endpoint, **values)) for name, (endpoint, values) in PAGES.items())
    return built


def enterprise_menus(kind: str) -> Markup:
    """The menus of an enterprise kind's navigation (_menus.html): its own pages and the catalog's
    processes it files."""
    return _cached(("menus", request.script_root, kind), lambda: _render_menus(kind))


def _render_menus(kind: str) -> Markup:
    from .blueprints.main import nav_url, process_menus
    template = current_app.jinja_env.get_template("_menus.html")
    return Markup(template.render(kind=kind, nav_url=nav_url, process_menus=process_menus))


def nav_link(label: str, url: str | None) -> Markup:
    """A link of the top navigation (nothing without a URL), marked active on its own page: the
    query part counts when the link has one (已办 is the inbox with ?view=done)."""
    if not url:
        return Markup("")
    active = request.path == url.split("?")[0] and ("?" not in url or request.full_path.rstrip("?") == url)
    return Markup(f'<a href="{escape(url)}" class="{"active" if active else ""}">{escape(label)}</a>')
