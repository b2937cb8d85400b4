"""Attachments in the database: every host of a farm serves the same bytes.

An upload's bytes are written in the transaction of the action that attaches them, downloads stream
them back in chunks, and ``flask uploads migrate`` moves the upload folder of earlier versions in.
"""
import hashlib
import io
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import delete, event, func, select

from engine.db import db
from handlers.applications import Upload
from handlers.errors import DomainError
from handlers.models import Attachment, UploadBlob
from handlers.processes.unlock import UNLOCK_FORM
from handlers.uploads import DatabaseStore

from .conftest import is_postgres
from .web_helpers import client_world, login, token_from  # noqa: F401 - client_world: the fixture
from .world import PDF_BYTES, locked_person, reported_unlock, row_counts

# a PDF of 2.5 chunks: the download reads it in three
BIG_PDF = b"%PDF-1.7\n" + bytes(range(256)) * (DatabaseStore.CHUNK * 5 // 2 // 256)


def html(resp):
    return resp.get_data(as_text=True)


def save_with_file(client, app_id, filename, data, reason="项目已停工"):
    page = html(client.get(f"/apply/unlock/{app_id}"))
    return client.post(f"/apply/unlock/{app_id}", content_type="multipart/form-data", data={
        "csrf_token": token_from(page), "reason": reason, "explanation": "",
        UNLOCK_FORM: (io.BytesIO(data), filename)})


def draft_unlock(client, world, services):
    person, _ = locked_person(world, "张三")
    login(client, "contractor_user")
    [lock] = services.unlock.lockable(world.who("contractor_user"))
    app = services.unlock.create(world.who("contractor_user"), lock.id)
    return app.id


def file_url(client, app_id) -> str:
    return re.search(rf"/apply/unlock/{app_id}/files/\d+", html(client.get(f"/apply/unlock/{app_id}"))).group(0)


def test_a_large_upload_is_stored_in_the_database_and_streamed_back(client_world, services):
    client, world = client_world
    app_id = draft_unlock(client, world, services)
    assert save_with_file(client, app_id, "停工证明.pdf", BIG_PDF).status_code == 302
    digest = hashlib.sha256(BIG_PDF).hexdigest()
    db.session.rollback()
    stored = db.session.execute(select(UploadBlob.size, UploadBlob.content_type)
                                .where(UploadBlob.sha256 == digest)).one()
    assert stored == (len(BIG_PDF), "application/pdf")
    url = file_url(client, app_id)

    chunk_reads = []

    def count(_conn, _cursor, statement, *_args):
        if "upload_blob" in statement:
            chunk_reads.append(statement)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        resp = client.get(url)
        body = resp.get_data()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert resp.status_code == 200 and body == BIG_PDF
    assert resp.headers["Content-Length"] == str(len(BIG_PDF))
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E5%81%9C%E5%B7%A5%E8%AF%81%E6%98%8E.pdf" in resp.headers["Content-Disposition"]
    assert "no-store" in resp.headers["Cache-Control"] and resp.headers["ETag"] == f'"{digest}"'
    # PostgreSQL: a chunk per statement (the first with the size), never the whole value at once;
    # SQLite reads the value whole, in one statement
    assert len(chunk_reads) == (3 if is_postgres() else 1)

    # a range (a PDF viewer's request) gets exactly those bytes, across a chunk's border
    start = DatabaseStore.CHUNK - 10
    part = client.get(url, headers={"Range": f"bytes={start}-{start + 19}"})
    assert part.status_code == 206 and part.get_data() == BIG_PDF[start:start + 20]
    assert part.headers["Content-Range"] == f"bytes {start}-{start + 19}/{len(BIG_PDF)}"
    # the browser's copy is still the same: 304 without the bytes
    assert client.get(url, headers={"If-None-Match": f'"{digest}"'}).status_code == 304


def test_the_inline_preview_streams_from_the_database(client_world, services):
    client, world = client_world
    app_id = draft_unlock(client, world, services)
    save_with_file(client, app_id, "申请表.pdf", PDF_BYTES)
    resp = client.get(file_url(client, app_id) + "/view")
    assert resp.status_code == 200 and resp.get_data() == PDF_BYTES
    assert resp.headers["Content-Type"] == "application/pdf"
    assert resp.headers["Content-Disposition"].startswith("inline;")
    assert resp.headers["X-Frame-Options"] == "SAMEORIGIN" and "frame-ancestors 'self'" in \
        resp.headers["Content-Security-Policy"]


def test_a_refused_save_keeps_no_bytes(world, services):
    """The bytes belong to the action's transaction: a save refused for another field stores
    neither the attachment nor its bytes."""
    person, _ = locked_person(world, "张三")
    applicant = world.who("contractor_user")
    [lock] = services.unlock.lockable(applicant)
    app = services.unlock.create(applicant, lock.id)
    before = row_counts(UploadBlob, Attachment)
    with pytest.raises(DomainError):
        services.unlock.save(applicant, app.id, {"reason": "长" * 501},
                             [Upload(UNLOCK_FORM, "表.pdf", b"%PDF-1.4 never kept")])
    db.session.rollback()
    assert row_counts(UploadBlob, Attachment) == before == {"upload_blob": 0, "attachment": 0}


def test_the_same_file_twice_is_stored_once(world, services):
    a, _ = locked_person(world, "张三")
    b, _ = locked_person(world, "李四")
    reported_unlock(world, services, a)
    reported_unlock(world, services, b)
    assert row_counts(UploadBlob, Attachment) == {"upload_blob": 1, "attachment": 2}


# -- flask uploads migrate ----------------------------------------------------------------------
def as_before_the_upgrade(folder: Path) -> list[Path]:
    """The database and folder as an earlier version left them: the attachments' bytes as files
    ``ab/abcdef…`` in the upload folder, none in the database."""
    written = []
    for digest, data in db.session.execute(select(UploadBlob.sha256, UploadBlob.data)):
        path = folder / digest[:2] / digest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    db.session.execute(delete(UploadBlob))
    db.session.commit()
    return written


def test_migrate_moves_the_upload_folder_into_the_database_once(world, services, ctx):
    a, _ = locked_person(world, "张三")
    b, _ = locked_person(world, "李四")
    first = reported_unlock(world, services, a)
    reported_unlock(world, services, b)
    services.uploads.save(b"%PDF-1.4 a second scan", "第二份.pdf")
    db.session.commit()
    folder = Path(ctx.config["UPLOAD_DIR"])
    shutil.rmtree(folder, ignore_errors=True)
    files = as_before_the_upgrade(folder)
    assert len(files) == 2
    cli = ctx.test_cli_runner()

    # after the upgrade and before the move, the check names each attachment without its bytes
    broken = cli.invoke(args=["check-invariants"])
    assert broken.exit_code == 1 and broken.output.count("的文件内容不在附件存储中") == 2

    moved = cli.invoke(args=["uploads", "migrate"])
    assert moved.exit_code == 0, moved.output
    total = len(PDF_BYTES) + len(b"%PDF-1.4 a second scan")
    assert f"moved 2 file(s), {total} bytes, from {folder} into the database" in moved.output
    assert all(f"moved {path} (" in moved.output for path in files)
    assert not any(path.exists() for path in files)
    [att] = services.unlock.attachments(first)
    assert services.uploads.open(att.sha256).read() == PDF_BYTES
    assert db.session.scalar(select(UploadBlob.content_type).where(UploadBlob.sha256 == att.sha256)) == \
        "application/pdf"

    again = cli.invoke(args=["uploads", "migrate"])
    assert again.exit_code == 0 and again.output.strip() == f"nothing to move: no files in {folder}"
    assert db.session.scalar(select(func.count()).select_from(UploadBlob)) == 2
    assert cli.invoke(args=["check-invariants"]).exit_code == 0


def test_migrate_leaves_what_it_cannot_verify_and_says_why(world, services, ctx, tmp_path):
    person, _ = locked_person(world, "张三")
    reported_unlock(world, services, person)
    [good] = as_before_the_upgrade(tmp_path)
    digest = hashlib.sha256(b"%PDF-1.4 another").hexdigest()
    corrupt = tmp_path / digest[:2] / digest
    corrupt.parent.mkdir(parents=True, exist_ok=True)
    corrupt.write_bytes(b"%PDF-1.4 another, changed on disk")
    stray = tmp_path / "ab" / "tmpq9x8y7"          # half a write of the old folder store
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"partial")
    services.uploads.save(b"%PDF-1.4 held", "held.pdf")   # bytes the store has already
    db.session.commit()
    held_digest = hashlib.sha256(b"%PDF-1.4 held").hexdigest()
    held = tmp_path / held_digest[:2] / held_digest
    held.parent.mkdir(parents=True, exist_ok=True)
    held.write_bytes(b"%PDF-1.4 held")

    result = ctx.test_cli_runner().invoke(args=["uploads", "migrate", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"could not move {corrupt}: its content does not match its name (SHA-256 differs)" in result.output
    assert f"could not move {stray}: not an upload (the name is not its SHA-256)" in result.output
    assert f"already stored, removed {held}" in result.output
    assert (f"moved 1 file(s), {len(PDF_BYTES)} bytes, from {tmp_path} into the database; 1 already stored; "
            "2 could not be moved") in result.output
    assert corrupt.exists() and stray.exists() and not good.exists() and not held.exists()
    assert services.uploads.open(digest) is None           # nothing unverified was stored

    again = ctx.test_cli_runner().invoke(args=["uploads", "migrate", "--dir", str(tmp_path)])
    assert "moved 0 file(s), 0 bytes" in again.output and "2 could not be moved" in again.output
