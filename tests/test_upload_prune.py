"""flask uploads prune: stored bytes no attachment refers to are removed; referenced and recently
stored ones stay."""
from datetime import timedelta

from sqlalchemy import select, update

from engine.db import db
from engine.models import utcnow
from handlers.models import Attachment, UploadBlob

from .world import PDF_BYTES, locked_person, reported_unlock


def test_prune_removes_only_old_orphans(world, services, ctx):
    person, _ = locked_person(world, "张三")
    app = reported_unlock(world, services, person)
    [kept] = services.unlock.attachments(app)
    store = services.uploads
    orphan = store.save(b"%PDF-1.4 orphan", "orphan.pdf")
    young = store.save(b"%PDF-1.4 young orphan", "young.pdf")
    db.session.execute(update(UploadBlob).where(UploadBlob.sha256.in_([orphan.sha256, kept.sha256]))
                       .values(stored_at=utcnow() - timedelta(hours=2)))
    db.session.commit()

    dry = ctx.test_cli_runner().invoke(args=["uploads", "prune", "--dry-run"])
    assert f"would remove {orphan.sha256}" in dry.output and store.open(orphan.sha256) is not None

    result = ctx.test_cli_runner().invoke(args=["uploads", "prune"])
    assert result.exit_code == 0, result.output
    assert f"1 orphaned file(s), {len(b'%PDF-1.4 orphan')} bytes" in result.output
    assert store.open(orphan.sha256) is None
    assert store.open(kept.sha256).read() == PDF_BYTES      # referenced by the unlock form
    assert store.open(young.sha256) is not None              # may belong to an upload in flight
    assert db.session.query(Attachment).count() == 1


def test_an_upload_that_finds_old_bytes_spares_them(services, ctx):
    """An upload of content stored long ago, now referred to by nothing, marks it as stored again:
    a prune running while that upload's action is in flight must not take the bytes away."""
    old = services.uploads.save(b"%PDF-1.4 the same scan", "扫描件.pdf")
    db.session.execute(update(UploadBlob).values(stored_at=utcnow() - timedelta(hours=2)))
    db.session.commit()
    services.uploads.save(b"%PDF-1.4 the same scan", "同一份扫描件.pdf")
    db.session.commit()

    result = ctx.test_cli_runner().invoke(args=["uploads", "prune"])
    assert "0 orphaned file(s)" in result.output
    assert services.uploads.open(old.sha256).read() == b"%PDF-1.4 the same scan"
    assert db.session.scalar(select(UploadBlob.stored_at)) > utcnow() - timedelta(minutes=5)
