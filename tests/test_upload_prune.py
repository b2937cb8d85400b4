"""flask uploads prune: files no attachment refers to are removed; referenced and young ones stay."""
import os
import time

from engine.db import db
from handlers.models import Attachment

from .world import locked_person, reported_unlock


def test_prune_removes_only_old_orphans(world, services, ctx):
    person, _ = locked_person(world, "张三")
    app = reported_unlock(world, services, person)
    [kept] = services.unlock.attachments(app)
    store = services.uploads
    orphan = store.save(b"%PDF-1.4 orphan", "orphan.pdf")
    young = store.save(b"%PDF-1.4 young orphan", "young.pdf")
    old = time.time() - 7200
    for digest in (orphan.sha256, kept.sha256):
        os.utime(store.path_for(digest), (old, old))

    dry = ctx.test_cli_runner().invoke(args=["uploads", "prune", "--dry-run"])
    assert "would remove" in dry.output and store.path_for(orphan.sha256).exists()

    result = ctx.test_cli_runner().invoke(args=["uploads", "prune"])
    assert result.exit_code == 0, result.output
    assert "1 orphaned file(s)" in result.output
    assert not store.path_for(orphan.sha256).exists()
    assert store.path_for(kept.sha256).exists()            # referenced by the unlock form
    assert store.path_for(young.sha256).exists()           # may belong to an upload in flight
    assert db.session.query(Attachment).count() == 1
