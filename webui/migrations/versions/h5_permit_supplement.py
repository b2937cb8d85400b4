"""施工许可证补录: the permit_supplement table

Revision ID: h5_permit_supplement
Revises: h8_jobs_notifications
Create Date: 2026-11-22 00:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h5_permit_supplement'
down_revision = "h4_audit_chain"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('permit_supplement',
    sa.Column('permit_no', sa.String(length=50), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('explanation', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('reported_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('open_key', sa.String(length=100), nullable=True),
    sa.Column('applicant_org_id', sa.Integer(), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['applicant_org_id'], ['organization.id'], name=op.f('fk_permit_supplement_applicant_org_id_organization')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['app_user.id'], name=op.f('fk_permit_supplement_created_by_user_id_app_user')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_permit_supplement_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_permit_supplement_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_permit_supplement')),
    sa.UniqueConstraint('instance_id', name=op.f('uq_permit_supplement_instance_id')),
    sa.UniqueConstraint('open_key', name=op.f('uq_permit_supplement_open_key'))
    )
    with op.batch_alter_table('permit_supplement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_permit_supplement_applicant_org_id'), ['applicant_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_permit_supplement_project_id'), ['project_id'], unique=False)


def downgrade():
    with op.batch_alter_table('permit_supplement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_permit_supplement_project_id'))
        batch_op.drop_index(batch_op.f('ix_permit_supplement_applicant_org_id'))

    op.drop_table('permit_supplement')
