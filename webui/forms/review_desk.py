"""Forms of the reviewer's desk: 转办, 常用意见, 批量签收 (the services check the values)."""
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class DeskForm(FlaskForm):
    """转办 and 批量签收: the CSRF token; the values are checked by the review service."""


class PhraseForm(FlaskForm):
    text = StringField("常用意见", validators=[DataRequired(message="常用意见：请填写意见内容"),
                                            Length(max=200, message="常用意见：不能超过 200 个字")])
