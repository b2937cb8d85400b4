"""The message centre (站内信) and its delivery channels.

A notification goes to the members (active accounts) of the organisations named, but only of
those that may see the application at that moment: its applicant, and the project's competent
authority and supervision agency once it was reported. The in-app channel writes the message
row in the transaction of the event itself; every other channel's delivery is a job
(engine.jobs), so a slow or failing mail server never holds up or rolls back a review.
"""
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from sqlalchemy import DateTime, Integer, String, Text, and_, bindparam, exists, func, or_, select, update

from engine import jobs
from engine.db import db, read_values
from engine.models import utcnow
from engine.text import single_line

from .models import ACTIVE, PLATFORM, Account, Notification, NotificationSetting, Organization, User
from . import catalog
from .registry import registry

# kind -> (label, who receives it)
KINDS = {
    "task_offered": ("新的待审核任务", "reviewer"),
    "task_released": ("任务被退回签收", "reviewer"),
    "task_transferred": ("任务转办给您", "reviewer"),
    "task_moved": ("工程监管单位变更转来的任务", "reviewer"),
    "due_soon": ("超期预警", "reviewer"),
    "overdue": ("已超期", "reviewer"),
    "urged": ("申请人催办", "reviewer"),
    "supervised": ("主管部门督办", "reviewer"),
    "rectification": ("差评整改", "reviewer"),
    "claimed": ("申请已被签收", "applicant"),
    "returned": ("申请被退回", "applicant"),
    "approved": ("申请已办结", "applicant"),
    "recheck_failed": ("复核未通过", "applicant"),
    "unit_changed": ("参建单位变更", "applicant"),
    "incident": ("系统异常", "admin"),
    "registration": ("新的注册申请", "admin"),
}
EMAIL_JOB = "notify.email"


@dataclass
class SmtpSettings:
    host: str
    port: int = 25
    sender: str = "noreply@localhost"
    user: str | None = None
    password: str | None = None
    starttls: bool = False


class InAppChannel:
    name, label = "inapp", "站内信"

    def available(self) -> bool:
        return True


class EmailChannel:
    name, label = "email", "电子邮件"
    settings: SmtpSettings | None = None

    def available(self) -> bool:
        return self.settings is not None

    def send(self, to: str, subject: str, body: str) -> None:
        s = self.settings
        msg = EmailMessage()
        # a header is one line: a line break kept in an older name would make the message unsendable
        msg["From"], msg["To"], msg["Subject"] = s.sender, single_line(to), single_line(subject)
        msg.set_content(body)
        with smtplib.SMTP(s.host, s.port, timeout=30) as smtp:
            if s.starttls:
                smtp.starttls()
            if s.user:
                smtp.login(s.user, s.password or "")
            smtp.send_message(msg)


CHANNELS = {c.name: c for c in (InAppChannel(), EmailChannel())}


def configure_email(settings: SmtpSettings | None) -> None:
    CHANNELS["email"].settings = settings


# -- sending -----------------------------------------------------------------------------------
def visible_org_ids(app) -> set[int]:
    """The organisations that may see the application now (as ApplicationService.get decides)."""
    orgs = {app.applicant_org_id}
    if app.reported_at:
        orgs.update(app.project.regulator_ids)
    return orgs


def notify(kind: str, org_ids, title: str, body: str = "", *, app=None, task_id: int | None = None,
           exclude_user_id: int | None = None, only_user_id: int | None = None) -> int:
    """Send a notification of ``kind`` to the members of ``org_ids`` (limited to who may see ``app``).

    Runs inside the caller's unit of work; returns how many accounts were addressed.
    """
    from .webhooks import on_notification
    on_notification(kind, app, task_id)   # the same moments are webhook events for machine clients
    orgs = set(org_ids)
    if app is not None:
        orgs &= visible_org_ids(app)
    if not orgs:
        return 0
    case_no = getattr(app, "case_no", None)
    if case_no:   # every message about an application names its case number (办件编号)
        title, body = f"{title}（{case_no}）", f"办件编号：{case_no}\n{body}" if body else f"办件编号：{case_no}"
    entry = catalog.entry_of(app) if app is not None else None
    email = CHANNELS["email"].available()
    if not email:   # in-app messages only: chosen and written by one statement
        db.session.flush()
        return db.session.connection().execute(_INSERT_FOR_RECIPIENTS, {
            "kind": kind, "org_ids": sorted(orgs), "title": title, "body": body,
            "app_kind": entry.kind if entry else None, "app_id": getattr(app, "id", None), "task_id": task_id,
            "created_at": utcnow(), "exclude_user_id": exclude_user_id, "only_user_id": only_user_id}).rowcount
    rows = read_values(_RECIPIENTS, {"kind": kind, "org_ids": list(orgs)}).all()
    rows = [r for r in rows if r.user_id != exclude_user_id and only_user_id in (None, r.user_id)]
    off = {(r.user_id, c) for r in rows for c in ("inapp", "email") if getattr(r, f"{c}_off")}
    now, messages, emails = utcnow(), [], []
    for r in rows:
        if (r.user_id, "inapp") not in off:
            messages.append(dict(account_id=r.id, user_id=r.user_id, kind=kind, title=title, body=body,
                                 app_kind=entry.kind if entry else None, app_id=getattr(app, "id", None),
                                 task_id=task_id, created_at=now))
        if r.email and email and (r.user_id, "email") not in off:
            emails.append((EMAIL_JOB, {"to": r.email, "subject": f"【质量安全管理系统】{title}", "body": body or title},
                           None))
    if messages:
        db.session.flush()
        db.session.connection().execute(_INSERT, messages)
    jobs.enqueue_many(emails)
    return len(rows)


def _off(channel: str):
    """Whether the recipient turned ``channel`` off for the kind sent (an EXISTS on the account row)."""
    setting, account = NotificationSetting.__table__.c, Account.__table__.c
    return exists().where(setting.user_id == account.user_id, setting.kind == bindparam("kind", type_=String),
                          setting.channel == channel, setting.enabled.is_(False))


def _turned_off(channel: str):
    """``_off`` read with the recipients."""
    return _off(channel).label(f"{channel}_off")


def _recipients():
    """The active accounts of the organisations ``org_ids``, with whether each turned the in-app and
    the e-mail channel off for ``kind``: built once, run as Core."""
    account, user = Account.__table__, User.__table__
    return (select(account.c.id, account.c.user_id, user.c.email, _turned_off("inapp"), _turned_off("email"))
            .join(user, user.c.id == account.c.user_id)
            .where(account.c.org_id.in_(bindparam("org_ids", expanding=True)), account.c.status == ACTIVE)
            .order_by(account.c.id))


def _insert_for_recipients():
    """The in-app messages of ``notify`` when no e-mail goes out: the recipients (``_recipients``,
    less those who turned the in-app channel off, ``exclude_user_id``, and all but ``only_user_id``
    when given) chosen and their messages written in one INSERT … SELECT, built once."""
    account, n = Account.__table__, Notification.__table__
    exclude, only = bindparam("exclude_user_id", type_=Integer), bindparam("only_user_id", type_=Integer)
    values = {"account_id": account.c.id, "user_id": account.c.user_id,
              "kind": bindparam("kind", type_=String), "title": bindparam("title", type_=String),
              "body": bindparam("body", type_=Text), "app_kind": bindparam("app_kind", type_=String),
              "app_id": bindparam("app_id", type_=Integer), "task_id": bindparam("task_id", type_=Integer),
              "created_at": bindparam("created_at", type_=DateTime)}
    chosen = (select(*values.values())
              .where(account.c.org_id.in_(bindparam("org_ids", expanding=True)), account.c.status == ACTIVE,
                     ~_off("inapp"), or_(exclude.is_(None), account.c.user_id != exclude),
                     or_(only.is_(None), account.c.user_id == only))
              .order_by(account.c.id))
    return n.insert().from_select(list(values), chosen)


_RECIPIENTS = _recipients()
_INSERT = Notification.__table__.insert()
_INSERT_FOR_RECIPIENTS = _insert_for_recipients()


@registry.job_handler(EMAIL_JOB)
def _deliver_email(job) -> None:
    channel = CHANNELS["email"]
    if not channel.available():
        raise RuntimeError("未配置 SMTP（SMTP_HOST）")
    channel.send(job.payload["to"], job.payload["subject"], job.payload["body"])


@registry.incident_listener
def _incident(kind: str, ref_id: int, message: str) -> None:
    """Administrators hear of every incident: an errored instance or a job that kept failing."""
    platform = db.session.scalars(select(Organization.id).where(Organization.kind == PLATFORM)).all()
    what = f"流程实例 {ref_id}" if kind == "instance" else f"作业 {ref_id}"
    notify("incident", platform, f"{what}出现异常", message)


# -- the message centre ------------------------------------------------------------------------
def unread_count(account_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.account_id == account_id, Notification.read_at.is_(None))) or 0


def inbox(account_id: int, page: int = 1, per_page: int = 20, unread_only: bool = False):
    stmt = select(Notification).where(Notification.account_id == account_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = db.session.scalars(stmt.order_by(Notification.id.desc()).limit(per_page)
                              .offset((max(page, 1) - 1) * per_page)).all()
    return list(rows), total


def mark_read(account_id: int, notification_id: int | None = None) -> int:
    """Mark one message (or all of the account's) read; another account's message is never touched."""
    cond = and_(Notification.account_id == account_id, Notification.read_at.is_(None))
    if notification_id is not None:
        cond = and_(cond, Notification.id == notification_id)
    result = db.session.execute(update(Notification).where(cond).values(read_at=utcnow())
                                .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount


def get_own(account_id: int, notification_id: int) -> Notification | None:
    n = db.session.get(Notification, notification_id)
    return n if n is not None and n.account_id == account_id else None


def kinds_for(org_kind: str) -> list[str]:
    from .models import ENTERPRISE_KINDS, REGULATOR_KINDS
    audience = "reviewer" if org_kind in REGULATOR_KINDS else "applicant" if org_kind in ENTERPRISE_KINDS else "admin"
    return [k for k, (_label, who) in KINDS.items() if who == audience]


def settings_for(user_id: int) -> dict[tuple[str, str], bool]:
    rows = db.session.execute(select(NotificationSetting.kind, NotificationSetting.channel,
                                     NotificationSetting.enabled).where(NotificationSetting.user_id == user_id))
    return {(k, c): e for k, c, e in rows}


def email_of(user_id: int) -> str:
    """The e-mail address the user gave for notifications, or ""."""
    return db.session.scalar(select(User.email).where(User.id == user_id)) or ""


def save_settings(user_id: int, kinds: list[str], chosen: set[tuple[str, str]], email: str | None) -> None:
    """Store the user's channels for ``kinds`` (checked pairs in ``chosen``) and their e-mail address."""
    for kind in kinds:
        for channel in CHANNELS:
            row = db.session.get(NotificationSetting, (user_id, kind, channel))
            enabled = (kind, channel) in chosen
            if row is None:
                db.session.add(NotificationSetting(user_id=user_id, kind=kind, channel=channel, enabled=enabled))
            else:
                row.enabled = enabled
    user = db.session.get(User, user_id)
    user.email = email or None
    db.session.commit()
