"""webhook subscriptions belong to a client's token record, not to its name

Revision ID: sec_webhooks_subscription_token
Revises: h11_review_desk
Create Date: 2026-11-23 00:00:00

A client name is only a label: a second token created with the same name managed the first
one's subscriptions. Existing subscriptions go to the oldest unrevoked machine token with their
client's name (the original, or what rotation made of it), else to the newest revoked one.
"""
from alembic import op
import sqlalchemy as sa


revision = "sec_webhooks_subscription_token"
down_revision = "h11_review_desk"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_webhook_subscription_token_id"), ["token_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_webhook_subscription_token_id_api_token"), "api_token",
                                    ["token_id"], ["id"])
    op.execute(
        "UPDATE webhook_subscription SET token_id = ("
        "  SELECT t.id FROM api_token t WHERE t.client = webhook_subscription.client AND t.account_id IS NULL"
        "  ORDER BY CASE WHEN t.revoked_at IS NULL THEN 0 ELSE 1 END,"
        "           CASE WHEN t.revoked_at IS NULL THEN t.id ELSE -t.id END LIMIT 1)")


def downgrade():
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_webhook_subscription_token_id_api_token"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_webhook_subscription_token_id"))
        batch_op.drop_column("token_id")
