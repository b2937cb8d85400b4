"""session epoch on the login: a session ends on logout, password change or an account disabled

Revision ID: h3_session_epoch
Revises: e4103475568b
Create Date: 2026-11-22 00:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = "h3_session_epoch"
down_revision = "e4103475568b"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False))


def downgrade():
    op.drop_column("app_user", "session_epoch")   # no table copy: other tables refer to app_user
