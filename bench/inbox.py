"""Inbox at scale: bulk-loaded review tasks (not through the engine), then timed inbox pages.

The load is a handful of ``INSERT … SELECT`` statements over a generated series
(``generate_series`` on PostgreSQL, a recursive CTE on SQLite), so a million rows take
seconds, not hours. Tasks are spread over 16 authorities, 16 agencies and the given
number of enterprises; each task is offered to its project's authority and agency.
"""
import random
import time
from datetime import date

from sqlalchemy import func, select, text

from engine.db import db, end_reading
from engine.inbox import InboxFilter, ReviewInbox
from engine.models import ProcessDefinition
from handlers.models import AGENCY, APPROVED, AUTHORITY, CONTRACTOR, PROJECT_MANAGER, REPORTED, UnlockApplication
from handlers.principal import Principal
from handlers.services import Services

from .common import StatementCounter, percentiles

REGULATORS = 16
AUTH0, AGENCY0, ENT0 = 1, 1 + REGULATORS, 1 + 2 * REGULATORS     # organisation id ranges
REVIEWER0 = 1_000_000                                            # reviewer user ids: REVIEWER0 + org*10 + k
START = "2024-01-01 00:00:00"
KEYS = ("personnel_unlock", "manager_change", "completion_filing")


def _cte(dialect, n):
    if dialect == "postgresql":
        return f"WITH s AS (SELECT generate_series(1, {int(n)}) AS i)"
    return f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {int(n)})"


def _ts(dialect, seconds_expr):
    if dialect == "postgresql":
        return f"(TIMESTAMP '{START}' + ({seconds_expr}) * INTERVAL '1 second')"
    # the same text form SQLAlchemy writes, so keyset comparisons on SQLite stay exact
    return f"(datetime('{START}', '+' || ({seconds_expr}) || ' seconds') || '.000000')"


def load(app, finished: int, open_: int, enterprises: int, projects: int) -> dict:
    """Fill an empty schema (definitions deployed) with the inbox population."""
    total = finished + open_
    projects = max(projects, enterprises)
    with app.app_context():
        d = db.engine.dialect.name
        defs = dict(db.session.execute(select(ProcessDefinition.process_key, func.min(ProcessDefinition.id))
                                       .group_by(ProcessDefinition.process_key)).all())
        key_expr = "CASE i % 3 WHEN 0 THEN 'personnel_unlock' WHEN 1 THEN 'manager_change' ELSE 'completion_filing' END"
        def_expr = f"CASE i % 3 WHEN 0 THEN {defs[KEYS[0]]} WHEN 1 THEN {defs[KEYS[1]]} ELSE {defs[KEYS[2]]} END"
        j = f"(1 + i % {projects})"                     # the task's project
        auth, agency = f"({AUTH0} + {j} % {REGULATORS})", f"({AGENCY0} + {j} % {REGULATORS})"
        ent = f"({ENT0} + {j} % {enterprises})"
        created = _ts(d, "i * 57")                      # about two years for 1.1 M tasks
        completed = _ts(d, f"i * 57 + 3600 + (i % 72) * 3600")
        is_done = f"(i <= {finished})"
        # completed by one of four reviewers of the authority or the agency; 10 % of open tasks held
        by_org = f"(CASE WHEN (i / {projects}) % 2 = 1 THEN {auth} ELSE {agency} END)"
        done_by = f"({REVIEWER0} + {by_org} * 10 + (i / {2 * projects}) % 4)"
        held = f"(i > {finished} AND i % 10 = 0)"
        statements = [
            ("organization", f"""{_cte(d, 2 * REGULATORS + enterprises)}
                INSERT INTO organization (id, kind, name, contact_person, contact_phone, legal_representative,
                                          address, region, business_scope, updated_at)
                SELECT i, CASE WHEN i < {AGENCY0} THEN :authority WHEN i < {ENT0} THEN :agency ELSE :contractor END,
                       'org' || i, '', '', '', '', '', '', {_ts(d, 'i')} FROM s""",
             {"authority": AUTHORITY, "agency": AGENCY, "contractor": CONTRACTOR}),
            ("app_user", f"""{_cte(d, enterprises)}
                INSERT INTO app_user (id, username, password_hash, name, mobile, created_at)
                SELECT {ENT0} - 1 + i, 'bench' || i, '', '企业用户' || i, '', {_ts(d, 'i')} FROM s""", {}),
            ("project", f"""{_cte(d, projects)}
                INSERT INTO project (id, name, supervision_no, address, construction_unit_id, contractor_id,
                                     authority_id, agency_id, status)
                SELECT i, '工程' || i || '号楼', 'BJ' || i, '', {ENT0} + i % {enterprises}, {ENT0} + i % {enterprises},
                       {AUTH0} + i % {REGULATORS}, {AGENCY0} + i % {REGULATORS}, 'under_construction' FROM s""", {}),
            ("person", f"""{_cte(d, enterprises)}
                INSERT INTO person (id, name, id_card, enterprise_id, status)
                SELECT i, '人员' || i, 'ID' || i, {ENT0} - 1 + i, 'locked' FROM s""", {}),
            ("lock_record", f"""{_cte(d, enterprises)}
                INSERT INTO lock_record (id, person_id, role, project_id, locked_at, reason)
                SELECT i, i, :role, i, {_ts(d, 'i')}, 'bench' FROM s""", {"role": PROJECT_MANAGER}),
            ("process_instance", f"""{_cte(d, total)}
                INSERT INTO process_instance (id, definition_id, process_key, business_key, status, state, version,
                    subject, scope, scope_id, applicant_org_id, applicant_name, created_at, updated_at)
                SELECT i, {def_expr}, {key_expr}, 'bench:' || i,
                       CASE WHEN {is_done} THEN 'completed' ELSE 'running' END, '', 1,
                       '人员' || i || '（项目经理）', '工程' || {j} || '号楼', {j}, {ent}, '施工企业' || {ent},
                       {created}, {created} FROM s""", {}),
            ("human_task", f"""{_cte(d, total)}
                INSERT INTO human_task (id, instance_id, process_key, task_guid, element_id, name, form_key,
                    claim_required, state, subject, scope, applicant_org_id, applicant_name, created_at,
                    claimed_by_user_id, claimed_by_name, claimed_by_org_id, claimed_by_org_name, claimed_at,
                    completed_at, completed_by_user_id, completed_by_name, completed_by_org_id, outcome)
                SELECT i, i, {key_expr}, 'bench-' || i, 'Task_Review', '审核', 'review', TRUE,
                       CASE WHEN {is_done} THEN 'completed' ELSE 'open' END,
                       '人员' || i || '（项目经理）', '工程' || {j} || '号楼', {ent}, '施工企业' || {ent}, {created},
                       CASE WHEN {is_done} OR {held} THEN {done_by} END,
                       CASE WHEN {is_done} OR {held} THEN '审核员' END,
                       CASE WHEN {is_done} OR {held} THEN {by_org} END,
                       CASE WHEN {is_done} OR {held} THEN 'org' END,
                       CASE WHEN {is_done} OR {held} THEN {created} END,
                       CASE WHEN {is_done} THEN {completed} END,
                       CASE WHEN {is_done} THEN {done_by} END,
                       CASE WHEN {is_done} THEN '审核员' END,
                       CASE WHEN {is_done} THEN {by_org} END,
                       CASE WHEN {is_done} THEN 'approve' END FROM s""", {}),
            ("task_candidate", f"""{_cte(d, total)}
                INSERT INTO task_candidate (task_id, org_id, is_open, process_key, created_at, claimed_by_user_id,
                    scope, applicant_name, outcome, completed_at)
                SELECT i, {auth}, NOT {is_done}, {key_expr}, {created},
                       CASE WHEN {is_done} OR {held} THEN {done_by} END,
                       '工程' || {j} || '号楼', '施工企业' || {ent},
                       CASE WHEN {is_done} THEN 'approve' END, CASE WHEN {is_done} THEN {completed} END FROM s
                UNION ALL
                SELECT i, {agency}, NOT {is_done}, {key_expr}, {created},
                       CASE WHEN {is_done} OR {held} THEN {done_by} END,
                       '工程' || {j} || '号楼', '施工企业' || {ent},
                       CASE WHEN {is_done} THEN 'approve' END, CASE WHEN {is_done} THEN {completed} END FROM s""", {}),
            ("unlock_application", f"""{_cte(d, total)}
                INSERT INTO unlock_application (id, status, reason, explanation, created_at, updated_at, reported_at,
                    finished_at, applicant_org_id, created_by_user_id, project_id, instance_id, lock_record_id,
                    person_id)
                SELECT i, CASE WHEN {is_done} THEN :approved ELSE :reported END, 'bench', '', {created}, {created},
                       {created}, CASE WHEN {is_done} THEN {completed} END, {ent}, {ent}, {j}, i,
                       1 + {j} % {enterprises}, 1 + {j} % {enterprises}
                FROM s WHERE i % 3 = 0""", {"approved": APPROVED, "reported": REPORTED}),
        ]
        timings = {}
        for table, sql, params in statements:
            t0 = time.perf_counter()
            db.session.execute(text(sql), params)
            db.session.commit()
            timings[table] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if d == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        else:
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        timings["analyze"] = time.perf_counter() - t0
        rows = {t: db.session.scalar(text(f"SELECT count(*) FROM {t}")) for t in
                ("human_task", "task_candidate", "process_instance", "unlock_application")}
        db.session.remove()
    return {"timings": timings, "rows": rows, "finished": finished, "open": open_,
            "enterprises": enterprises, "projects": projects}


def _reviewer(org_id: int, k: int = 0) -> Principal:
    kind = AUTHORITY if org_id < AGENCY0 else AGENCY
    return Principal(0, REVIEWER0 + org_id * 10 + k, "审核员", org_id, f"org{org_id}", kind)


def _enterprise(org_id: int) -> Principal:
    return Principal(0, org_id, "企业用户", org_id, f"org{org_id}", CONTRACTOR)


def scenarios(loaded: dict):
    """(label, callable(principal) -> rows) pairs; each draws a random organisation."""
    ent_count = loaded["enterprises"]
    d1 = date(2024, 1, 1)
    mid = date.fromordinal(d1.toordinal() + int((loaded["finished"] + loaded["open"]) * 57 / 86400 * 0.97))

    def page(view, flt=None, page_no=1, counts=True):
        def prepare(p):
            """The cursor of the requested page, walked to outside the timing."""
            inbox, cursor = ReviewInbox(p.user_id, p.org_id), None
            for _ in range(page_no - 1):
                cursor = inbox.page(view, flt, cursor, with_counts=False).next_cursor
            return cursor

        def run(p, cursor):
            return ReviewInbox(p.user_id, p.org_id).page(view, flt, cursor, with_counts=counts).rows
        return prepare, run

    def regulator():
        return _reviewer(random.randint(AUTH0, ENT0 - 1), random.randint(0, 3))

    def enterprise():
        return _enterprise(ENT0 + random.randrange(ent_count))

    def apps(page_no):
        return (lambda p: None), (lambda p, _: _app_list(p, page_no))

    return [
        ("open, first page + counts", regulator, *page("open")),
        ("open, first page, no counts", regulator, *page("open", counts=False)),
        ("open, page 5 (keyset cursor) + counts", regulator, *page("open", page_no=5)),
        ("open, page 50 (keyset cursor), no counts", regulator, *page("open", page_no=50, counts=False)),
        ("open, filter process type + counts", regulator, *page("open", InboxFilter(process_key="manager_change"))),
        ("open, filter project name + counts", regulator, *page("open", InboxFilter(scope="工程12"))),
        ("open, filter applicant + counts", regulator, *page("open", InboxFilter(applicant="施工企业10"))),
        ("open, filter date from + counts", regulator, *page("open", InboxFilter(date_from=mid))),
        ("held, first page + counts", regulator, *page("held")),
        ("done, first page + counts", regulator, *page("done")),
        ("done, page 5 (keyset cursor) + counts", regulator, *page("done", page_no=5)),
        ("enterprise application list, page 1 (with total)", enterprise, *apps(1)),
        ("enterprise application list, page 5 (with total)", enterprise, *apps(5)),
    ]


def _app_list(principal, page):
    services: Services = _app_list.services
    rows, total = services.unlock.list_own(principal, page=page)
    return rows


def measure(app, loaded: dict, repeats: int) -> dict:
    random.seed(7)
    _app_list.services = app.extensions["services"]
    results = {}
    with app.app_context():
        for label, who, prepare, fn in scenarios(loaded):
            for _ in range(6):   # warm the caches; a statement is prepared on its fifth run
                p = who()
                fn(p, prepare(p))
                _end_request()
            samples = []
            for _ in range(repeats):
                p = who()
                args = prepare(p)
                _end_request()
                t0 = time.perf_counter()
                fn(p, args)
                samples.append(time.perf_counter() - t0)
                _end_request()
            results[label] = percentiles(samples)
    return results


def _end_request():
    """As a request ends (handlers.database): a read-only transaction commits, so the connection
    keeps its prepared statements, then the session is removed."""
    end_reading()
    db.session.remove()


def check(app, loaded: dict) -> dict:
    """What the inbox must return for the loaded population (asserted, not just timed)."""
    with app.app_context():
        org = AGENCY0 + 3
        p = _reviewer(org)
        page = ReviewInbox(p.user_id, p.org_id).page("open")
        expected_open = db.session.scalar(text(
            "SELECT count(*) FROM task_candidate c JOIN human_task t ON t.id = c.task_id "
            "WHERE c.org_id = :o AND c.is_open AND t.claimed_by_user_id IS NULL"), {"o": org})
        assert page.counts["open"] == expected_open, (page.counts, expected_open)
        assert len(page.rows) == min(20, expected_open)
        assert all(r.state == "open" and r.claimed_by_user_id is None for r in page.rows)
        stamps = [r.created_at for r in page.rows]
        assert stamps == sorted(stamps, reverse=True)
        if page.next_cursor:
            second = ReviewInbox(p.user_id, p.org_id).page("open", cursor=page.next_cursor, with_counts=False)
            assert not {r.id for r in second.rows} & {r.id for r in page.rows}
            assert second.rows[0].created_at <= page.rows[-1].created_at
        expected_done = db.session.scalar(text(
            "SELECT count(*) FROM human_task WHERE completed_by_user_id = :u AND state = 'completed'"),
            {"u": p.user_id})
        assert page.counts["done"] == expected_done, (page.counts, expected_done)
        ent = _enterprise(ENT0 + 1)
        rows, total = app.extensions["services"].unlock.list_own(ent)
        expected_apps = db.session.scalar(select(func.count()).select_from(UnlockApplication).where(
            UnlockApplication.applicant_org_id == ent.org_id))
        assert total == expected_apps and len(rows) == min(20, expected_apps)
        db.session.remove()
    return {"open_rows_first_page": len(page.rows), "open_count": expected_open, "done_count": expected_done,
            "enterprise_apps": expected_apps}


def explain(app, loaded: dict) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements the main inbox calls send (PostgreSQL only)."""
    plans = {}
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return plans
        counter = StatementCounter(db.engine)
        p = _reviewer(AGENCY0 + 5)
        inbox = ReviewInbox(p.user_id, p.org_id)
        cases = [
            ("open, first page", lambda: inbox.page("open", with_counts=False)),
            ("open, later page (keyset cursor)", lambda: inbox.page(
                "open", cursor=inbox.page("open", with_counts=False).next_cursor, with_counts=False)),
            ("counts (open, mine, held, done)", lambda: inbox.counts()),
            ("done, first page", lambda: inbox.page("done", with_counts=False)),
            ("open, filter project name", lambda: inbox.page("open", InboxFilter(scope="工程12"), with_counts=False)),
        ]
        for label, fn in cases:
            counter.captured = []
            fn()
            captured, counter.captured = counter.captured, None
            if label.startswith("open, later"):
                captured = captured[1:]
            out = []
            raw = db.session.connection().connection.driver_connection
            for statement, params in captured:
                with raw.cursor() as cur:
                    cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
                    out.append("\n".join(r[0] for r in cur.fetchall()))
            plans[label] = out
            db.session.rollback()
        counter.close()
        db.session.remove()
    return plans
