"""What a new user meets first: real demo attachments, a favicon, the address and logins printed
by scripts/run, a README that names what the install needs, and messages without doubled stops."""
import re
from pathlib import Path

from click.testing import CliRunner
from flask import current_app
from sqlalchemy import select

from engine.db import db
from handlers.demo import FIRST_LOGINS, demo_logins, load_demo
from handlers.demo_files import ACCEPTANCE_REPORT_PDF, APPOINTMENT_PDF, UNLOCK_FORM_PDF, simple_pdf
from handlers.models import Attachment, User
from handlers.principal import Principal

from .web_helpers import client_world, login, post  # noqa: F401 (fixture)
from .world import locked_person, reported_unlock

ROOT = Path(__file__).resolve().parent.parent


def assert_valid_pdf(data: bytes):
    """What a viewer relies on: header, a cross-reference table whose every offset starts its
    object, a trailer naming the catalog, startxref pointing at the table, a page with content."""
    assert data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")
    xref = int(re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", data).group(1))
    assert data[xref:xref + 4] == b"xref"
    count = int(re.match(rb"xref\s+0\s+(\d+)\s", data[xref:]).group(1))
    entries = re.findall(rb"(\d{10}) (\d{5}) ([nf]) ?\r?\n", data[xref:])[:count]
    assert len(entries) == count and entries[0][2] == b"f"
    for number, (offset, _gen, kind) in enumerate(entries[1:], start=1):
        assert kind == b"n" and data[int(offset):].startswith(b"%d 0 obj" % number), number
    assert re.search(rb"trailer\s*<<[^>]*/Size %d[^>]*/Root 1 0 R" % count, data)
    assert b"/Type /Page " in data and b"/Contents" in data
    length = int(re.search(rb"/Length (\d+) >>\nstream\n", data).group(1))
    stream = data.split(b"stream\n", 1)[1]
    assert stream[length:].startswith(b"\nendstream")


def test_the_demo_pdfs_are_valid():
    for pdf in (UNLOCK_FORM_PDF, APPOINTMENT_PDF, ACCEPTANCE_REPORT_PDF, simple_pdf("A (b) \\ c", ["x"])):
        assert_valid_pdf(pdf)
    assert b"(A \\(b\\) \\\\ c) Tj" in simple_pdf("A (b) \\ c", [])


def test_the_demo_attachments_are_those_pdfs_and_js1_can_file_a_permit_supplement(ctx):
    load_demo(scale=0.2)
    services = current_app.extensions["services"]
    stored = db.session.scalars(select(Attachment)).all()
    assert stored
    for attachment in stored:
        assert_valid_pdf(services.uploads.open(attachment.sha256).read())
    js1 = Principal.of(db.session.scalar(select(User).where(User.username == "js1")).accounts[0])
    assert [p for p in services.permit.picks(js1) if p.reason is None], "js1 has a project awaiting its permit"


def test_favicon_is_served(client_world):
    client, _world = client_world
    resp = client.get("/favicon.ico")
    assert resp.status_code == 200 and resp.mimetype == "image/vnd.microsoft.icon"
    assert resp.data[:4] == b"\x00\x00\x01\x00"            # an ICO header
    page = client.get("/auth/login").get_data(as_text=True)
    svg = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page).group(1)
    assert client.get(svg).status_code == 200


def test_scripts_run_prints_the_address_and_the_demo_logins(app):
    out = CliRunner().invoke(demo_logins, ["--url", "http://127.0.0.1:8080"]).output
    assert "http://127.0.0.1:8080/" in out and "demo1234" in out
    for username, _acts_as in FIRST_LOGINS:
        assert username in out
    assert "flask demo logins" in (ROOT / "scripts" / "run").read_text()


def test_the_readme_names_node_and_npm_and_lists_the_printed_logins():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "Node.js" in readme and "npm" in readme
    table = re.findall(r"^\| (`[^|]+`) \| ([^|]+) \|$", readme, re.M)
    rows = [(cell.replace("`", ""), acts_as.strip()) for cell, acts_as in table if cell != "`User`"]
    assert rows == list(FIRST_LOGINS)


def test_an_opinion_ending_in_a_full_stop_is_not_followed_by_another(client_world, services):
    client, world = client_world
    pm, _ = locked_person(world, "张三")
    app = reported_unlock(world, services, pm)
    agency = world.who("agency_reviewer")
    [task] = services.reviews.inbox(agency).rows
    services.reviews.claim(agency, task.id)
    services.reviews.return_(agency, task.id, "解锁申请表未盖章，请补充后重新上报。")
    db.session.commit()
    login(client, "contractor_user")
    page = client.get(f"/apply/unlock/{app.id}").get_data(as_text=True)
    assert "审核意见：解锁申请表未盖章，请补充后重新上报。请修改后重新上报，或撤回。" in page
    assert "。。" not in page


def test_help_has_a_usage_guide_for_each_group_with_the_menu_paths(client_world):
    from handlers import catalog
    client, _world = client_world
    page = client.get("/help").get_data(as_text=True)   # no login needed
    for heading in ("使用指南", "申请单位（施工单位、监理单位、建设单位）", "审核人员（监督机构、主管部门）", "平台管理员"):
        assert heading in page
    for entry in catalog.entries():
        if entry.filers:   # every process an enterprise files, by the path its menu shows
            assert " › ".join((*entry.menu, entry.title)) in page, entry.title
    for path in ("企业管理 › 企业基本信息", "人员管理 › 人员信息", "待办 › 待签收", "注册审核", "流程定义"):
        assert path in page
    login(client, "agency_reviewer")
    assert "您的账号请先看“审核人员”部分" in client.get("/help").get_data(as_text=True)
