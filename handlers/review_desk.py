"""The reviewer's desk (issue 12, features 6 and 7): 转办, 批量签收, the next open task, 常用意见.

A mixin of ``ReviewService``: every task command goes through the engine's claim gates, one
command per task, so a batch is all or nothing per task, never half a task.
"""
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError

from engine import Actor
from engine.db import db, unit_of_work
from engine.errors import EngineError
from engine.inbox import ReviewInbox

from .applications import application_for
from .errors import DomainError, NotFound
from .models import ACTIVE, REGULATOR_KINDS, Account, OpinionPhrase, Organization, User
from .notifications import notify
from .principal import Principal

TRANSFER_REASON_MAX = 200
PHRASE_MAX, PHRASES_PER_USER = 200, 30
PHRASE_SAVED = "常用意见：该意见已保存"
BATCH_MAX = 100
EXPORT_PAGE, EXPORT_MAX = 1000, 200_000


@dataclass(frozen=True)
class Refusal:
    task_id: int
    subject: str
    reason: str


@dataclass
class BatchResult:
    claimed: list
    refused: list[Refusal]


# built once: building a statement costs more than running it (the task page asks for both)
_COLLEAGUES = (select(User.id, User.name).join(Account, Account.user_id == User.id)
               .join(Organization, Organization.id == Account.org_id)
               .where(Account.org_id == bindparam("org_id"), Account.status == ACTIVE,
                      Organization.kind.in_(REGULATOR_KINDS), User.id != bindparam("user_id"))
               .order_by(User.name, User.id))
_PHRASES = select(OpinionPhrase).where(OpinionPhrase.user_id == bindparam("user_id")).order_by(OpinionPhrase.id)


class ReviewDesk:
    """Mixed into ReviewService (which supplies engine, task, claim, inbox, _require_reviewer)."""

    # -- 转办 ---------------------------------------------------------------------------------
    def colleagues(self, principal: Principal) -> list[tuple[int, str]]:
        """The other active reviewers of the principal's organisation: (user id, name)."""
        self._require_reviewer(principal)
        return [tuple(r) for r in db.session.execute(
            _COLLEAGUES, {"org_id": principal.org_id, "user_id": principal.user_id}).all()]

    def transfer(self, principal: Principal, task_id: int, to_user_id, reason: str):
        """转办: hand the task I hold to a colleague, with a reason; they are told."""
        self._require_reviewer(principal)
        reason = (reason or "").strip()
        errors = []
        names = dict(self.colleagues(principal))
        if to_user_id not in names:
            errors.append(DomainError("转办给：请选择本单位的其他审核人员", "to_user_id"))
        if not reason:
            errors.append(DomainError("转办原因：请填写转办原因", "reason"))
        elif len(reason) > TRANSFER_REASON_MAX:
            errors.append(DomainError(f"转办原因：不能超过 {TRANSFER_REASON_MAX} 个字", "reason"))
        if errors:
            raise errors[0]
        with self.engine.command(), _not_found_for_strangers():
            to = Actor(to_user_id, names[to_user_id], principal.org_id, principal.org_name)
            task = self.engine.transfer(task_id, principal.actor, to, reason)
            app = application_for(task.process_key, task.instance_id)
            notify("task_transferred", [principal.org_id], f"任务转办给您：{task.subject}",
                   f"{principal.user_name}将“{task.subject}”转办给您。原因：{reason}",
                   app=app, task_id=task.id, only_user_id=to_user_id)
            return task

    # -- 批量签收 ----------------------------------------------------------------------------
    def claim_many(self, principal: Principal, task_ids) -> BatchResult:
        """签收 each task in its own command: a task is claimed whole or not at all, with the reason."""
        self._require_reviewer(principal)
        ids = list(dict.fromkeys(task_ids))[:BATCH_MAX]
        claimed, refused = [], []
        for task_id in ids:
            try:
                claimed.append(self.claim(principal, task_id))
            except (DomainError, EngineError, NotFound) as exc:
                refused.append(Refusal(task_id, self._subject(principal, task_id), exc.message))
        return BatchResult(claimed, refused)

    def _subject(self, principal, task_id) -> str:
        try:
            task, _app = self.task(principal, task_id)
        except NotFound:
            return f"任务 {task_id}"
        return task.subject

    # -- the next open task ----------------------------------------------------------------
    def next_task_id(self, principal: Principal) -> int | None:
        """What to work on after a decision: my oldest claimed task, else the newest unclaimed one."""
        self._require_reviewer(principal)
        return ReviewInbox(principal.user_id, principal.org_id).first_of(("mine", "open"))

    # -- 导出 ----------------------------------------------------------------------------------
    def export_rows(self, principal: Principal, view: str, flt, limit: int = EXPORT_MAX):
        """Every row of an inbox view under its filters, page by page (keyset), at most ``limit``."""
        self._require_reviewer(principal)
        inbox, cursor, sent = ReviewInbox(principal.user_id, principal.org_id), None, 0
        while sent < limit:
            page = inbox.page(view, flt, cursor, min(EXPORT_PAGE, limit - sent), with_counts=False)
            yield from page.rows
            sent += len(page.rows)
            cursor = page.next_cursor
            if cursor is None:
                return

    # -- 常用意见 ----------------------------------------------------------------------------
    def phrases(self, principal: Principal) -> list[OpinionPhrase]:
        self._require_reviewer(principal)
        return list(db.session.scalars(_PHRASES, {"user_id": principal.user_id}))

    def add_phrase(self, principal: Principal, text: str) -> OpinionPhrase:
        """Save one more 常用意见. The user's row is locked first, so that saves at the same moment
        are counted one after the other and the limit holds; the same text saved twice at once is
        refused by the unique constraint, as a repeat is."""
        self._require_reviewer(principal)
        text = " ".join((text or "").split())
        if not text:
            raise DomainError("常用意见：请填写意见内容", "text")
        if len(text) > PHRASE_MAX:
            raise DomainError(f"常用意见：不能超过 {PHRASE_MAX} 个字", "text")
        try:
            with unit_of_work():
                db.session.execute(select(User.id).where(User.id == principal.user_id).with_for_update())
                mine = select(func.count()).select_from(OpinionPhrase).where(OpinionPhrase.user_id == principal.user_id)
                if db.session.scalar(mine) >= PHRASES_PER_USER:
                    raise DomainError(f"常用意见：最多保存 {PHRASES_PER_USER} 条，请先删除不用的", "text")
                if db.session.scalar(select(OpinionPhrase.id).where(OpinionPhrase.user_id == principal.user_id,
                                                                    OpinionPhrase.text == text)):
                    raise DomainError(PHRASE_SAVED, "text")
                phrase = OpinionPhrase(user_id=principal.user_id, text=text)
                db.session.add(phrase)
                db.session.flush()
                return phrase
        except IntegrityError:   # the same text saved by another request a moment earlier (rolled back)
            raise DomainError(PHRASE_SAVED, "text") from None

    def delete_phrase(self, principal: Principal, phrase_id: int) -> None:
        self._require_reviewer(principal)
        with unit_of_work():
            gone = db.session.execute(delete(OpinionPhrase).where(
                OpinionPhrase.id == phrase_id, OpinionPhrase.user_id == principal.user_id)).rowcount
            if not gone:
                raise NotFound("常用意见不存在")


def _not_found_for_strangers():
    from .reviews import _not_found_for_strangers as guard
    return guard()
