"""project changes (变更工程信息, 变更工程人员, 变更参建单位): the project's descriptive facts, its
personnel roster (project_roster), its change history (project_change) and the three application tables

Revision ID: manual_changes_project_changes
Revises: h11_review_desk
Create Date: 2026-12-06 21:50:18.127456

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'manual_changes_project_changes'
down_revision = "sec_moves_task_offer"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('project_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('process', sa.String(length=50), nullable=False),
    sa.Column('case_no', sa.String(length=40), nullable=True),
    sa.Column('applicant', sa.String(length=200), nullable=False),
    sa.Column('approved_by', sa.String(length=300), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_project_change_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_change'))
    )
    with op.batch_alter_table('project_change', schema=None) as batch_op:
        batch_op.create_index('ix_project_change_project', ['project_id', 'id'], unique=False)

    op.create_table('project_info_change',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('scale', sa.String(length=100), nullable=False),
    sa.Column('cost', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('structure_type', sa.String(length=50), nullable=False),
    sa.Column('planned_start', sa.Date(), nullable=True),
    sa.Column('planned_end', sa.Date(), nullable=True),
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
    sa.ForeignKeyConstraint(['applicant_org_id'], ['organization.id'], name=op.f('fk_project_info_change_applicant_org_id_organization')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['app_user.id'], name=op.f('fk_project_info_change_created_by_user_id_app_user')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_project_info_change_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_project_info_change_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_info_change')),
    sa.UniqueConstraint('instance_id', name=op.f('uq_project_info_change_instance_id')),
    sa.UniqueConstraint('open_key', name=op.f('uq_project_info_change_open_key'))
    )
    with op.batch_alter_table('project_info_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_info_change_applicant_org_id'), ['applicant_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_project_info_change_project_id'), ['project_id'], unique=False)

    op.create_table('project_roster',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=30), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('end_reason', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_project_roster_org_id_organization')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_project_roster_person_id_person')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_project_roster_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_roster'))
    )
    with op.batch_alter_table('project_roster', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_roster_person_id'), ['person_id'], unique=False)
        batch_op.create_index('ix_project_roster_project', ['project_id', 'ended_at'], unique=False)

    op.create_table('unit_change',
    sa.Column('unit_kind', sa.String(length=30), nullable=False),
    sa.Column('old_unit_id', sa.Integer(), nullable=True),
    sa.Column('new_credit_code', sa.String(length=18), nullable=False),
    sa.Column('new_unit_id', sa.Integer(), nullable=True),
    sa.Column('manager_id', sa.Integer(), nullable=True),
    sa.Column('safety_id', sa.Integer(), nullable=True),
    sa.Column('chief_id', sa.Integer(), nullable=True),
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
    sa.ForeignKeyConstraint(['applicant_org_id'], ['organization.id'], name=op.f('fk_unit_change_applicant_org_id_organization')),
    sa.ForeignKeyConstraint(['chief_id'], ['person.id'], name=op.f('fk_unit_change_chief_id_person')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['app_user.id'], name=op.f('fk_unit_change_created_by_user_id_app_user')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_unit_change_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['manager_id'], ['person.id'], name=op.f('fk_unit_change_manager_id_person')),
    sa.ForeignKeyConstraint(['new_unit_id'], ['organization.id'], name=op.f('fk_unit_change_new_unit_id_organization')),
    sa.ForeignKeyConstraint(['old_unit_id'], ['organization.id'], name=op.f('fk_unit_change_old_unit_id_organization')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_unit_change_project_id_project')),
    sa.ForeignKeyConstraint(['safety_id'], ['person.id'], name=op.f('fk_unit_change_safety_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_change')),
    sa.UniqueConstraint('instance_id', name=op.f('uq_unit_change_instance_id')),
    sa.UniqueConstraint('open_key', name=op.f('uq_unit_change_open_key'))
    )
    with op.batch_alter_table('unit_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_change_applicant_org_id'), ['applicant_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_unit_change_project_id'), ['project_id'], unique=False)

    op.create_table('roster_change',
    sa.Column('operation', sa.String(length=20), nullable=False),
    sa.Column('role', sa.String(length=30), nullable=True),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('person_id', sa.Integer(), nullable=True),
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
    sa.ForeignKeyConstraint(['applicant_org_id'], ['organization.id'], name=op.f('fk_roster_change_applicant_org_id_organization')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['app_user.id'], name=op.f('fk_roster_change_created_by_user_id_app_user')),
    sa.ForeignKeyConstraint(['entry_id'], ['project_roster.id'], name=op.f('fk_roster_change_entry_id_project_roster')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_roster_change_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_roster_change_person_id_person')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_roster_change_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_roster_change')),
    sa.UniqueConstraint('instance_id', name=op.f('uq_roster_change_instance_id')),
    sa.UniqueConstraint('open_key', name=op.f('uq_roster_change_open_key'))
    )
    with op.batch_alter_table('roster_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_roster_change_applicant_org_id'), ['applicant_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_roster_change_project_id'), ['project_id'], unique=False)

    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scale', sa.String(length=100), server_default='', nullable=False))
        batch_op.add_column(sa.Column('cost', sa.Numeric(precision=14, scale=2), nullable=True))
        batch_op.add_column(sa.Column('structure_type', sa.String(length=50), server_default='', nullable=False))
        batch_op.add_column(sa.Column('planned_start', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('planned_end', sa.Date(), nullable=True))



def downgrade():
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_column('planned_end')
        batch_op.drop_column('planned_start')
        batch_op.drop_column('structure_type')
        batch_op.drop_column('cost')
        batch_op.drop_column('scale')

    with op.batch_alter_table('roster_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_roster_change_project_id'))
        batch_op.drop_index(batch_op.f('ix_roster_change_applicant_org_id'))

    op.drop_table('roster_change')
    with op.batch_alter_table('unit_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unit_change_project_id'))
        batch_op.drop_index(batch_op.f('ix_unit_change_applicant_org_id'))

    op.drop_table('unit_change')
    with op.batch_alter_table('project_roster', schema=None) as batch_op:
        batch_op.drop_index('ix_project_roster_project')
        batch_op.drop_index(batch_op.f('ix_project_roster_person_id'))

    op.drop_table('project_roster')
    with op.batch_alter_table('project_info_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_project_info_change_project_id'))
        batch_op.drop_index(batch_op.f('ix_project_info_change_applicant_org_id'))

    op.drop_table('project_info_change')
    with op.batch_alter_table('project_change', schema=None) as batch_op:
        batch_op.drop_index('ix_project_change_project')

    op.drop_table('project_change')
