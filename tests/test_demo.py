"""The demo loader: the data it creates obeys the lock rule, and its logins are documented."""
import re
from pathlib import Path

import pytest
from flask import current_app
from sqlalchemy import func, select

from engine.db import db
from handlers import accounts, lock_rule
from handlers.codes import is_valid_credit_code, is_valid_id_card
from handlers.demo import DEMO_PASSWORD, DEMO_USERNAMES, demo_counts, load_demo
from handlers.errors import DomainError
from handlers.models import (
    ACTIVE, CHIEF_SUPERVISOR, COMPLETED, LOCKED, PENDING, PROJECT_MANAGER, REJECTED, REPORTED, ROLE_EMPLOYER,
    SAFETY_OFFICER, UNDER_CONSTRUCTION, Account, Assignment, LockRecord, Organization, Person, Project,
    UnlockApplication, User,
)
from handlers.principal import Principal

DOC = Path(__file__).resolve().parent.parent / "docs" / "demo-logins.md"


@pytest.fixture()
def demo(ctx):
    return load_demo(scale=0.2)


def test_person_status_follows_open_locks(demo):
    people = db.session.scalars(select(Person)).all()
    open_by_person = set(db.session.scalars(select(LockRecord.person_id).where(LockRecord.closed_at.is_(None))))
    assert len(people) == demo["people"] > 50
    assert open_by_person, "the demo has locked people"
    for person in people:
        assert (person.status == LOCKED) == (person.id in open_by_person), person.name
        assert is_valid_id_card(person.id_card), person.id_card


def test_every_open_lock_is_backed_by_an_assignment(demo):
    for lock in db.session.scalars(select(LockRecord).where(LockRecord.closed_at.is_(None))):
        held = db.session.scalar(select(Assignment).where(
            Assignment.person_id == lock.person_id, Assignment.role == lock.role,
            Assignment.project_id == lock.project_id, Assignment.ended_at.is_(None)))
        assert held is not None, (lock.person.name, lock.role)
        assert lock.project.status == UNDER_CONSTRUCTION
        assert lock.person.enterprise.kind == ROLE_EMPLOYER[lock.role]


def test_lock_counts_follow_the_rule(demo):
    chief_counts = []
    for person in db.session.scalars(select(Person)):
        open_roles = [lock.role for lock in lock_rule.open_locks(person.id)]
        for role, limit in lock_rule.LIMITS.items():
            count = lock_rule.project_count(person.id, role)
            assert count <= limit, (person.name, role, count)
            assert open_roles.count(role) == (1 if count >= limit else 0), (person.name, role, count)
            if role == CHIEF_SUPERVISOR and count:
                chief_counts.append(count)
    assert 3 in chief_counts and any(c < 3 for c in chief_counts)
    # project managers and safety officers: one per contract, the contractor's own people
    for project in db.session.scalars(select(Project).where(Project.status == UNDER_CONSTRUCTION)):
        roles = {a.role: a.person for a in db.session.scalars(select(Assignment).where(
            Assignment.project_id == project.id, Assignment.ended_at.is_(None)))}
        assert set(roles) == {PROJECT_MANAGER, SAFETY_OFFICER, CHIEF_SUPERVISOR}
        assert roles[PROJECT_MANAGER].enterprise_id == roles[SAFETY_OFFICER].enterprise_id == project.contractor_id
        assert roles[CHIEF_SUPERVISOR].enterprise_id == project.supervising_firm_id
        assert lock_rule.replacement_problem(PROJECT_MANAGER, roles[PROJECT_MANAGER], project.contractor_id) \
            == lock_rule.TOO_MANY[PROJECT_MANAGER]
    completed = db.session.scalars(select(Project).where(Project.status == COMPLETED)).all()
    assert completed and all(p.permit_no for p in completed)
    shared = db.session.scalar(select(func.count()).select_from(
        select(Project.contract_no).group_by(Project.contract_no).having(func.count() > 1).subquery()))
    assert demo["projects"] >= 8 and shared >= 1


def test_organisations_and_logins(demo):
    for org in db.session.scalars(select(Organization)):
        assert is_valid_credit_code(org.credit_code), (org.name, org.credit_code)
    for username in DEMO_USERNAMES:
        user = db.session.scalar(select(User).where(User.username == username))
        assert user is not None, username
    multi = accounts.authenticate("multi", DEMO_PASSWORD)
    assert len({a.org.kind for a in accounts.active_accounts(multi)}) == 2
    assert accounts.authenticate("sg1", DEMO_PASSWORD).accounts[0].status == ACTIVE
    with pytest.raises(DomainError, match="审核中"):
        accounts.authenticate("pending_sg", DEMO_PASSWORD)
    with pytest.raises(DomainError, match="营业执照"):
        accounts.authenticate("rejected_js", DEMO_PASSWORD)
    assert {a.status for a in db.session.scalars(select(Account))} == {ACTIVE, PENDING, REJECTED}
    # both went through 注册审核 on the engine: one waits in the administrators' inbox, one is on record
    from handlers.principal import Principal
    admin = Principal.of(accounts.authenticate("admin", DEMO_PASSWORD).accounts[0])
    services = current_app.extensions["services"]
    [(waiting, task_id)] = services.registration.pending(admin)
    assert waiting.user.username == "pending_sg" and task_id in [r.id for r in services.reviews.inbox(admin).rows]
    [returned] = services.registration.history(admin)
    assert returned.user.username == "rejected_js" and "营业执照" in returned.reason


def test_reported_applications_reach_the_regulators(demo, services):
    reported = db.session.scalars(select(UnlockApplication).where(UnlockApplication.status == REPORTED)).all()
    assert demo["applications"] >= 1
    for app in reported:
        account = db.session.scalar(select(Account).where(Account.org_id == app.project.agency_id))
        subjects = [t.subject for t in services.reviews.inbox(Principal.of(account)).rows]
        assert f"{app.person.name}（{app.lock_record.role_label}）解锁" in subjects


def test_documented_logins_match_the_code(ctx):
    load_demo(scale=0.2)
    documented = re.findall(r"^\|\s*`([^`]+)`", DOC.read_text(encoding="utf-8"), re.M)
    assert set(documented) == set(DEMO_USERNAMES)
    for username in documented:
        assert db.session.scalar(select(User.id).where(User.username == username)), username


def test_load_if_empty_does_not_duplicate(ctx):
    runner = ctx.test_cli_runner()
    first = runner.invoke(args=["demo", "load", "--if-empty", "--scale", "0.2"])
    assert first.exit_code == 0, first.output
    counts = demo_counts()
    second = runner.invoke(args=["demo", "load", "--if-empty", "--scale", "0.2"])
    assert second.exit_code == 0 and "skipped" in second.output
    assert demo_counts() == counts
    again = runner.invoke(args=["demo", "load", "--scale", "0.2"])
    assert again.exit_code != 0 and demo_counts() == counts


def test_demo_data_keeps_every_invariant(demo):
    from handlers.invariants import check_invariants
    assert check_invariants() == []
