"""Read queries for the enterprise pages: people, their locks, the construction unit's projects.

Every list is bounded (paginated) and loads what its rows show in a fixed number of queries.
"""
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from engine.db import db

from .errors import NotFound
from .models import (
    CERTIFICATES, CHIEF_SUPERVISOR, PROJECT_MANAGER, SAFETY_OFFICER, UNDER_CONSTRUCTION, Assignment, LockRecord,
    Organization, Person, Project, ProjectChange, RosterEntry,
)

PER_PAGE = 20


@dataclass
class Page:
    rows: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _page(page: int) -> int:
    return max(1, int(page or 1))


def _search(stmt, column, q: str, page: int, per_page: int, *order):
    """Filter by a name containing ``q``: (total, the statement for the requested page)."""
    q = (q or "").strip()
    if q:
        stmt = stmt.where(column.contains(q, autoescape=True))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    return total, stmt.order_by(*order).limit(per_page).offset((page - 1) * per_page)


def organization(org_id: int) -> Organization:
    """The principal's own organisation (the enterprise information page)."""
    org = db.session.get(Organization, org_id)
    if org is None:
        raise NotFound()
    return org


def people(org_id: int, q: str = "", page: int = 1, per_page: int = PER_PAGE) -> Page:
    """The enterprise's people with their certificates, searchable by name."""
    page = _page(page)
    total, stmt = _search(select(Person).where(Person.enterprise_id == org_id), Person.name, q, page, per_page,
                          Person.name, Person.id)
    rows = db.session.scalars(stmt.options(selectinload(Person.certificates)))
    return Page(list(rows), total, page, per_page)


@dataclass
class PersonDetail:
    person: Person
    assignments: list = field(default_factory=list)   # current ones
    locks: list = field(default_factory=list)          # every lock record, newest first


def person(org_id: int, person_id: int) -> PersonDetail:
    """One of the enterprise's people; another enterprise's person is NotFound."""
    p = db.session.scalar(select(Person).options(selectinload(Person.certificates))
                          .where(Person.id == person_id))
    if p is None or p.enterprise_id != org_id:
        raise NotFound()
    assignments = db.session.scalars(
        select(Assignment).options(joinedload(Assignment.project))
        .where(Assignment.person_id == p.id, Assignment.ended_at.is_(None))
        .order_by(Assignment.started_at.desc(), Assignment.id.desc()))
    locks = db.session.scalars(
        select(LockRecord).options(joinedload(LockRecord.project))
        .where(LockRecord.person_id == p.id).order_by(LockRecord.locked_at.desc(), LockRecord.id.desc())
        .limit(200))
    return PersonDetail(p, list(assignments), list(locks))


@dataclass
class ProjectRow:
    project: Project
    personnel: dict   # role -> [person names]


def projects(construction_unit_id: int, q: str = "", page: int = 1, per_page: int = PER_PAGE) -> Page:
    """The construction unit's projects with participating units and current key personnel."""
    page = _page(page)
    total, stmt = _search(select(Project).where(Project.construction_unit_id == construction_unit_id),
                          Project.name, q, page, per_page, Project.registered_at.desc().nulls_last(), Project.id.desc())
    rows = list(db.session.scalars(
        stmt.options(joinedload(Project.contractor), joinedload(Project.supervising_firm),
                     joinedload(Project.authority), joinedload(Project.agency))))
    ids = [p.id for p in rows]
    staff = {pid: {PROJECT_MANAGER: [], SAFETY_OFFICER: [], CHIEF_SUPERVISOR: []} for pid in ids}
    if ids:
        for a in db.session.scalars(select(Assignment).options(joinedload(Assignment.person))
                                    .where(Assignment.project_id.in_(ids), Assignment.ended_at.is_(None))
                                    .order_by(Assignment.id)):
            staff[a.project_id].setdefault(a.role, []).append(a.person.name)
    return Page([ProjectRow(p, staff[p.id]) for p in rows], total, page, per_page)


@dataclass
class ProjectDetail:
    project: Project
    assignments: list   # current key personnel
    roster: list        # current 项目人员名册
    history: list       # the change history, newest first


def project(construction_unit_id: int, project_id: int) -> ProjectDetail:
    """One of the construction unit's projects: facts, units, people and change history; another
    unit's project is NotFound."""
    p = db.session.scalar(select(Project).where(Project.id == project_id).options(
        joinedload(Project.contractor), joinedload(Project.supervising_firm),
        joinedload(Project.authority), joinedload(Project.agency)))
    if p is None or p.construction_unit_id != construction_unit_id:
        raise NotFound()
    assignments = db.session.scalars(select(Assignment).where(
        Assignment.project_id == p.id, Assignment.ended_at.is_(None)).order_by(Assignment.role, Assignment.id))
    roster = db.session.scalars(select(RosterEntry).where(
        RosterEntry.project_id == p.id, RosterEntry.ended_at.is_(None)).order_by(RosterEntry.role, RosterEntry.id))
    history = db.session.scalars(select(ProjectChange).where(ProjectChange.project_id == p.id)
                                 .order_by(ProjectChange.id.desc()).limit(200))
    return ProjectDetail(p, list(assignments), list(roster), list(history))


def certificates_text(person: Person | None) -> str:
    """A person's certificates as the reviewer reads them: 注册建造师（C000012）、…, or 无."""
    if person is None:
        return ""
    return "、".join(f"{CERTIFICATES.get(c.kind, c.kind)}（{c.number}）" for c in person.certificates) or "无"


def current_projects_text(person: Person | None) -> str:
    """A person's roles on projects under construction: 项目经理 · X 工程（合同 Y）; …, or 无在建项目."""
    if person is None:
        return ""
    rows = db.session.scalars(
        select(Assignment).join(Project, Project.id == Assignment.project_id)
        .where(Assignment.person_id == person.id, Assignment.ended_at.is_(None),
               Project.status == UNDER_CONSTRUCTION)
        .order_by(Assignment.role, Project.name)).all()
    return "；".join(f"{a.role_label} · {a.project.name}" + (f"（合同登记编号 {a.project.contract_no}）"
                                                           if a.project.contract_no else "")
                    for a in rows) or "无在建项目"
