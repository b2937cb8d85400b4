"""natural keys in one spelling: the credit codes, 报监登记号, contract and permit numbers, ID-card and
certificate numbers stored before are rewritten as engine/text.py's natural_key spells them (NFKC,
upper case, no invisible characters, trimmed)

Where two rows of a unique key would become one (e.g. "bj-1" and "BJ-1" as two projects), the
upgrade changes nothing and stops, naming the rows: which record is the right one is a decision for
a person (docs/operators.md "Upgrades"), not for a migration that would silently lose one.

Revision ID: sec_inputs_natural_keys
Revises: h11_review_desk
"""
import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "sec_inputs_natural_keys"
down_revision = "manual_changes_project_changes"
branch_labels = None
depends_on = None

# (table, key column, unique): every natural key the application stores
KEYS = (
    ("organization", "credit_code", True),
    ("project", "supervision_no", True),
    ("project", "contract_no", False),
    ("project", "permit_no", False),
    ("person", "id_card", True),
    ("certificate", "number", False),
    ("registration", "credit_code", False),
    ("permit_supplement", "permit_no", False),
)

# the spelling as of this revision (a copy: a later change of engine/text.py must not change what
# this upgrade did)
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]")


def natural_key(value: str) -> str:
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", value)).strip().upper()


class MergingKeys(RuntimeError):
    """Normalising would merge rows of a unique key; nothing was changed."""


def upgrade():
    conn = op.get_bind()
    changes, merges = [], []
    for table, column, unique in KEYS:
        t = sa.table(table, sa.column("id"), sa.column(column))
        rows = conn.execute(sa.select(t.c.id, t.c[column]).where(t.c[column].is_not(None))).all()
        spelled: dict[str, list] = {}
        for row_id, value in rows:
            key = natural_key(value)
            spelled.setdefault(key, []).append((row_id, value))
            if key != value:
                changes.append((t, column, row_id, key))
        if unique:
            merges += [f"{table}.{column} {key}: " + "、".join(f"id {i}（{v!r}）" for i, v in same)
                       for key, same in spelled.items() if len(same) > 1]
    if merges:
        raise MergingKeys("升级已停止，未做任何修改：以下记录的自然键规范化后相同，请先人工合并或更正后再升级——"
                          + "；".join(merges))
    for t, column, row_id, key in changes:
        conn.execute(sa.update(t).where(t.c.id == row_id).values({column: key}))


def downgrade():
    pass   # the old spellings are not kept; the normalised ones are valid before this revision too
