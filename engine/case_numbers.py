"""Case numbers (办件编号): ``<prefix>-<year>-<six digits>``, e.g. RJ-2026-000123.

One counter row per prefix and year, incremented in the caller's transaction: the row lock
orders concurrent starts of the same process, and a rolled-back start gives its number back.
Numbers are unique (process_instance.case_no is unique) but not promised to be gapless: a
start that fails after its counter commit is simply skipped by the next one.
"""
import re

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from .db import db, write_values
from .models import CaseCounter, ProcessInstance
from .text import natural_key

PATTERN = re.compile(r"^[A-Z]{1,10}-\d{4}-\d{6,}$")


def next_case_no(prefix: str, year: int) -> str:
    """The next number of ``prefix`` in ``year``; call inside the unit of work that starts the case."""
    # the counter depends on nothing else the session holds: the caller's pending changes are not
    # flushed for it (write_values), they go with the command's next flush
    key = {"b_prefix": prefix, "b_year": year}
    last = write_values(_STEP, key).scalar()
    if last is None:
        try:
            with db.session.begin_nested():   # a concurrent first start of the year may insert it too
                write_values(_FIRST, key)
        except IntegrityError:
            pass
        last = write_values(_STEP, key).scalar()
    return f"{prefix}-{year}-{last:06d}"


_COUNTER = CaseCounter.__table__
# built once: the increment of one prefix's counter for one year, and its first row
_STEP = update(_COUNTER) \
    .where(_COUNTER.c.prefix == bindparam("b_prefix"), _COUNTER.c.year == bindparam("b_year")) \
    .values(last=_COUNTER.c.last + 1).returning(_COUNTER.c.last)
_FIRST = _COUNTER.insert().values(prefix=bindparam("b_prefix"), year=bindparam("b_year"), last=0)


def normalise(text: str | None) -> str:
    """What a user typed as a case number, in the stored spelling: the natural-key spelling
    (engine.text: NFKC, upper case, no invisible characters), and no spaces inside either."""
    return re.sub(r"\s+", "", natural_key(text))


def instance_by_case_no(case_no: str) -> ProcessInstance | None:
    case_no = normalise(case_no)
    if not PATTERN.match(case_no):
        return None
    return db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_no == case_no))
