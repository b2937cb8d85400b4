"""Session principal: the login (User) and the account (role) it acts as."""
from urllib.parse import urlsplit

from flask import current_app, redirect, request, session, url_for
from flask_login import current_user, login_user

from handlers.accounts import active_accounts, session_is_current
from handlers.models import User
from handlers.principal import LoginSession, Principal, acting_principal, login_session, login_user_by_id

ACCOUNT_KEY = "account_id"
EPOCH_KEY = "session_epoch"   # the login's session epoch when this session logged in
# in the request's environ (per request, also where tests share one application context): this
# request's cache generation check is done
GENERATIONS_CHECKED = "ynqs.generations_checked"


def init_app(app):
    from . import login_manager
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录"

    @login_manager.user_loader
    def load_user(user_id):
        return _LoginUser.load(int(user_id))

    app.before_request(_password_change_first)


# what a login whose password an administrator reset may still open before choosing a new one
_BEFORE_NEW_PASSWORD = {"auth.password", "auth.logout", "static"}


def _password_change_first():
    """After an administrator's password reset, the login's first task is a new password.
    The operators' endpoints (probes, the metrics scrape) and the JSON API never load a login."""
    from .ops import ENDPOINTS as OPS_ENDPOINTS
    if request.endpoint in _BEFORE_NEW_PASSWORD or request.endpoint in OPS_ENDPOINTS or request.endpoint is None:
        return None
    if (request.blueprint or "").startswith("api_"):
        return None   # the JSON API authenticates by token (webui/api/security.py): no login to load
    if current_user.is_authenticated and current_user.must_change_password:
        return redirect(url_for("auth.password"))
    return None


def safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after login."""
    if not target:
        return None
    target = target.strip()
    if target.endswith("?"):
        target = target[:-1]
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    if target.startswith(url_for("auth.login")) or target.startswith(url_for("auth.logout")):
        return None
    return target


def start_session(user: User, next_url: str | None, account_id: int | None = None):
    """A fresh session for the new login (no fixation), then the role: ``account_id`` when the login
    method chose it (扫码登录: on the phone), the only one, or the role picker."""
    session.clear()
    login_user(_LoginUser(user))
    remember_epoch(user.session_epoch)
    if account_id is None:
        active = active_accounts(user)
        account_id = active[0].id if len(active) == 1 else None
    if account_id is not None:
        session[ACCOUNT_KEY] = account_id
        return redirect(next_url or url_for("main.home"))
    return redirect(url_for("auth.choose_role", next=next_url) if next_url else url_for("auth.choose_role"))


class _LoginUser:
    """Flask-Login's view of a login: at a request, what its login statement read (``LoginSession``,
    plain values); at login, the User. ``user`` (the ORM User) is loaded when a page asks for it."""
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user: User | None = None, login: LoginSession | None = None):
        self._user, self.login = user, login

    @property
    def user(self) -> User:
        if self._user is None:
            self._user = login_user_by_id(self.login.user_id)
        return self._user

    @property
    def user_id(self) -> int:
        return self.login.user_id if self.login is not None else self._user.id

    @property
    def must_change_password(self) -> bool:
        return self.login.must_change_password if self.login is not None else self._user.must_change_password

    @property
    def account_id(self) -> int | None:
        """The session's account as the login statement read it (None: not read with the login)."""
        return self.login.account_id if self.login is not None else None

    @property
    def header_counts(self):
        """(active accounts, unread messages) when the login was loaded, or None."""
        return self.login.header_counts if self.login is not None else None

    @classmethod
    def load(cls, user_id: int):
        """The session's user, unless the session has been ended since (logout, password change,
        account disabled): then the request is anonymous, whatever the cookie says."""
        login = login_session(user_id, session.get(ACCOUNT_KEY))
        if login is not None and login.generations is not False:
            carried_generations(login.generations)   # read with the login: the request's check reads nothing
        if login is None or not session_is_current(login, session.get(EPOCH_KEY)):
            return None
        return cls(login=login)

    def get_id(self):
        return str(self.user_id)


def carried_generations(generations: str | None) -> None:
    """The cache generations another statement of this request read (the login's, the token's):
    the request's check is done with them (webui._refresh_per_request then reads nothing)."""
    if not request.environ.get(GENERATIONS_CHECKED):
        request.environ[GENERATIONS_CHECKED] = True
        current_app.extensions["services"].refresh(generations, read=False)


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
    login = current_user.login
    if login is not None and login.account_id == account_id:
        principal = login.principal   # read with the login this request
    else:
        principal = acting_principal(current_user.user_id, account_id)
    if principal is None:
        session.pop(ACCOUNT_KEY, None)
    return principal
