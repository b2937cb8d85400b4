"""Engine tables: definitions, instances, human tasks and their candidates, the audit log."""
import json
from datetime import date, datetime, timezone

from sqlalchemy import (
    BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event, false,
    select, text,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from .db import db

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets BIGINT for the big tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")


NO_DUE = datetime(9999, 12, 31)   # task_candidate.due_at of a task without a deadline


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
    # the bundle (engine.bundles): content_hash covers the diagram and its form files; the
    # diagram's own sha256, who deployed it and the change note (NULL on versions older than bundles)
    diagram_hash: Mapped[str | None] = mapped_column(String(64))
    deployed_by: Mapped[str | None] = mapped_column(String(100))
    deployed_by_user_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)


class DefinitionFile(db.Model):
    """A file of a deployed version's bundle besides its diagram (forms/<key>.json, tests/<name>)."""
    __tablename__ = "definition_file"
    __table_args__ = (UniqueConstraint("definition_id", "name", name="uq_definition_file_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"))
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)


class ProcessDraft(db.Model):
    """The designer's working copy of one process (engine.drafts): a bundle not yet deployed."""
    __tablename__ = "process_draft"
    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(100), unique=True)
    diagram_name: Mapped[str] = mapped_column(String(255))
    xml: Mapped[str] = mapped_column(Text)
    files: Mapped[str] = mapped_column(Text, default="{}")   # JSON {bundle path: text}
    base_version: Mapped[int | None] = mapped_column(Integer)   # the version it was opened from
    revision: Mapped[int] = mapped_column(Integer, default=1)   # each save adds one (a stale save is refused)
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class CacheGeneration(db.Model):
    """A counter per shared cache (engine.generations): a change adds one, in its own transaction,
    and every process compares it with the value it last saw at its next request."""
    __tablename__ = "cache_generation"
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)


class RateLimitCounter(db.Model):
    """A fixed-window rate-limit counter (engine.ratecounter): every worker of every host sharing the
    database counts in the same row. ``expires_at`` is the window's end in seconds since the epoch."""
    __tablename__ = "rate_limit_counter"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class ProcessInstance(db.Model):
    """A running or finished workflow; its Spiff state is stored without the spec."""
    __tablename__ = "process_instance"
    # a unique index, not a constraint: SQLite adds it without copying this referenced table
    __table_args__ = (Index("ix_process_instance_case_no", "case_no", unique=True),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"))
    process_key: Mapped[str] = mapped_column(String(100))
    business_key: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|completed|errored
    end_element_id: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(Text)
    # the optimistic version: engine/store.py writes an instance only WHERE version = the one it read
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
    # paused deadline clocks (engine.deadlines): JSON {element id: [unit, periods left]}
    clock: Mapped[str | None] = mapped_column(Text)
    # the head of the operation log's hash chain: the last entry's seq and hash (engine.audit)
    audit_seq: Mapped[int] = mapped_column(Integer, server_default=text("0"))   # no Python default: inserts leave it out
    audit_head: Mapped[str | None] = mapped_column(String(64))
    # 办件编号 (engine.case_numbers): readable, unique (ix_process_instance_case_no), by prefix and year
    case_no: Mapped[str | None] = mapped_column(String(30))

    definition: Mapped[ProcessDefinition] = relationship(lazy="joined")


class CaseCounter(db.Model):
    """The last case number handed out for one prefix and year (engine.case_numbers)."""
    __tablename__ = "case_counter"
    prefix: Mapped[str] = mapped_column(String(10), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class HumanTask(db.Model):
    """An inbox row: one ready user task of an instance."""
    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_human_task_instance_state", "instance_id", "state"),
        # set only on completion; the done view's filters read the included columns (index-only on PostgreSQL)
        Index("ix_human_task_done_by", "completed_by_user_id", "completed_at", "id",
              postgresql_include=["process_key", "created_at", "scope", "applicant_name"]),
        Index("ix_human_task_claimed_by", "claimed_by_user_id", "state", "created_at"),
        # open tasks by due time: overdue lists and the recomputation of provisional due times
        Index("ix_human_task_due", "due_at", postgresql_where=text("state = 'open'"),
              sqlite_where=text("state = 'open'")),
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
    # the deadline (engine.deadlines): when it falls due, whether its year's calendar is still
    # unpublished (待确认), and the period it was computed from ("wd:5", "d:15")
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    due_rule: Mapped[str | None] = mapped_column(String(20))
    # set when the task's overdue timer fired: it is on the competent authority's 督办 list
    overdue_at: Mapped[datetime | None] = mapped_column(DateTime)
    # how often the task was offered anew to other organisations (ProcessEngine.reoffer); its
    # candidate rows carry the number they were written for, and the gates accept only those
    offer: Mapped[int] = mapped_column(Integer, server_default=text("0"))   # no Python default: inserts leave it out

    instance: Mapped[ProcessInstance] = relationship(lazy="select")
    candidates: Mapped[list["TaskCandidate"]] = relationship(
        back_populates="task", lazy="select", cascade="all, delete-orphan")


# the instance's 办件编号, read with the row only where a list shows it (``undefer``): a key look-up
# per row shown, instead of a copy on every inbox row that would have to follow the instance
HumanTask.case_no = column_property(
    select(ProcessInstance.case_no).where(ProcessInstance.id == HumanTask.instance_id)
    .correlate_except(ProcessInstance).scalar_subquery(), deferred=True)


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
              postgresql_include=["claimed_by_user_id", "process_key", "scope", "applicant_name", "due_at"],
              postgresql_where=text("is_open IS true"), sqlite_where=text("is_open IS 1")),
        # the same rows by due time: the inbox sorted by due, 即将到期 / 已超期 and the 督办 list
        Index("ix_candidate_due", "org_id", "due_at", "task_id",
              postgresql_include=["claimed_by_user_id", "process_key", "scope", "applicant_name", "created_at"],
              postgresql_where=text("is_open IS true"), sqlite_where=text("is_open IS 1")),
        # every row of an organisation by the time it was offered: 统计 of a year is one range of it
        # (PostgreSQL: an index-only scan, the grouped columns included)
        Index("ix_candidate_stats", "org_id", "created_at",
              postgresql_include=["process_key", "is_open", "claimed_by_user_id", "outcome", "completed_at"]),
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
    # copied from the task; tasks without a deadline sort last (NO_DUE), so the index orders every row
    due_at: Mapped[datetime] = mapped_column(DateTime, default=lambda: NO_DUE,
                                             server_default=text("'9999-12-31 00:00:00'"))
    # copied from the task when it is completed, so that the regulators' 统计 read this table only
    outcome: Mapped[str | None] = mapped_column(String(50))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    offer: Mapped[int] = mapped_column(Integer, server_default=text("0"))   # the task's offer it was written for

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


class CalendarYear(db.Model):
    """A year an administrator touched: its schedule entered (overriding the library), or local days."""
    __tablename__ = "calendar_year"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    has_schedule: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(100), default="")


class CalendarDay(db.Model):
    """An administrator's day: kind "local" (a local closed or extra working day, beats everything)
    or "schedule" (one day of an entered year's schedule: a holiday or a make-up working day)."""
    __tablename__ = "calendar_day"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(100), default="")


class Job(db.Model):
    """An outbox row: work to run once, at or after ``due_at`` (a timer, a delivery, …).

    Written in the transaction of the state change that causes it; run by ``flask engine worker``
    (engine.jobs). ``locked_by``/``locked_until`` are a worker's lease on a claimed job.
    """
    __tablename__ = "engine_job"
    __table_args__ = (
        # the workers' claim query: pending jobs in due order
        Index("ix_engine_job_due", "due_at", "id", postgresql_where=text("state = 'pending'"),
              sqlite_where=text("state = 'pending'")),
        Index("ix_engine_job_state", "state", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text, default="{}")   # JSON
    state: Mapped[str] = mapped_column(String(20), default="pending")   # pending|done|failed
    due_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class MigrationPlan(db.Model):
    """A plan to move running instances of one process from one version to another (engine.migration):
    the designer's manual element mapping and the chosen applications, run as one job per instance."""
    __tablename__ = "migration_plan"
    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(100))
    from_version: Mapped[int] = mapped_column(Integer)
    to_version: Mapped[int] = mapped_column(Integer)
    mapping: Mapped[str] = mapped_column(Text, default="{}")     # JSON {source element id: target element id}
    filters: Mapped[str] = mapped_column(Text, default="{}")     # JSON: how the applications were chosen
    instance_ids: Mapped[str] = mapped_column(Text, default="[]")   # JSON: the instances chosen
    created_by: Mapped[str] = mapped_column(String(100), default="")
    actor: Mapped[str] = mapped_column(Text, default="{}")   # JSON engine.Actor: whose name the log entries carry
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)   # set when its jobs were enqueued

    @property
    def manual(self) -> dict:
        return json.loads(self.mapping or "{}")

    @property
    def chosen(self) -> int:
        return len(json.loads(self.instance_ids or "[]"))


class InstanceMigration(db.Model):
    """One instance's migration under a plan: migrated (with what it takes to roll it back),
    refused (with the reason), or rolled back."""
    __tablename__ = "instance_migration"
    __table_args__ = (Index("ix_instance_migration_instance", "instance_id", "id"),
                      Index("ix_instance_migration_plan", "plan_id", "outcome"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("migration_plan.id"))
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    from_definition_id: Mapped[int] = mapped_column(Integer)
    to_definition_id: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))   # migrated|refused|rolled_back
    reason: Mapped[str | None] = mapped_column(Text)
    # what the rollback restores: state, clock, inbox rows and candidates, jobs (JSON)
    before: Mapped[str | None] = mapped_column(Text)
    # the instance right after the migration: a rollback requires that nothing moved it since
    version_after: Mapped[int | None] = mapped_column(Integer)
    audit_seq_after: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    by: Mapped[str] = mapped_column(String(100), default="")
    rolled_back_at: Mapped[datetime | None] = mapped_column(DateTime)
