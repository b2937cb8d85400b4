"""Session principal: the login (User) and the account (role) it acts as."""
from flask import session
from flask_login import current_user

from handlers.accounts import session_is_current
from handlers.models import User
from handlers.principal import Principal, acting_principal, login_session

ACCOUNT_KEY = "account_id"
EPOCH_KEY = "session_epoch"   # the login's session epoch when this session logged in


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

    def __init__(self, user: User, account=None, header_counts=None):
        self.user = user
        self.account = account   # held for the request: the principal is built from it without a query
        self.header_counts = header_counts   # (active accounts, unread messages) when the login was loaded

    @classmethod
    def load(cls, user_id: int):
        """The session's user, unless the session has been ended since (logout, password change,
        account disabled): then the request is anonymous, whatever the cookie says."""
        user, account, counts = login_session(user_id, session.get(ACCOUNT_KEY))
        if user is None or not session_is_current(user, session.get(EPOCH_KEY)):
            return None
        return cls(user, account, counts)

    def get_id(self):
        return str(self.user.id)


def login_user_wrapper(user: User):
    return _LoginUser(user)


def remember_epoch(epoch: int) -> None:
    """Tie this session to the login's current session epoch."""
    session[EPOCH_KEY] = epoch


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
