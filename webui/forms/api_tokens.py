from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectMultipleField, StringField, widgets
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from handlers.api_tokens import DEFAULT_DAYS, MAX_DAYS
from handlers.models import API_SCOPES


class ClientTokenForm(FlaskForm):
    client = StringField("客户端名称", validators=[DataRequired("请填写客户端名称"), Length(max=100)])
    scopes = SelectMultipleField("权限范围", choices=list(API_SCOPES.items()),
                                 widget=widgets.ListWidget(prefix_label=False),
                                 option_widget=widgets.CheckboxInput(),
                                 validators=[DataRequired("请至少选择一个权限范围")])
    days = IntegerField("有效期（天）", default=DEFAULT_DAYS,
                        validators=[Optional(), NumberRange(1, MAX_DAYS, f"有效期须在 1 至 {MAX_DAYS} 天之间")])


class PersonalTokenForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请填写用户名"), Length(max=50)])
    days = IntegerField("有效期（天）", default=DEFAULT_DAYS,
                        validators=[Optional(), NumberRange(1, MAX_DAYS, f"有效期须在 1 至 {MAX_DAYS} 天之间")])


class TokenActionForm(FlaskForm):
    pass
