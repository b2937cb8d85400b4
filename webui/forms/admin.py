from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, SelectField, StringField
from wtforms.validators import DataRequired, Length


class ApproveForm(FlaskForm):
    pass


class RetryForm(FlaskForm):
    pass


class _DayField(DateField):
    """A date in YYYY-MM-DD, refused with a Chinese message naming the field."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("日期：格式不正确，应为 YYYY-MM-DD") from None


class CalendarDayForm(FlaskForm):
    """A local closed day (休) or extra working day (班)."""
    day = _DayField("日期", validators=[DataRequired(message="日期：请填写日期（YYYY-MM-DD）")])
    working = SelectField("类型", choices=[("0", "休（本地停止办公）"), ("1", "班（本地加班办公）")])
    name = StringField("说明", validators=[Length(max=100, message="说明：不能超过 100 个字")])


class CalendarRemoveForm(FlaskForm):
    day = _DayField("日期", validators=[DataRequired(message="日期：请填写日期（YYYY-MM-DD）")])


class CalendarImportForm(FlaskForm):
    file = FileField("年度安排文件", validators=[FileRequired(message="年度安排文件：请选择 CSV 或 JSON 文件")])


class CalendarYearForm(FlaskForm):
    """Remove a year's entered schedule, or recompute provisional due times: only the CSRF token."""
