"""The province-wide lock rule (domain.md §4.3) and the replacement checks (§4.5).

A project manager or safety officer may hold that role on 1 project under
construction, a chief supervisor on 3; projects sharing a contract registration
number count once. Reaching the limit locks the person.
"""
from sqlalchemy import bindparam, event, func, literal, select
from sqlalchemy.orm import Session, lazyload

from engine.db import changes_kept_in_session, current_rehearsal, db, in_dry_run, read_values as _values, write_now
from engine.models import utcnow

from .models import (
    BUILDER, CHIEF_SUPERVISOR, CONSTRUCTOR, LOCKED, NORMAL, POST_BUILDER, POST_QUALITY, PROJECT_MANAGER,
    QUALITY_OFFICER, ROLES, SAFETY_B, SAFETY_C, SAFETY_OFFICER, SPECIALIST_SUPERVISOR, SUPERVISION_ENGINEER,
    SUPERVISOR, UNDER_CONSTRUCTION, Assignment, LockRecord, Person, Project,
)

LIMITS = {PROJECT_MANAGER: 1, SAFETY_OFFICER: 1, CHIEF_SUPERVISOR: 3}

TOO_MANY = {
    PROJECT_MANAGER: "该项目经理已有项目管理工作，请重新选择",
    SAFETY_OFFICER: "该安全员已有项目管理工作，请重新选择",
    CHIEF_SUPERVISOR: "该项目总监已有 3 个及以上项目请重新选择",
}
# each role's certificate requirement: every group must be met by at least one certificate in it
REQUIRED_CERTIFICATES = {
    PROJECT_MANAGER: [((CONSTRUCTOR,), "该项目经理未取得注册建造师证书，请重新选择"),
                      ((SAFETY_B,), "该项目经理未取得安全生产考核合格证书（B证），请重新选择")],
    SAFETY_OFFICER: [((SAFETY_C,), "该安全员未取得安全生产考核合格证书（C证），请重新选择")],
    CHIEF_SUPERVISOR: [((SUPERVISION_ENGINEER, SUPERVISOR), "该项目总监未取得注册监理工程师或监理员证书，请重新选择")],
}
# the roster roles (§4.9) that need a certificate, in the same form; the others need none
ROSTER_CERTIFICATES = {
    QUALITY_OFFICER: [((POST_QUALITY,), "该质量员未取得岗位证书（质量员），请重新选择")],
    BUILDER: [((POST_BUILDER,), "该施工员未取得岗位证书（施工员），请重新选择")],
    SPECIALIST_SUPERVISOR: [((SUPERVISION_ENGINEER, SUPERVISOR),
                             "该专业监理工程师未取得注册监理工程师或监理员证书，请重新选择")],
}
LOCKED_MESSAGE = "该人员已被锁定，请重新选择"
NOT_OWN_MESSAGE = "该人员不属于本单位，请重新选择"
SAME_PERSON_MESSAGE = "变更后人员不能与变更前人员相同，请重新选择"


def contract_key(project=Project):
    """What counts as one project: its contract registration number, or the project itself
    (``project``: the model, or its table's columns in a Core statement)."""
    return func.coalesce(project.contract_no, literal("project:") + func.cast(project.id, db.String))


_PERSON, _ROLE = bindparam("person_id"), bindparam("role")
# the statements the rule runs on every recomputation: built once, with the person (and role) as
# parameters; those that read plain values run as Core (``_values``) on the tables' columns
_A, _P = Assignment.__table__, Project.__table__
_CONTRACT_KEY = contract_key(_P.c)
_PROJECT_COUNT = (
    select(func.count(func.distinct(_CONTRACT_KEY)))
    .select_from(_A).join(_P, _P.c.id == _A.c.project_id)
    .where(_A.c.person_id == _PERSON, _A.c.role == _ROLE, _A.c.ended_at.is_(None),
           _P.c.status == UNDER_CONSTRUCTION))
_PROJECT_COUNTS = (
    select(_A.c.role, func.count(func.distinct(_CONTRACT_KEY)))
    .select_from(_A).join(_P, _P.c.id == _A.c.project_id)
    .where(_A.c.person_id == _PERSON, _A.c.role.in_(list(LIMITS)), _A.c.ended_at.is_(None),
           _P.c.status == UNDER_CONSTRUCTION)
    .group_by(_A.c.role))
_OPEN_LOCKS = select(LockRecord).where(LockRecord.person_id == _PERSON, LockRecord.closed_at.is_(None)) \
    .order_by(LockRecord.id)
_ACTIVE_ASSIGNMENTS = select(Assignment).where(
    Assignment.person_id == _PERSON, Assignment.role == _ROLE, Assignment.project_id == bindparam("project_id"),
    Assignment.ended_at.is_(None))
# the person's active assignments, with their projects (the person is loaded already): what an
# effect that ends some of them and then applies the rule reads once (``holdings``)
_HOLDINGS = select(Assignment).where(Assignment.person_id == _PERSON, Assignment.ended_at.is_(None)) \
    .options(lazyload(Assignment.person)).order_by(Assignment.id).execution_options(populate_existing=True)
_HOLDS = select(_A.c.id).where(
    _A.c.person_id == _PERSON, _A.c.role == _ROLE, _A.c.project_id == bindparam("project_id"),
    _A.c.ended_at.is_(None)).limit(1)
_NEWEST_PROJECT = (
    select(_A.c.project_id).join(_P, _P.c.id == _A.c.project_id)
    .where(_A.c.person_id == _PERSON, _A.c.role == _ROLE, _A.c.ended_at.is_(None),
           _P.c.status == UNDER_CONSTRUCTION)
    .order_by(_A.c.started_at.desc(), _A.c.id.desc()).limit(1))


def project_count(person_id: int, role: str) -> int:
    """Projects under construction on which the person holds the role; one contract counts once."""
    return _values(_PROJECT_COUNT, {"person_id": person_id, "role": role}).scalar() or 0


def current_projects(person_ids) -> dict[int, list[Assignment]]:
    """Each person's active assignments on projects under construction (any role), in one query:
    what the replacement picker and the preview show as their current projects."""
    ids = list(person_ids)
    out: dict[int, list[Assignment]] = {i: [] for i in ids}
    if ids:
        for a in db.session.scalars(
                select(Assignment).join(Project, Project.id == Assignment.project_id)
                .where(Assignment.person_id.in_(ids), Assignment.ended_at.is_(None),
                       Project.status == UNDER_CONSTRUCTION)
                .order_by(Assignment.person_id, Assignment.role, Project.name)):
            out[a.person_id].append(a)
    return out


def counted_projects(person_id: int, role: str) -> list[tuple[str | None, list[str]]]:
    """The projects that count toward the person's limit in this role, grouped as the rule counts
    them: (合同登记编号 or None, the project names sharing it). len() is the count."""
    groups: dict[str, tuple[str | None, list[str]]] = {}
    for a in _unsent(person_id, role) if changes_kept_in_session() else current_projects([person_id])[person_id]:
        if a.role == role:
            key = a.project.contract_no or f"project:{a.project_id}"
            groups.setdefault(key, (a.project.contract_no, []))[1].append(a.project.name)
    return list(groups.values())


def _unsent(person_id: int, role: str) -> list[Assignment]:
    """current_projects for one person and role in such a rehearsal: the assignments active as
    stored, read without flushing, each then taken as the session holds it (ended, or its project no
    longer under construction, by the rehearsed effect)."""
    with db.session.no_autoflush:
        rows = db.session.scalars(_ACTIVE_IN_ROLE, {"person_id": person_id, "role": role}).all()
    return [a for a in rows if _counts_toward_limit(a)]


_ACTIVE_IN_ROLE = (select(Assignment).join(Project, Project.id == Assignment.project_id)
                   .where(Assignment.person_id == bindparam("person_id"), Assignment.role == bindparam("role"),
                          Assignment.ended_at.is_(None))
                   .order_by(Project.name))


def project_counts(person_id: int) -> dict[str, int]:
    """project_count for every limited role of the person, in one statement."""
    return dict(_values(_PROJECT_COUNTS, {"person_id": person_id}).all())


def open_locks(person_id: int) -> list[LockRecord]:
    return list(db.session.scalars(_OPEN_LOCKS, {"person_id": person_id}))


def holdings(person_id: int) -> list[Assignment]:
    """The person's active assignments with their projects, read under the person's lock
    (``serialize`` first): an effect that ends some of them (``end_assignment(..., among=)``) and
    then applies the rule (``apply_lock_rule(..., assignments=)``) reads them once, and the rule
    counts them in Python instead of asking the database again after a flush."""
    return list(db.session.scalars(_HOLDINGS, {"person_id": person_id}))


def _counts_toward_limit(a: Assignment) -> bool:
    """Active, on a project under construction: what ``_PROJECT_COUNT`` counts, for rows in the session."""
    return a.ended_at is None and a.project.status == UNDER_CONSTRUCTION


def _counts_of(assignments: list[Assignment]) -> dict[str, int]:
    """project_counts over assignments already read: the same rule as ``_PROJECT_COUNTS``
    (active, on a project under construction, one contract counting once)."""
    keys: dict[str, set] = {}
    for a in assignments:
        if a.role in LIMITS and _counts_toward_limit(a):
            key = a.project.contract_no if a.project.contract_no is not None else f"project:{a.project_id}"
            keys.setdefault(a.role, set()).add(key)
    return {role: len(found) for role, found in keys.items()}


def apply_lock_rule(person: Person, project_hint: int | None = None,
                    locks: list[LockRecord] | None = None,
                    assignments: list[Assignment] | None = None) -> list[LockRecord]:
    """Bring the person's lock records and status in line with their assignments.

    Adds a lock record (attributed to ``project_hint`` or the newest assignment) for
    each role at its limit without one, closes the records of roles now below it.
    ``locks``: the person's open lock records as the caller read them under the person's lock
    (``open_locks``), not read again; ``assignments``: the person's active assignments as the caller
    read them under that lock (``holdings``) and changed them since, counted here instead of read.
    Returns the lock records it added.
    """
    serialize_people([person.id])
    added = []
    locks = open_locks(person.id) if locks is None else [lock for lock in locks if lock.closed_at is None]
    now = utcnow()
    counts = project_counts(person.id) if assignments is None else _counts_of(assignments)
    for role, limit in LIMITS.items():
        role_locks = [lock for lock in locks if lock.role == role]
        count = counts.get(role, 0)
        if count >= limit and not role_locks:
            # (after ``assignments`` ended some, a count only falls: a lock is added here from them only
            # to mend a person left at the limit without one, and the rows are read as stored)
            project_id = project_hint if project_hint and _holds(person.id, role, project_hint) \
                else _newest_project(person.id, role)
            lock = LockRecord(person_id=person.id, role=role, project_id=project_id, locked_at=now,
                              reason=f"{ROLES[role]}在建工程数已达上限（{limit} 个）")
            db.session.add(lock)
            locks.append(lock)
            added.append(lock)
        elif count < limit:
            for lock in role_locks:
                close_lock(lock, f"{ROLES[role]}在建工程数低于上限，自动解锁")
    status = LOCKED if any(lock.closed_at is None for lock in locks) else NORMAL
    if person.status != status:
        write_now(person, {"status": status})
    return added


def close_lock(lock: LockRecord, reason: str) -> None:
    if lock.closed_at is None:
        write_now(lock, {"closed_at": utcnow(), "close_reason": reason})


def assign(person: Person, project: Project, role: str, **columns) -> Assignment:
    """Intake of an assignment: the person takes the role on the project, then the lock rule."""
    serialize(project_ids=[project.id], person_ids=[person.id])
    assignment = Assignment(person_id=person.id, project_id=project.id, role=role, **columns)
    db.session.add(assignment)
    db.session.flush()
    apply_lock_rule(person, project_hint=project.id)
    return assignment


def end_assignment(person_id: int, role: str, project_id: int, reason: str,
                   among: list[Assignment] | None = None) -> int:
    """End the person's active assignment in this role on this project; returns how many ended.
    ``among``: the person's active assignments as read under their lock (``holdings``)."""
    serialize(project_ids=[project_id], person_ids=[person_id])
    if among is None:
        rows = db.session.scalars(_ACTIVE_ASSIGNMENTS,
                                  {"person_id": person_id, "role": role, "project_id": project_id}).all()
    else:
        rows = [a for a in among if a.ended_at is None and a.role == role and a.project_id == project_id]
    for row in rows:
        write_now(row, {"ended_at": utcnow(), "end_reason": reason})
    return len(rows)


def replacement_problem(role: str, candidate: Person, applicant_org_id: int,
                        old_person_id: int | None = None) -> str | None:
    """The message that refuses this replacement, or None when it may take the role."""
    return _problem(role, candidate, applicant_org_id, old_person_id,
                    lambda: project_count(candidate.id, role), lambda: bool(open_locks(candidate.id)))


def replacement_problems(role: str, candidates: list[Person], applicant_org_id: int,
                         old_person_id: int | None = None) -> dict[int, str | None]:
    """replacement_problem for many people at once, in two queries (for the picker)."""
    ids = [p.id for p in candidates]
    counts = dict(db.session.execute(
        select(Assignment.person_id, func.count(func.distinct(contract_key())))
        .join(Project, Project.id == Assignment.project_id)
        .where(Assignment.person_id.in_(ids), Assignment.role == role, Assignment.ended_at.is_(None),
               Project.status == UNDER_CONSTRUCTION)
        .group_by(Assignment.person_id)).all()) if ids else {}
    locked = set(db.session.scalars(select(LockRecord.person_id).where(
        LockRecord.person_id.in_(ids), LockRecord.closed_at.is_(None)))) if ids else set()
    return {p.id: _problem(role, p, applicant_org_id, old_person_id,
                           lambda p=p: counts.get(p.id, 0), lambda p=p: p.id in locked)
            for p in candidates}


def _problem(role, candidate, applicant_org_id, old_person_id, count, has_open_lock) -> str | None:
    if candidate.enterprise_id != applicant_org_id:
        return NOT_OWN_MESSAGE
    if old_person_id is not None and candidate.id == old_person_id:
        return SAME_PERSON_MESSAGE
    if count() >= LIMITS[role]:
        return TOO_MANY[role]
    missing = missing_certificate(candidate, REQUIRED_CERTIFICATES[role])
    if missing:
        return missing
    if candidate.status == LOCKED or has_open_lock():
        return LOCKED_MESSAGE
    return None


def missing_certificate(person: Person, requirement) -> str | None:
    """The message of the first certificate group (of REQUIRED_CERTIFICATES or ROSTER_CERTIFICATES)
    the person holds none of, or None."""
    for kinds, message in requirement:
        if not any(person.holds(kind) for kind in kinds):
            return message
    return None


def _holds(person_id, role, project_id) -> bool:
    return _values(_HOLDS, {"person_id": person_id, "role": role, "project_id": project_id}).scalar() is not None


def _newest_project(person_id, role) -> int:
    return _values(_NEWEST_PROJECT, {"person_id": person_id, "role": role}).scalar()


# -- serialisation of effects (docs/architecture.md "Serialisation of effects") ------------
# One global lock order: project rows in ascending id, then person rows in ascending id.
# - a project's status and its set of active assignments change only under its row lock;
# - a person's assignments, lock records and status change only under their row lock.
# FOR NO KEY UPDATE excludes the other effects but not the key-share locks that foreign keys take
# when a row referring to the project or person is inserted (an attachment, a lock record).
_LOCKED_ROWS = "serialized_rows"


def serialize(project_ids=(), person_ids=()) -> None:
    """Serialise this transaction with every other effect on these projects and people.

    Takes the rows' locks (``SELECT … FOR NO KEY UPDATE``) projects first, then people, each
    in ascending id order, so effects that overlap queue instead of deadlocking. Under READ
    COMMITTED every later statement reads a fresh snapshot, so once the locks are granted the
    caller's re-check reads what an earlier effect committed. Rows loaded before the locks may
    hold older values: the locked projects and people are reloaded, and loaded assignments and
    lock records expired. Call it before reading assignments or locks; take every lock an
    effect needs in one call (or projects before people) to keep the order.
    SQLite needs nothing: ``BEGIN IMMEDIATE`` already serialises every write transaction.
    """
    session = db.session()
    if session.get_bind().dialect.name == "sqlite":
        return
    session.connection()   # begin, so that the locks are remembered for this transaction
    held = _held_rows(session)
    projects = sorted({int(i) for i in project_ids if i is not None} - held[Project])
    people = sorted({int(i) for i in person_ids if i is not None} - held[Person])
    if not projects and not people:
        return
    # A rehearsal (a page's preview of an approval, engine.db.dry_run) takes the locks too before it
    # writes: its statements write the same rows as the effect (rolled back after), so without the
    # global order a preview holding a lock record's row and an approval holding its person's
    # deadlock. Most rehearsals write nothing (handlers/preview.record_changes keeps their changes
    # in the session): their locks wait for a first write that may never come (_lock_before_writing).
    # A rehearsal reads what it finds without reloading: it changes nothing, and the savepoint's
    # rollback releases the locks.
    if in_dry_run():
        waiting = _waiting_rows(session)
        if waiting is not None:
            waiting[Project].update(projects)
            waiting[Person].update(people)
        else:
            _lock_rows(session, held, projects, people, reload=False)
        return
    session.flush()   # expiring below must not drop unflushed changes
    _lock_rows(session, held, projects, people, reload=True)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, (Assignment, LockRecord)):
            session.expire(obj)


def _lock_rows(session, held, projects, people, reload: bool) -> None:
    """``SELECT … FOR NO KEY UPDATE`` of the projects, then the people, each in ascending id order;
    ``reload``: the locked rows' objects take what the rows hold now."""
    for model, ids in ((Project, sorted(projects)), (Person, sorted(people))):
        if ids:
            stmt = select(model if reload else model.id).where(model.id.in_(ids)).order_by(model.id) \
                .with_for_update(key_share=True, of=model)
            session.execute(stmt.execution_options(populate_existing=True) if reload else stmt).all()
            held[model].update(ids)


_WAITING_ROWS = "rehearsal_rows_to_lock"


def _waiting_rows(session) -> dict | None:
    """The rows a rehearsal asked to lock and has not locked yet, since it has written nothing; None
    once it has written (it then locks what it asks for at once)."""
    key = current_rehearsal(session)
    cached = session.info.get(_WAITING_ROWS)
    if cached is None or cached[0] is not key:
        cached = session.info[_WAITING_ROWS] = (key, {Project: set(), Person: set()})
    return cached[1]


def _lock_before_writing(session) -> None:
    """A rehearsal about to write: the locks it asked for are taken first, in the global order."""
    key = current_rehearsal(session)
    if key is None or session.get_bind().dialect.name == "sqlite":
        return
    cached = session.info.get(_WAITING_ROWS)
    session.info[_WAITING_ROWS] = (key, None)   # from now on it locks what it asks for at once
    if cached is None or cached[0] is not key or cached[1] is None:
        return
    held = _held_rows(session)
    _lock_rows(session, held, cached[1][Project] - held[Project], cached[1][Person] - held[Person], reload=False)


@event.listens_for(Session, "before_flush")
def _before_flush(session, _context, _instances):
    _lock_before_writing(session)


@event.listens_for(Session, "do_orm_execute")
def _before_statement(state):
    if state.is_insert or state.is_update or state.is_delete:
        _lock_before_writing(state.session)


def serialize_people(person_ids) -> None:
    """Serialise this transaction with every other effect on these people (see ``serialize``)."""
    serialize(person_ids=person_ids)


def serialize_project(project_id: int, person_ids=()) -> list[int]:
    """Lock a project, then everyone holding a role on it and ``person_ids``, in the global order.

    The project's lock freezes its set of active assignments (every change to it takes that
    lock first), so the holders read after it are the ones to lock. Returns the holders' ids.
    """
    serialize(project_ids=[project_id])
    holders = list(db.session.scalars(select(Assignment.person_id).where(
        Assignment.project_id == project_id, Assignment.ended_at.is_(None)).distinct()))
    serialize(person_ids=[*holders, *person_ids])
    return holders


def _held_rows(session) -> dict:
    """The rows this (sub)transaction has locked; a savepoint rolled back releases its locks."""
    txn = session.get_nested_transaction() or session.get_transaction()
    cached = session.info.get(_LOCKED_ROWS)
    if cached is None or cached[0] is not txn:
        cached = session.info[_LOCKED_ROWS] = (txn, {Project: set(), Person: set()})
    return cached[1]
