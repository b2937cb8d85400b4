"""The process diagram in a browser: the applicant's business path, the reviewer's full diagram
with its zoom, and labels that do not overlap in either."""
import pytest
from playwright.sync_api import expect

from engine.db import db

from ..world import locked_person, reported_unlock
from .test_unlock_in_browser import login

pytestmark = pytest.mark.browser

OVERLAPS = """svg => {
  const boxes = [...svg.querySelectorAll('text.label')].map(t => [t.textContent, t.getBoundingClientRect()]);
  const hits = [];
  boxes.forEach(([a, p], i) => boxes.slice(i + 1).forEach(([b, q]) => {
    if (p.left < q.right - 1 && q.left < p.right - 1 && p.top < q.bottom - 1 && q.top < p.bottom - 1) hits.push([a, b]);
  }));
  return hits;
}"""


def _reported(live):
    pm, _ = locked_person(live.world, "张三", project_name="昆明市第一中学教学楼")
    app = reported_unlock(live.world, live.app.extensions["services"], pm)
    db.session.commit()
    return app


def test_the_applicant_sees_the_business_path(live, new_page):
    app = _reported(live)
    page = new_page()
    login(page, live.url, "contractor_user")
    page.goto(f"{live.url}/apply/unlock/{app.id}")
    svg = page.locator("svg.bpmn-diagram")
    expect(svg).to_have_attribute("data-view", "business")
    expect(svg.locator("g.active")).to_contain_text("审核")
    for internal in ("超期预警", "已督办", "标记超期并督办"):
        expect(svg).not_to_contain_text(internal)
    expect(svg).to_contain_text("未签收时撤回")      # what the applicant can still do
    assert svg.evaluate(OVERLAPS) == []


def test_the_reviewer_sees_everything_and_zooms(live, new_page):
    _reported(live)
    page = new_page()
    login(page, live.url, "agency_reviewer")
    page.goto(f"{live.url}/review/")
    page.click("text=张三（项目经理）解锁")
    svg = page.locator("svg.bpmn-diagram")
    expect(svg).to_have_attribute("data-view", "full")
    expect(svg).to_contain_text("超期预警")
    expect(svg.locator(".icon-timer")).to_have_count(2)
    assert svg.evaluate(OVERLAPS) == []
    fitted = svg.bounding_box()["width"]
    page.click("button[data-zoom=in]")
    page.click("button[data-zoom=in]")
    expect(page.locator("[data-zoom-level]")).to_have_text("156%")
    assert svg.bounding_box()["width"] == pytest.approx(fitted * 1.5625, rel=0.02)
    page.click("button[data-zoom=out]")
    expect(page.locator("[data-zoom-level]")).to_have_text("125%")
    page.click("button[data-zoom=fit]")
    expect(page.locator("[data-zoom-level]")).to_have_text("100%")
    assert svg.bounding_box()["width"] == pytest.approx(fitted, rel=0.01)
