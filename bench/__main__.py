"""``python -m bench``: run every part and write the report."""
import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import psutil

from . import actions, ceiling, claim, engine_api, http, inbox, intake, machine, report, service, timers
from .common import driver_url, ensure_pg_database, make_app, pg_url, reset_schema

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_CEILING = report.REFERENCE_CEILING   # in-memory lifecycles/s of the machine the timeouts were chosen on


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, SQLite only, no gunicorn, temp output")
    p.add_argument("--output", help="markdown report (default docs/performance.md, or a temp file with --smoke)")
    p.add_argument("--json", help="also write the raw results as JSON here")
    p.add_argument("--lifecycles", type=int, default=500, help="service-layer lifecycles per database")
    p.add_argument("--paired-rounds", type=int, default=15,
                   help="rounds of the paired ratio (ceiling and engine API measured alternately)")
    p.add_argument("--paired-lifecycles", type=int, default=40, help="engine-API lifecycles per paired round")
    p.add_argument("--service-per-round", type=int, default=20,
                   help="lifecycles with the domain services per round of their paired ratio to the engine API")
    p.add_argument("--profile-batch", type=int, default=50)
    p.add_argument("--ceiling-seconds", type=float, default=10.0)
    p.add_argument("--finished", type=int, default=1_000_000)
    p.add_argument("--open", type=int, default=100_000)
    p.add_argument("--enterprises", type=int, default=2000)
    p.add_argument("--projects", type=int, default=20_000)
    p.add_argument("--inbox-repeats", type=int, default=200)
    p.add_argument("--reviewers", type=int, default=50)
    p.add_argument("--http-threads", type=int, default=4, help="virtual users (client threads) of the HTTP part")
    p.add_argument("--http-server-threads", type=int, default=1,
                   help="threads per gunicorn worker of the HTTP part (1: sync workers; more: gthread)")
    p.add_argument("--http-lifecycles", type=int, default=200)
    p.add_argument("--http-seconds", type=float, default=300.0, help="time cap of the HTTP part")
    p.add_argument("--http-rounds", type=int, default=9,
                   help="rounds of the HTTP/engine-API paired ratio (engine API, then HTTP lifecycles)")
    p.add_argument("--http-per-round", type=int, default=30, help="HTTP lifecycles per paired round")
    p.add_argument("--http-profiled", type=int, default=20, help="lifecycles of the request-profile run")
    p.add_argument("--http-sqlite-lifecycles", type=int, default=100,
                   help="lifecycles of the HTTP run on the embedded SQLite default (0: skip)")
    p.add_argument("--scaling-lifecycles", type=int, default=40,
                   help="lifecycles per cell of the scaling run (1, 2, 4 workers × 2, 4, 8 users; 0: skip)")
    p.add_argument("--timers", type=int, default=10_000, help="timers of the timer part (0: skip)")
    p.add_argument("--timer-workers", type=int, default=2)
    p.add_argument("--intake-rows", type=int, default=300, help="projects per intake run (0: skip)")
    p.add_argument("--action-lifecycles", type=int, default=10,
                   help="lifecycles of each kind of the per-request figures (bench/actions.py; 0: skip)")
    p.add_argument("--memory-lifecycles", type=int, default=1000,
                   help="service lifecycles one process serves before its resident memory is read (0: skip)")
    p.add_argument("--port", type=int, default=None, help="gunicorn's port (default: a free one, picked at random)")
    p.add_argument("--timeout-scale", type=float, default=1.0,
                   help="multiply every wait and timeout of the HTTP part (at least: a machine slower than the "
                        "reference on the section-1 lifecycle gets the ratio of the two)")
    args = p.parse_args(argv)
    if args.smoke:
        args.lifecycles, args.profile_batch, args.ceiling_seconds = 3, 2, 0
        args.finished, args.open, args.enterprises, args.projects = 400, 100, 10, 40
        args.inbox_repeats = 5
        args.paired_rounds, args.paired_lifecycles, args.service_per_round = 2, 2, 2
        args.timers, args.intake_rows = 0, 20
        args.action_lifecycles, args.memory_lifecycles = 2, 20
    return args


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def main(argv=None) -> dict:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ynqs-bench-"))
    pg = None if args.smoke else pg_url()
    if pg:
        ensure_pg_database(pg)
    results = {"smoke": args.smoke, "machine": machine.describe(driver_url(pg) if pg else None),
               "engine_api": [], "service": [], "claim": [], "inbox": [], "notes": []}

    log("engine ceiling")
    results["ceiling"] = ceiling.run(20 if args.smoke else 200, args.ceiling_seconds)
    log(f"  {results['ceiling']['per_second']:.0f} lifecycles/s")
    if not args.smoke:
        # a slower (or busier) machine than the reference one gets proportionally longer waits
        slower = REFERENCE_CEILING / max(results["ceiling"]["per_second"], 1.0)
        args.timeout_scale = min(max(args.timeout_scale, slower), 30.0)
        results["timeout_scale"] = args.timeout_scale
        if args.timeout_scale > 1:
            log(f"  timeouts of the HTTP part × {args.timeout_scale:.1f} (the machine runs the in-memory "
                f"lifecycle {slower:.1f}× slower than the reference {REFERENCE_CEILING:.0f}/s)")

    databases = [("sqlite", f"sqlite:///{work / 'bench.sqlite3'}")] + ([("postgresql", pg)] if pg else [])
    for name, url in databases:
        app = make_app(url, work)
        reset_schema(app)
        log(f"engine API on {name}")
        results["engine_api"].append(engine_api.run(
            app, args.lifecycles, args.profile_batch, rounds=args.paired_rounds, per_round=args.paired_lifecycles,
            ceiling_seconds=0.05 if args.smoke else 0.5))
        e = results["engine_api"][-1]
        log(f"  {e['per_second']:.1f} lifecycles/s; paired ratio {e['paired']['median']:.3f} "
            f"({e['paired']['min']:.3f}–{e['paired']['max']:.3f})")
        log(f"service layer on {name}")
        results["service"].append(service.run(
            app, args.lifecycles, args.profile_batch, engine_api.rounds_runner(app, args.paired_lifecycles, 20_000_000),
            rounds=args.paired_rounds, per_round=args.service_per_round))
        world = results["service"][-1].pop("world")
        sp = results["service"][-1]["paired"]
        log(f"  {results['service'][-1]['per_second']:.1f} lifecycles/s; paired service/engine-API ratio "
            f"{sp['median']:.3f} ({sp['min']:.3f}–{sp['max']:.3f})")
        log(f"claim storm on {name}")
        results["claim"].append(claim.run(app, world, args.reviewers))
        log(f"  winners {results['claim'][-1]['winners']}, refused {results['claim'][-1]['refused']}")
        _dispose(app)

    me = psutil.Process()
    results["memory"] = {"label": "service-layer benchmark process (HTTP part did not run)",
                         "rss_mib": me.memory_info().rss / 2**20,
                         "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    results["http_runs"], results["scaling"] = [], None
    if args.smoke:
        results["http"] = {"skipped": "smoke mode (no gunicorn)"}
    else:
        http_dbs = [("postgresql", pg, args.http_lifecycles)] if pg else []
        if args.http_sqlite_lifecycles:
            http_dbs.append(("sqlite", f"sqlite:///{work / 'bench-http.sqlite3'}", args.http_sqlite_lifecycles))
        for name, url, count in http_dbs:
            results["http_runs"].append(_http_run(args, results, name, url, work, count))
        results["http"] = results["http_runs"][0] if results["http_runs"] else {"skipped": "no database"}
        if args.scaling_lifecycles and pg:
            log("HTTP scaling: 1, 2, 4 workers × 2, 4, 8 virtual users on postgresql")
            try:
                results["scaling"] = http.scaling(pg, work, lifecycles=args.scaling_lifecycles, port=args.port,
                                                  scale=args.timeout_scale)
                for row in results["scaling"]["rows"]:
                    log(f"  {row['workers']} workers, {row['users']} users: {row['per_second']:.2f} lifecycles/s")
            except Exception as exc:   # noqa: BLE001 - the rest of the run still reports
                results["scaling"] = {"skipped": f"{type(exc).__name__}: {exc}"}
                results["notes"].append(f"HTTP scaling run failed: {type(exc).__name__}: {exc}")

    inbox_dbs = [("postgresql", pg)] if pg else [("sqlite", f"sqlite:///{work / 'inbox.sqlite3'}")]
    for name, url in inbox_dbs:
        log(f"inbox at scale on {name}: loading {args.finished + args.open:,} tasks")
        app = make_app(url, work)
        reset_schema(app)
        loaded = inbox.load(app, args.finished, args.open, args.enterprises, args.projects)
        log("  loaded in {:.0f} s".format(sum(loaded["timings"].values())))
        # measured on new connections, as a serving worker's are: on the connections that bulk-loaded
        # the rows the held view's first page took 27 ms instead of 9 (PostgreSQL, 1,100,000 tasks)
        _dispose(app)
        app = make_app(url, work)
        entry = {"dialect": name, "loaded": loaded, "check": inbox.check(app, loaded)}
        entry["latency"] = inbox.measure(app, loaded, args.inbox_repeats)
        entry["plans"] = inbox.explain(app, loaded)
        results["inbox"].append(entry)
        _dispose(app)

    if args.timers and pg:
        log(f"timers: {args.timers:,} due at once, {args.timer_workers} workers on postgresql")
        try:
            results["timers"] = timers.run(driver_url(pg), args.timers, args.timer_workers)
            log(f"  {results['timers']['jobs_per_second']:.0f} jobs/s")
        except Exception as exc:   # noqa: BLE001 - the rest of the run still reports
            results["timers"] = {"skipped": f"{type(exc).__name__}: {exc}"}
            results["notes"].append(f"timer part failed: {type(exc).__name__}: {exc}")
    if args.intake_rows:
        results["intake"] = []
        for name, url in [("sqlite", f"sqlite:///{work / 'intake.sqlite3'}")] + ([("postgresql", pg)] if pg else []):
            log(f"intake: {args.intake_rows} projects on {name}")
            try:
                results["intake"].append(intake.run(url, args.intake_rows, work))
            except Exception as exc:   # noqa: BLE001
                results["intake"].append({"dialect": name, "skipped": f"{type(exc).__name__}: {exc}"})
                results["notes"].append(f"intake part on {name} failed: {type(exc).__name__}: {exc}")

    if args.action_lifecycles:
        results["actions"] = []
        for name, url in databases:
            log(f"per request and action on {name}: {args.action_lifecycles} lifecycles of each kind")
            results["actions"].append(actions.run(url, args.action_lifecycles, work))
    if args.memory_lifecycles:
        name, url = databases[-1]
        log(f"memory: {args.memory_lifecycles} service lifecycles in one process on {name}")
        results["memory_lifecycles"] = actions.memory(url, args.memory_lifecycles, work)

    results["notes"] += _findings(results)
    output = Path(args.output) if args.output else (
        Path(tempfile.gettempdir()) / "ynqs-performance-smoke.md" if args.smoke else ROOT / "docs" / "performance.md")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report.render(results), encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    log(f"report written to {output}")
    return results


def _http_run(args, results, name, url, work, count) -> dict:
    """One HTTP run (gunicorn, 2 workers) with its paired ratio against the engine API on the same database."""
    log(f"HTTP under gunicorn on {name}")
    app = make_app(url, work)
    try:
        if name == "sqlite":
            reset_schema(app)
        engine_round = engine_api.rounds_runner(app, args.paired_lifecycles)
        h = http.run(url, work, args.http_threads, count, args.http_seconds, port=args.port,
                     scale=args.timeout_scale, engine_rounds=engine_round, rounds=args.http_rounds,
                     per_round=args.http_per_round, profiled=args.http_profiled,
                     server_threads=args.http_server_threads)
    except Exception as exc:   # noqa: BLE001 - the rest of the run still reports
        results["notes"].append(f"HTTP part on {name} failed: {type(exc).__name__}: {exc}")
        return {"dialect": name, "skipped": f"the HTTP run failed: {type(exc).__name__}: {exc}"}
    finally:
        _dispose(app)
    engine = next((e for e in results["engine_api"] if e["dialect"] == name), None)
    h["engine_api_per_second"] = engine["per_second"] if engine else None
    if name == "postgresql" or results["memory"]["label"].startswith("service"):
        results["memory"] = h.pop("memory")
    else:
        h.pop("memory")
    paired = h.get("paired")
    log(f"  {h['per_second']:.2f} lifecycles/s, {h['completed']}/{h['lifecycles']} completed, "
        f"failures: {h['errors']}" + (f"; paired HTTP/engine-API ratio {paired['median']:.3f} "
                                      f"({paired['min']:.3f}–{paired['max']:.3f})" if paired else ""))
    if h.get("api"):
        log(f"  paired JSON API/engine-API ratio {h['api']['median']:.3f} ({h['api']['min']:.3f}–"
            f"{h['api']['max']:.3f}), failures: {h['api']['failures']}")
    if h["errors"]:
        results["notes"].append(f"HTTP on {name}: {h['errors']} lifecycles failed (listed in section 3)")
    return h


def _findings(r) -> list[str]:
    notes = []
    for cs in r["claim"]:
        if cs["winners"] != 1:
            notes.append(f"claim storm on {cs['dialect']}: {cs['winners']} winners instead of exactly one")
        if cs["errors"]:
            notes.append(f"claim storm on {cs['dialect']}: {cs['errored']} "
                         f"reviewers got a database error instead of “already claimed”: {'; '.join(cs['errors'])}")
    return notes


def _dispose(app):
    from engine.db import db
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1:])
