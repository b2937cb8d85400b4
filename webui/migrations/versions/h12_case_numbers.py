"""case numbers (办件编号): process_instance.case_no and the per-prefix, per-year counter

Revision ID: h12_case_numbers
Revises: h5_permit_supplement
Create Date: 2026-11-22 01:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'h12_case_numbers'
down_revision = "h5_permit_supplement"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('case_counter',
    sa.Column('prefix', sa.String(length=10), nullable=False),
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('prefix', 'year', name=op.f('pk_case_counter'))
    )
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('case_no', sa.String(length=30), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_process_instance_case_no'), ['case_no'])


def downgrade():
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_process_instance_case_no'), type_='unique')
        batch_op.drop_column('case_no')
    op.drop_table('case_counter')
