from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, PasswordField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length
from wtforms.widgets import PasswordInput

from engine.text import natural_key
from handlers.models import AGENCY, AUTHORITY, CONSTRUCTION_UNIT, CONTRACTOR, ORG_KINDS, SUPERVISING_FIRM

REGISTRABLE_KINDS = [(k, ORG_KINDS[k]) for k in (CONSTRUCTION_UNIT, CONTRACTOR, SUPERVISING_FIRM, AGENCY, AUTHORITY)]


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=50)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码")])
    next = HiddenField()


class RoleForm(FlaskForm):
    account_id = HiddenField(validators=[DataRequired()])
    next = HiddenField()


class LogoutForm(FlaskForm):
    pass


class KindForm(FlaskForm):
    kind = RadioField("账号类型", choices=REGISTRABLE_KINDS, validators=[DataRequired("请选择账号类型")])


# a refused registration keeps what was typed, passwords included: no retyping after each refusal
_KEPT_PASSWORD = PasswordInput(hide_value=False)


class RegisterForm(FlaskForm):
    kind = HiddenField()
    org_name = StringField("单位名称", validators=[DataRequired("请填写单位名称"), Length(max=200)])
    credit_code = StringField("统一社会信用代码", filters=[natural_key],   # its one spelling, before the length
                              validators=[DataRequired("请填写统一社会信用代码"), Length(max=18)])
    contact_person = StringField("联系人", validators=[DataRequired("请填写联系人"), Length(max=50)])
    mobile = StringField("手机号码", validators=[DataRequired("请填写手机号码"), Length(max=11)])
    username = StringField("用户名", validators=[DataRequired("请填写用户名"), Length(max=50)])
    password = PasswordField("密码", validators=[DataRequired("请填写密码")], widget=_KEPT_PASSWORD)
    confirm = PasswordField("确认密码", validators=[DataRequired("请再次输入密码"),
                                                 EqualTo("password", "两次输入的密码不一致")], widget=_KEPT_PASSWORD)
    licence = FileField("营业执照扫描件")   # required: checked with the upload rules (RegistrationService)


class PasswordForm(FlaskForm):
    old_password = PasswordField("原密码", validators=[DataRequired("请输入原密码")])
    new_password = PasswordField("新密码", validators=[DataRequired("请输入新密码"), Length(max=128)])
    confirm = PasswordField("确认新密码", validators=[DataRequired("请再次输入新密码"),
                                                 EqualTo("new_password", "两次输入的新密码不一致")])


class AddRoleForm(FlaskForm):
    kind = SelectField("账号类型", choices=[("", "请选择")] + REGISTRABLE_KINDS,
                       validators=[DataRequired("请选择账号类型")])
    org_name = StringField("单位名称", validators=[DataRequired("请填写单位名称"), Length(max=200)])
    credit_code = StringField("统一社会信用代码", filters=[natural_key],   # its one spelling, before the length
                              validators=[DataRequired("请填写统一社会信用代码"), Length(max=18)])
    contact_person = StringField("联系人", validators=[DataRequired("请填写联系人"), Length(max=50)])
    mobile = StringField("手机号码", validators=[DataRequired("请填写手机号码"), Length(max=11)])


class CorrectionForm(AddRoleForm):
    """A returned registration's details, corrected by the registrant (username and password stay);
    a new licence scan is optional (without one the last one stays)."""
    licence = FileField("营业执照扫描件")


class ForgotPasswordForm(FlaskForm):
    username = StringField("用户名或电子邮箱", validators=[DataRequired("请填写用户名或电子邮箱"), Length(max=200)])


class ResetPasswordForm(FlaskForm):
    new_password = PasswordField("新密码", validators=[DataRequired("请输入新密码"), Length(max=128)])
    confirm = PasswordField("确认新密码", validators=[DataRequired("请再次输入新密码"),
                                                 EqualTo("new_password", "两次输入的新密码不一致")])
