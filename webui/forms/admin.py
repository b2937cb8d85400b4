from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Length


class ApproveForm(FlaskForm):
    pass


class RejectForm(FlaskForm):
    reason = TextAreaField("驳回原因", validators=[Length(max=500)])


class RetryForm(FlaskForm):
    pass
