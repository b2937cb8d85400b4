"""Domain tables. Business data lives here, not in workflow task data."""
from datetime import date, datetime

from decimal import Decimal

from sqlalchemy import (
    DDL, JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, Numeric, String, Text, UniqueConstraint,
    event, false, select, text,
)
from sqlalchemy.orm import Mapped, column_property, declared_attr, mapped_column, relationship

from engine.db import db
from engine.models import BigId, ProcessInstance, utcnow

# organisation kinds
CONSTRUCTION_UNIT, CONTRACTOR, SUPERVISING_FIRM = "construction_unit", "contractor", "supervising_firm"
AGENCY, AUTHORITY, PLATFORM = "agency", "authority", "platform"
DESIGNER = "designer"   # 流程设计: models, checks, tests and deploys processes (the studio); not an administrator
ORG_KINDS = {
    CONSTRUCTION_UNIT: "建设单位", CONTRACTOR: "施工单位", SUPERVISING_FIRM: "监理单位",
    AGENCY: "监督机构", AUTHORITY: "主管部门", PLATFORM: "平台管理员", DESIGNER: "流程设计",
}
STAFF_KINDS = (PLATFORM, DESIGNER)   # granted by the platform, never by self-registration
ENTERPRISE_KINDS = (CONSTRUCTION_UNIT, CONTRACTOR, SUPERVISING_FIRM)
REGULATOR_KINDS = (AGENCY, AUTHORITY)

# key roles on a project
PROJECT_MANAGER, SAFETY_OFFICER, CHIEF_SUPERVISOR = "project_manager", "safety_officer", "chief_supervisor"
ROLES = {PROJECT_MANAGER: "项目经理", SAFETY_OFFICER: "安全员", CHIEF_SUPERVISOR: "项目总监"}
ROLE_EMPLOYER = {PROJECT_MANAGER: CONTRACTOR, SAFETY_OFFICER: CONTRACTOR, CHIEF_SUPERVISOR: SUPERVISING_FIRM}

# certificates
CONSTRUCTOR, SAFETY_B, SAFETY_C = "constructor", "safety_b", "safety_c"
SUPERVISION_ENGINEER, SUPERVISOR = "supervision_engineer", "supervisor"
POST_QUALITY, POST_BUILDER = "post_quality", "post_builder"   # 岗位证书: the record names the post
CERTIFICATES = {
    CONSTRUCTOR: "注册建造师", SAFETY_B: "安全生产考核合格证书（B证）", SAFETY_C: "安全生产考核合格证书（C证）",
    SUPERVISION_ENGINEER: "注册监理工程师", SUPERVISOR: "监理员",
    POST_QUALITY: "岗位证书（质量员）", POST_BUILDER: "岗位证书（施工员）",
}

# the project personnel roster (项目人员名册, §4.9): roles the lock rule does not count
OWNER_LEAD, TECHNICAL_LEAD, QUALITY_OFFICER, BUILDER = "owner_lead", "technical_lead", "quality_officer", "builder"
SPECIALIST_SUPERVISOR = "specialist_supervisor"
ROSTER_ROLES = {OWNER_LEAD: "建设单位项目负责人", TECHNICAL_LEAD: "项目技术负责人", QUALITY_OFFICER: "质量员",
                BUILDER: "施工员", SPECIALIST_SUPERVISOR: "专业监理工程师"}
ROSTER_EMPLOYER = {OWNER_LEAD: CONSTRUCTION_UNIT, TECHNICAL_LEAD: CONTRACTOR, QUALITY_OFFICER: CONTRACTOR,
                   BUILDER: CONTRACTOR, SPECIALIST_SUPERVISOR: SUPERVISING_FIRM}

# a project's descriptive facts (变更工程信息, §4.8), in the form's order; the rest come from the 工改系统
PROJECT_FACTS = {"name": "工程名称", "address": "工程地址", "scale": "建设规模", "cost": "工程造价（万元）",
                 "structure_type": "结构类型", "planned_start": "计划开工日期", "planned_end": "计划竣工日期"}

NORMAL, LOCKED = "normal", "locked"
PERSON_STATUS = {NORMAL: "正常", LOCKED: "锁定"}
UNDER_CONSTRUCTION, COMPLETED = "under_construction", "completed"
PROJECT_STATUS = {UNDER_CONSTRUCTION: "在建", COMPLETED: "竣工"}

# application status
DRAFT, REPORTED, RETURNED, APPROVED, WITHDRAWN = "draft", "reported", "returned", "approved", "withdrawn"
DECLINED = "declined"   # ended without effect by the reviewer (a returned registration submission)
DISCARDED = "discarded"   # a draft its applicant discarded (作废) before ever reporting it
APPLICATION_STATUS = {DRAFT: "草稿", REPORTED: "待审核", RETURNED: "已退回", APPROVED: "已办结", WITHDRAWN: "已撤回",
                      DECLINED: "未通过", DISCARDED: "已作废"}
OPEN_STATUSES = (DRAFT, REPORTED, RETURNED)
STATUS_BY_LABEL = {label: code for code, label in APPLICATION_STATUS.items()}   # diagrams declare labels

PENDING, ACTIVE, REJECTED, DISABLED = "pending", "active", "rejected", "disabled"
ACCOUNT_STATUS = {PENDING: "待审核", ACTIVE: "已通过", REJECTED: "已驳回", DISABLED: "已停用"}
# an account's role within its organisation: the 单位管理员 also maintains the enterprise basic information
ORG_ADMIN, ORG_STAFF = "org_admin", "staff"
ACCOUNT_ROLES = {ORG_ADMIN: "单位管理员", ORG_STAFF: "经办人"}


class Organization(db.Model):
    __tablename__ = "organization"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)
    contact_person: Mapped[str] = mapped_column(String(50), default="")
    contact_phone: Mapped[str] = mapped_column(String(30), default="")
    legal_representative: Mapped[str] = mapped_column(String(50), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    business_scope: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def kind_label(self) -> str:
        return ORG_KINDS[self.kind]


class OrgInfoChange(db.Model):
    """One save of the enterprise basic information: who, when, which fields."""
    __tablename__ = "org_info_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    user_id: Mapped[int] = mapped_column(Integer)
    user_name: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    changes: Mapped[dict] = mapped_column(JSON)   # field -> [old, new]


class User(db.Model):
    """A login (one natural person); each Account is a role they may act as."""
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(50))
    mobile: Mapped[str] = mapped_column(String(20), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # wrong in a row
    login_locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    # stored in each session at login; a session whose number is not the current one is over
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    email: Mapped[str | None] = mapped_column(String(200))   # for the e-mail channel of notifications
    # set when an administrator resets the password: the next login must choose a new one first
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    accounts: Mapped[list["Account"]] = relationship(back_populates="user", order_by="Account.id")


class Account(db.Model):
    __tablename__ = "account"
    __table_args__ = (UniqueConstraint("user_id", "org_id", name="uq_account_user_org"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=PENDING, index=True)
    role: Mapped[str] = mapped_column(String(20), default=ORG_ADMIN, server_default=ORG_ADMIN)   # ACCOUNT_ROLES
    reject_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    user: Mapped[User] = relationship(back_populates="accounts", lazy="joined")
    org: Mapped[Organization] = relationship(lazy="joined")

    @property
    def kind(self) -> str:
        return self.org.kind

    @property
    def role_label(self) -> str:
        return ACCOUNT_ROLES.get(self.role, self.role)


class LoginCode(db.Model):
    """One QR login code (扫码登录): shown by a computer's login page, confirmed on a phone by a
    signed-in user for one of their accounts, redeemed once by the browser that showed it.

    ``code`` is public (it is in the QR code's URL); the browser proves it showed the code with a
    secret kept in its session, of which only the SHA-256 is stored here. Rows live in the database
    so that any host of a server farm answers the computer's polls."""
    __tablename__ = "login_code"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="waiting")   # waiting | confirmed | used | cancelled
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    browser: Mapped[str] = mapped_column(String(300), default="")   # the computer's User-Agent
    address: Mapped[str] = mapped_column(String(64), default="")    # the computer's IP address
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class PasswordReset(db.Model):
    """忘记密码: one reset link. Only the SHA-256 of its token is kept (written when the e-mail is
    sent); the link works once and until ``expires_at``."""
    __tablename__ = "password_reset"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    address: Mapped[str] = mapped_column(String(64), default="")   # who asked for it


class AdminAction(db.Model):
    """The administrators' action log of 账号管理: who changed which account, when, and how."""
    __tablename__ = "admin_action"
    __table_args__ = (Index("ix_admin_action_at", "at", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    admin_user_id: Mapped[int] = mapped_column(Integer)
    admin_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(30))
    account_id: Mapped[int | None] = mapped_column(Integer, index=True)
    target: Mapped[str] = mapped_column(String(300), default="")   # the account as shown then
    detail: Mapped[str] = mapped_column(Text, default="")


class Person(db.Model):
    __tablename__ = "person"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    id_card: Mapped[str] = mapped_column(String(18), unique=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=NORMAL)
    enterprise: Mapped[Organization] = relationship(lazy="joined")
    certificates: Mapped[list["Certificate"]] = relationship(back_populates="person", lazy="select")

    @property
    def status_label(self) -> str:
        return PERSON_STATUS[self.status]

    def holds(self, kind: str) -> bool:
        return any(c.kind == kind for c in self.certificates)


class Certificate(db.Model):
    __tablename__ = "certificate"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    number: Mapped[str] = mapped_column(String(50))
    person: Mapped[Person] = relationship(back_populates="certificates")

    @property
    def kind_label(self) -> str:
        return CERTIFICATES[self.kind]


class Project(db.Model):
    __tablename__ = "project"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    supervision_no: Mapped[str] = mapped_column(String(50), unique=True)      # 报监登记号
    contract_no: Mapped[str | None] = mapped_column(String(50), index=True)   # 合同登记编号
    permit_no: Mapped[str | None] = mapped_column(String(50))                 # 施工许可证号
    address: Mapped[str] = mapped_column(String(300), default="")
    construction_unit_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    contractor_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    supervising_firm_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    authority_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    status: Mapped[str] = mapped_column(String(30), default=UNDER_CONSTRUCTION)
    registered_at: Mapped[date | None] = mapped_column(Date)
    completed_at: Mapped[date | None] = mapped_column(Date)
    # descriptive facts the construction unit may change (变更工程信息, §4.8); the defaults are the
    # database's, so that an insert naming only the older columns still works
    scale: Mapped[str] = mapped_column(String(100), server_default="")            # 建设规模（面积/长度）
    cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))                     # 工程造价（万元）
    structure_type: Mapped[str] = mapped_column(String(50), server_default="")    # 结构类型
    planned_start: Mapped[date | None] = mapped_column(Date)                          # 计划开工日期
    planned_end: Mapped[date | None] = mapped_column(Date)                            # 计划竣工日期

    construction_unit: Mapped[Organization] = relationship(foreign_keys=[construction_unit_id])
    contractor: Mapped[Organization | None] = relationship(foreign_keys=[contractor_id])
    supervising_firm: Mapped[Organization | None] = relationship(foreign_keys=[supervising_firm_id])
    authority: Mapped[Organization] = relationship(foreign_keys=[authority_id])
    agency: Mapped[Organization] = relationship(foreign_keys=[agency_id])

    @property
    def status_label(self) -> str:
        return PROJECT_STATUS[self.status]

    @property
    def regulator_ids(self) -> list[int]:
        return [self.authority_id, self.agency_id]


class Assignment(db.Model):
    """A person holding a key role on a project; ended_at set when they leave it."""
    __tablename__ = "assignment"
    __table_args__ = (Index("ix_assignment_person_active", "person_id", "role", "ended_at"),
                      Index("ix_assignment_project", "project_id", "ended_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    role: Mapped[str] = mapped_column(String(30))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    end_reason: Mapped[str | None] = mapped_column(String(200))
    project: Mapped[Project] = relationship(lazy="joined")
    person: Mapped[Person] = relationship(lazy="joined")

    @property
    def role_label(self) -> str:
        return ROLES[self.role]


class LockRecord(db.Model):
    __tablename__ = "lock_record"
    __table_args__ = (
        Index("ix_lock_person_open", "person_id", "closed_at"),
        # the last line of defence under the row locks: one open lock record per person and role
        Index("uq_lock_record_open_role", "person_id", "role", unique=True,
              sqlite_where=text("closed_at IS NULL"), postgresql_where=text("closed_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    role: Mapped[str] = mapped_column(String(30))
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))   # 添加锁定的工程
    locked_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(String(300))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    close_reason: Mapped[str | None] = mapped_column(String(300))
    person: Mapped[Person] = relationship(lazy="joined")
    project: Mapped[Project] = relationship(lazy="joined")

    @property
    def role_label(self) -> str:
        return ROLES[self.role]

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class RosterEntry(db.Model):
    """A person on the project's personnel roster (项目人员名册) in a role the lock rule does not count;
    ended_at set when they leave it (the ended rows are the roster's history)."""
    __tablename__ = "project_roster"
    __table_args__ = (Index("ix_project_roster_project", "project_id", "ended_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))   # the unit the role belongs to
    role: Mapped[str] = mapped_column(String(30))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    end_reason: Mapped[str | None] = mapped_column(String(200))
    person: Mapped[Person] = relationship(lazy="joined")

    @property
    def role_label(self) -> str:
        return ROSTER_ROLES[self.role]


class ProjectChange(db.Model):
    """The project's change history: one approved change, what it changed (before → after), by
    which application, who filed it and who approved it."""
    __tablename__ = "project_change"
    __table_args__ = (Index("ix_project_change_project", "project_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    process: Mapped[str] = mapped_column(String(50))          # the process title (变更工程信息 …)
    case_no: Mapped[str | None] = mapped_column(String(40))   # the application's 办件编号
    applicant: Mapped[str] = mapped_column(String(200))       # the filing organisation
    approved_by: Mapped[str] = mapped_column(String(300))     # reviewer and organisation
    changes: Mapped[list] = mapped_column(JSON)               # [[label, before, after], …]


CERT_VALID, CERT_REVOKED = "valid", "revoked"
CERT_STATUS = {CERT_VALID: "有效", CERT_REVOKED: "已作废"}


class IssuedCertificate(db.Model):
    """A certificate the platform issued when a case ended approved (竣工验收备案证明, 办结通知书):
    exactly the facts it prints, who issued it and when, the Ed25519 signatures over those facts
    and over the PDF's bytes (handlers.certificates), and whether it is still valid."""
    __tablename__ = "issued_certificate"
    __table_args__ = (Index("ix_issued_certificate_instance", "instance_id", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    serial: Mapped[str] = mapped_column(String(30), unique=True)          # 证明编号, e.g. ZM-2026-000001
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    case_no: Mapped[str] = mapped_column(String(30))                       # the case's 办件编号
    kind: Mapped[str] = mapped_column(String(20))                          # completion | closing
    title: Mapped[str] = mapped_column(String(50))                         # 竣工验收备案证明 | 办结通知书
    facts: Mapped[list] = mapped_column(JSON)                              # [[label, value], …] as printed
    issued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    issuer_org_id: Mapped[int | None] = mapped_column(Integer)
    issuer_name: Mapped[str] = mapped_column(String(200))                  # the issuing organisation as printed
    key_id: Mapped[str] = mapped_column(String(32))                        # the signing key (instance folder)
    signature: Mapped[str] = mapped_column(String(100))                    # over the facts, base64url
    verify_base: Mapped[str] = mapped_column(String(200), default="", server_default="")  # its QR code's address
    # the document, rendered and signed once, on its first download (handlers.certificates.pdf_of):
    # an approval does not wait for a PDF nobody may ever fetch; NULL until then
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    pdf_signature: Mapped[str | None] = mapped_column(String(128))         # over the PDF's bytes, hex
    status: Mapped[str] = mapped_column(String(10), default=CERT_VALID)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_reason: Mapped[str] = mapped_column(Text, default="")
    revoked_by: Mapped[str] = mapped_column(String(200), default="")

    @property
    def status_label(self) -> str:
        return CERT_STATUS[self.status]


class Attachment(db.Model):
    """An uploaded file: its name, type and owner; the bytes live in the attachment store under
    their SHA-256 (``upload_blob``, handlers/uploads.py)."""
    __tablename__ = "attachment"
    __table_args__ = (Index("ix_attachment_owner", "owner_type", "owner_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_type: Mapped[str] = mapped_column(String(30))
    owner_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(30), default="attachment")
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(255))
    org_id: Mapped[int] = mapped_column(Integer)
    uploaded_by_user_id: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class UploadBlob(db.Model):
    """The bytes of uploaded files, once per content (the SHA-256 names them): written in the same
    transaction as the attachment that refers to them, so every host of a farm serves them and a
    refused or rolled-back action leaves nothing behind. ``stored_at`` is the last time an upload
    stored (or found) this content: ``flask uploads prune`` keeps younger rows, which an upload in
    flight may be about to refer to. ``data`` is deferred: rows are read through the store, which
    streams it in chunks (handlers/uploads.py)."""
    __tablename__ = "upload_blob"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    stored_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


# PostgreSQL keeps the bytes out of line and uncompressed (PDFs and images hardly compress), so that
# reading a chunk with substr() fetches only that chunk's TOAST pages, not the whole value
# (the migration says the same for upgraded databases)
BLOB_STORAGE_DDL = "ALTER TABLE upload_blob ALTER COLUMN data SET STORAGE EXTERNAL"
event.listen(UploadBlob.__table__, "after_create", DDL(BLOB_STORAGE_DDL).execute_if(dialect="postgresql"))


class ApplicationMixin:
    """Columns every business application shares."""
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default=DRAFT)
    reason: Mapped[str] = mapped_column(Text, default="")
    explanation: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    reported_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    # set while the application is open so that two tabs cannot file the same thing twice
    open_key: Mapped[str | None] = mapped_column(String(100), unique=True)

    @declared_attr
    def applicant_org_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("organization.id"), index=True)

    @declared_attr
    def created_by_user_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("app_user.id"))

    @declared_attr
    def project_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("project.id"), index=True)

    @declared_attr
    def instance_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("process_instance.id"), unique=True)

    @declared_attr
    def applicant_org(cls) -> Mapped[Organization]:
        return relationship(foreign_keys=[cls.applicant_org_id], lazy="joined")

    @declared_attr
    def project(cls) -> Mapped[Project]:
        return relationship(foreign_keys=[cls.project_id], lazy="joined")

    @declared_attr
    def case_no(cls) -> Mapped[str | None]:
        """办件编号: its workflow instance's case number, read with the row (engine.case_numbers)."""
        return column_property(select(ProcessInstance.case_no).where(ProcessInstance.id == cls.instance_id)
                               .correlate_except(ProcessInstance).scalar_subquery(),
                               expire_on_flush=False)   # set once at the start: no reload after a save

    @property
    def status_label(self) -> str:
        return APPLICATION_STATUS[self.status]

    @property
    def is_editable(self) -> bool:
        return self.status in (DRAFT, RETURNED)


class UnlockApplication(ApplicationMixin, db.Model):
    """人员解锁申请."""
    __tablename__ = "unlock_application"
    lock_record_id: Mapped[int] = mapped_column(ForeignKey("lock_record.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    lock_record: Mapped[LockRecord] = relationship(lazy="joined")
    # the lock record's own person and project (one row each): its joined load puts them in the
    # session, where these two find them without a query, so the application's row is read with
    # three joins fewer
    person: Mapped[Person] = relationship(lazy="select")
    project: Mapped[Project] = relationship(foreign_keys="UnlockApplication.project_id", lazy="select")


class ManagerChangeApplication(ApplicationMixin, db.Model):
    """项目主要管理人员变更."""
    __tablename__ = "manager_change_application"
    role: Mapped[str] = mapped_column(String(30))
    old_person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    new_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    old_person: Mapped[Person] = relationship(foreign_keys=[old_person_id], lazy="joined")
    new_person: Mapped[Person | None] = relationship(foreign_keys=[new_person_id], lazy="joined")

    @property
    def role_label(self) -> str:
        return ROLES[self.role]


class CompletionFiling(ApplicationMixin, db.Model):
    """竣工验收备案."""
    __tablename__ = "completion_filing"
    acceptance_date: Mapped[date | None] = mapped_column(Date)      # 竣工验收日期
    conclusion: Mapped[str] = mapped_column(Text, default="")       # 验收结论
    permit_no: Mapped[str] = mapped_column(String(50), default="")  # 施工许可证号


class PermitSupplement(ApplicationMixin, db.Model):
    """施工许可证补录: the permit a project got after it was pushed in."""
    __tablename__ = "permit_supplement"
    permit_no: Mapped[str] = mapped_column(String(50), default="")  # 施工许可证号
    issue_date: Mapped[date | None] = mapped_column(Date)          # 发证日期


class ProjectInfoChange(ApplicationMixin, db.Model):
    """变更工程信息 (§4.8): the project's descriptive facts as they are to become."""
    __tablename__ = "project_info_change"
    name: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    scale: Mapped[str] = mapped_column(String(100), default="")
    cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    structure_type: Mapped[str] = mapped_column(String(50), default="")
    planned_start: Mapped[date | None] = mapped_column(Date)
    planned_end: Mapped[date | None] = mapped_column(Date)


class RosterChange(ApplicationMixin, db.Model):
    """变更工程人员 (§4.9): add a person to the roster, replace an entry, or remove one."""
    __tablename__ = "roster_change"
    operation: Mapped[str] = mapped_column(String(20), default="add")   # add | replace | remove
    role: Mapped[str | None] = mapped_column(String(30))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("project_roster.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    entry: Mapped[RosterEntry | None] = relationship(lazy="joined")
    person: Mapped[Person | None] = relationship(lazy="joined")


class UnitChange(ApplicationMixin, db.Model):
    """变更参建单位 (§4.10): a new contractor or supervising firm, with its people for the counted roles."""
    __tablename__ = "unit_change"
    unit_kind: Mapped[str] = mapped_column(String(30), default=CONTRACTOR)   # contractor | supervising_firm
    old_unit_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    new_credit_code: Mapped[str] = mapped_column(String(18), default="")
    new_unit_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))   # 项目经理
    safety_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))    # 安全员
    chief_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))     # 项目总监
    old_unit: Mapped[Organization | None] = relationship(foreign_keys=[old_unit_id], lazy="joined")
    new_unit: Mapped[Organization | None] = relationship(foreign_keys=[new_unit_id], lazy="joined")
    manager: Mapped[Person | None] = relationship(foreign_keys=[manager_id], lazy="joined")
    safety: Mapped[Person | None] = relationship(foreign_keys=[safety_id], lazy="joined")
    chief: Mapped[Person | None] = relationship(foreign_keys=[chief_id], lazy="joined")

    @property
    def unit_label(self) -> str:
        return ORG_KINDS[self.unit_kind]


class Registration(db.Model):
    """One submission of a registration (or of one more role) for review: the details as submitted,
    the process instance that reviews it, and its decision. A returned registration is corrected
    and submitted again as a new row (and instance) for the same account, so each decision stays."""
    __tablename__ = "registration"
    __table_args__ = (Index("ix_registration_decided", "finished_at", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    applicant_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    kind: Mapped[str] = mapped_column(String(30))
    org_name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18))
    contact_person: Mapped[str] = mapped_column(String(50))
    mobile: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=REPORTED)   # APPLICATION_STATUS
    reason: Mapped[str] = mapped_column(Text, default="")               # why it was returned
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)     # when it was decided
    decided_by_name: Mapped[str] = mapped_column(String(100), default="")
    account: Mapped[Account] = relationship(lazy="joined")
    user: Mapped[User] = relationship(lazy="joined")
    applicant_org: Mapped[Organization] = relationship(foreign_keys=[applicant_org_id], lazy="joined")

    @property
    def status_label(self) -> str:
        return APPLICATION_STATUS[self.status]

    @property
    def kind_label(self) -> str:
        return ORG_KINDS[self.kind]

    @property
    def reported_at(self) -> datetime:
        """A registration is reported (上报) when it is submitted."""
        return self.created_at


class Notification(db.Model):
    """One message of the message centre (站内信), for one account (a user acting for one organisation)."""
    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_account", "account_id", "read_at", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    app_kind: Mapped[str | None] = mapped_column(String(20))   # the application it is about, if any
    app_id: Mapped[int | None] = mapped_column(Integer)
    task_id: Mapped[int | None] = mapped_column(Integer)       # the review task, for reviewers
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)


class NotificationSetting(db.Model):
    """A user's choice for one kind of notification on one channel (no row: the channel's default)."""
    __tablename__ = "notification_setting"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)


class OpinionPhrase(db.Model):
    """常用意见: an opinion a reviewer saved to pick again on the review form."""
    __tablename__ = "opinion_phrase"
    __table_args__ = (UniqueConstraint("user_id", "text", name="uq_opinion_phrase_user_text"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    text: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


# -- the integration API (issue 11) --------------------------------------------------------------
# scopes a machine client's token may carry; a user's personal token acts as its account instead
API_SCOPES = {
    "projects:read": "读取工程", "projects:write": "推送工程（报监）",
    "people:read": "读取人员", "people:write": "推送人员及证书",
    "webhooks:manage": "订阅事件推送",
}


class ApiToken(db.Model):
    """A bearer token: a machine client's (with scopes) or a user's personal one (acts as an account).

    Only the SHA-256 of the whole token is kept; ``prefix`` is its short visible id."""
    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client: Mapped[str | None] = mapped_column(String(100), index=True)   # machine client name
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))   # personal token
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    rotated_from_id: Mapped[int | None] = mapped_column(Integer)   # the token this one replaced

    @property
    def is_personal(self) -> bool:
        return self.account_id is not None


class ApiCall(db.Model):
    """The audit row of one API call made with a token."""
    __tablename__ = "api_call"
    __table_args__ = (Index("ix_api_call_token", "token_id", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_token.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(300))
    status: Mapped[int] = mapped_column(Integer)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")


class IdempotentResponse(db.Model):
    """The stored response of a write sent with an ``Idempotency-Key``: a repeat gets it again."""
    __tablename__ = "api_idempotency"
    __table_args__ = (UniqueConstraint("token_id", "key", name="uq_api_idempotency_key"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_token.id"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))   # method, path and body: a reuse must match
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class WebhookSubscription(db.Model):
    """A machine client's subscription: events POSTed to ``url``, signed with HMAC-SHA256 of ``secret``."""
    __tablename__ = "webhook_subscription"
    id: Mapped[int] = mapped_column(primary_key=True)
    # the client's token that owns it (a rotation hands it on): not its name, which anyone may reuse
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_token.id"), index=True)
    client: Mapped[str] = mapped_column(String(100), index=True)   # the client's name when it subscribed
    url: Mapped[str] = mapped_column(String(500))
    events: Mapped[list] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(100))   # shared with the receiver: kept to sign, never shown again
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class WebhookDelivery(db.Model):
    """One event for one subscription, written in the transaction of the event (the outbox)."""
    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_state", "subscription_id", "state", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscription.id"))
    event: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20), default="pending")   # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    subscription: Mapped[WebhookSubscription] = relationship(lazy="joined")


class WebhookAttempt(db.Model):
    """The log of one delivery attempt."""
    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("ix_webhook_attempt_delivery", "delivery_id", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_delivery.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


# -- 一次性告知: a return is a correction notice (domain §10) -------------------------------------
ANSWER_KINDS = {"corrected": "已更正", "explained": "已说明"}


class CorrectionNotice(db.Model):
    """补正告知: one reviewer's return of a case (退回), its ``round`` counted per instance from 1.

    The reviewer and organisation are kept as names: the printed 补正材料通知书 says who handled it."""
    __tablename__ = "correction_notice"
    __table_args__ = (UniqueConstraint("instance_id", "round", name="uq_correction_notice_instance_round"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    round: Mapped[int] = mapped_column(Integer)
    task_id: Mapped[int] = mapped_column(BigId)           # the review step that returned the case
    opinion: Mapped[str] = mapped_column(Text, default="")
    reviewer_user_id: Mapped[int] = mapped_column(Integer)
    reviewer_name: Mapped[str] = mapped_column(String(100))
    reviewer_org_id: Mapped[int] = mapped_column(Integer)
    reviewer_org_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class CorrectionItem(db.Model):
    """One item of a notice: the field or attachment slot it names (``field`` None: a free item),
    what is wrong, and the applicant's answer (corrected: the field changed; explained: with text).

    ``before`` is the field's value when the case was returned (attachments: the ids of its slot),
    so that 已更正 can be checked; ``repeated`` marks an item already asked in the previous round."""
    __tablename__ = "correction_item"
    __table_args__ = (Index("ix_correction_item_instance_round", "instance_id", "round"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("correction_notice.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    round: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    field: Mapped[str | None] = mapped_column(String(60))
    label: Mapped[str] = mapped_column(String(100))            # the field's title, or 其他
    text: Mapped[str] = mapped_column(String(500))
    before: Mapped[str | None] = mapped_column(Text)
    repeated: Mapped[bool] = mapped_column(Boolean, default=False)
    answer_kind: Mapped[str | None] = mapped_column(String(20))   # corrected | explained
    answer_text: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    answered_by_user_id: Mapped[int | None] = mapped_column(Integer)

    @property
    def answer_label(self) -> str:
        return ANSWER_KINDS.get(self.answer_kind or "", "未答复")


# -- 好差评, 整改, 催办 (domain.md §10) ------------------------------------------------------------
# the five levels of GB/T 39735-2020, best first; the last two are 差评 and open a 整改
RATING_LEVELS = {"very_satisfied": "非常满意", "satisfied": "满意", "basic": "基本满意",
                 "dissatisfied": "不满意", "very_dissatisfied": "非常不满意"}
BAD_RATINGS = ("dissatisfied", "very_dissatisfied")


class CaseRating(db.Model):
    """好差评: the applicant organisation's one rating of an ended case (一事一评): unique per case."""
    __tablename__ = "case_rating"
    __table_args__ = (Index("ix_case_rating_org_at", "reviewer_org_id", "rated_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # the case: its workflow instance (unique: a second rating of it is refused by the database)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), unique=True)
    process_key: Mapped[str] = mapped_column(String(100))
    app_kind: Mapped[str] = mapped_column(String(20))
    app_id: Mapped[int] = mapped_column(BigId)
    applicant_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    # the organisation that decided the case (its reviewer completed the last review step)
    reviewer_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    level: Mapped[str] = mapped_column(String(20))   # RATING_LEVELS
    comment: Mapped[str] = mapped_column(Text, default="")
    rated_by_user_id: Mapped[int] = mapped_column(Integer)
    rated_by_name: Mapped[str] = mapped_column(String(100))
    rated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    reviewer_org: Mapped[Organization] = relationship(foreign_keys=[reviewer_org_id], lazy="joined")
    additions: Mapped[list["CaseRatingAddition"]] = relationship(
        back_populates="rating", order_by="CaseRatingAddition.id", lazy="selectin")
    rectification: Mapped["Rectification | None"] = relationship(back_populates="rating", lazy="selectin")

    @property
    def level_label(self) -> str:
        return RATING_LEVELS[self.level]

    @property
    def is_bad(self) -> bool:
        return self.level in BAD_RATINGS


class CaseRatingAddition(db.Model):
    """追评: text appended to a rating's comment later; never edited."""
    __tablename__ = "case_rating_addition"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("case_rating.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    by_user_id: Mapped[int] = mapped_column(Integer)
    by_name: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    rating: Mapped[CaseRating] = relationship(back_populates="additions")


class Rectification(db.Model):
    """整改: the task a 差评 opens for the organisation that decided the case (bpmn/rectification.bpmn);
    its answer (整改情况) is shown to the applicant on the case's page."""
    __tablename__ = "rectification"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("case_rating.id"), unique=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)   # who rectifies
    applicant_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))     # who rated
    status: Mapped[str] = mapped_column(String(20), default=REPORTED)   # APPLICATION_STATUS
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    rating: Mapped[CaseRating] = relationship(back_populates="rectification", lazy="joined")
    org: Mapped[Organization] = relationship(foreign_keys=[org_id], lazy="joined")
    applicant_org: Mapped[Organization] = relationship(foreign_keys=[applicant_org_id], lazy="joined")

    @property
    def status_label(self) -> str:
        return "已整改" if self.status == APPROVED else "整改中"

    @property
    def project(self) -> "Project | None":
        """The rated case's project (its regulators see the 整改 as they see the case)."""
        case = self.case
        return getattr(case, "project", None)

    @property
    def case(self):
        """The rated application (any process's row)."""
        from handlers import catalog
        entry = catalog.by_kind(self.rating.app_kind)
        return db.session.get(entry.model, self.rating.app_id) if entry else None

    @property
    def reported_at(self) -> datetime:
        return self.created_at


class AdminSetting(db.Model):
    """A setting the platform administrators change on their pages (e.g. the 整改 period)."""
    __tablename__ = "admin_setting"
    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(100), default="")


class TaskUrge(db.Model):
    """催办: an applicant urged an overdue task; once per task and working day (the unique key)."""
    __tablename__ = "task_urge"
    __table_args__ = (UniqueConstraint("task_id", "day", name="uq_task_urge_day"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task_id: Mapped[int] = mapped_column(BigId)   # human_task.id
    day: Mapped[date] = mapped_column(Date)   # the local working day
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    org_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(Integer)
