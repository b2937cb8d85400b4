"""常用意见: saved opinion phrases per reviewer

Revision ID: h11_opinion_phrases
Revises: h8_jobs_notifications
Create Date: 2026-11-22 01:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = "h11_opinion_phrases"
down_revision = "h8_jobs_notifications"
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


def downgrade():
    with op.batch_alter_table("opinion_phrase", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_opinion_phrase_user_id"))
    op.drop_table("opinion_phrase")
