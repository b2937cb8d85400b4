"""Deadlines and the working-day calendar: due columns on inbox rows, the paused clock on
instances, and the administrators' calendar tables.

Revision ID: h7_deadlines
Revises: e4103475568b
"""
from alembic import op
import sqlalchemy as sa

revision = "h7_deadlines"
down_revision = "h3_session_epoch"
branch_labels = None
depends_on = None

_OPEN = dict(postgresql_where=sa.text("is_open IS true"), sqlite_where=sa.text("is_open IS 1"))
_OLD_INCLUDE = ["claimed_by_user_id", "process_key", "scope", "applicant_name"]


def upgrade():
    op.create_table(
        "calendar_year",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("has_schedule", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_calendar_year")),
    )
    op.create_table(
        "calendar_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("working", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("day", "kind", name=op.f("pk_calendar_day")),
    )
    with op.batch_alter_table("process_instance", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clock", sa.Text(), nullable=True))
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("due_provisional", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("due_rule", sa.String(length=20), nullable=True))
        batch_op.create_index("ix_human_task_due", ["due_at"], unique=False,
                              postgresql_where=sa.text("state = 'open'"), sqlite_where=sa.text("state = 'open'"))
    with op.batch_alter_table("task_candidate", schema=None) as batch_op:
        # existing rows have no deadline: they sort last
        batch_op.add_column(sa.Column("due_at", sa.DateTime(), nullable=False,
                                      server_default=sa.text("'9999-12-31 00:00:00'")))
        batch_op.drop_index("ix_candidate_open", postgresql_include=_OLD_INCLUDE, **_OPEN)
    with op.batch_alter_table("task_candidate", schema=None) as batch_op:
        batch_op.create_index("ix_candidate_open", ["org_id", "created_at", "task_id"], unique=False,
                              postgresql_include=_OLD_INCLUDE + ["due_at"], **_OPEN)
        batch_op.create_index("ix_candidate_due", ["org_id", "due_at", "task_id"], unique=False,
                              postgresql_include=_OLD_INCLUDE + ["created_at"], **_OPEN)


def downgrade():
    with op.batch_alter_table("task_candidate", schema=None) as batch_op:
        batch_op.drop_index("ix_candidate_due", **_OPEN)
        batch_op.drop_index("ix_candidate_open", **_OPEN)
    with op.batch_alter_table("task_candidate", schema=None) as batch_op:
        batch_op.drop_column("due_at")
        batch_op.create_index("ix_candidate_open", ["org_id", "created_at", "task_id"], unique=False,
                              postgresql_include=_OLD_INCLUDE, **_OPEN)
    # plain DROP COLUMN (SQLite 3.35+): a batch table copy of human_task or process_instance would
    # fail the foreign keys that point at them once they hold rows
    op.drop_index("ix_human_task_due", table_name="human_task", postgresql_where=sa.text("state = 'open'"),
                  sqlite_where=sa.text("state = 'open'"))
    op.drop_column("human_task", "due_rule")
    op.drop_column("human_task", "due_provisional")
    op.drop_column("human_task", "due_at")
    op.drop_column("process_instance", "clock")
    op.drop_table("calendar_day")
    op.drop_table("calendar_year")
