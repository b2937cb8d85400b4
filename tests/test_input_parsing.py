"""Input parsed in one place (webui/inputs.py), error pages independent of a failed transaction, and the
upload limits: over-size files come back to the form, files per request, names and types."""
import io

import pytest
from sqlalchemy import text
from werkzeug.routing import IntegerConverter

from engine.db import db
from engine.models import AuditEntry
from handlers.models import Attachment, Organization, UnlockApplication
from handlers.uploads import UploadStore, safe_filename
from webui.inputs import MAX_BIG_ID, IdConverter, parse_id

from .test_no_server_errors import no_propagation  # noqa: F401 (fixture)
from .test_web_apply import PDF, change_setup, html, locked, new_change, new_unlock, submit  # noqa: F401
from .web_helpers import client_world, login, token_from  # noqa: F401 (fixture)
from .world import row_counts

TABLES = (UnlockApplication, Attachment, AuditEntry)
MB = 1024 * 1024


@pytest.mark.parametrize("value, expected", [
    ("1", 1), ("42", 42), (" 7 ", 7), ("2147483647", 2**31 - 1), ("2147483648", None),
    ("9223372036854775808", None), ("99999999999999999999", None), ("0", None), ("-1", None), ("+5", None),
    ("²", None), ("١٢", None), ("1e3", None), ("", None), (None, None), ("12abc", None),
])
def test_parse_id_accepts_only_positive_32_bit_ascii_integers(value, expected):
    """The INTEGER id of most tables, unless a larger range is named."""
    assert parse_id(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("2147483648", 2**31), ("9223372036854775807", 2**63 - 1), ("9223372036854775808", None)])
def test_a_bigint_id_may_reach_64_bits(value, expected):
    assert parse_id(value, MAX_BIG_ID) == expected


def test_every_path_id_uses_the_bounded_converter(ctx):
    ids = 0
    for rule in ctx.url_map.iter_rules():
        for name, converter in rule._converters.items():
            assert not isinstance(converter, IntegerConverter), (rule.rule, name)
            if name.endswith("_id"):
                assert isinstance(converter, IdConverter), (rule.rule, name)
                ids += 1
    assert ids >= 15


def test_a_nul_character_is_refused_with_a_chinese_message_and_nothing_changes(client_world):
    client, _ = client_world
    login(client, "contractor_user")
    token = token_from(html(client.get("/enterprise/info")))
    db.session.rollback()
    name = db.session.get(Organization, 1).name
    resp = client.post("/enterprise/info", data={"csrf_token": token, "name": "新\x00名称"})
    assert resp.status_code == 400 and "请求内容不能包含空字符" in html(resp)
    resp = client.get("/enterprise/people", query_string={"q": "张\x00"})
    assert resp.status_code == 400 and "请求内容不能包含空字符" in html(resp)
    db.session.rollback()
    assert db.session.get(Organization, 1).name == name


def test_the_error_page_survives_an_aborted_transaction(client_world, ctx, no_propagation, monkeypatch):
    """On PostgreSQL a failed statement aborts the transaction; the 500 page's header still queries
    the user, so the handler must roll back first (on SQLite the statement fails the same way)."""
    client, _ = client_world
    login(client, "contractor_user")

    def broken_view():
        try:
            db.session.execute(text("SELECT no_such_column FROM no_such_table"))
        except Exception:
            pass   # swallowed: the session is left in a failed transaction
        db.session.execute(text("SELECT 1"))   # fails on PostgreSQL: transaction aborted
        raise RuntimeError("a bug")

    monkeypatch.setitem(ctx.view_functions, "main.help", broken_view)
    resp = client.get("/help")
    page = html(resp)
    assert resp.status_code == 500 and "系统错误" in page
    assert "吴施工" in page   # the header (context processor) still knows who is logged in


def test_inbox_date_and_cursor_extremes_are_ignored_filters(client_world, services):
    client, _ = client_world
    login(client, "agency_reviewer")
    for args in ({"date_to": "9999-12-31"}, {"date_from": "0001-01-01", "view": "done"},
                 {"cursor": "2026-01-01T00:00:00_99999999999999999999"}, {"cursor": "²"},
                 {"n": "99999999999999999999"}):
        resp = client.get("/review/", query_string=args)
        assert resp.status_code == 200, args


# -- uploads ----------------------------------------------------------------------------------
def _big_pdf(size):
    return b"%PDF-1.4 " + b"0" * (size - 9)


@pytest.mark.parametrize("size", [10 * MB + 1, 13 * MB])   # under and over the former 12 MB request limit
def test_an_over_size_upload_returns_to_the_form_with_the_typed_values(client_world, locked, size):
    client, world = client_world
    login(client, "contractor_user")
    app_id = new_unlock(client, world)
    before = row_counts(*TABLES)
    resp = submit(client, f"/apply/unlock/{app_id}", f"/apply/unlock/{app_id}",
                  {"reason": "项目停工待复工", "explanation": "补充说明",
                   "unlock_form": (io.BytesIO(_big_pdf(size)), "申请表.pdf")},
                  content_type="multipart/form-data")
    page = html(resp)
    assert resp.status_code == 400
    assert "建设工程项目人员解锁申请表：文件大小不能超过 10 MB" in page
    assert "项目停工待复工" in page and "补充说明" in page
    assert row_counts(*TABLES) == before


def test_a_request_beyond_the_ceiling_names_the_limit(client_world, locked):
    client, world = client_world
    login(client, "contractor_user")
    app_id = new_unlock(client, world)
    old = client.application.config["MAX_CONTENT_LENGTH"]
    client.application.config["MAX_CONTENT_LENGTH"] = 2 * MB
    try:
        resp = submit(client, f"/apply/unlock/{app_id}", f"/apply/unlock/{app_id}",
                      {"reason": "x", "unlock_form": (io.BytesIO(_big_pdf(3 * MB)), "a.pdf")},
                      content_type="multipart/form-data")
    finally:
        client.application.config["MAX_CONTENT_LENGTH"] = old
    assert resp.status_code == 413 and "最大 2 MB" in html(resp)


def test_an_exe_renamed_pdf_is_a_content_mismatch(client_world, locked):
    client, world = client_world
    login(client, "contractor_user")
    app_id = new_unlock(client, world)
    resp = submit(client, f"/apply/unlock/{app_id}", f"/apply/unlock/{app_id}",
                  {"reason": "停工", "unlock_form": (io.BytesIO(b"MZ\x90\x00 a program"), "申请表.pdf")},
                  content_type="multipart/form-data")
    assert resp.status_code == 400
    assert "建设工程项目人员解锁申请表：文件内容与扩展名不符" in html(resp)
    assert "不支持的文件类型" not in html(resp)


def test_more_files_than_the_limit_are_refused_with_the_typed_values(client_world, change_setup):
    client, _ = client_world
    login(client, "contractor_user")
    app_id = new_change(client)
    before = row_counts(*TABLES)
    files = [(io.BytesIO(PDF), f"附件{i}.pdf") for i in range(11)]
    resp = submit(client, f"/apply/change/{app_id}", f"/apply/change/{app_id}",
                  {"reason": "原项目经理调任", "attachments": files}, content_type="multipart/form-data")
    page = html(resp)
    assert resp.status_code == 400 and "附件：每次最多上传 10 个文件" in page
    assert "原项目经理调任" in page
    assert row_counts(*TABLES) == before
    # ten are fine
    files = [(io.BytesIO(PDF + bytes([i])), f"附件{i}.pdf") for i in range(10)]
    resp = submit(client, f"/apply/change/{app_id}", f"/apply/change/{app_id}",
                  {"reason": "原项目经理调任", "attachments": files}, content_type="multipart/form-data")
    assert resp.status_code == 302
    db.session.rollback()
    assert row_counts(Attachment)["attachment"] == before["attachment"] + 10


def test_a_file_field_sent_as_text_is_refused(client_world, change_setup):
    client, _ = client_world
    login(client, "contractor_user")
    app_id = new_change(client)
    before = row_counts(*TABLES)
    resp = submit(client, f"/apply/change/{app_id}", f"/apply/change/{app_id}",
                  {"reason": "调任", "attachments": "not a file"})
    assert resp.status_code == 400 and "附件：请选择要上传的文件" in html(resp)
    assert row_counts(*TABLES) == before


@pytest.mark.parametrize("value", ["99999999999999999999", "9223372036854775808", "²", "abc"])
def test_a_non_integer_replacement_is_refused_with_the_field_named(client_world, change_setup, value):
    client, _ = client_world
    login(client, "contractor_user")
    app_id = new_change(client)
    before = row_counts(*TABLES)
    resp = submit(client, f"/apply/change/{app_id}", f"/apply/change/{app_id}",
                  {"new_person_id": value, "reason": "调任"})
    assert resp.status_code == 400 and "变更后人员：请从列表中选择变更后人员" in html(resp)
    assert row_counts(*TABLES) == before


def test_service_refuses_more_files_than_the_limit():
    store = UploadStore(max_files=2)
    store.check_count(2)
    with pytest.raises(Exception) as exc:
        store.check_count(3)
    assert exc.value.message == "附件：每次最多上传 2 个文件"


@pytest.mark.parametrize("name, expected", [
    ("长" * 300 + ".pdf", "长" * 196 + ".pdf"),
    ("report\u202egnp.exe", "reportgnp.exe"),                        # right-to-left override
    ("\u2066申请\u2069表\u200e\u200f.pdf", "申请表.pdf"),                # isolates and marks
    ("a\u202a\u202b\u202c\u202d.docx", "a.docx"),
    ("表\x00\x01\x1f.pdf", "表.pdf"),
    ("\u202e.pdf", "附件.pdf"),
    ("x" * 250, "x" * 200),
    ("名" * 195 + "." + "e" * 30, ("名" * 195 + "." + "e" * 30)[:200]),   # no real extension: a plain cut
])
def test_upload_names_are_cut_keeping_the_extension_without_control_characters(name, expected):
    result = safe_filename(name)
    assert result == expected and len(result) <= 200
