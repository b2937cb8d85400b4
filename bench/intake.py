"""Intake throughput (issue 11): projects upserted through the API, one request per project versus
one bulk request, in rows per second, each project with a project manager under the lock rule.

    python -m bench.intake [--rows 500] [--pg URL]

SQLite in a temporary file always; PostgreSQL too when ``--pg`` (or BENCH_DATABASE_URL) names a
database, whose schema is dropped and rebuilt (never point it at a database you keep).
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

from engine.db import db

from .common import make_app, reset_schema


def _code(n: int, kind: str) -> str:
    from handlers.codes import credit_code_check_char, id_card_check_char
    if kind == "credit":
        body = f"91530100{n:09d}"
        return body + credit_code_check_char(body)
    body = f"530101{1960 + n // 1000 % 40}0101{n % 1000:03d}"
    return body + id_card_check_char(body)


def _setup(app, rows: int):
    from handlers import api_tokens, intake
    from handlers.models import AGENCY, AUTHORITY, CONSTRUCTION_UNIT, CONTRACTOR, SUPERVISING_FIRM, Organization
    with app.app_context():
        reset_schema(app)
        orgs = {}
        for i, (key, kind, name) in enumerate([
                ("construction_unit", CONSTRUCTION_UNIT, "建设单位"), ("contractor", CONTRACTOR, "施工单位"),
                ("supervising_firm", SUPERVISING_FIRM, "监理单位"), ("authority", AUTHORITY, "主管部门"),
                ("agency", AGENCY, "监督机构")], start=1):
            org = Organization(kind=kind, name=name, credit_code=_code(i, "credit"))
            db.session.add(org)
            orgs[key] = {"credit_code": org.credit_code, "name": name}
        db.session.commit()
        token = api_tokens.create_client_token("bench", "projects:write,people:write")[1]
        people = [{"id_card": _code(10_000 + i, "id"), "name": f"经理{i}", "employer": orgs["contractor"],
                   "certificates": [{"kind": "constructor", "number": f"J{i}"}, {"kind": "safety_b", "number": f"B{i}"}]}
                  for i in range(2 * rows)]
        results = intake.bulk("people", people)
        assert all(r["status"] == 200 for r in results)
        db.session.remove()
    return token, orgs, [p["id_card"] for p in people]


def _project(orgs, n, pm):
    return {"supervision_no": f"BJ{n:07d}", "name": f"工程{n}", "status": "在建", **orgs,
            "personnel": {"project_manager": pm}}


def run(url: str, rows: int, workdir: Path) -> dict:
    app = make_app(url, workdir)
    app.config["API_RATE_LIMIT"] = "1000000 per minute"
    token, orgs, pms = _setup(app, rows)
    client, headers = app.test_client(), {"Authorization": f"Bearer {token}"}
    t0 = time.perf_counter()
    for i in range(rows):
        resp = client.post("/api/v1/projects", json=_project(orgs, i, pms[i]), headers=headers)
        assert resp.status_code == 200, resp.get_json()
    single = time.perf_counter() - t0
    bulk_rows = [_project(orgs, rows + i, pms[rows + i]) for i in range(rows)]
    t0 = time.perf_counter()
    resp = client.post("/api/v1/projects/bulk", json={"rows": bulk_rows}, headers=headers)
    bulk = time.perf_counter() - t0
    assert resp.status_code == 200 and resp.get_json()["accepted"] == rows, resp.get_json()
    t0 = time.perf_counter()
    resp = client.post("/api/v1/projects/bulk", json={"rows": bulk_rows}, headers=headers)   # nothing changes
    repeat = time.perf_counter() - t0
    with app.app_context():
        dialect = db.engine.dialect.name
        db.engine.dispose()
    return {"dialect": dialect, "rows": rows, "single_per_second": rows / single, "bulk_per_second": rows / bulk,
            "bulk_unchanged_per_second": rows / repeat}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.intake", description=__doc__)
    p.add_argument("--rows", type=int, default=500)
    p.add_argument("--pg", default=os.environ.get("BENCH_DATABASE_URL"))
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ynqs-intake-"))
    urls = [f"sqlite:///{work / 'intake.sqlite3'}"] + ([args.pg] if args.pg else [])
    print("| database | rows | single (rows/s) | bulk (rows/s) | bulk, unchanged (rows/s) |")
    print("|---|---|---|---|---|")
    out = []
    for url in urls:
        r = run(url, args.rows, work)
        out.append(r)
        print(f"| {r['dialect']} | {r['rows']} | {r['single_per_second']:.0f} | {r['bulk_per_second']:.0f} | "
              f"{r['bulk_unchanged_per_second']:.0f} |", flush=True)
    return out


if __name__ == "__main__":
    main()
