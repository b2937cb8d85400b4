"""the reviewer's desk: 常用意见 (opinion_phrase); candidate rows keep the outcome and completion
time of their task, indexed by organisation and time for 统计 (ix_candidate_stats)

Revision ID: h11_review_desk
Revises: h13_registration
Create Date: 2026-11-22 01:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = "h11_review_desk"
down_revision = "h12_case_numbers"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "opinion_phrase",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_opinion_phrase_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opinion_phrase")),
        sa.UniqueConstraint("user_id", "text", name="uq_opinion_phrase_user_text"),
    )
    with op.batch_alter_table("opinion_phrase", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_opinion_phrase_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("task_candidate", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("completed_at", sa.DateTime(), nullable=True))
    # the tasks completed so far: their candidate rows take the copies the engine now writes
    op.execute("UPDATE task_candidate SET outcome = (SELECT h.outcome FROM human_task h WHERE h.id = task_id), "
               "completed_at = (SELECT h.completed_at FROM human_task h WHERE h.id = task_id) "
               "WHERE is_open = false")
    op.create_index("ix_candidate_stats", "task_candidate", ["org_id", "created_at"], unique=False,
                    postgresql_include=["process_key", "is_open", "claimed_by_user_id", "outcome", "completed_at"])


def downgrade():
    op.drop_index("ix_candidate_stats", table_name="task_candidate")
    with op.batch_alter_table("task_candidate", schema=None) as batch_op:
        batch_op.drop_column("completed_at")
        batch_op.drop_column("outcome")
    with op.batch_alter_table("opinion_phrase", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_opinion_phrase_user_id"))
    op.drop_table("opinion_phrase")
