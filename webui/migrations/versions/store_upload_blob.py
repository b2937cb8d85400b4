"""The bytes of uploaded files in the database (upload_blob), so that every host of a farm serves
them and a database backup holds them. Files of the former upload folder are moved in by
``flask uploads migrate`` (docs/operators.md), not here: the folder is the hosts', not the schema's.

Revision ID: store_upload_blob
Revises: manual_login_accounts
Create Date: 2026-12-07 01:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = "store_upload_blob"
down_revision = "manual_login_accounts"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "upload_blob",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_upload_blob")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # out of line and uncompressed: a chunk read with substr() fetches only its own pages
        op.execute("ALTER TABLE upload_blob ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade():
    op.drop_table("upload_blob")
