"""migration of running instances to another version: plans (migration_plan) and each instance's
outcome with what its rollback restores (instance_migration)

Revision ID: migration_instance_migrations
Revises: studio_core_bundles
Create Date: 2026-12-06 23:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = "migration_instance_migrations"
down_revision = "studio_core_bundles"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "migration_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_key", sa.String(length=100), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=False),
        sa.Column("to_version", sa.Integer(), nullable=False),
        sa.Column("mapping", sa.Text(), nullable=False),
        sa.Column("filters", sa.Text(), nullable=False),
        sa.Column("instance_ids", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_plan")),
    )
    op.create_table(
        "instance_migration",
        sa.Column("id", BigId, nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("instance_id", BigId, nullable=False),
        sa.Column("from_definition_id", sa.Integer(), nullable=False),
        sa.Column("to_definition_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("version_after", sa.Integer(), nullable=True),
        sa.Column("audit_seq_after", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(length=100), nullable=False),
        sa.Column("rolled_back_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["plan_id"], ["migration_plan.id"],
                                name=op.f("fk_instance_migration_plan_id_migration_plan")),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"],
                                name=op.f("fk_instance_migration_instance_id_process_instance")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instance_migration")),
    )
    with op.batch_alter_table("instance_migration", schema=None) as batch_op:
        batch_op.create_index("ix_instance_migration_instance", ["instance_id", "id"], unique=False)
        batch_op.create_index("ix_instance_migration_plan", ["plan_id", "outcome"], unique=False)


def downgrade():
    op.drop_table("instance_migration")
    op.drop_table("migration_plan")
