"""rate-limit counters in the database (rate_limit_counter): the default store of the product's
one limiter, shared by every worker and host; the working calendar's cache generation

Revision ID: limits_rate_limit_counter
Revises: store_upload_blob
Create Date: 2026-12-07 01:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = "limits_rate_limit_counter"
down_revision = "store_upload_blob"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "rate_limit_counter",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_counter")),
    )
    op.create_index(op.f("ix_rate_limit_counter_expires_at"), "rate_limit_counter", ["expires_at"], unique=False)
    op.execute("INSERT INTO cache_generation (name, generation) VALUES ('calendar', 0)")


def downgrade():
    op.execute("DELETE FROM cache_generation WHERE name = 'calendar'")
    op.drop_index(op.f("ix_rate_limit_counter_expires_at"), table_name="rate_limit_counter")
    op.drop_table("rate_limit_counter")
