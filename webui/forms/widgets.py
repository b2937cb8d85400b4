"""WTForms widgets that render the same HTML as WTForms' own with fewer calls.

WTForms joins each attribute through ``Markup.format`` (a string.Formatter pass per attribute);
``html_params`` below builds the same text (attributes sorted by name, ``True`` as the bare name,
``False`` left out, values escaped with ``"`` as ``&quot;``) with plain string joins. A page's
filter form renders two dozen attributes and options, so this is most of its rendering.
"""
from collections import namedtuple
from functools import lru_cache

from markupsafe import Markup, escape
from wtforms import widgets
from wtforms.widgets.core import clean_key

_QUOTE, _QUOTE_ENTITY = Markup('"'), Markup("&quot;")
_Option = namedtuple("_Option", "value label selected render_kw")   # what render_option reads of a choice


def html_params(**kwargs) -> Markup:
    """wtforms.widgets.html_params, the same output; remembered for the attribute sets pages render
    again and again (a filter's options, its empty inputs): a pure function of its arguments."""
    items = tuple(sorted(kwargs.items()))
    try:
        # each value's type is part of the key: Markup("<b>") equals "<b>" but is not escaped
        return _remembered_params(tuple((key, type(value), value) for key, value in items))
    except TypeError:   # a value that cannot be a key (a list): built each time
        return _params(items)


@lru_cache(maxsize=4096)
def _remembered_params(typed_items: tuple) -> Markup:
    return _params((key, value) for key, _type, value in typed_items)


def _params(items) -> Markup:
    params = []
    for key, value in items:
        if value is True:
            params.append(escape(clean_key(key)))
        elif value is not False:
            params.append(f'{escape(clean_key(key))}="{escape(value).replace(_QUOTE, _QUOTE_ENTITY)}"')
    return Markup(" ".join(params))


class TextInput(widgets.TextInput):
    html_params = staticmethod(html_params)


class DateInput(widgets.DateInput):
    html_params = staticmethod(html_params)


class Select(widgets.Select):
    """A select without option groups (WTForms' Select for those)."""

    def __call__(self, field, **kwargs):
        if self.multiple or field.has_groups():
            return super().__call__(field, **kwargs)
        kwargs.setdefault("id", field.id)
        flags = getattr(field, "flags", {})
        for k in dir(flags):
            if k in self.validation_attrs and k not in kwargs:
                kwargs[k] = getattr(flags, k)
        html = [f"<select {html_params(name=field.name, **kwargs)}>"]
        html.extend(self.render_option(choice) for choice in field._iter_choices_normalized())
        html.append("</select>")
        return Markup("".join(html))

    @classmethod
    def render_option(cls, choice, **kwargs):
        if not kwargs and not choice.render_kw:
            try:
                return _option(choice.value, choice.label, bool(choice.selected))
            except TypeError:   # a value or label that cannot be a key
                pass
        return cls._render_option(choice, **kwargs)

    @classmethod
    def _render_option(cls, choice, **kwargs):
        value = choice.value
        if isinstance(value, bool):
            value = str(value)
        options = {"value": value, **(choice.render_kw or {}), **kwargs}
        if choice.selected:
            options["selected"] = True
        return Markup(f"<option {html_params(**options)}>{escape(choice.label or choice.value)}</option>")


@lru_cache(maxsize=4096, typed=True)   # typed: Markup("<b>") equals "<b>" but is not escaped
def _option(value, label, selected: bool) -> Markup:
    """An option without extra attributes, remembered: the same few options are on every inbox page."""
    return Select._render_option(_Option(value, label, selected, None))
