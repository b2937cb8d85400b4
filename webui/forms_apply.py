"""Forms of the applicant pages: enterprise information and the three applications.

The forms carry CSRF protection and the raw values; business rules (required fields,
upload types, replacement checks) are enforced by the services, whose messages name the field.
"""
from flask_wtf import FlaskForm
from werkzeug.datastructures import FileStorage
from wtforms import FileField, MultipleFileField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from handlers.accounts import EDITABLE_FIELDS

from .inputs import parse_id


def coerce_id(value) -> int:
    """A choice's id for RadioField/SelectField: refused unless a positive 64-bit ASCII integer."""
    number = parse_id(value)
    if number is None:
        raise ValueError("请重新选择")
    return number


def valid_id(message: str):
    """An id kept as text (the select compares strings): empty, or a positive 64-bit ASCII integer."""
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


class UnlockForm(FlaskForm):
    reason = TextAreaField("解锁原因")
    explanation = TextAreaField("说明")
    unlock_form = FileField("建设工程项目人员解锁申请表", validators=[files_only])

    def values(self) -> dict:
        return {"reason": self.reason.data or "", "explanation": self.explanation.data or ""}


class ChangeForm(FlaskForm):
    new_person_id = SelectField("变更后人员", choices=[], validate_choice=False,
                                validators=[valid_id("变更后人员：请从列表中选择变更后人员")])
    reason = TextAreaField("变更原因")
    explanation = TextAreaField("说明")
    attachments = MultipleFileField("附件", validators=[files_only])

    def values(self) -> dict:
        return {"new_person_id": self.new_person_id.data or "", "reason": self.reason.data or "",
                "explanation": self.explanation.data or ""}


class CompletionForm(FlaskForm):
    acceptance_date = StringField("竣工验收日期", render_kw={"type": "date"})
    conclusion = TextAreaField("验收结论")
    permit_no = StringField("施工许可证号")
    explanation = TextAreaField("说明")
    attachments = MultipleFileField("附件", validators=[files_only])

    def values(self) -> dict:
        return {"acceptance_date": (self.acceptance_date.data or "").strip(), "conclusion": self.conclusion.data or "",
                "permit_no": self.permit_no.data or "", "explanation": self.explanation.data or ""}


FORMS = {"unlock": UnlockForm, "change": ChangeForm, "completion": CompletionForm}
