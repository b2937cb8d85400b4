"""Certificates issued when a case ends approved (issued_certificate): 竣工验收备案证明 and 办结通知书,
with their printed facts, signatures, PDF and revocation

Revision ID: certs_issued_certificates
Revises: manual_login_accounts
Create Date: 2026-12-07 01:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = "certs_issued_certificates"
down_revision = "limits_rate_limit_counter"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "issued_certificate",
        sa.Column("id", BigId, nullable=False),
        sa.Column("serial", sa.String(length=30), nullable=False),
        sa.Column("instance_id", BigId, nullable=False),
        sa.Column("case_no", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=50), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("issuer_org_id", sa.Integer(), nullable=True),
        sa.Column("issuer_name", sa.String(length=200), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
        sa.Column("pdf_signature", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=False),
        sa.Column("revoked_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"],
                                name=op.f("fk_issued_certificate_instance_id_process_instance")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_certificate")),
        sa.UniqueConstraint("serial", name=op.f("uq_issued_certificate_serial")),
    )
    op.create_index("ix_issued_certificate_instance", "issued_certificate", ["instance_id", "id"], unique=False)


def downgrade():
    op.drop_index("ix_issued_certificate_instance", table_name="issued_certificate")
    op.drop_table("issued_certificate")
