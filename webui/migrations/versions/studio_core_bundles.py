"""deployment bundles: a version's files with their hashes (definition_file), who deployed it and
the change note; the designer's drafts (process_draft); the shared caches' generations
(cache_generation)

Revision ID: studio_core_bundles
Revises: h11_review_desk
Create Date: 2026-12-06 22:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = "studio_core_bundles"
down_revision = "h11_review_desk"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("process_definition", schema=None) as batch_op:
        batch_op.add_column(sa.Column("diagram_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("deployed_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("deployed_by_user_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
    op.create_table(
        "definition_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["definition_id"], ["process_definition.id"],
                                name=op.f("fk_definition_file_definition_id_process_definition")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_definition_file")),
        sa.UniqueConstraint("definition_id", "name", name="uq_definition_file_name"),
    )
    op.create_table(
        "process_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_key", sa.String(length=100), nullable=False),
        sa.Column("diagram_name", sa.String(length=255), nullable=False),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_draft")),
        sa.UniqueConstraint("process_key", name=op.f("uq_process_draft_process_key")),
    )
    op.create_table(
        "cache_generation",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cache_generation")),
    )
    op.execute("INSERT INTO cache_generation (name, generation) VALUES ('definitions', 0)")


def downgrade():
    op.drop_table("cache_generation")
    op.drop_table("process_draft")
    op.drop_table("definition_file")
    # columns dropped in place: recreating process_definition, which instances refer to, would break
    # their foreign keys on SQLite (which drops columns itself since 3.35)
    with op.batch_alter_table("process_definition", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("note")
        batch_op.drop_column("deployed_by_user_id")
        batch_op.drop_column("deployed_by")
        batch_op.drop_column("diagram_hash")
