"""The pages' url_for (webui.filters.page_url) remembers URLs: it must give what Flask's gives."""
from flask import url_for

from webui.filters import page_url


def test_the_application_has_no_url_defaults_the_remembered_urls_would_miss(app):
    assert not any(app.url_default_functions.values())
    assert app.jinja_env.globals["url_for"] is page_url


def test_remembered_urls_are_flasks_for_every_request_root_and_blueprint(app):
    cases = [("apps.index", {"kind": "unlock", "status": "draft", "q": None}), ("apps.index", {"kind": "unlock"}),
             ("review.index", {"view": "open", "scope": "昆明 & <x>", "sort": "due"}),
             ("static", {"filename": "app.css"}),
             ("apps.detail", {"kind": "unlock", "app_id": 7, "_anchor": "files"}), (".index", {"kind": "unlock"})]
    for root in ("", "/qs"):
        with app.test_request_context("/apply/unlock/", base_url=f"http://example.test{root}/"):
            for endpoint, values in cases * 2:   # the second time from what was remembered
                assert page_url(endpoint, **values) == url_for(endpoint, **values)
            assert page_url("apps.index", kind="unlock").startswith(root + "/apply/")
            assert page_url("static", filename="app.css", _external=True).startswith("http://example.test")
            assert page_url("review.index", view=["a", "b"]) == url_for("review.index", view=["a", "b"])
    with app.test_request_context("/review/"):
        assert page_url(".index") == url_for("review.index")   # relative to this request's blueprint
