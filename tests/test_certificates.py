"""Certificates anyone can verify (domain.md §10, 电子证照): an approved 竣工验收备案 issues a
竣工验收备案证明, every other approved case an 办结通知书; the public page /verify checks the QR
code's link or an uploaded PDF against the platform's Ed25519 signatures."""
import hashlib
import io
import re
from datetime import date

from pypdf import PdfReader
from sqlalchemy import select, update

from engine.db import db
from handlers import certificates as certs
from handlers.applications import Upload
from handlers.certificates import CHANGED, GENUINE, NOT_ISSUED, REVOKED, KeyRing
from handlers.models import APPROVED, IssuedCertificate

from .web_helpers import client_world, csrf_token, login, logout, post  # noqa: F401 (fixture)
from .world import PDF_BYTES, locked_person, reported_unlock


def approved_filing(world, services, project_name="昆明南站综合体", reviewer_key="auth_reviewer"):
    """A 竣工验收备案 filed by the construction unit and approved by the project's authority."""
    _pm, project = locked_person(world, "张经理", project_name=project_name)
    owner = world.who("owner_user")
    app = services.completion.create(owner, project.id)
    services.completion.save(owner, app.id, {"acceptance_date": date(2026, 11, 20).isoformat(),
                                             "conclusion": "经五方责任主体验收，工程质量合格",
                                             "permit_no": "530100202201010101"},
                             [Upload("attachment", "竣工验收报告.pdf", PDF_BYTES)])
    services.completion.report(owner, app.id)
    reviewer = world.who(reviewer_key)
    [task] = services.reviews.inbox(reviewer).rows
    services.reviews.claim(reviewer, task.id)
    services.reviews.approve(reviewer, task.id, "准予备案")
    assert app.status == APPROVED
    [cert] = services.certificates.of_instance(app.instance_id)
    return app, cert


def approved_unlock(world, services):
    pm, _project = locked_person(world, "李四")
    app = reported_unlock(world, services, pm, reason="项目已停工")
    reviewer = world.who("agency_reviewer")
    [task] = services.reviews.inbox(reviewer).rows
    services.reviews.claim(reviewer, task.id)
    services.reviews.approve(reviewer, task.id, "同意解锁")
    [cert] = services.certificates.of_instance(app.instance_id)
    return pm, app, cert


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def embedded_fonts(data: bytes) -> list[str]:
    """The base names of the fonts whose glyphs the PDF carries (a TrueType font file)."""
    fonts = PdfReader(io.BytesIO(data)).pages[0]["/Resources"]["/Font"].get_object().values()
    return [str(f.get_object()["/BaseFont"]) for f in fonts
            if "/FontDescriptor" in f.get_object() and "/FontFile2" in f.get_object()["/FontDescriptor"].get_object()]


def issued_pdf(services, cert) -> bytes:
    """The certificate's PDF, as its first download renders and keeps it."""
    return services.certificates.pdf_of(cert)


def short(cert) -> str:
    return cert.signature[:certs.SHORT_SIGNATURE]


def upload(client, data: bytes, name="证明.pdf"):
    return client.post("/verify", data={"csrf_token": csrf_token(client, "/verify"), "pdf": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def verdict_of(html: str) -> str | None:
    found = re.search(r'data-verdict="(\w+)"', html)
    return found.group(1) if found else None


def resigned(data: bytes, keys: KeyRing) -> bytes:
    """The same PDF signed, the same way, by another server's key."""
    key_id = keys.current_id()
    [found] = certs._PDF_FIELD.finditer(data)
    blank = data[:found.start(2)] + key_id.encode() + data[found.end(2):found.start(3)] + \
        certs.PLACEHOLDER.encode() + data[found.end(3):]
    [found] = certs._PDF_FIELD.finditer(blank)
    signature = keys.private(key_id).sign(blank).hex().encode()
    return blank[:found.start(3)] + signature + blank[found.end(3):]


# -- issuing ---------------------------------------------------------------------------------------
def test_an_approved_completion_filing_issues_its_certificate_with_the_facts_printed(world, services):
    services.certificates.public_url = "https://zlaq.example.gov.cn"
    try:
        app, cert = approved_filing(world, services)
        assert services.certificates.verify_url(cert) == \
            f"https://zlaq.example.gov.cn/verify/{cert.serial}?s={short(cert)}"   # what the QR code carries
    finally:
        services.certificates.public_url = ""
    project = app.project
    assert (cert.title, cert.kind, cert.status) == ("竣工验收备案证明", "completion", "valid")
    assert re.fullmatch(r"ZM-\d{4}-\d{6}", cert.serial)
    assert cert.case_no == app.case_no
    assert cert.issuer_name == world.org("authority").name            # the approving organisation
    facts = dict(cert.facts)
    assert facts["办件编号"] == app.case_no
    assert facts["工程名称"] == "昆明南站综合体"
    assert facts["报监登记号"] == project.supervision_no
    assert facts["施工许可证号"] == "530100202201010101"
    assert facts["竣工验收日期"] == "2026年11月20日"
    assert facts["建设单位"] == world.org("owner").name
    text = pdf_text(issued_pdf(services, cert))
    for printed in ("竣工验收备案证明", cert.serial, app.case_no, "昆明南站综合体", project.supervision_no,
                    "530100202201010101", "2026年11月20日", "经五方责任主体验收，工程质量合格", world.org("owner").name,
                    f"签发单位：{world.org('authority').name}", "签发日期", "扫码核验真伪",
                    "https://zlaq.example.gov.cn/verify"):
        assert printed in text, printed
    # a subset, embedded
    assert any(name.endswith("WenQuanYiZenHei-0") for name in embedded_fonts(issued_pdf(services, cert)))


def test_every_other_process_issues_a_closing_notice(world, services):
    pm, app, cert = approved_unlock(world, services)
    assert (cert.title, cert.kind) == ("办结通知书", "closing")
    assert cert.issuer_name == world.org("agency").name
    facts = dict(cert.facts)
    assert facts["办理事项"] == "人员解锁申请" and facts["办理结果"] == "审核通过，业务已办结"
    assert facts["申请单位"] == world.org("contractor").name
    text = pdf_text(issued_pdf(services, cert))
    for printed in ("办结通知书", cert.serial, app.case_no, "人员解锁申请", world.org("contractor").name):
        assert printed in text, printed
    assert pm.id_card not in text                                       # nothing personal beyond the names
    assert services.certificates.verify_pdf(issued_pdf(services, cert)).status == GENUINE


def test_a_returned_case_issues_nothing(world, services):
    pm, _ = locked_person(world, "王五")
    app = reported_unlock(world, services, pm)
    reviewer = world.who("agency_reviewer")
    [task] = services.reviews.inbox(reviewer).rows
    services.reviews.claim(reviewer, task.id)
    services.reviews.return_(reviewer, task.id, "材料不全")
    assert services.certificates.of_instance(app.instance_id) == []


# -- verifying ------------------------------------------------------------------------------------------
def test_the_qr_link_and_the_uploaded_pdf_verify_and_show_the_facts(client_world, services):
    client, world = client_world
    app, cert = approved_filing(world, services)
    resp = client.get(f"/verify/{cert.serial}?s={short(cert)}")          # no login
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and verdict_of(html) == GENUINE
    for shown in ("真实有效", cert.serial, app.case_no, "昆明南站综合体", world.org("authority").name):
        assert shown in html, shown
    resp = upload(client, issued_pdf(services, cert))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and verdict_of(html) == GENUINE
    assert "签发后未被修改" in html and "昆明南站综合体" in html


def test_one_changed_byte_is_reported_as_changed(client_world, services):
    client, world = client_world
    _app, cert = approved_filing(world, services)
    for at in (len(issued_pdf(services, cert)) // 2, 200, len(issued_pdf(services, cert)) - 10):
        data = bytearray(issued_pdf(services, cert))
        data[at] ^= 0x01
        assert services.certificates.verify_pdf(bytes(data)).status == CHANGED, at
    data = bytearray(issued_pdf(services, cert))
    data[len(data) // 2] ^= 0x01
    html = upload(client, bytes(data)).get_data(as_text=True)
    assert verdict_of(html) == CHANGED and "文件已被修改" in html
    assert "昆明南站综合体" not in html                                   # a changed file shows no facts
    # saved again by an editor: an incremental update appended, repeating the document information
    [field] = certs._PDF_FIELD.finditer(issued_pdf(services, cert))
    appended = issued_pdf(services, cert) + b"\n1 0 obj\n<< /Keywords (" + field.group(0) + b") >>\nendobj\n%%EOF\n"
    assert services.certificates.verify_pdf(appended).status == CHANGED
    # the serial the PDF names, changed to another one of this server's
    forged = issued_pdf(services, cert).replace(f"serial={cert.serial}".encode(),
                                                f"serial={cert.serial[:-1]}9".encode(), 1)
    assert forged != issued_pdf(services, cert) and services.certificates.verify_pdf(forged).status == CHANGED


def test_a_certificate_signed_by_another_servers_key_is_not_ours(client_world, services, tmp_path):
    client, world = client_world
    _app, cert = approved_filing(world, services)
    other = resigned(issued_pdf(services, cert), KeyRing(tmp_path / "other-server"))
    verdict = services.certificates.verify_pdf(other)
    assert verdict.status == NOT_ISSUED and verdict.certificate is None
    html = upload(client, other).get_data(as_text=True)
    assert verdict_of(html) == NOT_ISSUED and "不是本系统签发的证明" in html
    # and a QR link whose code does not match the serial's signature
    html = client.get(f"/verify/{cert.serial}?s={'A' * certs.SHORT_SIGNATURE}").get_data(as_text=True)
    assert verdict_of(html) == NOT_ISSUED and "昆明南站综合体" not in html
    html = client.get("/verify/ZM-2099-000001?s=abcdefghijklmnop").get_data(as_text=True)
    assert verdict_of(html) == NOT_ISSUED


def test_a_revoked_certificate_is_reported_with_reason_and_date(client_world, services):
    client, world = client_world
    app, cert = approved_filing(world, services)
    login(client, "admin")
    resp = post(client, f"/admin/certificates/{cert.serial}/revoke", {"reason": ""}, form_url="/admin/certificates")
    assert resp.status_code == 400 and "作废原因：请填写作废原因" in resp.get_data(as_text=True)
    resp = post(client, f"/admin/certificates/{cert.serial}/revoke", {"reason": "验收结论填写错误，已重新备案"},
                form_url="/admin/certificates")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    assert resp.headers["Location"].endswith("/admin/certificates"), resp.headers["Location"]
    logout(client)
    db.session.rollback()   # the test's own read ends: see what the request committed
    cert = db.session.get(IssuedCertificate, cert.id)
    assert cert.status == "revoked" and cert.revoked_at is not None
    log = services.completion.operation_log(app)
    assert (log[-1].action, log[-1].org_name) == ("证明作废", world.org("platform").name)
    assert "验收结论填写错误" in log[-1].opinion
    for html in (client.get(f"/verify/{cert.serial}?s={short(cert)}").get_data(as_text=True),
                 upload(client, issued_pdf(services, cert)).get_data(as_text=True)):
        assert verdict_of(html) == REVOKED
        assert "证明已作废" in html and "验收结论填写错误，已重新备案" in html and "作废日期" in html


def test_reissuing_revokes_the_older_certificate(world, services):
    app, first = approved_filing(world, services)
    from handlers.operations import OPERATOR
    second = services.certificates.reissue(app.case_no, OPERATOR)
    db.session.commit()
    db.session.refresh(first)
    assert (first.status, second.status) == ("revoked", "valid")
    assert first.revoked_reason == f"已由新证明 {second.serial} 取代"
    assert services.certificates.verify_pdf(issued_pdf(services, first)).status == REVOKED
    assert services.certificates.verify_pdf(issued_pdf(services, second)).status == GENUINE


def test_a_rotated_key_signs_new_certificates_and_the_old_key_still_verifies(ctx, world, services):
    _app, old = approved_filing(world, services)
    result = ctx.test_cli_runner().invoke(args=["certificates", "rotate-key"])
    assert result.exit_code == 0, result.output
    assert old.key_id in services.certificates.keys.ids()
    _pm, _unlock, new = approved_unlock(world, services)
    assert new.key_id != old.key_id and new.key_id == services.certificates.keys.current_id()
    assert services.certificates.verify_pdf(issued_pdf(services, old)).status == GENUINE
    assert services.certificates.verify_link(old.serial, short(old)).status == GENUINE
    assert services.certificates.verify_pdf(issued_pdf(services, new)).status == GENUINE
    listed = ctx.test_cli_runner().invoke(args=["certificates", "keys"]).output
    assert f"* {new.key_id}" in listed and f"  {old.key_id}" in listed


def test_the_keys_are_private_files_in_the_key_folder(world, services):
    approved_filing(world, services)
    folder = services.certificates.keys.folder
    key_files = list(folder.glob("*.key"))
    assert key_files and all(f.stat().st_mode & 0o077 == 0 for f in key_files)
    assert folder.stat().st_mode & 0o077 == 0
    assert (folder / "current").read_text() in {f.stem for f in key_files}
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []   # no temporary file left


# -- the upload's rules -------------------------------------------------------------------------------
def test_an_upload_must_be_a_small_pdf(client_world, ctx):
    client, _world = client_world
    resp = upload(client, b"GIF89a not a pdf", "证明.gif")
    assert resp.status_code == 400 and "证明文件：请上传PDF文件" in resp.get_data(as_text=True)
    resp = client.post("/verify", data={"csrf_token": csrf_token(client, "/verify")})
    assert resp.status_code == 400 and "证明文件：请选择要核验的PDF文件" in resp.get_data(as_text=True)
    big = b"%PDF-1.4\n" + b"0" * ctx.config["VERIFY_MAX_BYTES"]
    resp = upload(client, big)
    assert resp.status_code == 400 and "证明文件：不能超过 2 MB" in resp.get_data(as_text=True)
    resp = client.post("/verify", data={"pdf": (io.BytesIO(b"%PDF-1.4"), "a.pdf")}, content_type="multipart/form-data")
    assert resp.status_code == 400 and "页面已过期" in resp.get_data(as_text=True)
    assert verdict_of(upload(client, b"%PDF-1.4\n%%EOF\n").get_data(as_text=True)) == NOT_ISSUED


def test_verifications_are_rate_limited_per_address(client_world, ctx):
    client, _world = client_world
    for _ in range(ctx.config["VERIFICATIONS_PER_MINUTE"]):
        assert client.get("/verify/ZM-2026-000001?s=x").status_code == 200
    resp = client.get("/verify/ZM-2026-000001?s=x")
    assert resp.status_code == 429 and "核验过于频繁" in resp.get_data(as_text=True)
    assert upload(client, b"%PDF-1.4").status_code == 429


# -- downloading --------------------------------------------------------------------------------------
def test_the_applicant_and_the_reviewers_download_it_and_others_get_404(client_world, services):
    client, world = client_world
    app, cert = approved_filing(world, services)
    login(client, "owner_user")
    page = client.get(f"/apply/completion/{app.id}").get_data(as_text=True)
    assert "下载竣工验收备案证明" in page and f"/certificates/{cert.serial}.pdf" in page
    resp = client.get(f"/certificates/{cert.serial}.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf" and resp.data == issued_pdf(services, cert)
    logout(client)
    login(client, "agency_reviewer")
    assert client.get(f"/certificates/{cert.serial}.pdf").data == issued_pdf(services, cert)
    logout(client)
    for stranger in ("contractor2_user", "auth2_reviewer"):
        login(client, stranger)
        assert client.get(f"/certificates/{cert.serial}.pdf").status_code == 404, stranger
        assert client.get("/certificates/ZM-2099-000009.pdf").status_code == 404
        logout(client)



def test_the_pdf_is_rendered_on_the_first_download_and_kept(client_world, services, monkeypatch):
    """An approval issues the certificate (facts, signature) without waiting for its PDF; the first
    download renders and signs it once, and every later download serves the same bytes."""
    client, world = client_world
    app, cert = approved_filing(world, services)
    db.session.rollback()
    stored = db.session.execute(select(IssuedCertificate.pdf, IssuedCertificate.pdf_sha256)
                                .where(IssuedCertificate.id == cert.id)).one()
    assert stored == (None, None)
    assert services.certificates.verify_link(cert.serial, short(cert)).status == GENUINE   # verifiable at once
    rendered = []
    real = certs.CertificateService._signed_pdf
    monkeypatch.setattr(certs.CertificateService, "_signed_pdf",
                        lambda self, c, key: rendered.append(c.serial) or real(self, c, key))
    login(client, "owner_user")
    first = client.get(f"/certificates/{cert.serial}.pdf")
    second = client.get(f"/certificates/{cert.serial}.pdf")
    assert first.status_code == second.status_code == 200
    assert first.data == second.data and rendered == [cert.serial]
    db.session.rollback()
    kept = db.session.get(IssuedCertificate, cert.id)
    assert kept.pdf == first.data and kept.pdf_sha256 == hashlib.sha256(first.data).hexdigest()
    assert services.certificates.verify_pdf(first.data).status == GENUINE


def test_two_first_downloads_at_once_serve_the_one_pdf_kept(world, services, monkeypatch):
    """Another server's first download stores its PDF while this one renders: this one's
    conditional write changes no row, and it serves the PDF kept, so only one copy circulates."""
    _app, cert = approved_filing(world, services)
    db.session.commit()
    real = certs.CertificateService._signed_pdf

    def rendered_while_the_other_stores(self, c, key):
        data = real(self, c, key)
        with db.engine.begin() as other:   # the other server's transaction, committed first
            other.execute(update(IssuedCertificate).where(IssuedCertificate.id == c.id)
                          .values(pdf=b"%PDF-1.4 the other server's", pdf_sha256="0" * 64, pdf_signature="0" * 128))
        return data
    monkeypatch.setattr(certs.CertificateService, "_signed_pdf", rendered_while_the_other_stores)
    assert services.certificates.pdf_of(cert) == b"%PDF-1.4 the other server's"
    db.session.rollback()
    assert db.session.get(IssuedCertificate, cert.id).pdf == b"%PDF-1.4 the other server's"


def test_an_approval_without_a_font_issues_the_certificate_and_its_download_says_so(client_world, services):
    client, world = client_world
    from handlers import pdf
    pdf.configure("/nonexistent/font.ttf")
    try:
        app, cert = approved_filing(world, services)                      # the case ends all the same
        assert cert.status == "valid"
        login(client, "owner_user")
        resp = client.get(f"/certificates/{cert.serial}.pdf")
        assert resp.status_code == 302
        page = client.get(resp.headers["Location"], follow_redirects=True).get_data(as_text=True)
        assert "服务器缺少中文字体" in page
    finally:
        pdf.configure(None)
    db.session.rollback()
    assert db.session.get(IssuedCertificate, cert.id).pdf is None         # nothing kept
    assert client.get(f"/certificates/{cert.serial}.pdf").status_code == 200   # once the font is there

def test_the_command_line_revokes_and_reissues(ctx, world, services):
    app, first = approved_filing(world, services)
    cli = ctx.test_cli_runner()
    result = cli.invoke(args=["certificates", "reissue", app.case_no])
    assert result.exit_code == 0, result.output
    db.session.rollback()
    [second, older] = services.certificates.of_instance(app.instance_id)
    assert older.id == first.id and older.status == "revoked" and second.status == "valid"
    assert f"issued {second.serial}" in result.output
    result = cli.invoke(args=["certificates", "revoke", second.serial, "--reason", "工程信息有误"])
    assert result.exit_code == 0, result.output
    db.session.rollback()
    verdict = services.certificates.verify_link(second.serial, short(second))
    assert verdict.status == REVOKED and "工程信息有误" in verdict.detail
    again = cli.invoke(args=["certificates", "revoke", second.serial, "--reason", "再次作废"])
    assert again.exit_code != 0 and "该证明已作废" in again.output
    unknown = cli.invoke(args=["certificates", "revoke", "ZM-1999-000001", "--reason", "x"])
    assert unknown.exit_code == 1 and "证明编号 ZM-1999-000001 不存在" in unknown.output
    assert [e.action for e in services.completion.operation_log(app)][-2:] == ["重新签发证明", "证明作废"]


def test_an_approval_completed_by_a_retry_issues_the_certificate_of_the_approving_organisation(world, services,
                                                                                               monkeypatch):
    from .world import approve_into_an_incident
    pm, _ = locked_person(world, "钱七")
    app = reported_unlock(world, services, pm)
    reviewer = world.who("agency_reviewer")
    [task] = services.reviews.inbox(reviewer).rows
    approve_into_an_incident(services, monkeypatch, reviewer, task.id, "同意解锁")
    assert services.certificates.of_instance(app.instance_id) == []     # the case has not ended
    services.retry(app.instance_id, world.who("admin").actor)
    db.session.rollback()
    [cert] = services.certificates.of_instance(app.instance_id)
    assert cert.title == "办结通知书" and cert.issuer_name == world.org("agency").name
    assert services.certificates.verify_pdf(issued_pdf(services, cert)).status == GENUINE
