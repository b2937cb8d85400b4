"""WTForms classes built from form files (engine.forms.FormSpec): CSRF kept, one class per form."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, FileField, MultipleFileField, RadioField, SelectField, StringField, TextAreaField

from engine.forms import FieldSpec, FormSpec
from handlers.applications import Upload

from .forms_apply import files_only, valid_id

# One WTForms class per form and targets, built once per loaded FormSpec. A spec comes from a deployed
# version's bundle, which never changes (new content is a new version, with a spec of its own), so a
# class is never stale and needs no invalidation: a new spec object simply builds its own class.
_CLASSES: dict[tuple, type] = {}


class SpecForm(FlaskForm):
    """A form file's fields; ``slots`` are the FieldSpecs it renders, in file order."""
    spec: FormSpec = None
    slots: tuple[FieldSpec, ...] = ()

    def values(self) -> dict:
        """The submitted values of the non-file fields (strings; the server validates them)."""
        return {f.name: _text(getattr(self, f.name).data) for f in self.slots if not f.is_file}

    def uploads(self) -> list[Upload]:
        files = []
        for f in self.slots:
            if not f.is_file:
                continue
            data = getattr(self, f.name).data
            for item in (data or []) if f.multiple else [data]:
                if item and getattr(item, "filename", None):
                    files.append(Upload(f.kind, item.filename, item.read()))
        return files

    def fill(self, record) -> None:
        """Show a record's current values (an application's own columns)."""
        for f in self.slots:
            if not f.is_file and hasattr(record, f.name):
                value = getattr(record, f.name)
                getattr(self, f.name).data = value.isoformat() if hasattr(value, "isoformat") else \
                    ("" if value is None else str(value) if f.type == "integer" else value)


def form_class(spec: FormSpec, targets: tuple[str, ...]) -> type[SpecForm]:
    """The WTForms class of the spec's fields with these ``x-target``s (the outcome of an edit form,
    上报/撤回, has its own buttons and routes and is left out)."""
    key = (spec.key, targets)
    cls = _CLASSES.get(key)
    if cls is None or cls.spec is not spec:   # built once per loaded form file
        slots = tuple(f for f in spec.fields if f.target in targets
                      and not (f.name == spec.outcome and "application" in targets))
        attrs = {f.name: _field(f) for f in slots}
        cls = type(f"Form_{spec.key.replace('.', '_')}", (SpecForm,), {**attrs, "spec": spec, "slots": slots})
        _CLASSES[key] = cls
    return cls


def _field(f: FieldSpec):
    if f.is_file:   # a file slot posted as plain text is refused, not read as a file
        return (MultipleFileField if f.multiple else FileField)(f.title, validators=[files_only])
    if f.type == "boolean":
        return BooleanField(f.title)
    if f.widget == "textarea":
        return TextAreaField(f.title)
    if f.widget in ("select", "custom"):
        # an id kept as text (the select compares strings): empty, or a positive 64-bit integer
        ids = [valid_id(f"{f.title}：请从列表中选择{f.title}")] if f.type == "integer" else []
        return SelectField(f.title, choices=[("", f"请选择{f.title}")] + f.choices, validate_choice=False,
                           validators=ids)
    if f.widget == "radio":
        return RadioField(f.title, choices=f.choices, validate_choice=False)
    if f.widget == "date":
        return StringField(f.title, render_kw={"type": "date"})
    return StringField(f.title)


def _text(value) -> str:
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value)
