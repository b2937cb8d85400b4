"""用户名 + 密码."""
from flask import request

from handlers import accounts
from handlers.models import User

from ..forms.auth import LoginForm


class PasswordLogin:
    name, title = "password", "密码登录"
    template = "auth/_login_password.html"
    takes_form = True
    blueprints = ()

    @staticmethod
    def form() -> LoginForm:
        """One form per request: the posted one keeps its values and errors for the panel. Kept on
        the request, not on ``g``: an application context may outlive one request."""
        form = getattr(request, "password_login_form", None)
        if form is None:
            form = request.password_login_form = LoginForm()
        return form

    def panel(self) -> dict:
        return {"form": self.form()}

    def submit(self) -> User | None:
        form = self.form()
        if not form.validate_on_submit():
            return None   # the panel shows the form's own refusals
        return accounts.authenticate(form.username.data, form.password.data)
