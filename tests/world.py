"""A small province for scenario tests: regulators, enterprises, people, projects, accounts."""
from dataclasses import dataclass, field
from itertools import count

from werkzeug.security import generate_password_hash

from engine.db import db
from handlers import lock_rule
from handlers.codes import credit_code_check_char, id_card_check_char
from handlers.models import (
    ACTIVE, AGENCY, AUTHORITY, CHIEF_SUPERVISOR, CONSTRUCTION_UNIT, CONSTRUCTOR, CONTRACTOR, DESIGNER, PLATFORM,
    PROJECT_MANAGER, SAFETY_B, SAFETY_C, SAFETY_OFFICER, SUPERVISING_FIRM, SUPERVISION_ENGINEER, Account,
    Certificate, Organization, Person, Project, User,
)
from handlers.principal import Principal

_seq = count(1)
PASSWORD = "demo1234"
_HASH = None


def credit_code(n: int) -> str:
    body = f"91530100{n:09d}"
    return body + credit_code_check_char(body)


def id_card(n: int) -> str:
    body = f"53010119800101{n % 1000:03d}"[:17]
    body = f"530101{1960 + n // 1000 % 40}0101{n % 1000:03d}"
    return body + id_card_check_char(body)


@dataclass
class World:
    orgs: dict = field(default_factory=dict)
    principals: dict = field(default_factory=dict)

    def org(self, key) -> Organization:
        return self.orgs[key]

    def who(self, key) -> Principal:
        return self.principals[key]

    # -- builders ---------------------------------------------------------------------
    def add_org(self, key, kind, name):
        org = Organization(kind=kind, name=name, credit_code=credit_code(next(_seq)))
        db.session.add(org)
        db.session.commit()   # built rows are committed: a unit of work refuses pending changes
        self.orgs[key] = org
        return org

    def add_account(self, key, org_key, name):
        global _HASH
        _HASH = _HASH or generate_password_hash(PASSWORD)
        user = User(username=f"{key}", password_hash=_HASH, name=name)
        account = Account(user=user, org=self.orgs[org_key], status=ACTIVE)
        db.session.add_all([user, account])
        db.session.commit()
        self.principals[key] = Principal.of(account)
        return account

    def add_person(self, name, org_key, *certs) -> Person:
        person = Person(name=name, id_card=id_card(next(_seq)), enterprise_id=self.orgs[org_key].id)
        person.certificates = [Certificate(kind=c, number=f"C{next(_seq):06d}") for c in certs]
        db.session.add(person)
        db.session.commit()
        return person

    def add_project(self, name, contract_no=None, authority="authority", agency="agency",
                    owner="owner", contractor="contractor", firm="firm") -> Project:
        n = next(_seq)
        project = Project(name=name, supervision_no=f"BJ{n:06d}", contract_no=contract_no, permit_no=f"XK{n:06d}",
                          construction_unit_id=self.orgs[owner].id, contractor_id=self.orgs[contractor].id,
                          supervising_firm_id=self.orgs[firm].id, authority_id=self.orgs[authority].id,
                          agency_id=self.orgs[agency].id)
        db.session.add(project)
        db.session.commit()
        return project

    def assign(self, person, project, role):
        lock_rule.assign(person, project, role)
        db.session.commit()

    @classmethod
    def build(cls) -> "World":
        """Two regulators pairs, an owner, two contractors, a supervising firm, and their users."""
        w = cls()
        w.add_org("authority", AUTHORITY, "昆明市住房和城乡建设局")
        w.add_org("agency", AGENCY, "昆明市建设工程质量安全监督站")
        w.add_org("authority2", AUTHORITY, "大理州住房和城乡建设局")
        w.add_org("agency2", AGENCY, "大理州建设工程质量安全监督站")
        w.add_org("owner", CONSTRUCTION_UNIT, "云南城投置业有限公司")
        w.add_org("contractor", CONTRACTOR, "云南建投第一建设有限公司")
        w.add_org("contractor2", CONTRACTOR, "云南工程建设总承包有限公司")
        w.add_org("firm", SUPERVISING_FIRM, "云南建设监理咨询有限公司")
        w.add_org("platform", PLATFORM, "云南省住房和城乡建设厅")
        w.add_org("design", DESIGNER, "云南省住房和城乡建设厅信息中心（流程设计）")
        for key, org, name in [("auth_reviewer", "authority", "李审核"), ("auth_reviewer2", "authority", "王审核"),
                               ("agency_reviewer", "agency", "赵监督"), ("agency2_reviewer", "agency2", "钱监督"),
                               ("auth2_reviewer", "authority2", "孙审核"), ("owner_user", "owner", "周建设"),
                               ("contractor_user", "contractor", "吴施工"), ("contractor2_user", "contractor2", "郑施工"),
                               ("firm_user", "firm", "冯监理"), ("admin", "platform", "陈管理"),
                               ("designer", "design", "李设计")]:
            w.add_account(key, org, name)
        db.session.commit()
        return w


# -- scenario helpers (shared by the scenario suites) -----------------------------------
PDF_BYTES = b"%PDF-1.4 scenario attachment"


def row_counts(*models) -> dict:
    """Row count of each model's table, to show that a refused action changed nothing."""
    from sqlalchemy import func, select
    db.session.expire_all()
    return {m.__tablename__: db.session.scalar(select(func.count()).select_from(m)) for m in models}


def locked_person(world, name, org_key="contractor", role=PROJECT_MANAGER, project_name=None, **project_kw):
    """A person holding ``role`` on a fresh project and therefore locked (limit 1 roles)."""
    certs = {PROJECT_MANAGER: (CONSTRUCTOR, SAFETY_B), SAFETY_OFFICER: (SAFETY_C,),
             CHIEF_SUPERVISOR: (SUPERVISION_ENGINEER,)}[role]
    person = world.add_person(name, org_key, *certs)
    project = world.add_project(project_name or f"{name}的工程", **project_kw)
    world.assign(person, project, role)
    return person, project


def reported_unlock(world, services, person, applicant_key="contractor_user", reason="项目已停工", lock=None):
    """An unlock application for the person's open lock, saved with its form and reported."""
    from handlers.applications import Upload
    from handlers.processes.unlock import UNLOCK_FORM
    applicant = world.who(applicant_key)
    if lock is None:
        [lock] = lock_rule.open_locks(person.id)
    app = services.unlock.create(applicant, lock.id)
    services.unlock.save(applicant, app.id, {"reason": reason},
                         [Upload(UNLOCK_FORM, "建设工程项目人员解锁申请表.pdf", PDF_BYTES)])
    services.unlock.report(applicant, app.id)
    return app


def reported_permit(world, services, project_name, permit_no="530114202405200101"):
    """A project under construction without a permit number, and its 施工许可证补录 filed by the
    construction unit with the number and the scan, reported: (owner, project, application)."""
    from handlers.applications import Upload
    project = world.add_project(project_name)
    project.permit_no = None
    db.session.commit()
    owner = world.who("owner_user")
    app = services.permit.create(owner, project.id)
    services.permit.save(owner, app.id, {"permit_no": permit_no, "issue_date": "2024-05-20"},
                         [Upload("permit_scan", "施工许可证.pdf", PDF_BYTES)])
    services.permit.report(owner, app.id)
    return owner, project, app


def approve_into_an_incident(services, monkeypatch, reviewer, task_id, opinion=""):
    """The reviewer claims and approves while the approval's operator fails (数据库连接中断): the
    instance stops at an incident. The operator is restored afterwards."""
    from handlers import processes

    def broken(call):
        raise RuntimeError("数据库连接中断")
    monkeypatch.setitem(processes.registry.operators, "unlock.apply", broken)
    services.reviews.claim(reviewer, task_id)
    services.reviews.approve(reviewer, task_id, opinion)
    monkeypatch.undo()


def review_registration(services, admin, account, decision, reason=""):
    """The platform administrator claims the registration's review task (its latest) in the review
    inbox and decides it with the task's form (审核通过, or 退回 with the reason)."""
    from sqlalchemy import select

    from engine.models import HumanTask
    from handlers.models import Registration
    task_id = db.session.scalar(select(HumanTask.id).join(Registration, Registration.instance_id == HumanTask.instance_id)
                                .where(Registration.account_id == account.id).order_by(HumanTask.id.desc()).limit(1))
    services.reviews.claim(admin, task_id)
    return services.reviews.submit(admin, task_id, {"decision": decision, "reason": reason})


def deploy_due_change(services, designer, due: str, note="审核时限改为 3 个工作日"):
    """Version 2 of the unlock process through the studio's draft: the review's ``due`` changed to
    ``due``, with the scenarios expecting the new deadline too."""
    studio = services.studio
    draft = studio.open_draft(designer, "personnel_unlock")
    studio.save_draft(designer, "personnel_unlock", draft.xml.replace('value="5 working days"', f'value="{due}"'),
                      draft.files, draft.revision)
    current = studio.draft(designer, "personnel_unlock")
    files = {name: text.replace("due: 5 working days", f"due: {due}") for name, text in current.files.items()}
    studio.save_draft(designer, "personnel_unlock", current.xml, files, current.revision)
    return studio.deploy_draft(designer, "personnel_unlock", note)
