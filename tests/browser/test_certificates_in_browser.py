"""证明核验 in the browser: the applicant downloads the 竣工验收备案证明 from the case's page; anyone
opens the QR code's link or uploads the PDF on /verify, without logging in; a changed file is told."""
import re

from playwright.sync_api import expect

from ..test_certificates import approved_filing
from .test_unlock_in_browser import login


def test_the_downloaded_certificate_verifies_by_link_and_upload_and_a_changed_one_does_not(live, new_page, tmp_path):
    services = live.app.extensions["services"]
    services.certificates.public_url = live.url   # the QR code leads to this server
    try:
        app, cert = approved_filing(live.world, services)
        link = services.certificates.verify_url(cert)
    finally:
        services.certificates.public_url = ""

    # the construction unit downloads it from the filing's page
    owner = new_page()
    login(owner, live.url, "owner_user")
    owner.goto(f"{live.url}/apply/completion/{app.id}")
    card = owner.locator("#certificates")
    expect(card).to_contain_text(cert.serial)
    expect(card).to_contain_text("有效")
    owner.screenshot(path=str(tmp_path / "detail.png"), full_page=True)
    with owner.expect_download() as download:
        card.get_by_role("link", name="下载竣工验收备案证明").click()
    saved = tmp_path / "downloaded.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes() == services.certificates.pdf_of(cert)   # the PDF kept at the first download

    # anyone scans the QR code: no login
    public = new_page()
    public.goto(link)
    result = public.locator("#verify-result")
    expect(result).to_have_attribute("data-verdict", "genuine")
    expect(result).to_contain_text("真实有效")
    facts = public.locator("#certificate-facts")
    for shown in ("竣工验收备案证明", cert.serial, app.case_no, "昆明南站综合体", "530100202201010101",
                  "2026年11月20日", live.world.org("authority").name):
        expect(facts).to_contain_text(shown)
    public.screenshot(path=str(tmp_path / "verify-link.png"), full_page=True)

    # or uploads the file they were given
    public.goto(f"{live.url}/verify")
    public.set_input_files("#pdf", str(saved))
    public.get_by_role("button", name="核验").click()
    expect(result).to_have_attribute("data-verdict", "genuine")
    expect(result).to_contain_text("文件由本系统签发，签发后未被修改")
    public.screenshot(path=str(tmp_path / "verify-upload.png"), full_page=True)

    # one changed byte
    changed = bytearray(saved.read_bytes())
    changed[len(changed) // 2] ^= 0x01
    (tmp_path / "changed.pdf").write_bytes(bytes(changed))
    public.set_input_files("#pdf", str(tmp_path / "changed.pdf"))
    public.get_by_role("button", name="核验").click()
    expect(result).to_have_attribute("data-verdict", "changed")
    expect(result).to_contain_text("文件已被修改")
    expect(public.locator("#certificate-facts")).to_have_count(0)
    public.screenshot(path=str(tmp_path / "verify-changed.png"), full_page=True)

    # not a PDF at all: the field is named, nothing is checked
    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    public.set_input_files("#pdf", str(tmp_path / "photo.png"))
    public.get_by_role("button", name="核验").click()
    expect(public.locator("#verify-error")).to_have_text(re.compile("证明文件：请上传PDF文件"))
