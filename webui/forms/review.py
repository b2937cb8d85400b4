from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional, ValidationError

from ..inputs import date_in_range

PROCESS_LABELS = {
    "personnel_unlock": "人员解锁申请",
    "manager_change": "项目主要管理人员变更",
    "completion_filing": "竣工验收备案",
}


def _plausible_date(_form, field):
    if not date_in_range(field.data):
        raise ValidationError("日期超出范围")


class InboxFilterForm(FlaskForm):
    class Meta:
        csrf = False   # a GET search form

    process_key = SelectField("业务类型", choices=[("", "全部")] + list(PROCESS_LABELS.items()),
                              validators=[Optional()])
    scope = StringField("工程名称", validators=[Optional(), Length(max=100)])
    applicant = StringField("申请单位", validators=[Optional(), Length(max=100)])
    date_from = DateField("上报时间从", validators=[Optional(), _plausible_date])
    date_to = DateField("至", validators=[Optional(), _plausible_date])
    due = SelectField("时限", choices=[("", "全部"), ("soon", "即将到期"), ("overdue", "已超期")],
                      validators=[Optional()])
    sort = SelectField("排序", choices=[("new", "按上报时间"), ("due", "按到期时间")], validators=[Optional()])


class ActionForm(FlaskForm):
    """签收 / 退回签收: only the CSRF token."""


class DecisionForm(FlaskForm):
    opinion = TextAreaField("意见", validators=[Length(max=2000, message="意见不超过 2000 字")])
