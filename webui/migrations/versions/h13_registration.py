"""registration: each submission of a registration, reviewed on the engine (registration_review)

Revision ID: h13_registration
Revises: h9_api
Create Date: 2026-11-22 01:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = "h13_registration"
down_revision = "h9_api"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "registration",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("instance_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("applicant_org_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("org_name", sa.String(length=200), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=False),
        sa.Column("contact_person", sa.String(length=50), nullable=False),
        sa.Column("mobile", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by_name", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["applicant_org_id"], ["organization.id"]),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instance_id"),
    )
    op.create_index("ix_registration_account_id", "registration", ["account_id"])
    op.create_index("ix_registration_decided", "registration", ["finished_at", "id"])


def downgrade():
    op.drop_index("ix_registration_decided", table_name="registration")
    op.drop_index("ix_registration_account_id", table_name="registration")
    op.drop_table("registration")
