"""A certificate's PDF is rendered on its first download: pdf, pdf_sha256 and pdf_signature
may be NULL until then; verify_base keeps the address its QR code links to, fixed at issue

Revision ID: core_certificate_pdf_later
Revises: rating_cases_urges
Create Date: 2026-12-07 04:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'core_certificate_pdf_later'
down_revision = 'rating_cases_urges'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('issued_certificate', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verify_base', sa.String(length=200), nullable=False, server_default=''))
        batch_op.alter_column('pdf', existing_type=sa.LargeBinary(), nullable=True)
        batch_op.alter_column('pdf_sha256', existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column('pdf_signature', existing_type=sa.String(length=128), nullable=True)


def downgrade():
    # certificates issued since may have no PDF yet: the columns stay nullable rather than lose them
    with op.batch_alter_table('issued_certificate', schema=None) as batch_op:
        batch_op.drop_column('verify_base')
