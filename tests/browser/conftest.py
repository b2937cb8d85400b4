"""Browser tests: the app served on a local port, driven by Playwright in Debian's Chromium.

They never skip: CI installs Chromium (scripts/install-chromium) and a missing browser fails.
"""
import os
import threading
from types import SimpleNamespace

import pytest
from werkzeug.serving import make_server

from ..world import World

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture()
def live(ctx):
    """A running server over a fresh province (tests/world.py)."""
    world = World.build()
    server = make_server("127.0.0.1", 0, ctx, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}", world=world, app=ctx)
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture()
def new_page(browser):
    """Open isolated browser sessions (one per user); all closed at the end."""
    contexts = []

    def open_page():
        context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
        context.set_default_timeout(10000)
        contexts.append(context)
        return context.new_page()
    yield open_page
    for context in contexts:
        context.close()
