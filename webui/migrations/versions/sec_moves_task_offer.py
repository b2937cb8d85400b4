"""a task offered anew keeps a count (human_task.offer) that its candidate rows copy, so that the
task gates accept only the candidates of its present offer (a project moved to other regulators)

Revision ID: sec_moves_task_offer
Revises: h11_review_desk
Create Date: 2026-12-06 22:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = "sec_moves_task_offer"
down_revision = "sec_webhooks_subscription_token"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("offer", sa.Integer(), server_default=sa.text("0"), nullable=False))
    with op.batch_alter_table("task_candidate", schema=None) as batch_op:
        batch_op.add_column(sa.Column("offer", sa.Integer(), server_default=sa.text("0"), nullable=False))


def downgrade():
    with op.batch_alter_table("task_candidate", schema=None) as batch_op:
        batch_op.drop_column("offer")
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.drop_column("offer")
