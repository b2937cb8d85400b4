"""Two pushes racing on the same person (PostgreSQL, real threads): the lock rule holds.

On SQLite ``BEGIN IMMEDIATE`` serialises every push; the scenarios run one after the other in
test_api_intake.py.
"""
import pytest
from sqlalchemy import func, select

from engine.db import db
from handlers import intake
from handlers.invariants import check_invariants
from handlers.models import Assignment, Person, Project

from .api_helpers import CERTS, person_payload, project_payload
from .conftest import is_postgres
from .race_helpers import run_at_once

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not is_postgres(), reason="a race needs concurrent writers: SQLite serialises them all"),
]
ROUNDS = 10


def _outcome(result):
    kind, value = result
    if kind == "ok":
        return value.outcome
    assert isinstance(value, intake.IntakeRefused), repr(value)
    return value.status


def test_two_projects_pushed_at_once_with_the_same_manager_one_is_refused(ctx, world):
    tally = []
    for r in range(ROUNDS):
        pm = person_payload(world, f"经理{r}", certs=CERTS["pm"])
        intake.upsert_person(pm)
        payloads = [project_payload(world, f"BJ-R{r}-{i}", {"project_manager": pm["id_card"]}) for i in (0, 1)]
        results = run_at_once(ctx, 2, lambda i: intake.upsert_project(payloads[i]))
        tally.append(sorted(map(_outcome, results), key=str))
        db.session.rollback()
        person_id = db.session.scalar(select(Person.id).where(Person.id_card == pm["id_card"]))
        assert db.session.scalar(select(func.count()).select_from(Assignment).where(
            Assignment.person_id == person_id, Assignment.ended_at.is_(None))) == 1
    assert tally == [[409, "created"]] * ROUNDS
    assert db.session.scalar(select(func.count()).select_from(Project)) == ROUNDS
    assert check_invariants() == []


def test_the_same_project_pushed_twice_at_once_is_stored_once(ctx, world):
    pm = person_payload(world, "同步经理", certs=CERTS["pm"])
    intake.upsert_person(pm)
    payload = project_payload(world, "BJ-SAME", {"project_manager": pm["id_card"]})
    results = run_at_once(ctx, 2, lambda i: intake.bulk("projects", [payload])[0])
    outcomes = sorted(r[1].get("outcome") or r[1]["status"] for r in results)
    assert [r[0] for r in results] == ["ok", "ok"]
    assert outcomes == ["created", "unchanged"], results
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Project)) == 1
    assert check_invariants() == []
