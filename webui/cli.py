"""Admin commands: ``flask bpmn check|deploy``, ``flask init-db``, ``flask engine retry``."""
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from engine import Actor
from engine.db import db
from handlers.services import BPMN_DIR


def _services():
    return current_app.extensions["services"]


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


@bpmn.command("deploy", help="Deploy the diagrams in bpmn/ (new versions only).")
@with_appcontext
def bpmn_deploy():
    report = _services().deploy_definitions()
    for d in report.deployed:
        click.echo(f"deployed {d.process_key} v{d.version} ({d.content_hash[:12]}) from {d.source_file}")
    for name in report.unchanged:
        click.echo(f"unchanged {name}")
    for err in report.refused:
        click.echo(f"refused {err.file}: {err.element_id or '-'}: {err.reason}", err=True)
    sys.exit(1 if report.refused else 0)


@click.command("init-db", help="Create or upgrade the schema and deploy the diagrams.")
@with_appcontext
def init_db():
    from flask_migrate import upgrade
    if (Path(current_app.extensions["migrate"].directory) / "env.py").exists():
        upgrade()
    else:
        db.create_all()
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
    result = _services().retry(instance_id, Actor(None, "运维", None, "平台"))
    click.echo(f"instance {instance_id}: {result.instance.status}" +
               (f" ({result.incident})" if result.incident else ""))


@click.group("uploads", help="Uploaded files.")
def uploads_group():
    pass


@uploads_group.command("prune", help="Delete stored files that no attachment refers to.")
@click.option("--dry-run", is_flag=True, help="only list them")
@click.option("--min-age", default=3600, show_default=True, help="keep files younger than this (seconds)")
@with_appcontext
def uploads_prune(dry_run, min_age):
    from handlers.uploads import prune_orphans
    removed = prune_orphans(_services().uploads, min_age, dry_run)
    for path in removed:
        click.echo(("would remove " if dry_run else "removed ") + str(path))
    click.echo(f"{len(removed)} orphaned file(s)")


def init_app(app):
    app.cli.add_command(bpmn)
    app.cli.add_command(init_db)
    app.cli.add_command(engine_group)
    app.cli.add_command(uploads_group)
    try:
        from handlers.demo import demo_command
        app.cli.add_command(demo_command)
    except ImportError:
        pass


def main():
    from . import create_app
    FlaskGroup(create_app=create_app)()
