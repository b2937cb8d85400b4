"""Login, role choice, logout, registration, CSRF and the shell pages over HTTP."""
import pytest
from werkzeug.security import generate_password_hash

from engine.db import db
from handlers.models import ACTIVE, PENDING, REJECTED, Account, User

from .web_helpers import client_world, csrf_token, licence_upload, login, logout, post  # noqa: F401 (fixture)
from .world import credit_code


def _user_with(world, username, *accounts):
    """A user with accounts (org_key, status, reason)."""
    user = User(username=username, password_hash=generate_password_hash("demo1234"), name="测试人")
    db.session.add(user)
    for org_key, status, reason in accounts:
        db.session.add(Account(user=user, org=world.org(org_key), status=status, reject_reason=reason))
    db.session.commit()
    return user


def test_login_page_and_help_are_public(client_world):
    client, _ = client_world
    assert "用户登录" in client.get("/auth/login").get_data(as_text=True)
    html = client.get("/help").get_data(as_text=True)
    for text in ["641805811", "768158740", "674588137", "0871-65631360", "0871-65212258", "0871-68503755",
                 "64320981", "0871-64322249"]:
        assert text in html


def test_wrong_password(client_world):
    client, _ = client_world
    resp = login(client, "contractor_user", "wrong-pass1")
    assert resp.status_code == 200
    assert "用户名或密码错误" in resp.get_data(as_text=True)


def test_pending_and_rejected_accounts_get_their_message(client_world):
    client, world = client_world
    _user_with(world, "pending_user", ("contractor2", PENDING, None))
    _user_with(world, "rejected_user", ("firm", REJECTED, "营业执照与单位名称不符"))
    html = login(client, "pending_user").get_data(as_text=True)
    assert "账号正在审核中，请等待平台管理员审核通过后再登录" in html
    html = login(client, "rejected_user").get_data(as_text=True)
    assert "注册申请未通过审核，原因：营业执照与单位名称不符" in html


def test_single_account_goes_straight_home(client_world):
    client, _ = client_world
    resp = login(client, "agency_reviewer")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/")
    resp = client.get("/", follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "昆明市建设工程质量安全监督站" in html and "监督机构" in html and "待签收" in html
    assert "切换角色" not in html


def test_user_with_two_accounts_chooses_and_switches(client_world):
    client, world = client_world
    user = _user_with(world, "two_roles", ("contractor", ACTIVE, None), ("agency", ACTIVE, None),
                      ("firm", PENDING, None))
    resp = client.post("/auth/login", data={"username": "two_roles", "password": "demo1234",
                                            "csrf_token": csrf_token(client)})
    assert "/auth/role" in resp.headers["Location"]
    html = client.get("/auth/role").get_data(as_text=True)
    assert "云南建投第一建设有限公司" in html and "昆明市建设工程质量安全监督站" in html
    assert "云南建设监理咨询有限公司" not in html       # pending accounts are not offered
    agency_account = next(a for a in user.accounts if a.org_id == world.org("agency").id)
    login(client, "two_roles", account_id=agency_account.id)
    html = client.get("/review/").get_data(as_text=True)
    assert "切换角色" in html and "监督机构" in html
    # another user's account cannot be chosen
    other = Account.query.filter(Account.user_id != user.id).first()
    token = csrf_token(client, "/auth/role")
    resp = client.post("/auth/role", data={"account_id": other.id, "csrf_token": token})
    assert "账号不存在或未通过审核" in resp.get_data(as_text=True)
    # switch to the contractor role: the review inbox is now forbidden
    contractor_account = next(a for a in user.accounts if a.org_id == world.org("contractor").id)
    assert client.get("/auth/switch").status_code == 302
    client.post("/auth/role", data={"account_id": contractor_account.id, "csrf_token": token})
    assert client.get("/review/").status_code == 403


def test_post_without_csrf_token_is_refused(client_world):
    client, _ = client_world
    resp = client.post("/auth/login", data={"username": "agency_reviewer", "password": "demo1234"})
    assert resp.status_code == 400
    assert "页面已过期，请刷新后重试" in resp.get_data(as_text=True)


def test_logout_requires_post_and_ends_the_session(client_world):
    client, _ = client_world
    login(client, "agency_reviewer")
    assert client.get("/review/").status_code == 200
    assert client.get("/auth/logout").status_code == 405
    logout(client)
    resp = client.get("/review/")
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]


@pytest.mark.parametrize("target,expected", [
    ("/review/?view=done", "/review/?view=done"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example", "/"),
])
def test_next_is_only_followed_within_the_site(client_world, target, expected):
    client, _ = client_world
    token = csrf_token(client, "/auth/login?next=" + target)
    resp = client.post("/auth/login", data={"username": "agency_reviewer", "password": "demo1234",
                                            "next": target, "csrf_token": token})
    assert resp.headers["Location"] == expected


def test_login_redirect_round_trip(client_world):
    client, _ = client_world
    resp = client.get("/review/?view=done")
    assert resp.status_code == 302 and "/auth/login?next=" in resp.headers["Location"]


def test_session_is_regenerated_on_login(client_world):
    client, _ = client_world
    with client.session_transaction() as s:
        s["planted"] = "x"
    login(client, "agency_reviewer")
    with client.session_transaction() as s:
        assert "planted" not in s and s.get("account_id")


def test_register_two_steps_then_pending(client_world):
    client, _ = client_world
    resp = post(client, "/auth/register", {"kind": "contractor"}, form_url="/auth/register")
    assert resp.headers["Location"].endswith("/auth/register/details?kind=contractor")
    url = "/auth/register/details?kind=contractor"
    data = {"org_name": "昆明新建设有限公司", "credit_code": "123", "contact_person": "刘一",
            "mobile": "13800000000", "username": "newco", "password": "ynqs2026x", "confirm": "ynqs2026x"}
    html = post(client, url, data, form_url=url).get_data(as_text=True)
    assert "统一社会信用代码：格式或校验位不正确" in html    # the error is shown at its field
    data["credit_code"] = credit_code(987654)
    data["confirm"] = "different1"
    html = post(client, url, data, form_url=url).get_data(as_text=True)
    assert "两次输入的密码不一致" in html
    data["confirm"] = "ynqs2026x"
    html = post(client, url, data, form_url=url).get_data(as_text=True)
    assert "营业执照扫描件：请上传营业执照扫描件" in html   # the licence scan is required
    data["licence"] = licence_upload("营业执照.exe")
    html = post(client, url, data, form_url=url).get_data(as_text=True)
    assert "营业执照扫描件：不支持的文件类型" in html        # and passes the upload checks
    assert db.session.scalar(db.select(User).where(User.username == "newco")) is None
    data["licence"] = licence_upload()
    resp = post(client, url, data, form_url=url, follow_redirects=True)
    assert "注册已提交，等待审核" in resp.get_data(as_text=True)
    assert "账号正在审核中" in login(client, "newco", "ynqs2026x").get_data(as_text=True)


def test_registration_reports_every_error_at_once_and_keeps_the_passwords(client_world):
    """One submit names every refused field, each under its own field: the form's checks (the two
    passwords differ, an empty name) and the registration's (credit code, mobile, weak password)."""
    client, _ = client_world
    url = "/auth/register/details?kind=contractor"
    data = {"org_name": "", "credit_code": "123", "contact_person": "刘一", "mobile": "1380000",
            "username": "ab", "password": "short1x", "confirm": "short1y"}
    resp = post(client, url, data, form_url=url)
    html = resp.get_data(as_text=True)
    for message in ["请填写单位名称", "统一社会信用代码：格式或校验位不正确", "手机号码：请填写 11 位手机号码",
                    "用户名：4–50 位字母、数字或 _ . @ -", "两次输入的密码不一致", "营业执照扫描件：请上传营业执照扫描件"]:
        assert message in html, message
    assert "密码：至少 8 位" in html
    assert html.count('class="field has-error"') == 7
    assert 'value="short1x"' in html and 'value="short1y"' in html   # no retyping of the passwords
    assert db.session.scalar(db.select(User).where(User.username == "ab")) is None


def test_error_pages_are_chinese(client_world):
    client, _ = client_world
    resp = client.get("/no/such/page")
    assert resp.status_code == 404 and "页面不存在" in resp.get_data(as_text=True)


def test_registration_first_chooses_one_of_the_account_types(client_world):
    """1.1 第二步: the user chooses the account type among those shown: the three enterprise kinds and
    the two regulators; the platform administrator is not a type one registers."""
    import re
    client, _ = client_world
    page = client.get("/auth/register").get_data(as_text=True)
    offered = re.findall(r'name="kind" value="([^"]+)"[^>]*>\s*<strong>([^<]+)</strong>', page)
    assert sorted(offered) == sorted([("construction_unit", "建设单位"), ("contractor", "施工单位"),
                                      ("supervising_firm", "监理单位"), ("agency", "监督机构"),
                                      ("authority", "主管部门")])
    resp = client.get("/auth/register/details?kind=platform")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/auth/register")
    assert "请先选择账号类型" in client.get("/auth/register").get_data(as_text=True)


def test_help_names_each_support_line_as_chapter_3_does(client_world):
    """第三章: each QQ group and each telephone number under the name the manual gives it."""
    import re
    client, _ = client_world
    page = client.get("/help").get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "工作咨询QQ群" in text and "服务电话" in text           # 3.1 and 3.2
    for label, numbers in [
            ("云南省质量安全管理咨询 QQ 群 1", "641805811"), ("云南省质量安全管理咨询 QQ 群 2", "768158740"),
            ("云南省质量安全管理咨询 QQ 群 3", "674588137"),
            ("系统技术支持服务电话：", "0871-65631360 、 0871-65212258"),
            ("注考中心(服务大厅)服务电话：", "0871-68503755"),
            ("人员类咨询服务电话：", "0871-68503755 、 64320981"),
            ("云南省住房和城乡建设厅工程质量安全监管处服务电话：", "0871-64322249")]:
        assert f"{label} {numbers}" in text, label
    assert text.index("技术支持：") < text.index("系统技术支持服务电话") < text.index("质量安全监管：") \
        < text.index("云南省住房和城乡建设厅工程质量安全监管处服务电话")
