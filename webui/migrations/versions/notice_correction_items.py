"""一次性告知: a reviewer's return keeps a correction notice (correction_notice) and its items
(correction_item), each answered by the applicant before the case is reported again

Revision ID: notice_correction_items
Revises: manual_login_accounts
Create Date: 2026-12-07 01:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = "notice_correction_items"
down_revision = "certs_issued_certificates"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "correction_notice",
        sa.Column("id", BigId, nullable=False),
        sa.Column("instance_id", BigId, nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("task_id", BigId, nullable=False),
        sa.Column("opinion", sa.Text(), nullable=False),
        sa.Column("reviewer_user_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_name", sa.String(length=100), nullable=False),
        sa.Column("reviewer_org_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_org_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"],
                                name=op.f("fk_correction_notice_instance_id_process_instance")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_correction_notice")),
        sa.UniqueConstraint("instance_id", "round", name="uq_correction_notice_instance_round"),
    )
    op.create_table(
        "correction_item",
        sa.Column("id", BigId, nullable=False),
        sa.Column("notice_id", BigId, nullable=False),
        sa.Column("instance_id", BigId, nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=60), nullable=True),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("repeated", sa.Boolean(), nullable=False),
        sa.Column("answer_kind", sa.String(length=20), nullable=True),
        sa.Column("answer_text", sa.Text(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("answered_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"],
                                name=op.f("fk_correction_item_instance_id_process_instance")),
        sa.ForeignKeyConstraint(["notice_id"], ["correction_notice.id"],
                                name=op.f("fk_correction_item_notice_id_correction_notice")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_correction_item")),
    )
    op.create_index("ix_correction_item_instance_round", "correction_item", ["instance_id", "round"])
    op.create_index(op.f("ix_correction_item_notice_id"), "correction_item", ["notice_id"])


def downgrade():
    op.drop_index(op.f("ix_correction_item_notice_id"), table_name="correction_item")
    op.drop_index("ix_correction_item_instance_round", table_name="correction_item")
    op.drop_table("correction_item")
    op.drop_table("correction_notice")
