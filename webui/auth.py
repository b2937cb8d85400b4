"""Session principal: the login (User) and the account (role) it acts as."""
from flask import session
from flask_login import current_user

from handlers.models import User
from handlers.principal import Principal, acting_principal, login_user_by_id

ACCOUNT_KEY = "account_id"


def init_app(app):
    from . import login_manager
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录"

    @login_manager.user_loader
    def load_user(user_id):
        return _LoginUser.load(int(user_id))


class _LoginUser:
    """Flask-Login's view of a User."""
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user: User):
        self.user = user

    @classmethod
    def load(cls, user_id: int):
        user = login_user_by_id(user_id)
        return cls(user) if user else None

    def get_id(self):
        return str(self.user.id)


def login_user_wrapper(user: User):
    return _LoginUser(user)


def current_principal() -> Principal | None:
    """The account the logged-in user acts as, re-checked against the database each request."""
    if not current_user.is_authenticated:
        return None
    account_id = session.get(ACCOUNT_KEY)
    if account_id is None:
        return None
    principal = acting_principal(current_user.user.id, account_id)
    if principal is None:
        session.pop(ACCOUNT_KEY, None)
    return principal
