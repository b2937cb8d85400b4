"""The applicant's list reads its rows as columns (handlers.listing): every process's list shows
the same cells from those rows as from the applications themselves."""
from flask import current_app
from sqlalchemy import select

from engine.db import db
from handlers import catalog
from handlers.demo import load_demo
from handlers.listing import BASE_READS
from handlers.models import Account, User
from handlers.principal import Principal

SHOWN = ("status_label", "is_editable")   # what the page reads of the row besides its columns


def assert_rows_match(svc, principal, **kw):
    """list_rows and list_own give the same values for every column of the entry's list."""
    rows, total = svc.list_rows(principal, **kw)
    apps, total_own = svc.list_own(principal, **kw)
    assert total == total_own and len(rows) == len(apps)
    for row, app in zip(rows, apps):
        assert [getattr(row, name) for name in BASE_READS + SHOWN] == \
            [getattr(app, name) for name in BASE_READS + SHOWN]
        assert [c.value(row) for c in svc.entry.columns] == [c.value(app) for c in svc.entry.columns]
    return rows


def test_every_list_shows_the_same_cells_from_its_rows(ctx):
    load_demo(scale=0.2)
    services = current_app.extensions["services"]
    filed = set()
    principals = [Principal.of(account) for account in db.session.scalars(select(Account).order_by(Account.id))]
    for principal in principals:
        for entry in catalog.entries():
            if not entry.columns or principal.kind not in entry.filers:
                continue
            svc = services.by_kind[entry.kind]
            for pick in [p for p in svc.pick_page(principal).picks if p.reason is None][:2]:
                svc.create(principal, pick.id)
                filed.add(entry.kind)
            db.session.remove()
            for kw in ({}, {"status": "draft"}, {"per_page": 1, "page": 2}, {"case_no": "2026"}):
                assert_rows_match(svc, principal, **kw)
            db.session.remove()
    assert filed >= {"unlock", "change", "completion", "info", "roster", "unit"}


def test_a_missing_relation_is_none_on_the_row(ctx):
    load_demo(scale=0.2)
    services = current_app.extensions["services"]
    js1 = Principal.of(db.session.scalar(select(Account).join(User).where(User.username == "js1")))
    pick = next(p for p in services.unit.pick_page(js1).picks if p.reason is None)
    services.unit.create(js1, pick.id)
    db.session.remove()
    row = next(r for r in services.unit.list_rows(js1)[0] if r.status == "draft")
    assert row.new_unit is None and row.project.name
    assert_rows_match(services.unit, js1)


def test_a_rows_cells_are_escaped_clipped_with_their_title_and_ids_masked(ctx):
    from types import SimpleNamespace

    from markupsafe import Markup

    from handlers.catalog import Column
    from webui.filters import row_cells
    columns = (Column("人员姓名", lambda a: a.name), Column("身份证号", lambda a: a.id_card, "mask_id"),
               Column("解锁原因", lambda a: a.reason, "clip"), Column("说明", lambda a: a.note))
    row = SimpleNamespace(name="<b>张三</b>", id_card="530102199001011234", reason='停工 "待复工" & <整改>', note=None)
    html = row_cells(columns, row)
    assert isinstance(html, Markup)
    assert html == ('<td>&lt;b&gt;张三&lt;/b&gt;</td><td class="mono">530102********1234</td>'
                    '<td class="clip" title="停工 &#34;待复工&#34; &amp; &lt;整改&gt;">停工 &#34;待复工&#34; &amp; &lt;整改&gt;</td>'
                    '<td></td>')
