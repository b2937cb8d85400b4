"""Admin commands: ``flask bpmn check|deploy|versions|export|draft …|validate-draft|deploy-draft|test|diff|migrate|rollback``, ``flask init-db``, ``flask engine retry|worker|retry-job``,
``flask calendar …``, ``flask check-invariants``, ``flask uploads prune|migrate``, ``flask backup``, ``flask audit verify``."""
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from handlers import database
from handlers.services import BPMN_DIR


def _services():
    return current_app.extensions["services"]


def _os_user() -> str:
    import getpass
    try:
        return f"{getpass.getuser()} (flask bpmn)"
    except Exception:   # noqa: BLE001 - no user name in a bare container: the command still deploys
        return "flask bpmn"


@click.group("bpmn", help="Process definitions.")
def bpmn():
    pass


@bpmn.command("check", help="Validate BPMN files without deploying them.")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def bpmn_check(files):
    files = files or sorted(BPMN_DIR.glob("*.bpmn"))
    failed = 0
    for path in files:
        errors = _services().engine.definitions.check_file(path)
        if errors:
            failed += 1
            for err in errors:
                click.echo(f"✗ {err.file}: {err.element_id or '-'}: {err.reason}", err=True)
        else:
            click.echo(f"✓ {path.name}")
    sys.exit(1 if failed else 0)


@bpmn.command("deploy", help="Deploy the diagrams in bpmn/ with their forms as bundles (new versions only).")
@click.option("--note", default=None, help="The change note recorded on each new version (default: 从 bpmn/ 目录部署).")
@click.option("--by", "deployed_by", default=None, help="Who deploys (default: the operating-system user).")
@click.option("--dir", "directory", default=None, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A folder laid out as bpmn/ (default: bpmn/).")
@with_appcontext
def bpmn_deploy(note, deployed_by, directory):
    if note is not None and not note.strip():
        raise click.BadParameter("变更说明不能为空", param_hint="--note")
    report = _services().deploy_definitions(directory or BPMN_DIR, note, deployed_by or _os_user())
    for d in report.deployed:
        click.echo(f"deployed {d.process_key} v{d.version} ({d.content_hash[:12]}) from {d.source_file}")
    for name in report.unchanged:
        click.echo(f"unchanged {name}")
    for err in report.refused:
        click.echo(f"refused {err.file}: {err.element_id or '-'}: {err.reason}", err=True)
    sys.exit(1 if report.refused else 0)


@bpmn.command("versions", help="List the deployed versions (the current one marked), who deployed them and why.")
@click.argument("process", required=False)
@with_appcontext
def bpmn_versions(process):
    rows = _services().engine.definitions.versions(process)
    newest = {}
    for d in rows:
        newest[d.process_key] = d.version
    for d in rows:
        mark = "*" if newest[d.process_key] == d.version else " "
        click.echo(f"{mark} {d.process_key} v{d.version} {d.deployed_at:%Y-%m-%d %H:%M} "
                   f"{d.deployed_by or '-'}: {d.note or '-'} ({d.content_hash[:12]})")


@bpmn.command("export", help="Write a version's bundle (diagram, forms/, tests/<process>/) into a folder.")
@click.argument("process")
@click.option("--version", type=int, default=None, help="The version (default: the current one).")
@click.option("--to", "target", required=True, type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def bpmn_export(process, version, target):
    from engine import DefinitionNotFound
    try:
        bundle = _services().engine.definitions.bundle(process, version)
    except DefinitionNotFound as exc:
        raise click.ClickException(exc.message) from None
    for path in bundle.write_to(target):
        click.echo(f"wrote {path}")


@bpmn.group("draft", help="The studio's draft of a process, from a shell.")
def bpmn_draft():
    pass


@bpmn_draft.command("open", help="Start a draft from a version (default: the current one), or show the draft.")
@click.argument("process")
@click.option("--version", type=int, default=None)
@click.option("--by", "who", default=None)
@with_appcontext
def bpmn_draft_open(process, version, who):
    from engine import DefinitionNotFound
    try:
        draft = _services().engine.drafts.open(process, version, by=who or _os_user())
    except DefinitionNotFound as exc:
        raise click.ClickException(exc.message) from None
    _echo_draft(draft)


@bpmn_draft.command("save", help="Save DIR/<process>.bpmn with the forms it names and tests/<process>/ as the draft.")
@click.argument("process")
@click.option("--from", "source", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--by", "who", default=None)
@with_appcontext
def bpmn_draft_save(process, source, who):
    from engine import DraftRefused
    from engine.bundles import Bundle
    diagram = source / f"{process}.bpmn"
    if not diagram.is_file():
        raise click.ClickException(f"{diagram} 不存在")
    bundle = Bundle.from_directory(source, diagram.name)
    try:
        draft = _services().engine.drafts.save(process, bundle.xml.decode("utf-8"),
                                                {n: c.decode("utf-8") for n, c in bundle.files.items()},
                                                by=who or _os_user(), diagram_name=diagram.name)
    except (DraftRefused, UnicodeDecodeError) as exc:
        raise click.ClickException(getattr(exc, "message", str(exc))) from None
    _echo_draft(draft)


@bpmn_draft.command("export", help="Write the draft's files into a folder laid out as bpmn/.")
@click.argument("process")
@click.option("--to", "target", required=True, type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def bpmn_draft_export(process, target):
    draft = _services().engine.drafts.get(process)
    if draft is None:
        raise click.ClickException(f"流程 “{process}” 没有草稿")
    for path in draft.bundle.write_to(target):
        click.echo(f"wrote {path}")


@bpmn_draft.command("discard", help="Delete the draft.")
@click.argument("process")
@with_appcontext
def bpmn_draft_discard(process):
    click.echo("discarded" if _services().engine.drafts.discard(process) else "no draft")


def _echo_draft(draft):
    click.echo(f"draft {draft.process_key} revision {draft.revision} (from v{draft.base_version or '-'}), "
               f"saved by {draft.updated_by or '-'}: {draft.diagram_name}, " + ", ".join(sorted(draft.files)))


@bpmn.command("validate-draft", help="Check a draft as deploy would (exit 1 on any problem).")
@click.argument("process")
@with_appcontext
def bpmn_validate_draft(process):
    from engine import DefinitionNotFound
    try:
        problems = _services().engine.drafts.validate(process)
    except DefinitionNotFound as exc:
        raise click.ClickException(exc.message) from None
    for err in problems:
        click.echo(f"✗ {err.file}: {err.element_id or '-'}: {err.reason}", err=True)
    click.echo(f"{len(problems)} problem(s)")
    sys.exit(1 if problems else 0)


@bpmn.command("deploy-draft", help="Deploy a valid draft whose scenarios pass, with a change note.")
@click.argument("process")
@click.option("--note", required=True, help="The change note recorded on the new version.")
@click.option("--by", "who", default=None)
@with_appcontext
def bpmn_deploy_draft(process, note, who):
    from engine import DefinitionNotFound, DraftRefused, EngineError
    from engine.definitions import Deployment
    from handlers import scenarios
    if not note.strip():
        raise click.BadParameter("变更说明不能为空", param_hint="--note")
    try:
        definition = _services().engine.drafts.deploy(process, Deployment(note.strip(), who or _os_user()),
                                                      gate=scenarios.failures_of)
    except DraftRefused as exc:
        for problem in exc.problems:
            click.echo(f"✗ {_problem_line(problem)}", err=True)
        raise click.ClickException(exc.message) from None
    except (DefinitionNotFound, EngineError) as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"deployed {definition.process_key} v{definition.version} ({definition.content_hash[:12]})")


def _problem_line(problem) -> str:
    if hasattr(problem, "reason"):
        return f"{problem.file}: {problem.element_id or '-'}: {problem.reason}"
    return f"{problem.file} {problem.name}: " + "；".join(problem.failures)


@bpmn.command("test", help="Run the process tests (bpmn/tests/<process>/*.yaml) on a throwaway database.")
@click.argument("process", required=False)
@click.option("--dir", "directory", default=None, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--draft", is_flag=True, help="Run the scenarios of PROCESS's draft instead of the folder's.")
@with_appcontext
def bpmn_test(process, directory, draft):
    from handlers import scenarios
    if draft:
        found = _services().engine.drafts.get(process or "")
        if found is None:
            raise click.ClickException(f"流程 “{process}” 没有草稿")
        results = {process: scenarios.run_bundle(found.bundle)}
    else:
        results = scenarios.run_directory(directory or BPMN_DIR, process)
    failed = total = 0
    for key, rows in results.items():
        for r in rows:
            total += 1
            failed += not r.passed
            click.echo(f"{'✓' if r.passed else '✗'} {key}/{r.file}: {r.name}")
            for f in r.failures:
                click.echo(f"    {f}", err=True)
    click.echo(f"{total} scenario(s), {failed} failed")
    sys.exit(1 if failed or not total else 0)


@bpmn.command("diff", help="Compare two versions (or a version and the draft, without NEW).")
@click.argument("process")
@click.argument("old", type=int)
@click.argument("new", type=int, required=False)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def bpmn_diff(process, old, new, as_json):
    import dataclasses
    import json
    from engine import DefinitionNotFound
    from handlers import version_diff
    definitions = _services().engine.definitions
    try:
        before = definitions.bundle(process, old)
        if new is None:
            draft = _services().engine.drafts.get(process)
            if draft is None:
                raise click.ClickException(f"流程 “{process}” 没有草稿")
            after = draft.bundle
        else:
            after = definitions.bundle(process, new)
    except DefinitionNotFound as exc:
        raise click.ClickException(exc.message) from None
    changes = version_diff.diff_bundles(before, after)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(c) for c in changes], ensure_ascii=False, indent=1))
    else:
        for c in changes:
            click.echo(c.describe())
        click.echo(f"{len(changes)} change(s)")


def _mapping_option(values) -> dict:
    found = {}
    for value in values:
        source, sep, target = value.partition("=")
        if not sep or not source.strip():
            raise click.BadParameter(f"映射应写作 源元素=目标元素：{value}", param_hint="--map")
        found[source.strip()] = target.strip()
    return found


@bpmn.command("migrate", help="Move running applications of a process from version N to M (each in its own "
                              "transaction); --dry-run prints the report and changes nothing.")
@click.argument("process")
@click.option("--from", "from_version", type=int, required=True, help="The source version.")
@click.option("--to", "to_version", type=int, required=True, help="The target version.")
@click.option("--map", "maps", multiple=True, help="A manual mapping SOURCE=TARGET (repeatable).")
@click.option("--step", default=None, help="Only applications waiting at this element id.")
@click.option("--region", default=None, help="Only projects whose competent authority's region or name contains this.")
@click.option("--reported-before", default=None, help="Only applications reported before this day (YYYY-MM-DD).")
@click.option("--case", "cases", multiple=True, help="Only these case numbers (repeatable or comma-separated).")
@click.option("--dry-run", is_flag=True, help="Print what would happen to each application; change nothing.")
@click.option("--csv", "csv_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="With --dry-run: also write the report as CSV.")
@click.option("--background", is_flag=True, help="Enqueue one job per application for `flask engine worker`.")
@click.option("--by", "by", default=None, help="Whose name the log entries carry (default: the operating-system user).")
@with_appcontext
def bpmn_migrate(process, from_version, to_version, maps, step, region, reported_before, cases, dry_run, csv_path,
                 background, by):
    from engine import Actor
    from handlers.errors import DomainError
    from handlers.migration import REPORT_HEADERS, Filters, report_cells
    service = _services().migration
    try:
        filters = Filters.parse(step, region, reported_before, ",".join(cases))
        plan = service.plan_as(Actor(None, by or _os_user(), None, "流程设计"), process, from_version, to_version,
                               _mapping_option(maps), filters, keep=not dry_run)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    if dry_run:
        rows = service.report(plan)
        for row in rows:
            click.echo(" | ".join(report_cells(row)))
        if csv_path:
            import csv
            with csv_path.open("w", newline="", encoding="utf-8-sig") as f:
                writer = csv.writer(f)
                writer.writerow(REPORT_HEADERS)
                writer.writerows(report_cells(r) for r in rows)
        click.echo(f"{sum(r.can_migrate for r in rows)} of {len(rows)} can migrate (dry run: nothing changed)")
        return
    if background:
        count = service.migration.start_plan(plan.id)
        click.echo(f"plan {plan.id}: {count} job(s) enqueued; `flask engine worker` runs them")
        return
    counts = service.run_now(plan.id)
    for result in service.results_of(plan.id):
        if result.outcome != "已迁移":
            click.echo(f"{result.case_no}: {result.outcome}：{result.reason}", err=True)
    click.echo(f"plan {plan.id}: {counts['migrated']} migrated, {counts['refused']} refused")


@bpmn.command("rollback", help="Return applications to the version they had before their last migration.")
@click.option("--plan", "plan_id", type=int, default=None, help="Every application the plan migrated.")
@click.option("--case", "cases", multiple=True, help="A case number (repeatable).")
@click.option("--by", "by", default=None, help="Whose name the log entries carry.")
@with_appcontext
def bpmn_rollback(plan_id, cases, by):
    from engine import Actor
    from engine.migration import MigrationRefused
    from handlers.migration import instances_to_roll_back
    if not plan_id and not cases:
        raise click.UsageError("请指定 --plan 或 --case")
    actor = Actor(None, by or _os_user(), None, "流程设计")
    refused = 0
    for instance_id, case_no in instances_to_roll_back(plan_id, cases):
        try:
            _services().engine.migration.rollback(instance_id, actor)
            click.echo(f"{case_no}: rolled back")
        except MigrationRefused as exc:
            refused += 1
            click.echo(f"{case_no}: refused: {exc.message}", err=True)
    sys.exit(1 if refused else 0)


@click.command("init-db", help="Create or upgrade the schema and deploy the diagrams.")
@with_appcontext
def init_db():
    from flask_migrate import upgrade
    if (Path(current_app.extensions["migrate"].directory) / "env.py").exists():
        upgrade()
    else:
        database.create_schema()
    report = _services().deploy_definitions()
    for err in report.refused:
        click.echo(f"refused {err.file}: {err.element_id or '-'}: {err.reason}", err=True)
    click.echo("database ready")


@click.group("engine", help="Operate running instances.")
def engine_group():
    pass


@engine_group.command("retry", help="Retry an errored instance's failed service task.")
@click.argument("instance_id", type=int)
@with_appcontext
def engine_retry(instance_id):
    result = _services().operations.retry_as_operator(instance_id)
    click.echo(f"instance {instance_id}: {result.instance.status}" +
               (f" ({result.incident})" if result.incident else ""))


@click.command("check-invariants", help="Scan the database for broken invariants (exit 1 if any).")
@with_appcontext
def check_invariants_command():
    from handlers.invariants import CHECKS, check_invariants
    problems = check_invariants()
    for line in problems:
        click.echo(f"✗ {line}")
    if problems:
        click.echo(f"发现 {len(problems)} 处不变量被破坏", err=True)
        sys.exit(1)
    click.echo(f"✓ 所有不变量均成立（{len(CHECKS)} 项检查）")


@engine_group.command("worker", help="Run due jobs (timers, notification deliveries) until stopped.")
@click.option("--once", is_flag=True, help="run the jobs due now, then exit")
@click.option("--delivery-threads", type=click.IntRange(0, 32), default=None,
              help="threads that deliver webhooks beside the one for timers and e-mails "
                   "(default WEBHOOK_DELIVERY_THREADS, 4)")
@click.option("--poll", default=1.0, show_default=True, help="seconds to wait when no job is due")
@click.option("--batch", default=20, show_default=True, help="jobs claimed per round trip")
@click.option("--lease", default=300, show_default=True, help="seconds a claimed job stays this worker's")
@click.option("--grace", default=25.0, show_default=True,
              help="on SIGTERM: seconds to finish the jobs under way before handing them back")
@with_appcontext
def engine_worker(once, delivery_threads, poll, batch, lease, grace):
    import signal
    import threading
    from datetime import timedelta

    from flask import current_app

    from .worker import run_lanes
    if once:
        click.echo(f"{_services().worker(batch=batch, lease=timedelta(seconds=lease)).run_due()} job(s) run")
        return
    if delivery_threads is None:
        delivery_threads = current_app.config["WEBHOOK_DELIVERY_THREADS"]
    lanes = _services().lanes(delivery_threads, batch=batch, lease=timedelta(seconds=lease))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"worker {lanes[0].worker_id} started ({len(lanes) - 1} webhook delivery thread(s))")
    stuck = run_lanes(current_app._get_current_object(), lanes, stop, poll, grace)
    click.echo(f"worker {lanes[0].worker_id} stopped" +
               (f" ({stuck} job(s) still running after {grace:g} s handed back)" if stuck else ""))


@engine_group.command("retry-job", help="Run a failed job (an incident) again.")
@click.argument("job_id", type=int)
@with_appcontext
def engine_retry_job(job_id):
    from engine.jobs import retry_failed
    ok = retry_failed(job_id)
    click.echo(f"job {job_id}: " + ("pending again" if ok else "not a failed job"))
    sys.exit(0 if ok else 1)


@click.group("uploads", help="Uploaded files (their bytes live in the database).")
def uploads_group():
    pass


@uploads_group.command("prune", help="Delete stored bytes that no attachment refers to.")
@click.option("--dry-run", is_flag=True, help="only list them")
@click.option("--min-age", default=3600, show_default=True, help="keep bytes stored less than this ago (seconds)")
@with_appcontext
def uploads_prune(dry_run, min_age):
    from handlers.uploads import prune_orphans, size_label
    removed = prune_orphans(_services().uploads, min_age, dry_run)
    for orphan in removed:
        click.echo(("would remove " if dry_run else "removed ") + f"{orphan.sha256} ({size_label(orphan.size)})")
    click.echo(f"{len(removed)} orphaned file(s), {sum(o.size for o in removed)} bytes")


@uploads_group.command("migrate", help="Move the files of the upload folder (UPLOAD_DIR) into the database.")
@click.option("--dir", "directory", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="the folder to move (default: UPLOAD_DIR)")
@with_appcontext
def uploads_migrate(directory):
    from handlers.uploads import move_folder_into_store
    root = directory or Path(current_app.config["UPLOAD_DIR"])
    report = move_folder_into_store(_services().uploads, root)
    for path, size in report.moved:
        click.echo(f"moved {path} ({size} bytes)")
    for path in report.present:
        click.echo(f"already stored, removed {path}")
    for path, reason in report.failed:
        click.echo(f"could not move {path}: {reason}", err=True)
    if not (report.moved or report.present or report.failed):
        click.echo(f"nothing to move: no files in {root}")
        return
    click.echo(f"moved {len(report.moved)} file(s), {report.moved_bytes} bytes, from {root} into the database"
               + (f"; {len(report.present)} already stored" if report.present else "")
               + (f"; {len(report.failed)} could not be moved" if report.failed else ""))
    sys.exit(1 if report.failed else 0)


@click.command("backup", help="Back up the database, attachments included, to FILE "
                               "(PostgreSQL: pg_dump --format=custom; SQLite: an online copy).")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_command(file):
    from handlers.backup import BackupFailed, backup
    try:
        how = backup(file)
    except BackupFailed as e:
        click.echo(f"backup failed: {e}", err=True)
        sys.exit(1)
    click.echo(f"backed up to {file} ({file.stat().st_size} bytes, {how})")


@click.group("calendar", help="The working-day calendar (holidays, make-up days, local days).")
def calendar_group():
    pass


def _day(value: str):
    from datetime import date
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"日期“{value}”格式不正确，应为 YYYY-MM-DD") from None


@calendar_group.command("add-working-days", help="Print the date N working days after DATE.")
@click.argument("day")
@click.argument("n", type=int)
@with_appcontext
def calendar_add_working_days(day, n):
    from engine import workcalendar
    start = _day(day)
    result = workcalendar.add_working_days(start, n)
    provisional = workcalendar.current().any_provisional(start, result)
    click.echo(result.isoformat() + ("  (待确认: provisional, weekends only)" if provisional else ""))


@calendar_group.command("show", help="List YEAR's holidays and make-up working days.")
@click.argument("year", type=int)
@with_appcontext
def calendar_show(year):
    from engine import workcalendar
    cal = workcalendar.current()
    if not cal.has_schedule(year):
        click.echo(f"{year}: no schedule (待确认): weekends only until one is imported")
    for d, working, name, source in cal.year_days(year):
        click.echo(f"{d.isoformat()} {'班' if working else '休'} {name} [{source}]")


@calendar_group.command("add-day", help="Add a local closed day (--closed) or extra working day (--working).")
@click.argument("day")
@click.option("--working/--closed", default=False, help="an extra working day, or a closed day (default)")
@click.option("--name", default="", help="what the day is")
@with_appcontext
def calendar_add_day(day, working, name):
    from engine import calendar_store
    d = _day(day)
    calendar_store.set_local_day(d, working, name, "运维（命令行）")
    click.echo(f"{d.isoformat()} {'班' if working else '休'} {name}")


@calendar_group.command("remove-day", help="Remove the local entry of a day.")
@click.argument("day")
@with_appcontext
def calendar_remove_day(day):
    from engine import calendar_store
    d = _day(day)
    removed = calendar_store.remove_local_day(d, "运维（命令行）")
    click.echo(f"removed {d.isoformat()}" if removed else f"{d.isoformat()} has no local entry")
    sys.exit(0 if removed else 1)


@calendar_group.command("import", help="Import a year's schedule (CSV or JSON); it overrides the library.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def calendar_import(file):
    from engine import calendar_store
    from engine.errors import EngineError
    try:
        year, count, recomputed = calendar_store.import_year(file.read_text("utf-8"), file.name, "运维（命令行）")
    except EngineError as e:
        click.echo(f"refused {file}: {e.message}", err=True)
        sys.exit(1)
    click.echo(f"imported {year}: {count} days; recomputed {recomputed} provisional due time(s)")


@calendar_group.command("recompute", help="Recompute the due times still marked provisional (待确认).")
@with_appcontext
def calendar_recompute():
    from engine.deadlines import recompute_provisional
    n = recompute_provisional()
    click.echo(f"recomputed {n} provisional due time(s)")


@click.group("audit", help="The operation log's hash chains.")
def audit_group():
    pass


@audit_group.command("verify", help="Check every instance's operation log chain (or one's); exit 1 on any break.")
@click.option("--instance", "instance_id", type=int, help="check this process instance only")
@with_appcontext
def audit_verify(instance_id):
    from engine.audit import verify_chains
    checked = broken = 0
    for _instance, found in verify_chains(instance_id):
        checked += 1
        if found is not None:
            broken += 1
            click.echo(f"✗ {found.describe()}", err=True)
    if instance_id is not None and not checked:
        click.echo(f"no process instance {instance_id}", err=True)
        sys.exit(2)
    click.echo(f"{checked} instance log(s) checked, {broken} broken")
    sys.exit(1 if broken else 0)


@click.group("certificates", help="The certificates approvals issue: signing keys, revocation.")
def certificates_group():
    pass


@certificates_group.command("rotate-key", help="Sign new certificates with a new key; the old keys keep verifying.")
@with_appcontext
def certificates_rotate_key():
    keys = _services().certificates.keys
    old = keys.current_id() if keys.ids() else None
    new = keys.rotate()
    click.echo(f"signing key {new} (previous: {old or 'none'}); keys in {keys.folder}: {', '.join(keys.ids())}")


@certificates_group.command("keys", help="List the signing keys (the current one marked *).")
@with_appcontext
def certificates_keys():
    keys = _services().certificates.keys
    current = keys.current_id() if keys.ids() else None
    for key_id in keys.ids():
        click.echo(f"{'*' if key_id == current else ' '} {key_id}")
    click.echo(f"folder: {keys.folder}")


@certificates_group.command("revoke", help="Revoke (作废) a certificate with a reason; logged in its case's log.")
@click.argument("serial")
@click.option("--reason", required=True, help="作废原因, shown by the verification page")
@with_appcontext
def certificates_revoke(serial, reason):
    from handlers.errors import AccessRefused, DomainError
    from handlers.operations import OPERATOR
    try:
        cert = _services().certificates.revoke(serial, reason, OPERATOR)
    except (DomainError, AccessRefused) as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{cert.serial} revoked: {cert.revoked_reason}")


@certificates_group.command("reissue", help="Issue a case's certificate anew from its facts as they are now "
                                            "(after a correction); the older one is revoked.")
@click.argument("case_no")
@with_appcontext
def certificates_reissue(case_no):
    from handlers.errors import AccessRefused, DomainError
    from handlers.operations import OPERATOR
    try:
        cert = _services().certificates.reissue(case_no.strip(), OPERATOR)
    except (DomainError, AccessRefused) as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{case_no}: issued {cert.serial}")


def init_app(app):
    app.cli.add_command(calendar_group)
    app.cli.add_command(certificates_group)
    app.cli.add_command(bpmn)
    app.cli.add_command(init_db)
    app.cli.add_command(engine_group)
    app.cli.add_command(uploads_group)
    app.cli.add_command(backup_command)
    app.cli.add_command(check_invariants_command)
    app.cli.add_command(audit_group)
    try:
        from handlers.demo import demo_command
        app.cli.add_command(demo_command)
    except ImportError:
        pass


def main():
    from . import create_app
    FlaskGroup(create_app=create_app)()
