"""``flask api token create|list|revoke|rotate`` and ``flask intake import FILE``."""
import csv
import json
from pathlib import Path

import click
from flask.cli import with_appcontext

from handlers import api_tokens, intake
from handlers.errors import AccessRefused, DomainError


@click.group("api", help="The integration API.")
def api_group():
    pass


@api_group.group("token", help="Bearer tokens: machine clients and personal tokens.")
def token_group():
    pass


@token_group.command("create", help="Create a token; it is printed once, as the last word of the output.")
@click.option("--client", help="machine client name (工改系统, 人员库, …)")
@click.option("--scopes", default="", help="comma-separated, e.g. projects:write,people:write")
@click.option("--user", "username", help="a user's personal token, acting with exactly the user's rights")
@click.option("--account", "account_id", type=int, help="which of the user's accounts (default: the first active)")
@click.option("--days", type=int, default=None, help=f"valid for this many days (default {api_tokens.DEFAULT_DAYS})")
@with_appcontext
def token_create(client, scopes, username, account_id, days):
    if bool(client) == bool(username):
        raise click.UsageError("give exactly one of --client or --user")
    try:
        if client:
            row, token = api_tokens.create_client_token(client, scopes, days)
        else:
            row, token = api_tokens.create_personal_token(username, account_id, days)
    except DomainError as e:
        raise click.ClickException(e.message)
    click.echo(f"token {row.prefix} for {api_tokens.owner_label(row)} "
               f"(scopes: {','.join(row.scopes) or 'the user’s own rights'}; expires {row.expires_at:%Y-%m-%d}); "
               f"store it now, it is not shown again: {token}")


@token_group.command("list", help="List tokens (never their secrets).")
@with_appcontext
def token_list():
    for row in api_tokens.tokens():
        state = "revoked" if row.revoked_at else "active"
        click.echo(f"{row.prefix}  {state:8}  {api_tokens.owner_label(row)}  {','.join(row.scopes) or '-'}  "
                   f"expires {row.expires_at:%Y-%m-%d}  last used {row.last_used_at or '-'}")


@token_group.command("revoke", help="Revoke a token by its prefix.")
@click.argument("prefix")
@with_appcontext
def token_revoke(prefix):
    try:
        row = api_tokens.revoke(api_tokens.find(prefix).id)
    except AccessRefused as e:
        raise click.ClickException(e.message)
    click.echo(f"token {row.prefix} revoked")


@token_group.command("rotate", help="Replace a token by a new one with the same rights; the old one is revoked.")
@click.argument("prefix")
@click.option("--days", type=int, default=None)
@with_appcontext
def token_rotate(prefix, days):
    try:
        row, token = api_tokens.rotate(api_tokens.find(prefix).id, days)
    except (DomainError, AccessRefused) as e:
        raise click.ClickException(e.message)
    click.echo(f"token {row.prefix} replaces {prefix}; store it now, it is not shown again: {token}")


@click.group("intake", help="Bulk intake from files (migration from the old platform).")
def intake_group():
    pass


@intake_group.command("import", help="Upsert projects or people from a CSV or XLSX file (columns: docs/api.md).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", type=click.Choice(["projects", "people"]), default=None,
              help="what the rows are (default: people when there is an id_card column)")
@with_appcontext
def intake_import(file, kind):
    try:
        rows = read_rows(file)
    except ValueError as e:
        raise click.ClickException(str(e))
    if not rows:
        raise click.ClickException("the file has no rows")
    kind = kind or ("people" if "id_card" in rows[0] else "projects")
    payloads = [(project_row if kind == "projects" else person_row)(r) for r in rows]
    with click.progressbar(length=len(payloads), label=f"importing {kind}") as bar:
        results = intake.bulk(kind, payloads, on_row=lambda _i: bar.update(1))
    bad = [r for r in results if r["status"] != 200]
    for r in bad:
        for err in r["errors"]:
            click.echo(f"row {r['row'] + 2}: {err['field']}: {err['message']}", err=True)   # +2: header, 1-based
    click.echo(f"{len(results) - len(bad)} rows imported, {len(bad)} refused")
    raise SystemExit(1 if bad else 0)


def read_rows(path: Path) -> list[dict]:
    """Rows of a CSV (UTF-8, with or without BOM) or XLSX file as {header: text}."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook
        sheet = load_workbook(path, read_only=True, data_only=True).active
        lines = [["" if v is None else str(v).strip() for v in row] for row in sheet.iter_rows(values_only=True)]
    elif path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            lines = [[v.strip() for v in row] for row in csv.reader(f)]
    else:
        raise ValueError("only .csv and .xlsx files can be imported")
    if not lines:
        return []
    header = lines[0]
    return [dict(zip(header, line)) for line in lines[1:] if any(line)]


def _org(row, name):
    code = row.get(f"{name}_credit_code") or ""
    return {"credit_code": code, "name": row.get(f"{name}_name") or None} if code else None


def project_row(row: dict) -> dict:
    """A flat file row as the JSON body of POST /api/v1/projects."""
    return {
        "supervision_no": row.get("supervision_no"), "name": row.get("name"),
        "contract_no": row.get("contract_no") or None, "permit_no": row.get("permit_no") or None,
        "address": row.get("address") or None, "status": row.get("status") or "under_construction",
        **{name: _org(row, name) for name in intake.PROJECT_ORGS},
        "personnel": {role: row.get(role) for role in intake.PERSONNEL if row.get(role)},
    }


def person_row(row: dict) -> dict:
    """A flat file row as the JSON body of POST /api/v1/people; certificates as kind:number;kind:number."""
    certs = [dict(zip(("kind", "number"), part.split(":", 1))) for part in (row.get("certificates") or "").split(";")
             if ":" in part]
    return {"id_card": row.get("id_card"), "name": row.get("name"),
            "employer": {"credit_code": row.get("employer_credit_code"), "name": row.get("employer_name") or None,
                         "kind": row.get("employer_kind") or None},
            "certificates": certs}


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)
