"""Forms of the applicant pages: enterprise information, 添加 and the bare action POSTs.

An application's own fields are its edit form file, built by ``webui.form_builder``; business
rules (required fields, upload types, replacement checks) are enforced by the services, whose
messages name the field.
"""
from flask_wtf import FlaskForm
from werkzeug.datastructures import FileStorage
from wtforms import RadioField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from handlers.accounts import EDITABLE_FIELDS

from .inputs import parse_id


def coerce_id(value) -> int:
    """A choice's id for RadioField/SelectField: refused unless a positive 32-bit ASCII integer (an INTEGER id)."""
    number = parse_id(value)
    if number is None:
        raise ValueError("请重新选择")
    return number


def valid_id(message: str):
    """An id kept as text (the select compares strings): empty, or a positive 32-bit ASCII integer (an INTEGER id)."""
    def check(_form, field):
        if field.data and parse_id(field.data) is None:
            raise ValidationError(message)
    return check


def files_only(_form, field):
    """A file field posted as a plain text field is refused, not read as a file."""
    values = field.raw_data or []
    if any(not isinstance(v, FileStorage) and v not in ("", None) for v in values):
        raise ValidationError(f"{field.label.text}：请选择要上传的文件")


class ActionForm(FlaskForm):
    """A bare POST (上报, 撤回, 删除附件): only the CSRF token."""


class PickForm(FlaskForm):
    """The 添加 dialog: one radio choice."""
    target_id = RadioField("请选择", coerce=coerce_id, validate_choice=False,
                           validators=[InputRequired("请选择一项")])


class EnterpriseForm(FlaskForm):
    name = StringField(EDITABLE_FIELDS["name"], validators=[InputRequired("企业名称：请填写企业名称"), Length(max=200, message="内容过长")])
    contact_person = StringField(EDITABLE_FIELDS["contact_person"], validators=[Optional(), Length(max=200, message="内容过长")])
    contact_phone = StringField(EDITABLE_FIELDS["contact_phone"], validators=[Optional(), Length(max=200, message="内容过长")])
    legal_representative = StringField(EDITABLE_FIELDS["legal_representative"],
                                       validators=[Optional(), Length(max=200, message="内容过长")])
    address = StringField(EDITABLE_FIELDS["address"], validators=[Optional(), Length(max=200, message="内容过长")])
    region = StringField(EDITABLE_FIELDS["region"], validators=[Optional(), Length(max=200, message="内容过长")])
    business_scope = TextAreaField(EDITABLE_FIELDS["business_scope"], validators=[Optional(), Length(max=2000, message="内容过长")])

    def values(self) -> dict:
        return {name: getattr(self, name).data or "" for name in EDITABLE_FIELDS}
