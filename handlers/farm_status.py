"""What an operator's monitoring reads from the database (webui /readyz and /metrics).

``gauges`` is one statement of counts, read at scrape time; ``schema_revision`` the Alembic
revision the database is at."""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, inspect, select, text

from engine.db import db
from engine.models import HumanTask, Job, ProcessInstance, utcnow

from .models import WebhookDelivery


@dataclass(frozen=True)
class Gauges:
    open_tasks: int
    overdue_tasks: int
    jobs_due: int            # pending jobs whose time has come: the queue's depth
    jobs_scheduled: int      # pending jobs due later (timers)
    oldest_due_job: datetime | None   # the lag: how long the oldest due job has waited
    failed_jobs: int         # incidents: jobs that failed every attempt
    errored_instances: int   # incidents: instances stopped by a failed service task
    failed_webhook_deliveries: int
    now: datetime

    @property
    def job_lag_seconds(self) -> float:
        return max((self.now - self.oldest_due_job).total_seconds(), 0.0) if self.oldest_due_job else 0.0


def gauges() -> Gauges:
    """The farm's counts, in one statement (the indexes on open tasks and pending jobs serve it)."""
    now = utcnow()
    t, j = HumanTask.__table__, Job.__table__

    def count(table, *where):
        return select(func.count()).select_from(table).where(*where).scalar_subquery()

    due = (j.c.state == "pending", j.c.due_at <= now)
    row = db.session.execute(select(
        count(t, t.c.state == "open"),
        count(t, t.c.state == "open", t.c.due_at < now),
        count(j, *due),
        count(j, j.c.state == "pending", j.c.due_at > now),
        select(func.min(j.c.due_at)).where(*due).scalar_subquery(),
        count(j, j.c.state == "failed"),
        count(ProcessInstance.__table__, ProcessInstance.__table__.c.status == "errored"),
        count(WebhookDelivery.__table__, WebhookDelivery.__table__.c.state == "failed"),
    )).one()
    return Gauges(*row, now=now)


def schema_revision() -> tuple[str, ...] | None:
    """The Alembic revision(s) stored in the database, or None when it has no ``alembic_version``
    table (a schema created from the models, not by the migrations). Raises SQLAlchemyError when
    the database cannot be reached. Runs on a connection of its own, outside any unit of work."""
    with db.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return tuple(sorted(r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))))
