from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from handlers import catalog

from ..inputs import date_in_range
from . import widgets


def _plausible_date(_form, field):
    if not date_in_range(field.data):
        raise ValidationError("日期超出范围")


class InboxFilterForm(FlaskForm):
    class Meta:
        csrf = False   # a GET search form

    # rendered on every inbox page: widgets with WTForms' HTML at a fraction of its calls
    process_key = SelectField("业务类型", validators=[Optional()], widget=widgets.Select())
    scope = StringField("工程名称", validators=[Optional(), Length(max=100)], widget=widgets.TextInput())
    applicant = StringField("申请单位", validators=[Optional(), Length(max=100)], widget=widgets.TextInput())
    case_no = StringField("办件编号", validators=[Optional(), Length(max=30)], widget=widgets.TextInput())
    date_from = DateField("上报时间从", validators=[Optional(), _plausible_date], widget=widgets.DateInput())
    date_to = DateField("至", validators=[Optional(), _plausible_date], widget=widgets.DateInput())
    due = SelectField("时限", choices=[("", "全部"), ("soon", "即将到期"), ("overdue", "已超期")],
                      validators=[Optional()], widget=widgets.Select())
    sort = SelectField("排序", choices=[("new", "按上报时间"), ("due", "按到期时间")], validators=[Optional()],
                       widget=widgets.Select())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.process_key.choices = [("", "全部")] + list(catalog.titles().items())


class ActionForm(FlaskForm):
    """签收 / 退回签收: only the CSRF token."""
