"""Case numbers (办件编号): readable, unique per process prefix and year, never reused."""
import threading

import pytest
from sqlalchemy import select

from engine import case_numbers
from engine.db import db, unit_of_work
from engine.models import CaseCounter, ProcessInstance


def _take(prefix="RJ", year=2026):
    with unit_of_work():
        return case_numbers.next_case_no(prefix, year)


def test_numbers_count_up_per_prefix_and_year(ctx):
    assert [_take() for _ in range(3)] == ["RJ-2026-000001", "RJ-2026-000002", "RJ-2026-000003"]
    assert _take("BG") == "BG-2026-000001"
    assert _take("RJ", 2027) == "RJ-2027-000001"


def test_a_rolled_back_start_gives_its_number_back(ctx):
    _take()
    with pytest.raises(RuntimeError):
        with unit_of_work():
            case_numbers.next_case_no("RJ", 2026)
            raise RuntimeError("the start failed")
    assert _take() == "RJ-2026-000002"


def test_a_started_instance_carries_its_number_and_is_found_by_it(world, services):
    org = world.org("contractor")
    with unit_of_work():
        number = case_numbers.next_case_no("RJ", 2026)
        result = services.engine.start("personnel_unlock", "case:1", world.who("contractor_user").actor,
                                       applicant_org_id=org.id, applicant_name=org.name, case_no=number)
    assert db.session.get(ProcessInstance, result.instance.id).case_no == "RJ-2026-000001"
    assert case_numbers.instance_by_case_no(" rj-2026-000001 ").id == result.instance.id
    assert case_numbers.instance_by_case_no("RJ-2026-000002") is None
    assert case_numbers.instance_by_case_no("not a number") is None


def test_concurrent_starts_get_distinct_numbers(app):
    """Four threads taking numbers at once (PostgreSQL: the counter row's lock orders them;
    SQLite: BEGIN IMMEDIATE does) get twenty distinct numbers without a gap."""
    with app.app_context():
        db.session.execute(CaseCounter.__table__.delete())
        db.session.commit()
    numbers, errors = [], []

    def take():
        with app.app_context():
            try:
                for _ in range(5):
                    numbers.append(_take("CC", 2026))
            except Exception as exc:  # noqa: BLE001 — reported below
                errors.append(exc)
            finally:
                db.session.remove()
    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(numbers) == [f"CC-2026-{i:06d}" for i in range(1, 21)]
    with app.app_context():
        db.session.execute(CaseCounter.__table__.delete())
        db.session.commit()
