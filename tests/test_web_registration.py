"""注册审核 over HTTP: register, the administrators' review from the 待办 inbox, a return with its
reason, the registrant's correction with the pending credentials, and the administrator's record."""
import re

from sqlalchemy import select

from engine.db import db
from handlers.models import ACTIVE, PENDING, REJECTED, Account, User

from .web_helpers import client_world, licence_upload, login, new_client, post  # noqa: F401 (fixture)
from .world import credit_code, review_registration

DETAILS = "/auth/register/details?kind=contractor"


def _register(client, username="newco", code=7654321, name="昆明新建设有限公司"):
    data = {"org_name": name, "credit_code": credit_code(code), "contact_person": "刘一",
            "mobile": "13800000000", "username": username, "password": "ynqs2026x", "confirm": "ynqs2026x",
            "licence": licence_upload()}
    resp = post(client, DETAILS, data, form_url=DETAILS)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    db.session.rollback()
    user = db.session.scalar(select(User).where(User.username == username))
    return user.accounts[0]


def test_a_returned_registrant_corrects_with_the_pending_credentials(client_world, ctx):
    client, world = client_world
    account = _register(client)
    services = ctx.extensions["services"]
    review_registration(services, world.who("admin"), account, "return", "单位名称与营业执照不符")
    db.session.commit()

    html = login(client, "newco", "ynqs2026x").get_data(as_text=True)
    assert "注册申请未通过审核，原因：单位名称与营业执照不符" in html
    link = f"/auth/registration/{account.id}"
    assert link in html and "修改注册信息并重新提交" in html
    # the session may correct this registration and reach nothing else
    assert "/auth/login" in client.get("/").headers["Location"]
    page = client.get(link).get_data(as_text=True)
    assert "单位名称与营业执照不符" in page and 'value="昆明新建设有限公司"' in page and "newco" in page

    fixed = {"kind": "contractor", "org_name": "昆明新建设集团有限公司", "credit_code": "123",
             "contact_person": "刘一", "mobile": "13800000000"}
    html = post(client, link, fixed, form_url=link).get_data(as_text=True)
    assert "统一社会信用代码：格式或校验位不正确" in html
    fixed["credit_code"] = credit_code(7654321)
    resp = post(client, link, fixed, form_url=link, follow_redirects=True)
    assert "注册信息已重新提交，等待审核" in resp.get_data(as_text=True)
    db.session.rollback()
    account = db.session.get(Account, account.id)
    assert account.status == PENDING and account.org.name == "昆明新建设集团有限公司"
    assert "账号正在审核中" in login(client, "newco", "ynqs2026x").get_data(as_text=True)
    # pending again: the session's leave to correct ended with the resubmission
    assert "/auth/login" in client.get(link).headers["Location"]


def test_a_registration_returned_for_its_licence_is_corrected_with_a_new_scan(client_world, ctx):
    """退回原因 names the licence: the correction page shows the scan on file and takes a new one, which
    the administrators then review; a file the upload rules refuse is named and nothing changes."""
    import io

    from handlers.models import Attachment, Registration
    client, world = client_world
    account = _register(client, username="licco", code=7654322, name="昆明换照建设有限公司")
    services = ctx.extensions["services"]
    review_registration(services, world.who("admin"), account, "return", "营业执照扫描件不清晰")
    db.session.commit()
    login(client, "licco", "ynqs2026x")
    link = f"/auth/registration/{account.id}"
    page = client.get(link).get_data(as_text=True)
    assert "已提交：营业执照.pdf" in page and 'name="licence"' in page and "multipart/form-data" in page

    fixed = {"kind": "contractor", "org_name": "昆明换照建设有限公司", "credit_code": credit_code(7654322),
             "contact_person": "刘一", "mobile": "13800000000",
             "licence": (io.BytesIO(b"MZ\x90\x00 not a scan"), "营业执照.exe")}
    html = post(client, link, fixed, form_url=link).get_data(as_text=True)
    assert "营业执照扫描件：不支持的文件类型" in html
    db.session.rollback()
    assert db.session.get(Account, account.id).status == REJECTED   # refused: nothing changed

    fixed["licence"] = licence_upload("营业执照（新）.pdf")
    resp = post(client, link, fixed, form_url=link, follow_redirects=True)
    assert "注册信息已重新提交，等待审核" in resp.get_data(as_text=True)
    db.session.rollback()
    latest = db.session.scalar(select(Registration).where(Registration.account_id == account.id)
                               .order_by(Registration.id.desc()).limit(1))
    assert [a.filename for a in services.registration.attachments(latest)] == ["营业执照（新）.pdf"]
    assert db.session.scalar(select(Attachment).where(Attachment.owner_id == latest.id)) is not None


def test_the_correction_page_needs_the_registrant_s_credentials(client_world, ctx):
    client, world = client_world
    account = _register(client)
    services = ctx.extensions["services"]
    review_registration(services, world.who("admin"), account, "return", "资料不全")
    db.session.commit()
    link = f"/auth/registration/{account.id}"
    resp = client.get(link)
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]
    assert "请先使用注册时的用户名和密码登录" in client.get("/auth/login").get_data(as_text=True)
    # a wrong password gives no correction
    html = login(client, "newco", "wrong-pass1").get_data(as_text=True)
    assert "用户名或密码错误" in html and link not in html
    assert client.get(link).status_code == 302
    # another registrant's session cannot open it
    other = new_client(ctx)
    other_account = _register(other, "otherco", 7654322, "另一家公司")
    review_registration(services, world.who("admin"), other_account, "return", "资料不全")
    db.session.commit()
    login(other, "otherco", "ynqs2026x")
    assert other.get(link).status_code == 404
    assert other.post(link, data={"kind": "contractor"}).status_code in (400, 404)


def test_the_admin_page_lists_pending_registrations_and_the_record(client_world, ctx):
    client, world = client_world
    services = ctx.extensions["services"]
    first = _register(client, "firstco", 7654401, "第一家公司")
    second = _register(client, "secondco", 7654402, "第二家公司")
    review_registration(services, world.who("admin"), first, "approve")
    review_registration(services, world.who("admin"), second, "return", "信用代码与单位不符")
    third = _register(client, "thirdco", 7654403, "第三家公司")
    db.session.commit()
    admin = new_client(ctx)
    login(admin, "admin")
    html = admin.get("/admin/registrations").get_data(as_text=True)
    pending, record = html.split("审核记录", 1)
    assert "第三家公司" in pending and "thirdco" in pending
    task_link = re.search(r'href="(/review/task/\d+)"', pending).group(1)
    assert "第一家公司" not in pending and "第二家公司" not in pending
    assert "第一家公司" in record and "审核通过" in record and "陈管理" in record
    assert "第二家公司" in record and "信用代码与单位不符" in record
    assert "第三家公司" not in record
    assert task_link.startswith("/review/task/")
    assert db.session.get(Account, third.id).status == PENDING
    assert (db.session.get(Account, first.id).status, db.session.get(Account, second.id).status) == (ACTIVE, REJECTED)


def test_a_returned_extra_role_is_corrected_from_the_accounts_page(client_world, ctx):
    client, world = client_world
    login(client, "contractor_user")
    data = {"kind": "supervising_firm", "org_name": "云南错名监理有限公司", "credit_code": credit_code(7654501),
            "contact_person": "吴施工", "mobile": "13800000000"}
    assert post(client, "/auth/accounts", data).status_code == 302
    db.session.rollback()
    user = db.session.scalar(select(User).where(User.username == "contractor_user"))
    role = next(a for a in user.accounts if a.status == PENDING)
    review_registration(ctx.extensions["services"], world.who("admin"), role, "return", "单位名称有误")
    db.session.commit()
    page = client.get("/auth/accounts").get_data(as_text=True)
    link = f"/auth/registration/{role.id}"
    assert "退回原因：单位名称有误" in page and link in page
    assert 'value="云南错名监理有限公司"' in client.get(link).get_data(as_text=True)
    resp = post(client, link, dict(data, org_name="云南正名监理有限公司"), form_url=link)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/auth/accounts")
    page = client.get("/auth/accounts").get_data(as_text=True)
    assert "已重新提交 云南正名监理有限公司（监理单位）的角色申请" in page
    db.session.rollback()
    assert db.session.get(Account, role.id).status == PENDING
    # another login's returned role is not reachable from this one
    other = new_client(ctx)
    login(other, "firm_user")
    assert other.get(link).status_code == 404


def test_the_reviewer_sees_the_business_licence_and_that_approval_activates_the_account(client_world, ctx):
    client, world = client_world
    account = _register(client, "licenceco", 7654601, "执照公司")
    admin = new_client(ctx)
    login(admin, "admin")
    pending = admin.get("/admin/registrations").get_data(as_text=True)
    task_link = re.search(r'href="(/review/task/\d+)"', pending).group(1)
    post(admin, task_link + "/claim", form_url=task_link)
    page = admin.get(task_link).get_data(as_text=True)
    assert "营业执照扫描件" in page and "营业执照.pdf" in page
    assert "将启用，可以登录本系统" in page   # the approval preview
    download = re.search(r'href="(/apply/registration/\d+/files/\d+)"', page).group(1)
    resp = admin.get(download)
    assert resp.status_code == 200 and resp.data.startswith(b"%PDF")
    # nobody else's: a regulator, and another enterprise, get nothing
    for username in ("auth_reviewer", "contractor_user"):
        other = new_client(ctx)
        login(other, username)
        assert other.get(download).status_code == 404, username
    assert db.session.get(Account, account.id).status == PENDING
