"""Enterprise pages over HTTP: basic information and its history, people and locks, projects."""
import pytest

from handlers.models import (
    CHIEF_SUPERVISOR, CONSTRUCTOR, PROJECT_MANAGER, SAFETY_B, SAFETY_C, SAFETY_OFFICER, SUPERVISION_ENGINEER,
)

from .test_web_apply import client, html, submit  # noqa: F401  (the client fixture)
from .web_helpers import login


@pytest.fixture()
def staffed(world):
    pm = world.add_person("张三", "contractor", CONSTRUCTOR, SAFETY_B)
    so = world.add_person("李四", "contractor", SAFETY_C)
    other = world.add_person("王五", "contractor2", CONSTRUCTOR, SAFETY_B)
    chief = world.add_person("赵六", "firm", SUPERVISION_ENGINEER)
    project = world.add_project("昆明市第一中学教学楼", contract_no="HT2024-001")
    world.assign(pm, project, PROJECT_MANAGER)
    world.assign(so, project, SAFETY_OFFICER)
    world.assign(chief, project, CHIEF_SUPERVISOR)
    return {"pm": pm, "so": so, "other": other, "chief": chief, "project": project}


def test_anonymous_is_sent_to_login(client):
    for url in ["/enterprise/info", "/enterprise/people", "/enterprise/people/1", "/enterprise/projects"]:
        resp = client.get(url)
        assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"], url


def test_info_view_edit_and_history(client, world):
    login(client, "contractor_user")
    page = html(client.get("/enterprise/info"))
    assert "企业基本信息" in page and "统一社会信用代码" in page and world.org("contractor").credit_code in page
    assert "暂无数据" in page
    resp = submit(client, "/enterprise/info", "/enterprise/info",
                  {"name": "云南建投第一建设有限公司", "contact_person": "吴工", "contact_phone": "0871-65000000",
                   "legal_representative": "", "address": "昆明市盘龙区", "region": "昆明市", "business_scope": ""})
    assert resp.status_code == 302
    page = html(client.get("/enterprise/info"))
    assert "联系人" in page and "（空） → 吴工" in page.replace("</span>", "").replace('<span class="old">', "") \
        .replace('<span class="new">', "")
    assert "吴施工" in page   # 操作人


def test_info_requires_name(client, world):
    login(client, "owner_user")
    resp = submit(client, "/enterprise/info", "/enterprise/info", {"name": "", "contact_person": "周工"})
    assert resp.status_code == 400
    page = html(resp)
    assert "企业名称：请填写企业名称" in page and 'value="周工"' in page


def test_info_refuses_regulators(client, world):
    login(client, "agency_reviewer")
    assert client.get("/enterprise/info").status_code == 403


def test_people_list_search_and_detail(client, world, staffed):
    login(client, "contractor_user")
    page = html(client.get("/enterprise/people"))
    assert "张三" in page and "李四" in page and "王五" not in page
    assert "锁定" in page and "注册建造师" in page
    page = html(client.get("/enterprise/people?q=李"))
    assert "李四" in page and "张三" not in page
    detail = html(client.get(f"/enterprise/people/{staffed['pm'].id}"))
    assert "锁定记录" in detail and "昆明市第一中学教学楼" in detail and "项目经理在建工程数已达上限" in detail
    assert "HT2024-001" in detail


def test_someone_elses_person_is_404(client, world, staffed):
    login(client, "contractor_user")
    assert client.get(f"/enterprise/people/{staffed['other'].id}").status_code == 404
    assert client.get(f"/enterprise/people/{staffed['chief'].id}").status_code == 404
    assert client.get("/enterprise/people/999999").status_code == 404


def test_people_pages_are_for_contractors_and_firms(client, world, staffed):
    login(client, "owner_user")
    assert client.get("/enterprise/people").status_code == 403
    assert client.get(f"/enterprise/people/{staffed['pm'].id}").status_code == 403


def test_firm_sees_its_chief_supervisor(client, world, staffed):
    login(client, "firm_user")
    page = html(client.get("/enterprise/people"))
    assert "赵六" in page and "张三" not in page


def test_projects_of_the_construction_unit(client, world, staffed):
    login(client, "owner_user")
    page = html(client.get("/enterprise/projects"))
    for text in ["工程报监", "昆明市第一中学教学楼", "HT2024-001", staffed["project"].supervision_no,
                 staffed["project"].permit_no, "在建", "云南建投第一建设有限公司", "云南建设监理咨询有限公司",
                 "昆明市住房和城乡建设局", "昆明市建设工程质量安全监督站", "项目经理：张三", "安全员：李四",
                 "项目总监：赵六"]:
        assert text in page, text


def test_projects_refuse_contractors(client, world):
    login(client, "contractor_user")
    assert client.get("/enterprise/projects").status_code == 403


def test_each_save_is_kept_with_who_when_and_which_fields(client, world):
    """domain.md §3 (decided): each 保存 of the basic information is kept in a change history: who,
    when, which fields (old → new). A save that changes nothing adds nothing; the credit code is
    shown, not edited."""
    import re

    from engine.db import db
    from engine.models import utcnow
    from handlers.models import OrgInfoChange, Organization
    from webui.filters import local_dt
    org = world.org("contractor")
    code = org.credit_code
    login(client, "contractor_user")
    base = {"name": "云南建投第一建设有限公司", "contact_person": "吴工", "contact_phone": "0871-65000000",
            "legal_representative": "", "address": "", "region": "", "business_scope": ""}
    started = utcnow()
    assert submit(client, "/enterprise/info", "/enterprise/info", base).status_code == 302
    assert submit(client, "/enterprise/info", "/enterprise/info",
                  {**base, "address": "昆明市盘龙区", "credit_code": "91530100000000000X"}).status_code == 302
    assert submit(client, "/enterprise/info", "/enterprise/info",
                  {**base, "address": "昆明市盘龙区"}).status_code == 302      # nothing changed
    ended = utcnow()
    db.session.rollback()   # read what the requests committed
    assert db.session.get(Organization, org.id).credit_code == code
    history = db.session.scalars(db.select(OrgInfoChange).where(OrgInfoChange.org_id == org.id)
                                 .order_by(OrgInfoChange.id)).all()
    assert [h.changes for h in history] == [
        {"contact_person": ["", "吴工"], "contact_phone": ["", "0871-65000000"]},
        {"address": ["", "昆明市盘龙区"]}]
    assert all(started <= h.at <= ended for h in history)
    assert {h.user_name for h in history} == {"吴施工"}
    page = html(client.get("/enterprise/info"))
    records = re.search(r"<h2>变更记录</h2>.*?</table>", page, re.S).group(0)
    rows = re.findall(r"<tr>\s*<td>(\d+)</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>", records)
    assert rows == [("1", local_dt(history[1].at), "吴施工"), ("2", local_dt(history[0].at), "吴施工")]  # newest first
    assert "<strong>地址</strong>" in records and "<strong>联系电话</strong>" in records


def test_project_list_shows_only_the_units_own_projects(client, world, staffed):
    """2.3.1: 工程报监 lists the projects the construction unit itself filed for supervision."""
    from handlers.models import CONSTRUCTION_UNIT
    world.add_org("owner2", CONSTRUCTION_UNIT, "昆明市城建投资开发有限公司")
    world.add_account("owner2_user", "owner2", "何建设")
    world.add_project("别家的工程", owner="owner2")
    login(client, "owner_user")
    page = html(client.get("/enterprise/projects"))
    assert "昆明市第一中学教学楼" in page and "别家的工程" not in page
