"""Intake: projects pushed by the project-approval system (工改系统, at 报监) and people with their
certificates pushed by the personnel registry, upserted by their natural keys.

- A project is keyed by its 报监 registration number, a person by their ID-card number, an
  organisation by its unified social credit code. Pushing the same data again changes nothing.
- One push is one unit of work: the project, its organisations and its key personnel are stored
  together or not at all. A push is validated whole before anything is written.
- Key personnel go through the lock rule exactly as an approval does (``lock_rule.assign``), after
  the project row and then every named person are locked (``lock_rule.serialize``: projects, then
  people, in ascending id; docs/architecture.md "Serialisation of effects").
- A person who is already at their limit on another project is refused (domain.md §4.3: a locked
  person cannot take on a new project under construction): the whole push is refused with 409 and
  the person's open lock record, and nothing is stored (docs/api.md "Intake"). So is a person
  locked in another role, unless they already hold a role on this project (or its contract).
- A key role belongs to the project's unit for it: a person holding one keeps their employer (a
  people push moving them is refused with 409 naming the assignment), and a project given another
  contractor or supervising firm must name the new unit's people for the roles held.
- A project pushed with other regulators takes its open reviews with it (``project_moves``).
"""
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from engine.db import db, unit_of_work
from engine.models import utcnow
from engine.text import bad_character, natural_key, single_line

from . import lock_rule, project_moves
from .catalog import api_time
from .codes import is_valid_credit_code, is_valid_id_card
from .models import (
    AGENCY, AUTHORITY, CERTIFICATES, CHIEF_SUPERVISOR, COMPLETED, CONSTRUCTION_UNIT, CONTRACTOR, ENTERPRISE_KINDS,
    ORG_KINDS, PROJECT_MANAGER, PROJECT_STATUS, REGULATOR_KINDS, ROLE_EMPLOYER, ROLES, SAFETY_OFFICER, SUPERVISING_FIRM,
    UNDER_CONSTRUCTION, Assignment, Certificate, LockRecord, Organization, Person, Project,
)

# the organisations a project names, and the kind each must be
PROJECT_ORGS = {"construction_unit": CONSTRUCTION_UNIT, "contractor": CONTRACTOR,
                "supervising_firm": SUPERVISING_FIRM, "authority": AUTHORITY, "agency": AGENCY}
ORG_LABELS = {"construction_unit": "建设单位", "contractor": "施工单位", "supervising_firm": "监理单位",
              "authority": "主管部门", "agency": "监督机构"}
PERSONNEL = (PROJECT_MANAGER, SAFETY_OFFICER, CHIEF_SUPERVISOR)
STATUS_BY_LABEL = {**{v: k for k, v in PROJECT_STATUS.items()}, **{k: k for k in PROJECT_STATUS}}
CERT_BY_LABEL = {**{v: k for k, v in CERTIFICATES.items()}, **{k: k for k in CERTIFICATES}}


class IntakeRefused(Exception):
    """The push is refused; nothing was stored. ``errors`` name the fields; ``status`` is the HTTP one."""

    def __init__(self, errors: list[dict], status: int = 400, people: list | None = None):
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors, self.status, self.people = errors, status, people or []


@dataclass
class Outcome:
    outcome: str                        # created | updated | unchanged
    key: str
    id: int
    people: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"outcome": self.outcome, "key": self.key, "id": self.id, "people": self.people}


# -- validation (no database writes) -------------------------------------------------------------
class _Errors(list):
    def add(self, field_name: str, message: str) -> None:
        self.append({"field": field_name, "message": message})


def _text(data: dict, name: str, label: str, errors: _Errors, limit: int, required=True, prefix="",
          key=False) -> str | None:
    """A text field of the push: a natural key in its one spelling (``key``), any other text on one
    line (a CR/LF in a name would reach the notification e-mails' headers); control characters and
    lone surrogates are refused, naming the field."""
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.add(prefix + name, f"请填写{label}")
        return None
    if not isinstance(value, str):
        errors.add(prefix + name, f"{label}必须是文本")
        return None
    reason = bad_character(value)
    if reason:
        errors.add(prefix + name, f"{label}{reason}")
        return None
    value = natural_key(value) if key else single_line(value)
    if not value:
        if required:
            errors.add(prefix + name, f"请填写{label}")
        return None
    if len(value) > limit:
        errors.add(prefix + name, f"{label}不能超过 {limit} 个字符")
        return None
    return value


def _org_ref(data, name: str, errors: _Errors) -> dict | None:
    ref = data.get(name)
    label = ORG_LABELS[name]
    if not isinstance(ref, dict):
        errors.add(name, f"请填写{label}（统一社会信用代码与名称）")
        return None
    code = _text(ref, "credit_code", f"{label}统一社会信用代码", errors, 18, prefix=f"{name}.", key=True)
    if code and not is_valid_credit_code(code):
        errors.add(f"{name}.credit_code", f"{label}统一社会信用代码格式不正确")
        code = None
    org_name = _text(ref, "name", f"{label}名称", errors, 200, required=False, prefix=f"{name}.")
    return {"credit_code": code, "name": org_name} if code else None


def validate_project(data) -> dict:
    """The push as clean values, or IntakeRefused(400) naming every bad field."""
    errors = _Errors()
    if not isinstance(data, dict):
        raise IntakeRefused([{"field": "", "message": "请求内容必须是 JSON 对象"}])
    clean = {
        "supervision_no": _text(data, "supervision_no", "报监登记号", errors, 50, key=True),
        "name": _text(data, "name", "工程名称", errors, 200),
        "contract_no": _text(data, "contract_no", "合同登记编号", errors, 50, required=False, key=True),
        "permit_no": _text(data, "permit_no", "施工许可证号", errors, 50, required=False, key=True),
        "address": _text(data, "address", "工程地址", errors, 300, required=False) or "",
    }
    status = data.get("status", UNDER_CONSTRUCTION)
    if status not in STATUS_BY_LABEL:
        errors.add("status", "工程状态只能是“在建”或“竣工”")
    clean["status"] = STATUS_BY_LABEL.get(status)
    clean["orgs"] = {name: _org_ref(data, name, errors) for name in PROJECT_ORGS
                     if name in ("construction_unit", "authority", "agency") or data.get(name) is not None}
    personnel = data.get("personnel") or {}
    clean["personnel"] = {}
    if not isinstance(personnel, dict):
        errors.add("personnel", "关键岗位人员必须是对象（project_manager、safety_officer、chief_supervisor）")
        personnel = {}
    for role, id_card in personnel.items():
        path = f"personnel.{role}"
        if role not in PERSONNEL:
            errors.add(path, "未知的岗位（可选：project_manager、safety_officer、chief_supervisor）")
        elif id_card is None or id_card == "":
            continue
        elif not isinstance(id_card, str) or not is_valid_id_card(id_card):
            errors.add(path, f"{ROLES[role]}身份证号格式不正确")
        elif ROLE_EMPLOYER[role] == CONTRACTOR and clean["orgs"].get("contractor") is None:
            errors.add(path, f"填写{ROLES[role]}时须同时填写施工单位")
        elif ROLE_EMPLOYER[role] == SUPERVISING_FIRM and clean["orgs"].get("supervising_firm") is None:
            errors.add(path, f"填写{ROLES[role]}时须同时填写监理单位")
        else:
            clean["personnel"][role] = natural_key(id_card)
    if errors:
        raise IntakeRefused(errors)
    return clean


def validate_person(data) -> dict:
    errors = _Errors()
    if not isinstance(data, dict):
        raise IntakeRefused([{"field": "", "message": "请求内容必须是 JSON 对象"}])
    id_card = _text(data, "id_card", "身份证号", errors, 18, key=True)
    if id_card and not is_valid_id_card(id_card):
        errors.add("id_card", "身份证号格式不正确")
    clean = {"id_card": id_card or "", "name": _text(data, "name", "姓名", errors, 50)}
    employer = data.get("employer")
    clean["employer"] = None
    if not isinstance(employer, dict):
        errors.add("employer", "请填写所在单位（统一社会信用代码与名称）")
    else:
        code = _text(employer, "credit_code", "所在单位统一社会信用代码", errors, 18, prefix="employer.", key=True)
        if code and not is_valid_credit_code(code):
            errors.add("employer.credit_code", "所在单位统一社会信用代码格式不正确")
        kind = employer.get("kind")
        if kind is not None and kind not in ENTERPRISE_KINDS:
            errors.add("employer.kind", "单位类型只能是 construction_unit、contractor 或 supervising_firm")
        clean["employer"] = {"credit_code": code, "kind": kind,
                             "name": _text(employer, "name", "所在单位名称", errors, 200, required=False,
                                           prefix="employer.")}
    certs = data.get("certificates") or []
    clean["certificates"] = []
    if not isinstance(certs, list):
        errors.add("certificates", "证书必须是列表")
        certs = []
    for i, cert in enumerate(certs):
        path = f"certificates[{i}]"
        if not isinstance(cert, dict) or cert.get("kind") not in CERT_BY_LABEL:
            errors.add(f"{path}.kind", "未知的证书类型（可选：" + "、".join(CERTIFICATES) + "）")
            continue
        number = _text(cert, "number", "证书编号", errors, 50, prefix=f"{path}.", key=True)
        if number:
            clean["certificates"].append((CERT_BY_LABEL[cert["kind"]], number))
    if errors:
        raise IntakeRefused(errors)
    return clean


# -- upserts -------------------------------------------------------------------------------------
def upsert_project(data) -> Outcome:
    """Create or update a project by its 报监 registration number, in one unit of work."""
    clean = validate_project(data)
    with unit_of_work():
        return _apply_project(clean)


def upsert_person(data) -> Outcome:
    clean = validate_person(data)
    with unit_of_work():
        return _apply_person(clean)


def bulk(kind: str, rows: list, on_row=None) -> list[dict]:
    """Each row in its own unit of work: a bad row is reported and the good rows are kept."""
    upsert = {"projects": upsert_project, "people": upsert_person}[kind]
    results = []
    for i, row in enumerate(rows):
        try:
            try:
                outcome = upsert(row)
            except IntegrityError:   # a concurrent push created the same key first: run again
                db.session.rollback()
                outcome = upsert(row)
        except IntakeRefused as e:
            results.append({"row": i, "status": e.status, "errors": e.errors, "people": e.people})
        else:
            results.append({"row": i, "status": 200, **outcome.as_dict()})
        if on_row:
            on_row(i)
    return results


def _organisation(ref: dict, kind: str, field_name: str) -> Organization:
    org = db.session.scalar(select(Organization).where(Organization.credit_code == ref["credit_code"]))
    if org is None and kind in REGULATOR_KINDS:   # regulators are set up by the platform, never by a push
        raise IntakeRefused([{"field": f"{field_name}.credit_code",
                              "message": f"系统中没有该{ORG_KINDS[kind]}（统一社会信用代码 {ref['credit_code']}），"
                                         f"{ORG_KINDS[kind]}须先由平台登记"}])
    if org is None:
        if not ref.get("name"):
            raise IntakeRefused([{"field": f"{field_name}.name",
                                  "message": f"系统中没有该{ORG_KINDS[kind]}，请同时填写其名称"}])
        org = Organization(kind=kind, name=ref["name"], credit_code=ref["credit_code"])
        db.session.add(org)
        db.session.flush()
    elif org.kind != kind:
        raise IntakeRefused([{"field": f"{field_name}.credit_code",
                              "message": f"该统一社会信用代码属于{org.kind_label}，不是{ORG_KINDS[kind]}"}])
    return org


def _apply_project(clean: dict) -> Outcome:
    orgs = {name: _organisation(ref, PROJECT_ORGS[name], name) for name, ref in clean["orgs"].items() if ref}
    people = _personnel(clean["personnel"], orgs)
    project = db.session.scalar(select(Project).where(Project.supervision_no == clean["supervision_no"]))
    created = project is None
    if created:
        project = Project(supervision_no=clean["supervision_no"], status=UNDER_CONSTRUCTION,
                          registered_at=utcnow().date())
        db.session.add(project)
    values = {"name": clean["name"], "contract_no": clean["contract_no"], "permit_no": clean["permit_no"],
              "address": clean["address"],
              **{f"{name}_id": org.id for name, org in orgs.items()}}
    before = project.regulator_ids
    # a move to other regulators locks the open tasks it re-offers before the project row, the
    # order of an approval (its task, then its project): the two cannot deadlock
    moving = not created and sorted(before) != sorted(orgs[r].id for r in ("authority", "agency"))
    reviews = project_moves.lock_open_reviews(project.id) if moving else []
    changed = _set(project, values)
    db.session.flush()
    if reviews:
        project_moves.follow_regulators(project, before, reviews)   # they go to the new regulators
    # projects first, then people, in ascending id: the global lock order
    holders = lock_rule.serialize_project(project.id, [p.id for p in people.values()])
    report = _assign_personnel(project, people)
    _holders_of_their_unit(project)
    changed |= any(r["outcome"] != "unchanged" for r in report)
    if clean["status"] == COMPLETED and project.status != COMPLETED:
        _complete(project, holders)
        changed = True
    elif clean["status"] == UNDER_CONSTRUCTION and project.status == COMPLETED:
        raise IntakeRefused([{"field": "status", "message": "已竣工的工程不能改回在建"}], 409)
    outcome = "created" if created else "updated" if changed else "unchanged"
    return Outcome(outcome, project.supervision_no, project.id, report)


def _personnel(personnel: dict, orgs: dict) -> dict:
    people = {}
    for role, id_card in personnel.items():
        person = db.session.scalar(select(Person).where(Person.id_card == id_card))
        path = f"personnel.{role}"
        if person is None:
            raise IntakeRefused([{"field": path, "message": f"{ROLES[role]}（{id_card}）不在人员库中，请先推送人员信息"}])
        employer = orgs["contractor" if ROLE_EMPLOYER[role] == CONTRACTOR else "supervising_firm"]
        if person.enterprise_id != employer.id:
            raise IntakeRefused([{"field": path, "message": f"{ROLES[role]}{person.name}不属于本工程的"
                                  f"{ORG_KINDS[ROLE_EMPLOYER[role]]}"}])
        people[role] = person
    return people


def _assign_personnel(project: Project, people: dict) -> list[dict]:
    """Give each role to its person; the old holder leaves. The lock rule decides each outcome."""
    report, refused = [], []
    for role, person in people.items():
        current = db.session.scalars(select(Assignment).where(
            Assignment.project_id == project.id, Assignment.role == role, Assignment.ended_at.is_(None))).all()
        if any(a.person_id == person.id for a in current):
            report.append(_person_report(person, role, "unchanged"))
            continue
        for a in current:
            _leave(a, project)
        if project.status == UNDER_CONSTRUCTION and _over_limit(person, role, project):
            lock = next((lk for lk in lock_rule.open_locks(person.id) if lk.role == role), None)
            entry = _person_report(person, role, "over_limit", lock)
            entry["message"] = lock_rule.TOO_MANY[role]
            refused.append(entry)
            report.append(entry)
            continue
        if project.status == UNDER_CONSTRUCTION and (lock := _locked_elsewhere(person, project)):
            entry = _person_report(person, role, "over_limit", lock)   # at the limit of another role
            entry["message"] = lock_rule.LOCKED_MESSAGE
            refused.append(entry)
            report.append(entry)
            continue
        before = {lk.id for lk in lock_rule.open_locks(person.id)}
        lock_rule.assign(person, project, role)
        db.session.flush()
        added = [lk for lk in lock_rule.open_locks(person.id) if lk.id not in before]
        report.append(_person_report(person, role, "locked" if added else "assigned", added[0] if added else None))
    if refused:
        raise IntakeRefused([{"field": f"personnel.{e['role']}", "message": e["message"]} for e in refused],
                            409, report)
    return report


def _holders_of_their_unit(project: Project) -> None:
    """A push that gives the project another contractor or supervising firm must name the new unit's
    people for the roles the old unit's people hold (domain.md §4.10: the counted roles leave with
    the old unit): otherwise the push is refused with 409 under each such role, nothing stored."""
    db.session.flush()
    units = {CONTRACTOR: project.contractor_id, SUPERVISING_FIRM: project.supervising_firm_id}
    errors = [{"field": f"personnel.{a.role}",
               "message": f"{ROLES[a.role]}{a.person.name}不属于本工程的{ORG_KINDS[ROLE_EMPLOYER[a.role]]}，"
                          f"请同时推送新单位的{ROLES[a.role]}"}
              for a in db.session.scalars(select(Assignment).where(
                  Assignment.project_id == project.id, Assignment.ended_at.is_(None)).order_by(Assignment.id))
              if a.role in ROLE_EMPLOYER and a.person.enterprise_id != units[ROLE_EMPLOYER[a.role]]]
    if errors:
        raise IntakeRefused(errors, 409)


def _over_limit(person: Person, role: str, project: Project) -> bool:
    """Would this assignment take the person past the limit? A project sharing a contract number
    with one they already hold counts as the same project."""
    if project.contract_no:
        shared = db.session.scalar(select(Assignment.id).join(Project, Project.id == Assignment.project_id).where(
            Assignment.person_id == person.id, Assignment.role == role, Assignment.ended_at.is_(None),
            Project.contract_no == project.contract_no, Project.status == UNDER_CONSTRUCTION).limit(1))
        if shared is not None:
            return False
    return lock_rule.project_count(person.id, role) >= lock_rule.LIMITS[role]


def _locked_elsewhere(person: Person, project: Project) -> LockRecord | None:
    """The person's open lock when this project would be a new one for them (domain.md §4.3: a locked
    person cannot take on a new project under construction, whatever the role). A project on which
    they already hold a role, or one sharing its contract number, is not new."""
    locks = lock_rule.open_locks(person.id)
    if not locks:
        return None
    same = Project.id == project.id
    if project.contract_no:
        same = or_(same, Project.contract_no == project.contract_no)
    held = db.session.scalar(select(Assignment.id).join(Project, Project.id == Assignment.project_id).where(
        Assignment.person_id == person.id, Assignment.ended_at.is_(None), Project.status == UNDER_CONSTRUCTION,
        same).limit(1))
    return locks[0] if held is None else None


def _leave(assignment: Assignment, project: Project) -> None:
    lock_rule.end_assignment(assignment.person_id, assignment.role, project.id, "工改系统推送：岗位人员变更")
    for lock in lock_rule.open_locks(assignment.person_id):
        if lock.project_id == project.id and lock.role == assignment.role:
            lock_rule.close_lock(lock, "工改系统推送：离开该工程")
    db.session.flush()
    lock_rule.apply_lock_rule(assignment.person)


def _complete(project: Project, holders) -> None:
    """The project is completed (竣工): as the completion filing's effect does."""
    project.status, project.completed_at = COMPLETED, utcnow().date()
    for a in db.session.scalars(select(Assignment).where(Assignment.project_id == project.id,
                                                         Assignment.ended_at.is_(None))).all():
        a.ended_at, a.end_reason = utcnow(), "工改系统推送：工程竣工"
    for person_id in holders:
        for lock in lock_rule.open_locks(person_id):
            if lock.project_id == project.id:
                lock_rule.close_lock(lock, "工程竣工")
    db.session.flush()
    for person_id in holders:
        lock_rule.apply_lock_rule(db.session.get(Person, person_id))


def _person_report(person: Person, role: str, outcome: str, lock: LockRecord | None = None) -> dict:
    return {"role": role, "id_card": person.id_card, "name": person.name, "outcome": outcome,
            "lock": lock_dict(lock) if lock else None}


def lock_dict(lock: LockRecord) -> dict:
    return {"id": lock.id, "role": lock.role, "project_id": lock.project_id,
            "locked_at": api_time(lock.locked_at), "reason": lock.reason}


def _apply_person(clean: dict) -> Outcome:
    ref = clean["employer"]
    employer = db.session.scalar(select(Organization).where(Organization.credit_code == ref["credit_code"]))
    if employer is None:
        if not ref.get("name") or not ref.get("kind"):
            raise IntakeRefused([{"field": "employer", "message": "系统中没有该单位，请同时填写其名称和单位类型"}])
        employer = Organization(kind=ref["kind"], name=ref["name"], credit_code=ref["credit_code"])
        db.session.add(employer)
        db.session.flush()
    elif employer.kind not in ENTERPRISE_KINDS:
        raise IntakeRefused([{"field": "employer.credit_code", "message": "所在单位必须是企业（建设、施工或监理单位）"}])
    person = db.session.scalar(select(Person).where(Person.id_card == clean["id_card"]))
    created = person is None
    if not created and person.enterprise_id != employer.id:
        _may_change_employer(person)
    if created:
        person = Person(id_card=clean["id_card"], name=clean["name"], enterprise_id=employer.id, certificates=[])
        db.session.add(person)
    changed = _set(person, {"name": clean["name"], "enterprise_id": employer.id})
    have = {(c.kind, c.number) for c in person.certificates}
    want = set(clean["certificates"])
    if have != want:
        changed = True
        for cert in list(person.certificates):
            if (cert.kind, cert.number) not in want:
                person.certificates.remove(cert)
                db.session.delete(cert)
        for kind, number in sorted(want - have):
            person.certificates.append(Certificate(kind=kind, number=number))
    db.session.flush()
    return Outcome("created" if created else "updated" if changed else "unchanged", person.id_card, person.id)


def _may_change_employer(person: Person) -> None:
    """A person holding a counted role on a project under construction works for that project's
    contractor or supervising firm: moving them to another employer would let the new one act for
    the old one's project (its unlock, its manager change), so the push is refused with 409 naming
    each assignment. The old unit ends the assignment first (项目主要管理人员变更, 人员解锁申请)."""
    lock_rule.serialize_people([person.id])   # no assignment of theirs can begin while we decide
    held = [a for a in lock_rule.current_projects([person.id])[person.id] if a.role in ROLE_EMPLOYER]
    if not held:
        return
    errors = [{"field": "employer.credit_code",
               "message": f"{person.name}现任工程“{a.project.name}”（报监登记号 {a.project.supervision_no}）的"
                          f"{ROLES[a.role]}，不能变更所在单位；请先由原单位办理项目主要管理人员变更或人员解锁"}
              for a in held]
    people = [{**_person_report(person, a.role, "assigned"), "project": a.project.supervision_no} for a in held]
    raise IntakeRefused(errors, 409, people)


def _set(obj, values: dict) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


# -- reads ---------------------------------------------------------------------------------------
def project_dict(project: Project) -> dict:
    holders = db.session.scalars(select(Assignment).where(Assignment.project_id == project.id,
                                                          Assignment.ended_at.is_(None))).all()
    org = lambda o: {"credit_code": o.credit_code, "name": o.name} if o else None  # noqa: E731
    return {
        "id": project.id, "supervision_no": project.supervision_no, "name": project.name,
        "contract_no": project.contract_no, "permit_no": project.permit_no, "address": project.address,
        "status": project.status, "status_label": project.status_label,
        "construction_unit": org(project.construction_unit), "contractor": org(project.contractor),
        "supervising_firm": org(project.supervising_firm), "authority": org(project.authority),
        "agency": org(project.agency),
        "personnel": {a.role: a.person.id_card for a in holders},
    }


def person_dict(person: Person) -> dict:
    return {
        "id": person.id, "id_card": person.id_card, "name": person.name, "status": person.status,
        "status_label": person.status_label,
        "employer": {"credit_code": person.enterprise.credit_code, "name": person.enterprise.name},
        "certificates": [{"kind": c.kind, "number": c.number} for c in person.certificates],
        "open_locks": [lock_dict(lk) for lk in lock_rule.open_locks(person.id)],
    }


def get_project(supervision_no: str) -> Project | None:
    return db.session.scalar(select(Project).where(Project.supervision_no == natural_key(supervision_no)))


def get_person(id_card: str) -> Person | None:
    return db.session.scalar(select(Person).where(Person.id_card == natural_key(id_card)))


def list_projects(after_id: int | None, limit: int) -> list[Project]:
    """Keyset page by id (the cursor is the last id shown)."""
    stmt = select(Project).order_by(Project.id).limit(limit)
    if after_id:
        stmt = stmt.where(Project.id > after_id)
    return list(db.session.scalars(stmt))


def list_people(after_id: int | None, limit: int) -> list[Person]:
    stmt = select(Person).order_by(Person.id).limit(limit)
    if after_id:
        stmt = stmt.where(Person.id > after_id)
    return list(db.session.scalars(stmt))
