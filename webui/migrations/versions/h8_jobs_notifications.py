"""jobs (outbox), timers' overdue flag, notifications

Revision ID: h8_jobs_notifications
Revises: e4103475568b
Create Date: 2026-11-22 00:05:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'h8_jobs_notifications'
down_revision = "h1_open_lock_unique"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('engine_job',
    sa.Column('id', BigId, nullable=False),
    sa.Column('kind', sa.String(length=100), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('locked_by', sa.String(length=100), nullable=True),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engine_job'))
    )
    with op.batch_alter_table('engine_job', schema=None) as batch_op:
        batch_op.create_index('ix_engine_job_due', ['due_at', 'id'], unique=False,
                              postgresql_where=sa.text("state = 'pending'"), sqlite_where=sa.text("state = 'pending'"))
        batch_op.create_index('ix_engine_job_state', ['state', 'id'], unique=False)

    op.create_table('notification',
    sa.Column('id', BigId, nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('app_kind', sa.String(length=20), nullable=True),
    sa.Column('app_id', sa.Integer(), nullable=True),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('read_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_notification_account_id_account')),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_notification_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification'))
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index('ix_notification_account', ['account_id', 'read_at', 'id'], unique=False)

    op.create_table('notification_setting',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_notification_setting_user_id_app_user')),
    sa.PrimaryKeyConstraint('user_id', 'kind', 'channel', name=op.f('pk_notification_setting'))
    )
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('overdue_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=200), nullable=True))


def downgrade():
    # plain DROP COLUMN (SQLite 3.35+): a batch table copy would fail the foreign keys that point at
    # app_user and human_task once they hold rows
    op.drop_column('app_user', 'email')
    op.drop_column('human_task', 'overdue_at')
    op.drop_table('notification_setting')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_account')
    op.drop_table('notification')
    with op.batch_alter_table('engine_job', schema=None) as batch_op:
        batch_op.drop_index('ix_engine_job_state')
        batch_op.drop_index('ix_engine_job_due')
    op.drop_table('engine_job')
