"""QR login codes (login_code), password reset links (password_reset), the administrators' action
log (admin_action), the account's role within its organisation and the forced password change

Revision ID: manual_login_accounts
Revises: sec_webhooks_subscription_token
Create Date: 2026-12-06 22:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = "manual_login_accounts"
down_revision = "migration_instance_migrations"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "login_code",
        sa.Column("id", BigId, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("browser", sa.String(length=300), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], name=op.f("fk_login_code_account_id_account")),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_login_code_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_code")),
        sa.UniqueConstraint("code", name=op.f("uq_login_code_code")),
    )
    with op.batch_alter_table("login_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_code_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "password_reset",
        sa.Column("id", BigId, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_password_reset_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_reset")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_reset_token_hash")),
    )
    with op.batch_alter_table("password_reset", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_password_reset_user_id"), ["user_id"], unique=False)
    op.create_table(
        "admin_action",
        sa.Column("id", BigId, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("admin_user_id", sa.Integer(), nullable=False),
        sa.Column("admin_name", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_action")),
    )
    with op.batch_alter_table("admin_action", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_admin_action_account_id"), ["account_id"], unique=False)
        batch_op.create_index("ix_admin_action_at", ["at", "id"], unique=False)
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=20), nullable=False, server_default="org_admin"))


def downgrade():
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_column("role")
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("must_change_password")
    op.drop_table("admin_action")
    op.drop_table("password_reset")
    op.drop_table("login_code")
