"""one open lock record per person and role

Revision ID: h1_open_lock_unique
Revises: e4103475568b
Create Date: 2026-11-22 00:30:00

Records that already break the rule (two open locks for the same person and role, left by
effects that raced before they were serialised) are closed first, keeping the oldest open.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h1_open_lock_unique'
down_revision = "h7_deadlines"
branch_labels = None
depends_on = None

DUPLICATE_REASON = "重复的锁定记录，升级时关闭"


def upgrade():
    # the application stores naive UTC times
    now = "(now() AT TIME ZONE 'utc')" if op.get_bind().dialect.name == "postgresql" else "CURRENT_TIMESTAMP"
    op.execute(sa.text(
        f"UPDATE lock_record SET closed_at = {now}, close_reason = :reason "
        "WHERE closed_at IS NULL AND id NOT IN ("
        "  SELECT MIN(id) FROM lock_record WHERE closed_at IS NULL GROUP BY person_id, role)"
    ).bindparams(reason=DUPLICATE_REASON))
    with op.batch_alter_table('lock_record', schema=None) as batch_op:
        batch_op.create_index('uq_lock_record_open_role', ['person_id', 'role'], unique=True,
                              postgresql_where=sa.text('closed_at IS NULL'), sqlite_where=sa.text('closed_at IS NULL'))


def downgrade():
    with op.batch_alter_table('lock_record', schema=None) as batch_op:
        batch_op.drop_index('uq_lock_record_open_role', postgresql_where=sa.text('closed_at IS NULL'),
                            sqlite_where=sa.text('closed_at IS NULL'))
