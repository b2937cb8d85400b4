"""人员解锁申请 (2.2.1.1): the catalog entry, the applicant's service and 自动解锁."""
from sqlalchemy import bindparam, select

from engine.db import db
from engine.registry import ServiceCall

from .. import catalog, lock_rule
from ..applications import ApplicationService
from ..catalog import ALL_PICKS, Column, Pick, PickFilter, ProcessEntry
from ..errors import DomainError, NotFound
from ..models import (
    CONTRACTOR, OPEN_STATUSES, ROLES, SUPERVISING_FIRM, LockRecord, Person, Project, UnlockApplication,
)
from ..principal import Principal
from . import _approved, _recheck_failed, application_of, registry

UNLOCK_FORM = "unlock_form"   # the attachment kind of the 建设工程项目人员解锁申请表 slot


class UnlockService(ApplicationService):
    """人员解锁申请 (2.2.1.1)."""
    duplicate_message = "该锁定记录已有未办结的解锁申请"

    def lockable(self, principal: Principal) -> list[LockRecord]:
        """The enterprise's own open lock records without an open unlock application (添加 dialog)."""
        self._require_kind(principal)
        busy = select(UnlockApplication.lock_record_id).where(UnlockApplication.status.in_(OPEN_STATUSES))
        return list(db.session.scalars(
            select(LockRecord).join(Person, Person.id == LockRecord.person_id)
            .where(Person.enterprise_id == principal.org_id, LockRecord.closed_at.is_(None),
                   LockRecord.id.not_in(busy))
            .order_by(Person.name, LockRecord.id)))

    def lock_rows(self, principal: Principal, flt: PickFilter = ALL_PICKS):
        """Every open lock record of the enterprise's people, as the 添加 dialog shows it (row tuples:
        an enterprise may have hundreds, and the list page builds the dialog each time); the dialog
        greys those with an open application (ApplicationService.picks)."""
        self._require_kind(principal)
        return db.session.execute(flt.apply(_LOCK_ROWS, Person.name, Person.id_card, Project.name),
                                  {"org_id": principal.org_id}).all()

    def create(self, principal: Principal, lock_record_id: int) -> UnlockApplication:
        with self.engine.command():
            lock = db.session.get(LockRecord, lock_record_id)
            if lock is None or lock.person.enterprise_id != principal.org_id:
                raise NotFound("只能为本单位被锁定的人员申请解锁")
            if lock.closed_at is not None:
                raise DomainError("该人员已不再锁定，无需申请解锁")
            app = UnlockApplication(lock_record_id=lock.id, person_id=lock.person_id, project_id=lock.project_id)
            app.lock_record, app.person, app.project = lock, lock.person, lock.project
            return self._start(principal, app, f"lock:{lock.id}")

    def subject(self, app) -> str:
        return f"{app.person.name}（{ROLES[app.lock_record.role]}）解锁"

    def _validate_saved(self, app):
        self._require_fields(app)   # 解锁原因 and the 解锁申请表 (the form file's required fields)

    def _validate_for_report(self, app):
        self._validate_saved(app)
        if app.lock_record.closed_at is not None:
            raise DomainError("该人员已不再锁定，无需申请解锁")


@registry.operator("unlock.apply")
def apply_unlock(call: ServiceCall) -> dict:
    """自动解锁: close the lock, release the assignment that caused it, recompute the person."""
    app: UnlockApplication = application_of(call.instance)
    # projects sharing a contract registration number count as one: release the person from all of them
    # (the lock's project and its contract number never change, so they may be read before the locks)
    project = app.lock_record.project
    released = [project.id] if not project.contract_no else db.session.scalars(
        select(Project.id).where(Project.contract_no == project.contract_no)).all()
    lock_rule.serialize(project_ids=released, person_ids=[app.person_id])
    # the person's open locks and active assignments, read once under their lock: this lock (when
    # still open) among them, and what the recomputation below starts from and counts
    locks = lock_rule.open_locks(app.person_id)
    lock = app.lock_record
    if lock.closed_at is not None:
        return _recheck_failed("该锁定记录已解除，无需再解锁")
    held = lock_rule.holdings(app.person_id)
    lock_rule.close_lock(lock, "解锁申请审核通过，自动解锁")
    for project_id in released:
        lock_rule.end_assignment(lock.person_id, lock.role, project_id, "解锁申请审核通过", among=held)
    lock_rule.apply_lock_rule(app.person, locks=locks, assignments=held)
    return _approved(app, f"{app.person.name}已解锁，当前状态：{app.person.status_label}")


# built once (the list page reads it for its 添加 dialog each time); a search adds its words to it
_LOCK_ROWS = (select(LockRecord.id, LockRecord.role, Person.name, Person.id_card, Project.name.label("project"))
              .join(Person, Person.id == LockRecord.person_id).join(Project, Project.id == LockRecord.project_id)
              .where(Person.enterprise_id == bindparam("org_id"), LockRecord.closed_at.is_(None))
              .order_by(Person.name, LockRecord.id))


def _picks(service, principal, flt) -> list[Pick]:
    return [Pick(row.id, row.name, f"{row.id_card[:6]}…{row.id_card[-4:]} · {ROLES[row.role]} · {row.project}",
                 open_key=f"lock:{row.id}")
            for row in service.lock_rows(principal, flt)]


ENTRY = catalog.register(ProcessEntry(
    key="personnel_unlock", kind="unlock", title="人员解锁申请", prefix="RJ",
    menu=("人员管理", "锁定/解锁"), filers=(CONTRACTOR, SUPERVISING_FIRM),
    model=UnlockApplication, service=UnlockService, edit_form="personnel_unlock.edit",
    picker_title="选择锁定人员", picker_empty="本单位暂无可申请解锁的锁定人员", picks=_picks,
    columns=(
        Column("人员姓名", lambda a: a.person.name, reads=("person.name",)),
        Column("身份证号", lambda a: a.person.id_card, "mask_id", reads=("person.id_card",)),
        Column("锁定角色", lambda a: a.lock_record.role_label, reads=("lock_record.role",)),
        Column("添加锁定的工程", lambda a: a.lock_record.project.name, reads=("lock_record.project.name",)),
        Column("解锁原因", lambda a: a.reason, "clip", reads=("reason",)),
    ),
    basics=(
        Column("人员姓名", lambda a: a.person.name),
        Column("身份证号", lambda a: a.person.id_card, "mask_id"),
        Column("锁定角色", lambda a: a.lock_record.role_label),
        Column("添加锁定的工程", lambda a: f"{a.lock_record.project.name}（{a.lock_record.project.supervision_no}）"),
        Column("锁定时间", lambda a: a.lock_record.locked_at, "datetime"),
        Column("锁定原因", lambda a: a.lock_record.reason),
    ),
    summary=(
        Column("申请单位", lambda a: a.applicant_org.name),
        Column("人员姓名", lambda a: a.person.name),
        Column("身份证号", lambda a: a.person.id_card, "mask_id"),
        Column("锁定角色", lambda a: a.lock_record.role_label),
        Column("添加锁定的工程", lambda a: f"{a.lock_record.project.name}（{a.lock_record.project.supervision_no}）"),
        Column("锁定时间", lambda a: a.lock_record.locked_at, "datetime"),
        Column("锁定原因", lambda a: a.lock_record.reason),
        Column("解除时间", lambda a: f"{catalog.local_dt(a.lock_record.closed_at)}（{a.lock_record.close_reason}）",
               when=lambda a: a.lock_record.closed_at is not None),
        Column("解锁原因", lambda a: a.reason, "pre"),
        Column("说明", lambda a: a.explanation, "pre"),
    ),
    save_label="确定", operators=("unlock.apply",),
    counted_people=lambda a: [(a.person, a.lock_record.role)],
))

