"""版本迁移 pages: the plan form, the dry-run report with its CSV and Excel downloads, the run as jobs
with its results, and a rollback; only designers reach them."""
import io
import re

from openpyxl import load_workbook
from sqlalchemy import select

from engine.db import db
from engine.models import HumanTask, ProcessInstance

from .test_version_migration import deploy_site_check
from .web_helpers import client_world, csrf_token, login, post  # noqa: F401 (fixture)
from .world import locked_person, reported_unlock


def test_a_designer_plans_reads_the_report_migrates_and_rolls_back(client_world, services):
    client, world = client_world
    apps = [reported_unlock(world, services, locked_person(world, name)[0]) for name in ("张三", "李四")]
    case_nos = [db.session.get(ProcessInstance, a.instance_id).case_no for a in apps]
    v2 = deploy_site_check(services)
    db.session.commit()
    login(client, "designer")
    assert "版本迁移" in client.get("/studio/").get_data(as_text=True)

    bad = post(client, "/studio/migrations/", {"process_key": "personnel_unlock", "from_version": "一",
                                               "to_version": str(v2)}, form_url="/studio/migrations/")
    assert bad.status_code == 400 and "源版本：请填写版本号" in bad.get_data(as_text=True)
    bad = post(client, "/studio/migrations/", {"process_key": "personnel_unlock", "from_version": "1",
                                               "to_version": str(v2), "mapping": "Task_Review"},
               form_url="/studio/migrations/")
    assert bad.status_code == 400 and "映射：每行写作 源元素=目标元素" in bad.get_data(as_text=True)

    resp = post(client, "/studio/migrations/", {"process_key": "personnel_unlock", "from_version": "1",
                                                "to_version": str(v2), "mapping": "Task_Review=Task_SiteCheck"},
                form_url="/studio/migrations/")
    assert resp.status_code == 302
    plan_url = resp.headers["Location"]
    plan_id = int(re.search(r"/(\d+)$", plan_url).group(1))
    page = client.get(plan_url).get_data(as_text=True)
    for text in (*case_nos, "云南建投第一建设有限公司", "待办移至「现场核查」", "「到期」取消", "可以迁移 2 件"):
        assert text in page
    csv_text = client.get(f"/studio/migrations/{plan_id}/report.csv").get_data().decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("办件编号,申请人") and case_nos[0] in csv_text
    sheet = load_workbook(io.BytesIO(client.get(f"/studio/migrations/{plan_id}/report.xlsx").get_data())).active
    assert [c.value for c in sheet[1]][:2] == ["办件编号", "申请人"] and sheet.max_row == 3

    assert post(client, f"/studio/migrations/{plan_id}/start", form_url=plan_url).status_code == 302
    assert "待执行 2" in client.get(plan_url).get_data(as_text=True)
    services.worker().run_due()
    page = client.get(plan_url).get_data(as_text=True)
    assert "已迁移 2" in page and page.count("已迁移</td>") == 2

    post(client, f"/studio/migrations/{plan_id}/rollback/{apps[0].instance_id}", form_url=plan_url)
    db.session.rollback()   # see what the requests committed
    steps = [db.session.scalar(select(HumanTask.element_id).where(HumanTask.instance_id == a.instance_id,
                                                                  HumanTask.state == "open")) for a in apps]
    assert steps == ["Task_Review", "Task_SiteCheck"]
    assert "已回退 1" in client.get(plan_url).get_data(as_text=True)


def test_a_large_plan_s_report_is_read_a_page_at_a_time(client_world, services, monkeypatch):
    """The on-screen dry run analyses one page of applications; the exports still hold them all."""
    import handlers.migration
    monkeypatch.setattr(handlers.migration, "REPORT_PAGE", 2)
    client, world = client_world
    apps = [reported_unlock(world, services, locked_person(world, name)[0]) for name in ("张三", "李四", "王五")]
    case_nos = sorted(db.session.get(ProcessInstance, a.instance_id).case_no for a in apps)
    v2 = deploy_site_check(services)
    db.session.commit()
    login(client, "designer")
    plan_url = post(client, "/studio/migrations/", {"process_key": "personnel_unlock", "from_version": "1",
                                                    "to_version": str(v2), "mapping": "Task_Review=Task_SiteCheck"},
                    form_url="/studio/migrations/").headers["Location"]
    first, second = client.get(plan_url).get_data(as_text=True), client.get(plan_url + "?page=2").get_data(as_text=True)
    shown = lambda page: sorted(c for c in case_nos if c in page)   # noqa: E731
    assert len(shown(first)) == 2 and len(shown(second)) == 1 and shown(first) + shown(second) == case_nos
    assert "共 3 件，分 2 页预演；本页可以迁移 2 件" in first and "第 1 / 2 页" in first
    assert "本页可以迁移 1 件" in client.get(plan_url + "?page=99").get_data(as_text=True)   # the last page
    plan_id = int(re.search(r"/(\d+)$", plan_url).group(1))
    csv_text = client.get(f"/studio/migrations/{plan_id}/report.csv").get_data().decode("utf-8-sig")
    assert all(c in csv_text for c in case_nos)


def test_only_designers_reach_the_migration_pages(client_world):
    client, _world = client_world
    login(client, "agency_reviewer")
    assert client.get("/studio/migrations/").status_code == 403
    resp = client.post("/studio/migrations/1/start", data={"csrf_token": csrf_token(client, "/review/")})
    assert resp.status_code == 403
