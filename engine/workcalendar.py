"""Working days (工作日). Minimal weekends-only calendar; statutory holidays come with the full calendar."""
from datetime import date, timedelta


def is_working_day(d: date) -> bool:
    return d.weekday() < 5


def add_working_days(start: date, n: int) -> date:
    """The date n working days after ``start`` (``start`` itself is not counted)."""
    d, left = start, n
    while left > 0:
        d += timedelta(days=1)
        if is_working_day(d):
            left -= 1
    return d
