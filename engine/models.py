"""Engine tables: definitions, instances, human tasks and their candidates, the audit log."""
from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event, text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import db

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets BIGINT for the big tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class ProcessDefinition(db.Model):
    """One deployed version of one BPMN process, identified by its content hash."""
    __tablename__ = "process_definition"
    __table_args__ = (
        UniqueConstraint("process_key", "version", name="uq_definition_key_version"),
        UniqueConstraint("process_key", "content_hash", name="uq_definition_key_hash"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    source_file: Mapped[str] = mapped_column(String(255))
    # loaded on access only: the instance load joins the definition, and the spec is cached
    xml: Mapped[str] = mapped_column(Text, deferred=True)
    deployed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ProcessInstance(db.Model):
    """A running or finished workflow; its Spiff state is stored without the spec."""
    __tablename__ = "process_instance"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"))
    process_key: Mapped[str] = mapped_column(String(100))
    business_key: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|completed|errored
    end_element_id: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # what inbox rows show, copied onto each human task
    subject: Mapped[str] = mapped_column(String(300), default="")
    scope: Mapped[str] = mapped_column(String(300), default="")
    scope_id: Mapped[int | None] = mapped_column(Integer)
    applicant_org_id: Mapped[int | None] = mapped_column(Integer)
    applicant_name: Mapped[str] = mapped_column(String(200), default="")
    started_by_user_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    incident_message: Mapped[str | None] = mapped_column(Text)
    incident_element_id: Mapped[str | None] = mapped_column(String(100))
    incident_at: Mapped[datetime | None] = mapped_column(DateTime)
    # the head of the operation log's hash chain: the last entry's seq and hash (engine.audit)
    audit_seq: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    audit_head: Mapped[str | None] = mapped_column(String(64))

    definition: Mapped[ProcessDefinition] = relationship(lazy="joined")
    __mapper_args__ = {"version_id_col": version}


class HumanTask(db.Model):
    """An inbox row: one ready user task of an instance."""
    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_human_task_instance_state", "instance_id", "state"),
        # set only on completion; the done view's filters read the included columns (index-only on PostgreSQL)
        Index("ix_human_task_done_by", "completed_by_user_id", "completed_at", "id",
              postgresql_include=["process_key", "created_at", "scope", "applicant_name"]),
        Index("ix_human_task_claimed_by", "claimed_by_user_id", "state", "created_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    process_key: Mapped[str] = mapped_column(String(100))
    task_guid: Mapped[str] = mapped_column(String(36), unique=True)
    element_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    form_key: Mapped[str] = mapped_column(String(100))
    claim_required: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20), default="open")  # open|completed|cancelled
    subject: Mapped[str] = mapped_column(String(300), default="")
    scope: Mapped[str] = mapped_column(String(300), default="")
    applicant_org_id: Mapped[int | None] = mapped_column(Integer)
    applicant_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    claimed_by_user_id: Mapped[int | None] = mapped_column(Integer)
    claimed_by_name: Mapped[str | None] = mapped_column(String(100))
    claimed_by_org_id: Mapped[int | None] = mapped_column(Integer)
    claimed_by_org_name: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    completed_by_user_id: Mapped[int | None] = mapped_column(Integer)
    completed_by_name: Mapped[str | None] = mapped_column(String(100))
    completed_by_org_id: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(50))

    instance: Mapped[ProcessInstance] = relationship(lazy="select")
    candidates: Mapped[list["TaskCandidate"]] = relationship(
        back_populates="task", lazy="select", cascade="all, delete-orphan")


class TaskCandidate(db.Model):
    """One row per organisation a human task is offered to; the inbox index lives here."""
    __tablename__ = "task_candidate"
    __table_args__ = (
        # mine (claimed_by_user_id = me) in order, and the mirror of claims
        Index("ix_candidate_inbox", "org_id", "is_open", "claimed_by_user_id", "created_at", "task_id"),
        # open rows only, newest first: the open and held views and the counts, every filter applied to the
        # index entries (PostgreSQL: an index-only scan; IS NULL is no equality for ordering, so the claim
        # is filtered here rather than leading the index)
        Index("ix_candidate_open", "org_id", "created_at", "task_id",
              postgresql_include=["claimed_by_user_id", "process_key", "scope", "applicant_name"],
              postgresql_where=text("is_open IS true"), sqlite_where=text("is_open IS 1")),
    )
    task_id: Mapped[int] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    process_key: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # copied from the task on claim/release so that inbox views and counts read this table only
    claimed_by_user_id: Mapped[int | None] = mapped_column(Integer)
    # copied from the task so that the text filters need no task row
    scope: Mapped[str] = mapped_column(String(300), default="")
    applicant_name: Mapped[str] = mapped_column(String(200), default="")

    task: Mapped[HumanTask] = relationship(back_populates="candidates")


class AuditEntry(db.Model):
    """The append-only operation log of an instance, hash-chained per instance (engine.audit)."""
    __tablename__ = "audit_entry"
    __table_args__ = (UniqueConstraint("instance_id", "seq", name="uq_audit_entry_instance_seq"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    seq: Mapped[int] = mapped_column(Integer)   # 1, 2, … within the instance
    hash: Mapped[str] = mapped_column(String(64))   # SHA-256 of the previous hash and this entry
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(Integer)
    user_name: Mapped[str] = mapped_column(String(100))
    org_id: Mapped[int | None] = mapped_column(Integer)
    org_name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    opinion: Mapped[str | None] = mapped_column(Text)
    element_id: Mapped[str | None] = mapped_column(String(100))


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _audit_is_append_only(_mapper, _conn, _target):
    raise RuntimeError("the operation log is append-only")
