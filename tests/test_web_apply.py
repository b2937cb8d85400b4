"""Applicant pages of the three processes over HTTP: lists, 添加, detail, save, upload, report, download."""
import re

import pytest
from flask.testing import FlaskClient

from handlers.models import (
    CONSTRUCTOR, PROJECT_MANAGER, REPORTED, SAFETY_B, CompletionFiling,
    UnlockApplication,
)
from engine.db import db
from engine.models import AuditEntry

from .web_helpers import login, token_from

PDF = b"%PDF-1.4 unlock form"


class FreshClient(FlaskClient):
    """Each request in its own app context (own ``g`` and session), as in production."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture()
def client(world, ctx):
    ctx.test_client_class = FreshClient
    try:
        yield ctx.test_client()
    finally:
        ctx.test_client_class = None


@pytest.fixture()
def locked(world):
    """张三, project manager of contractor, locked on 昆明市第一中学教学楼."""
    pm = world.add_person("张三", "contractor", CONSTRUCTOR, SAFETY_B)
    project = world.add_project("昆明市第一中学教学楼")
    world.assign(pm, project, PROJECT_MANAGER)
    return pm, project


def html(resp):
    return resp.get_data(as_text=True)


def submit(client, page_url, action_url, data, **kw):
    """POST to ``action_url`` with the CSRF token of ``page_url``."""
    data = dict(data)
    data["csrf_token"] = token_from(html(client.get(page_url)))
    return client.post(action_url, data=data, **kw)


def new_unlock(client, world):
    [lock] = _lockable(world)
    resp = submit(client, "/apply/unlock/", "/apply/unlock/new", {"target_id": str(lock.id)})
    assert resp.status_code == 302
    m = re.search(r"/apply/unlock/(\d+)$", resp.headers["Location"])
    assert m, resp.headers["Location"]
    return int(m.group(1))


def _lockable(world):
    from webui import services
    return services().unlock.lockable(world.who("contractor_user"))


def test_unlock_filed_and_reported_over_http(client, world, locked):
    login(client, "contractor_user")
    page = html(client.get("/apply/unlock/"))
    assert "添加" in page and "张三" in page   # the 添加 dialog lists the locked person
    app_id = new_unlock(client, world)
    detail = html(client.get(f"/apply/unlock/{app_id}"))
    assert "建设工程项目人员解锁申请表" in detail and "昆明市第一中学教学楼" in detail
    resp = submit(client, f"/apply/unlock/{app_id}", f"/apply/unlock/{app_id}",
                  {"reason": "项目已停工", "explanation": "",
                   "unlock_form": (__import__("io").BytesIO(PDF), "申请表.pdf")},
                  content_type="multipart/form-data")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/apply/unlock/")
    listing = html(client.get("/apply/unlock/"))
    assert "项目已停工" in listing and "草稿" in listing
    resp = submit(client, "/apply/unlock/", f"/apply/unlock/{app_id}/report", {"back": "list"})
    assert resp.status_code == 302
    db.session.rollback()
    app = db.session.get(UnlockApplication, app_id)
    assert app.status == REPORTED
    detail = html(client.get(f"/apply/unlock/{app_id}"))
    assert "已上报至 昆明市住房和城乡建设局 和 昆明市建设工程质量安全监督站，等待审核" in detail
    assert "申请表.pdf" in detail



def upload(client, app_id, reason, filename, data):
    import io
    return submit(client, f"/apply/unlock/{app_id}", f"/apply/unlock/{app_id}",
                  {"reason": reason, "explanation": "补充说明", "unlock_form": (io.BytesIO(data), filename)},
                  content_type="multipart/form-data")


def test_wrong_upload_type_keeps_the_typed_fields(client, world, locked):
    login(client, "contractor_user")
    app_id = new_unlock(client, world)
    resp = upload(client, app_id, "项目停工待复工", "tool.exe", b"MZ\x90\x00 not a form")
    assert resp.status_code == 400
    page = html(resp)
    assert "建设工程项目人员解锁申请表：不支持的文件类型" in page
    # placed under the field it names (DomainError.field is the field's name)
    assert re.search(r'<div class="field has-error">\s*<label for="unlock_form">', page)
    assert "项目停工待复工" in page and "补充说明" in page
    # a PDF body under a wrong extension is refused too
    resp = upload(client, app_id, "项目停工待复工", "form.exe", PDF)
    assert resp.status_code == 400


def test_unlock_requires_reason_and_form(client, world, locked):
    login(client, "contractor_user")
    app_id = new_unlock(client, world)
    resp = submit(client, f"/apply/unlock/{app_id}", f"/apply/unlock/{app_id}", {"reason": "", "explanation": ""})
    assert resp.status_code == 400 and "解锁原因：请填写解锁原因" in html(resp)
    resp = submit(client, f"/apply/unlock/{app_id}", f"/apply/unlock/{app_id}", {"reason": "停工"})
    assert resp.status_code == 400 and "请上传“建设工程项目人员解锁申请表”" in html(resp)


def test_double_report_reports_once(client, world, locked):
    login(client, "contractor_user")
    app_id = new_unlock(client, world)
    assert upload(client, app_id, "项目已停工", "申请表.pdf", PDF).status_code == 302
    token = token_from(html(client.get(f"/apply/unlock/{app_id}")))
    first = client.post(f"/apply/unlock/{app_id}/report", data={"csrf_token": token})
    second = client.post(f"/apply/unlock/{app_id}/report", data={"csrf_token": token})
    assert first.status_code == second.status_code == 302
    page = html(client.get(second.headers["Location"]))
    assert "该申请已上报，请勿重复提交" in page
    db.session.rollback()
    app = db.session.get(UnlockApplication, app_id)
    actions = [e.action for e in db.session.query(AuditEntry).filter_by(instance_id=app.instance_id)]
    assert actions.count("上报") == 1


def test_download_attachment(client, world, locked):
    login(client, "contractor_user")
    app_id = new_unlock(client, world)
    upload(client, app_id, "项目已停工", "申请表.pdf", PDF)
    page = html(client.get(f"/apply/unlock/{app_id}"))
    m = re.search(rf"/apply/unlock/{app_id}/files/(\d+)", page)
    assert m
    resp = client.get(m.group(0))
    assert resp.status_code == 200 and resp.data == PDF
    assert resp.headers["Content-Type"] == "application/pdf"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "attachment" in resp.headers["Content-Disposition"]
    # the other contractor and the unrelated regulator cannot fetch it
    client.post("/auth/logout", data={"csrf_token": token_from(page)})
    login(client, "contractor2_user")
    assert client.get(m.group(0)).status_code == 404
    assert client.get(f"/apply/unlock/{app_id}").status_code == 404
    assert client.get(f"/apply/unlock/{app_id}/files/999999").status_code == 404


def test_regulator_downloads_once_reported(client, world, locked):
    login(client, "contractor_user")
    app_id = new_unlock(client, world)
    upload(client, app_id, "项目已停工", "申请表.pdf", PDF)
    page = html(client.get(f"/apply/unlock/{app_id}"))
    url = re.search(rf"/apply/unlock/{app_id}/files/\d+", page).group(0)
    client.post(f"/apply/unlock/{app_id}/report", data={"csrf_token": token_from(page)})
    client.post("/auth/logout", data={"csrf_token": token_from(page)})
    login(client, "agency_reviewer")
    assert client.get(url).status_code == 200
    assert client.get(f"/apply/unlock/{app_id}").status_code == 403   # the applicant's page is not theirs
    client.post("/auth/logout", data={"csrf_token": token_from(html(client.get("/help")))})
    login(client, "agency2_reviewer")
    assert client.get(url).status_code == 404


def test_routes_refuse_anonymous(client, world):
    for url in ["/apply/unlock/", "/apply/change/", "/apply/completion/", "/apply/unlock/new", "/apply/unlock/1",
                "/apply/unlock/1/files/1", "/apply/change/1/check?person_id=1"]:
        resp = client.get(url)
        assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"], url
    for url in ["/apply/unlock/new", "/apply/unlock/1", "/apply/unlock/1/report", "/apply/unlock/1/withdraw"]:
        resp = client.post(url, data={})
        assert resp.status_code in (302, 400), url   # CSRF refuses before the guard, or the guard redirects


def test_routes_refuse_wrong_roles(client, world):
    login(client, "owner_user")
    for url in ["/apply/unlock/", "/apply/change/", "/apply/unlock/new", "/apply/change/new"]:
        assert client.get(url).status_code == 403, url
    client.post("/auth/logout", data={"csrf_token": token_from(html(client.get("/help")))})
    login(client, "contractor_user")
    assert client.get("/apply/completion/").status_code == 403
    assert client.get("/apply/completion/new").status_code == 403
    assert client.get("/apply/nonsense/").status_code == 404
    client.post("/auth/logout", data={"csrf_token": token_from(html(client.get("/help")))})
    login(client, "agency_reviewer")
    assert client.get("/apply/unlock/").status_code == 403


def test_someone_elses_application_is_404(client, world, locked):
    login(client, "contractor_user")
    app_id = new_unlock(client, world)
    page = html(client.get(f"/apply/unlock/{app_id}"))
    client.post("/auth/logout", data={"csrf_token": token_from(page)})
    login(client, "contractor2_user")
    token = token_from(html(client.get("/apply/unlock/")))
    assert client.get(f"/apply/unlock/{app_id}").status_code == 404
    assert client.post(f"/apply/unlock/{app_id}", data={"csrf_token": token, "reason": "x"}).status_code == 404
    assert client.post(f"/apply/unlock/{app_id}/report", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/apply/unlock/{app_id}/withdraw", data={"csrf_token": token}).status_code == 404
    # choosing the other enterprise's lock record in 添加 is refused without creating anything
    db.session.rollback()
    [lock] = [a.lock_record for a in db.session.query(UnlockApplication)]
    resp = client.post("/apply/unlock/new", data={"csrf_token": token, "target_id": str(lock.id)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/apply/unlock/new")


@pytest.fixture()
def change_setup(world):
    old = world.add_person("张三", "contractor", CONSTRUCTOR, SAFETY_B)
    busy = world.add_person("钱七", "contractor", CONSTRUCTOR, SAFETY_B)
    free = world.add_person("孙八", "contractor", CONSTRUCTOR, SAFETY_B)
    p1 = world.add_project("昆明市第一中学教学楼")
    p2 = world.add_project("昆明市呈贡区综合楼")
    world.assign(old, p1, PROJECT_MANAGER)
    world.assign(busy, p2, PROJECT_MANAGER)
    return old, busy, free


def new_change(client):
    page = html(client.get("/apply/change/"))
    target = re.search(r'name="target_id" value="(\d+)"', page).group(1)
    resp = client.post("/apply/change/new", data={"csrf_token": token_from(page), "target_id": target})
    return int(re.search(r"/apply/change/(\d+)$", resp.headers["Location"]).group(1))


def test_change_picker_shows_the_busy_message(client, world, change_setup):
    old, busy, free = change_setup
    login(client, "contractor_user")
    app_id = new_change(client)
    page = html(client.get(f"/apply/change/{app_id}"))
    assert re.search(rf'value="{busy.id}"[^>]*data-problem="该项目经理已有项目管理工作，请重新选择"', page)
    assert re.search(rf'value="{free.id}"[^>]*data-problem=""', page)
    check = client.get(f"/apply/change/{app_id}/check?person_id={busy.id}").get_json()
    assert check == {"ok": False, "message": "该项目经理已有项目管理工作，请重新选择"}
    assert client.get(f"/apply/change/{app_id}/check?person_id={free.id}").get_json() == {"ok": True, "message": ""}
    # the server re-checks on 暂存 and keeps what was typed
    resp = submit(client, f"/apply/change/{app_id}", f"/apply/change/{app_id}",
                  {"new_person_id": str(busy.id), "reason": "原项目经理调岗"})
    assert resp.status_code == 400
    assert "变更后人员：该项目经理已有项目管理工作，请重新选择" in html(resp) and "原项目经理调岗" in html(resp)
    resp = submit(client, f"/apply/change/{app_id}", f"/apply/change/{app_id}",
                  {"new_person_id": str(free.id), "reason": "原项目经理调岗"})
    assert resp.status_code == 302
    listing = html(client.get("/apply/change/"))
    assert "孙八" in listing and "原项目经理调岗" in listing


def test_change_list_has_exactly_the_manual_columns(client, world, change_setup):
    login(client, "contractor_user")
    new_change(client)
    page = html(client.get("/apply/change/"))
    table = re.search(r'<table class="table list">.*?</thead>', page, re.S).group(0)
    assert re.findall(r"<th>(.*?)</th>", table) == [
        "序号", "办件编号", "工程名称", "变更类型", "变更前人员", "变更后人员", "变更原因", "申请单位", "上报时间", "状态",
        "操作"]
    assert ">上报</button>" in page and ">作废</button>" in page and ">撤回</button>" not in page   # a draft


def test_unlock_and_completion_list_columns(client, world, locked):
    login(client, "contractor_user")
    new_unlock(client, world)
    page = html(client.get("/apply/unlock/"))
    table = re.search(r'<table class="table list">.*?</thead>', page, re.S).group(0)
    assert re.findall(r"<th>(.*?)</th>", table) == [
        "序号", "办件编号", "人员姓名", "身份证号", "锁定角色", "添加锁定的工程", "解锁原因", "上报时间", "状态", "操作"]
    assert locked[0].id_card not in page and locked[0].id_card[-4:] in page   # masked
    client.post("/auth/logout", data={"csrf_token": token_from(page)})
    login(client, "owner_user")
    page = html(client.get("/apply/completion/"))
    table = re.search(r'<table class="table list">.*?</thead>', page, re.S).group(0)
    assert re.findall(r"<th>(.*?)</th>", table) == [
        "序号", "办件编号", "工程名称", "竣工验收日期", "施工许可证号", "上报时间", "状态", "操作"]


def test_oplog_partial_shows_empty_state(ctx):
    from flask import render_template_string
    with ctx.test_request_context():
        out = render_template_string('{% include "apps/_oplog.html" %}', log=[])
    assert "暂无数据" in out
    for head in ["序号", "操作时间", "操作人", "操作", "意见"]:
        assert f"<th>{head}</th>" in out


def test_detail_log_after_creation(client, world, locked):
    login(client, "contractor_user")
    app_id = new_unlock(client, world)
    page = html(client.get(f"/apply/unlock/{app_id}"))
    log = re.search(r'<table class="table oplog">.*?</table>', page, re.S).group(0)
    assert "新建" in log and "吴施工" in log and "暂无数据" not in log


def test_completion_filed_and_reported(client, world):
    project = world.add_project("昆明市第三中学体育馆")
    db.session.commit()
    login(client, "owner_user")
    page = html(client.get("/apply/completion/new"))
    assert "昆明市第三中学体育馆" in page
    resp = client.post("/apply/completion/new", data={"csrf_token": token_from(page), "target_id": str(project.id)})
    app_id = int(re.search(r"/apply/completion/(\d+)$", resp.headers["Location"]).group(1))
    page = html(client.get(f"/apply/completion/{app_id}"))
    assert f'value="{project.permit_no}"' in page   # prefilled
    resp = submit(client, f"/apply/completion/{app_id}", f"/apply/completion/{app_id}",
                  {"acceptance_date": "2099-01-01", "conclusion": "合格", "permit_no": project.permit_no})
    assert resp.status_code == 400 and "竣工验收日期：不能晚于今天" in html(resp) and "合格" in html(resp)
    resp = submit(client, f"/apply/completion/{app_id}", f"/apply/completion/{app_id}",
                  {"acceptance_date": "2024-05-20", "conclusion": "合格", "permit_no": project.permit_no})
    assert resp.status_code == 302
    resp = submit(client, f"/apply/completion/{app_id}", f"/apply/completion/{app_id}/report", {})
    assert resp.status_code == 302
    db.session.rollback()
    assert db.session.get(CompletionFiling, app_id).status == REPORTED


def test_a_draft_is_discarded_from_its_page(client, world, locked):
    login(client, "contractor_user")
    app_id = new_unlock(client, world)
    detail = html(client.get(f"/apply/unlock/{app_id}"))
    assert ">作废</button>" in detail and ">撤回</button>" not in detail
    resp = submit(client, f"/apply/unlock/{app_id}", f"/apply/unlock/{app_id}/discard", {})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/apply/unlock/")
    page = html(client.get(resp.headers["Location"]))
    assert "草稿已作废" in page and '<span class="badge status-discarded">已作废</span>' in page
    # a second 作废 (another tab) is refused with the reason, not a 500
    resp = submit(client, "/apply/unlock/", f"/apply/unlock/{app_id}/discard", {})
    assert "只有尚未上报的草稿可以作废" in html(client.get(resp.headers["Location"]))


def test_the_change_saves_like_every_process_back_to_the_list(client, world, change_setup):
    """One save rule: 暂存 keeps the draft and returns to the list with 已暂存, on every process."""
    _old, _busy, free = change_setup
    login(client, "contractor_user")
    app_id = new_change(client)
    resp = submit(client, f"/apply/change/{app_id}", f"/apply/change/{app_id}",
                  {"new_person_id": str(free.id), "reason": "原项目经理调离"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/apply/change/")
    assert "已暂存" in html(client.get(resp.headers["Location"]))


def test_list_filters_by_status(client, world, services):
    from .world import locked_person, reported_unlock
    reported_unlock(world, services, locked_person(world, "张三")[0])
    locked_person(world, "李四")
    [lock] = services.unlock.lockable(world.who("contractor_user"))
    services.unlock.create(world.who("contractor_user"), lock.id)
    login(client, "contractor_user")
    def listed(url):   # the list table only: the 添加 dialog names people with an open application too
        return re.search(r'<table class="table list">.*?</table>', client.get(url).get_data(as_text=True), re.S)[0]
    everything = listed("/apply/unlock/")
    assert "张三" in everything and "李四" in everything
    reported = listed("/apply/unlock/?status=reported")
    assert "张三" in reported and "李四" not in reported
    drafts = listed("/apply/unlock/?status=draft")
    assert "李四" in drafts and "张三" not in drafts
    assert "张三" in listed("/apply/unlock/?status=bogus")


def _breadcrumb(page):
    return re.sub(r"<[^>]+>", "", re.search(r'<p class="breadcrumb">(.*?)</p>', page, re.S).group(1)).strip()


def _menu(page, label):
    """The links of one top menu, each with its group's title: [(group, link text)]."""
    start = page.index(f'aria-expanded="false">{label} ')
    ends = [i for i in (page.find('<div class="menu">', start), page.find("</nav>", start)) if i > 0]
    found = []
    for group in page[start:min(ends)].split('<div class="menu-group">')[1:]:
        title = re.search(r'<div class="menu-group-title">(.*?)</div>', group)
        for text in re.findall(r'<a href="[^"]+">(.*?)</a>', group):
            found.append((title.group(1) if title else None, text))
    return found


def test_the_menus_and_breadcrumbs_follow_the_manual(client, world, locked):
    """The manual's entries: 人员管理-锁定/解锁-人员解锁申请 and -项目主要管理人员变更 (2.2.1.1, 2.2.1.2),
    项目管理-在建-工程报监 (2.3.1), 项目管理-在建-验收管理-竣工验收备案 (2.3.2)."""
    login(client, "contractor_user")
    page = html(client.get("/apply/unlock/"))
    menu = _menu(page, "人员管理")
    assert ("锁定/解锁", "人员解锁申请") in menu and ("锁定/解锁", "项目主要管理人员变更") in menu
    assert _breadcrumb(page) == "人员管理 › 锁定/解锁 › 人员解锁申请"
    assert _breadcrumb(html(client.get("/apply/change/"))) == "人员管理 › 锁定/解锁 › 项目主要管理人员变更"
    client.post("/auth/logout", data={"csrf_token": token_from(page)})
    login(client, "owner_user")
    page = html(client.get("/apply/completion/"))
    assert _breadcrumb(page) == "项目管理 › 在建 › 验收管理 › 竣工验收备案"
    menu = _menu(page, "项目管理")
    assert ("在建", "工程报监") in menu and ("验收管理", "竣工验收备案") in menu
    assert _breadcrumb(html(client.get("/enterprise/projects"))) == "项目管理 › 在建 › 工程报监"


def test_unlock_detail_shows_the_lock_read_only_and_edits_only_the_applicants_fields(client, world, locked):
    """2.2.1.1 step 3: the lock record and its project are shown; the form edits 解锁原因, the
    explanation and the 建设工程项目人员解锁申请表, nothing else."""
    pm, project = locked
    login(client, "contractor_user")
    app_id = new_unlock(client, world)
    page = html(client.get(f"/apply/unlock/{app_id}"))
    summary = re.search(r'<dl class="summary">(.*?)</dl>', page, re.S).group(1)
    for label, value in (("人员姓名", "张三"), ("锁定角色", "项目经理"),
                         ("添加锁定的工程", f"昆明市第一中学教学楼（{project.supervision_no}）"),
                         ("锁定原因", "项目经理在建工程数已达上限（1 个）")):
        assert re.search(rf"<dt>{label}</dt><dd>{re.escape(value)}</dd>", summary), label
    form = re.search(r'<form method="post" enctype="multipart/form-data" class="card form".*?</form>', page, re.S)[0]
    fields = set(re.findall(r'<(?:input|select|textarea)[^>]*name="([^"]+)"', form)) - {"csrf_token", "edit"}
    assert fields == {"reason", "explanation", "unlock_form"}


def test_completion_save_returns_to_the_list(client, world):
    """2.3.2 step 3: 暂存 saves the record and returns to the list page."""
    project = world.add_project("昆明市第五中学图书馆")
    db.session.commit()
    login(client, "owner_user")
    page = html(client.get("/apply/completion/new"))
    resp = client.post("/apply/completion/new", data={"csrf_token": token_from(page), "target_id": str(project.id)})
    app_id = int(re.search(r"/apply/completion/(\d+)$", resp.headers["Location"]).group(1))
    detail = html(client.get(f"/apply/completion/{app_id}"))
    assert ">暂存</button>" in detail
    resp = submit(client, f"/apply/completion/{app_id}", f"/apply/completion/{app_id}",
                  {"acceptance_date": "2024-05-20", "conclusion": "合格", "permit_no": project.permit_no})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/apply/completion/")
    listing = html(client.get("/apply/completion/"))
    assert "昆明市第五中学图书馆" in listing and "2024-05-20" in listing and "草稿" in listing
