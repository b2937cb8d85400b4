"""好差评 (case_rating, case_rating_addition), 差评整改 (rectification), the administrators' settings
(admin_setting) and 催办 once per task and working day (task_urge)

Revision ID: rating_cases_urges
Revises: manual_login_accounts
Create Date: 2026-12-07 01:00:21

"""
from alembic import op
import sqlalchemy as sa


revision = 'rating_cases_urges'
down_revision = 'notice_correction_items'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('admin_setting',
    sa.Column('key', sa.String(length=50), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('changed_at', sa.DateTime(), nullable=False),
    sa.Column('changed_by', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_admin_setting'))
    )
    op.create_table('case_rating',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('instance_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('process_key', sa.String(length=100), nullable=False),
    sa.Column('app_kind', sa.String(length=20), nullable=False),
    sa.Column('app_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('applicant_org_id', sa.Integer(), nullable=False),
    sa.Column('reviewer_org_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=20), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('rated_by_user_id', sa.Integer(), nullable=False),
    sa.Column('rated_by_name', sa.String(length=100), nullable=False),
    sa.Column('rated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['applicant_org_id'], ['organization.id'], name=op.f('fk_case_rating_applicant_org_id_organization')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_case_rating_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['reviewer_org_id'], ['organization.id'], name=op.f('fk_case_rating_reviewer_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_rating')),
    sa.UniqueConstraint('instance_id', name=op.f('uq_case_rating_instance_id'))
    )
    with op.batch_alter_table('case_rating', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_rating_applicant_org_id'), ['applicant_org_id'], unique=False)
        batch_op.create_index('ix_case_rating_org_at', ['reviewer_org_id', 'rated_at'], unique=False)

    op.create_table('case_rating_addition',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rating_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('by_user_id', sa.Integer(), nullable=False),
    sa.Column('by_name', sa.String(length=100), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['rating_id'], ['case_rating.id'], name=op.f('fk_case_rating_addition_rating_id_case_rating')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_rating_addition'))
    )
    with op.batch_alter_table('case_rating_addition', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_rating_addition_rating_id'), ['rating_id'], unique=False)

    op.create_table('rectification',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rating_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('instance_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('applicant_org_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('answered_by_name', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['applicant_org_id'], ['organization.id'], name=op.f('fk_rectification_applicant_org_id_organization')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_rectification_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_rectification_org_id_organization')),
    sa.ForeignKeyConstraint(['rating_id'], ['case_rating.id'], name=op.f('fk_rectification_rating_id_case_rating')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rectification')),
    sa.UniqueConstraint('instance_id', name=op.f('uq_rectification_instance_id')),
    sa.UniqueConstraint('rating_id', name=op.f('uq_rectification_rating_id'))
    )
    with op.batch_alter_table('rectification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rectification_org_id'), ['org_id'], unique=False)

    op.create_table('task_urge',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('task_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_urge')),
    sa.UniqueConstraint('task_id', 'day', name='uq_task_urge_day')
    )


def downgrade():
    op.drop_table('task_urge')
    with op.batch_alter_table('rectification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rectification_org_id'))

    op.drop_table('rectification')
    with op.batch_alter_table('case_rating_addition', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_rating_addition_rating_id'))

    op.drop_table('case_rating_addition')
    with op.batch_alter_table('case_rating', schema=None) as batch_op:
        batch_op.drop_index('ix_case_rating_org_at')
        batch_op.drop_index(batch_op.f('ix_case_rating_applicant_org_id'))

    op.drop_table('case_rating')
    op.drop_table('admin_setting')
