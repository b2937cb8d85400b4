"""``python -m bench``: run every part and write the report."""
import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import psutil

from . import ceiling, claim, engine_api, http, inbox, machine, report, service
from .common import driver_url, ensure_pg_database, make_app, pg_url, reset_schema

ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, SQLite only, no gunicorn, temp output")
    p.add_argument("--output", help="markdown report (default docs/performance.md, or a temp file with --smoke)")
    p.add_argument("--json", help="also write the raw results as JSON here")
    p.add_argument("--lifecycles", type=int, default=500, help="service-layer lifecycles per database")
    p.add_argument("--paired-rounds", type=int, default=15,
                   help="rounds of the paired ratio (ceiling and engine API measured alternately)")
    p.add_argument("--paired-lifecycles", type=int, default=40, help="engine-API lifecycles per paired round")
    p.add_argument("--profile-batch", type=int, default=50)
    p.add_argument("--ceiling-seconds", type=float, default=10.0)
    p.add_argument("--finished", type=int, default=1_000_000)
    p.add_argument("--open", type=int, default=100_000)
    p.add_argument("--enterprises", type=int, default=2000)
    p.add_argument("--projects", type=int, default=20_000)
    p.add_argument("--inbox-repeats", type=int, default=200)
    p.add_argument("--reviewers", type=int, default=50)
    p.add_argument("--http-threads", type=int, default=4, help="virtual users (client threads) of the HTTP part")
    p.add_argument("--http-lifecycles", type=int, default=200)
    p.add_argument("--http-seconds", type=float, default=300.0, help="time cap of the HTTP part")
    args = p.parse_args(argv)
    if args.smoke:
        args.lifecycles, args.profile_batch, args.ceiling_seconds = 3, 2, 0
        args.finished, args.open, args.enterprises, args.projects = 400, 100, 10, 40
        args.inbox_repeats = 5
        args.paired_rounds, args.paired_lifecycles = 2, 2
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
        results["service"].append(service.run(app, args.lifecycles, args.profile_batch))
        world = results["service"][-1].pop("world")
        log(f"  {results['service'][-1]['per_second']:.1f} lifecycles/s")
        log(f"claim storm on {name}")
        results["claim"].append(claim.run(app, world, args.reviewers))
        log(f"  winners {results['claim'][-1]['winners']}, refused {results['claim'][-1]['refused']}")
        _dispose(app)

    me = psutil.Process()
    results["memory"] = {"label": "service-layer benchmark process (HTTP part did not run)",
                         "rss_mib": me.memory_info().rss / 2**20,
                         "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if args.smoke:
        results["http"] = {"skipped": "smoke mode (no gunicorn)"}
    else:
        log("HTTP under gunicorn")
        try:
            results["http"] = http.run(pg, work, args.http_threads, args.http_lifecycles, args.http_seconds)
        except Exception as exc:   # noqa: BLE001 - the rest of the run still reports
            results["http"] = {"skipped": f"the HTTP run failed: {type(exc).__name__}: {exc}"}
            results["notes"].append(f"HTTP part failed: {type(exc).__name__}: {exc}")
        if results["http"].get("memory"):
            results["memory"] = results["http"].pop("memory")
        h = results["http"]
        if h.get("skipped"):
            log(f"  {h['skipped']}")
        else:
            log(f"  {h['per_second']:.2f} lifecycles/s, {h['completed']}/{h['lifecycles']} completed, "
                f"failures: {h['errors']}; largest worker peak {results['memory']['peak_mib']:.0f} MiB")
            if h["errors"]:
                results["notes"].append(f"HTTP: {h['errors']} lifecycles failed (listed in section 3)")

    inbox_dbs = [("postgresql", pg)] if pg else [("sqlite", f"sqlite:///{work / 'inbox.sqlite3'}")]
    for name, url in inbox_dbs:
        log(f"inbox at scale on {name}: loading {args.finished + args.open:,} tasks")
        app = make_app(url, work)
        reset_schema(app)
        loaded = inbox.load(app, args.finished, args.open, args.enterprises, args.projects)
        log("  loaded in {:.0f} s".format(sum(loaded["timings"].values())))
        entry = {"dialect": name, "loaded": loaded, "check": inbox.check(app, loaded)}
        entry["latency"] = inbox.measure(app, loaded, args.inbox_repeats)
        entry["plans"] = inbox.explain(app, loaded)
        results["inbox"].append(entry)
        _dispose(app)

    results["notes"] += _findings(results)
    output = Path(args.output) if args.output else (
        Path(tempfile.gettempdir()) / "ynqs-performance-smoke.md" if args.smoke else ROOT / "docs" / "performance.md")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report.render(results), encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    log(f"report written to {output}")
    return results


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
