"""case numbers (办件编号): process_instance.case_no and the per-prefix, per-year counter

Revision ID: h12_case_numbers
Revises: h9_api
Create Date: 2026-11-22 01:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'h12_case_numbers'
down_revision = "h13_registration"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('case_counter',
    sa.Column('prefix', sa.String(length=10), nullable=False),
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('prefix', 'year', name=op.f('pk_case_counter'))
    )
    # plain ADD COLUMN and CREATE UNIQUE INDEX: no table copy on SQLite (process_instance is referenced)
    op.add_column('process_instance', sa.Column('case_no', sa.String(length=30), nullable=True))
    op.create_index('ix_process_instance_case_no', 'process_instance', ['case_no'], unique=True)


def downgrade():
    op.drop_index('ix_process_instance_case_no', table_name='process_instance')
    op.drop_column('process_instance', 'case_no')   # SQLite 3.35+: DROP COLUMN without a table copy
    op.drop_table('case_counter')
