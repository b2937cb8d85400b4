"""hash-chained operation log: audit_entry.seq/hash, process_instance.audit_seq/audit_head

Existing entries are numbered and chained in id order per instance, so the chain of an
existing log attests to the log as it stood when this migration ran.

Revision ID: h4_audit_chain
Revises: e4103475568b
Create Date: 2026-11-22 00:30:00

"""
from alembic import op
import sqlalchemy as sa

from engine.audit import entry_hash, genesis

# revision identifiers, used by Alembic.
revision = 'h4_audit_chain'
down_revision = "h8_jobs_notifications"
branch_labels = None
depends_on = None

_ENTRY = sa.table(
    'audit_entry', sa.column('id', sa.BigInteger), sa.column('instance_id', sa.BigInteger),
    sa.column('seq', sa.Integer), sa.column('hash', sa.String), sa.column('at', sa.DateTime),
    sa.column('user_id', sa.Integer), sa.column('user_name', sa.String), sa.column('org_id', sa.Integer),
    sa.column('org_name', sa.String), sa.column('action', sa.String), sa.column('opinion', sa.Text),
    sa.column('element_id', sa.String))
_INSTANCE = sa.table('process_instance', sa.column('id', sa.BigInteger), sa.column('audit_seq', sa.Integer),
                     sa.column('audit_head', sa.String))
_BATCH = 1000


def upgrade():
    # plain ADD COLUMN (no table copy on SQLite: process_instance is referenced by other tables)
    op.add_column('process_instance', sa.Column('audit_seq', sa.Integer(), server_default='0', nullable=False))
    op.add_column('process_instance', sa.Column('audit_head', sa.String(length=64), nullable=True))
    op.add_column('audit_entry', sa.Column('seq', sa.Integer(), nullable=True))
    op.add_column('audit_entry', sa.Column('hash', sa.String(length=64), nullable=True))
    _chain_existing_logs(op.get_bind())
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_index('ix_audit_instance')
        batch_op.create_unique_constraint('uq_audit_entry_instance_seq', ['instance_id', 'seq'])


def _chain_existing_logs(conn):
    """Number and hash every entry, a page at a time in (instance_id, id) order."""
    set_entry = (sa.update(_ENTRY).where(_ENTRY.c.id == sa.bindparam('e_id'))
                 .values(seq=sa.bindparam('e_seq'), hash=sa.bindparam('e_hash')))
    set_head = (sa.update(_INSTANCE).where(_INSTANCE.c.id == sa.bindparam('i_id'))
                .values(audit_seq=sa.bindparam('i_seq'), audit_head=sa.bindparam('i_head')))
    page = sa.select(_ENTRY).order_by(_ENTRY.c.instance_id, _ENTRY.c.id).limit(_BATCH)
    after, instance_id, seq, head = None, None, 0, None
    while True:
        stmt = page if after is None else page.where(sa.tuple_(_ENTRY.c.instance_id, _ENTRY.c.id) > after)
        rows = conn.execute(stmt).all()
        if not rows:
            break
        written, heads = [], []
        for row in rows:
            if row.instance_id != instance_id:
                instance_id, seq, head = row.instance_id, 0, genesis(row.instance_id)
            seq += 1
            head = entry_hash(head, dict(row._mapping, seq=seq))
            written.append({'e_id': row.id, 'e_seq': seq, 'e_hash': head})
            heads.append({'i_id': instance_id, 'i_seq': seq, 'i_head': head})
        conn.execute(set_entry, written)
        latest = {h['i_id']: h for h in heads}   # the last entry of each instance on this page
        conn.execute(set_head, list(latest.values()))
        after = (rows[-1].instance_id, rows[-1].id)


def downgrade():
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_constraint('uq_audit_entry_instance_seq', type_='unique')
        batch_op.create_index('ix_audit_instance', ['instance_id', 'id'], unique=False)
        batch_op.drop_column('hash')
        batch_op.drop_column('seq')
    op.drop_column('process_instance', 'audit_head')   # SQLite 3.35+: DROP COLUMN without a table copy
    op.drop_column('process_instance', 'audit_seq')
