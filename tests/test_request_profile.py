"""The request profiler (webui/profiling.py): off by default, and when on, every response says
where its time went and how many statements it sent."""
from engine.db import db
from webui import create_app
from webui.profiling import PHASES, parse

from .web_helpers import login


def test_off_by_default_no_header(app, world):
    assert app.config["REQUEST_PROFILE"] is False
    resp = app.test_client().get("/auth/login")
    assert resp.status_code == 200 and "Server-Timing" not in resp.headers


def test_each_response_is_split_into_phases_with_its_statements(app, world):
    db.session.commit()
    profiled = create_app({**{k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "UPLOAD_DIR", "SECRET_KEY")},
                           "TESTING": True, "REQUEST_PROFILE": True})
    try:
        client = profiled.test_client()
        with profiled.app_context():
            login(client, "agency_reviewer")
            resp = client.get("/review/")
        assert resp.status_code == 200
        timing = parse(resp.headers["Server-Timing"])
        assert set(PHASES) <= set(timing) and timing["total"] > 0
        # phases are exclusive, so they add up to the whole request
        assert abs(sum(timing[p] for p in PHASES) - timing["total"]) < 0.01 * timing["total"] + 0.01
        # the page loaded the login and the principal, rendered a template and ran its context processors
        assert timing["login"] > 0 and timing["render"] > 0 and timing["context"] > 0 and timing["sql"] > 0
        assert timing["statements"] >= 3
        redirect = client.get("/")   # a redirect renders nothing
        assert redirect.status_code == 302 and parse(redirect.headers["Server-Timing"])["render"] == 0
    finally:
        with profiled.app_context():
            db.session.remove()
            db.engine.dispose()
