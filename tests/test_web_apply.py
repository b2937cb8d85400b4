"""Applicant pages of the three processes over HTTP: lists, 添加, detail, save, upload, report, download."""
import re

import pytest
from flask.testing import FlaskClient

from handlers.models import (
    CHIEF_SUPERVISOR, CONSTRUCTOR, PROJECT_MANAGER, REPORTED, SAFETY_B, SUPERVISION_ENGINEER, CompletionFiling,
    ManagerChangeApplication, UnlockApplication,
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

