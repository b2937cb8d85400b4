"""webui.forms.widgets render exactly what WTForms' own widgets render."""
from datetime import date

from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import widgets as wt

from webui.forms import widgets
from webui.forms.review import InboxFilterForm

ODD = 'a"b<c>&\'d 建'


def test_html_params_is_wtforms():
    for kw in ({"name": "q", "id": "q", "value": ODD}, {"checked": True, "readonly": False, "class_": "x y"},
               {"data_pick_page": 2, "aria_label": Markup("<b>"), "value": ""}, {}):
        assert widgets.html_params(**kw) == wt.html_params(**kw)


def test_the_inbox_filter_renders_as_with_wtforms(app):
    queries = [{}, {"process_key": "personnel_unlock", "scope": ODD, "applicant": "<x>", "case_no": "RJ-2026",
                    "date_from": "2026-01-02", "date_to": "bad", "due": "soon", "sort": "due"},
               {"process_key": "nope", "due": '"', "sort": ""}]
    with app.test_request_context():
        for args in queries:
            form = InboxFilterForm(formdata=MultiDict(args))
            form.validate()
            for field in form:
                ours = field.widget
                theirs = {widgets.Select: wt.Select(), widgets.TextInput: wt.TextInput(),
                          widgets.DateInput: wt.DateInput()}[type(ours)]
                for kw in ({}, {"placeholder": ODD}, {"class_": "x", "required": True}):
                    assert ours(field, **kw) == theirs(field, **kw), (field.name, args, kw)
        form = InboxFilterForm(formdata=None, data={"date_from": date(2026, 3, 4)})
        assert str(form.date_from()) == str(wt.DateInput()(form.date_from))


def test_remembered_attributes_and_options_keep_escaping_apart():
    """A value and its Markup twin are equal strings but render differently: what is remembered for
    one is never given for the other."""
    for first, second in ((Markup("<b>"), "<b>"), ("<b>", Markup("<b>"))):
        for value in (first, second, first):   # the second time from what was remembered
            assert widgets.html_params(title=value) == wt.html_params(title=value)
            option = _Choice("1", value, True)
            assert widgets.Select.render_option(option) == wt.Select.render_option(option)
    assert widgets.html_params(value=1) != widgets.html_params(value=True)
    assert widgets.html_params(data=["a", "b"]) == wt.html_params(data=["a", "b"])   # not a key: built each time


class _Choice:
    def __init__(self, value, label, selected, render_kw=None):
        self.value, self.label, self.selected, self.render_kw = value, label, selected, render_kw
