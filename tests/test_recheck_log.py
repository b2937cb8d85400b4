"""A failed approval-time re-check is logged as what happened (复核未通过), not as the effect,
and the applicant's page does not present it as a reviewer's 审核意见."""
import re

from handlers.models import CONSTRUCTOR, PROJECT_MANAGER, RETURNED, SAFETY_B

from .test_web_apply import FreshClient, html
from .web_helpers import login
from .world import locked_person


def _reported_change(world, services):
    old, project = locked_person(world, "原经理")
    new = world.add_person("新经理", "contractor", CONSTRUCTOR, SAFETY_B)
    applicant = world.who("contractor_user")
    [assignment] = services.change.changeable(applicant)
    app = services.change.create(applicant, assignment.id)
    services.change.save(applicant, app.id, {"new_person_id": new.id, "reason": "原经理调离"})
    services.change.report(applicant, app.id)
    return app, new


def _decide(world, services, app, decision, opinion, reviewer_key="agency_reviewer"):
    reviewer = world.who(reviewer_key)
    task = services.change.open_task(app)
    services.reviews.claim(reviewer, task.id)
    getattr(services.reviews, decision)(reviewer, task.id, opinion)


def _page(ctx, app):
    ctx.test_client_class = FreshClient
    try:
        client = ctx.test_client()
        login(client, "contractor_user")
        return html(client.get(f"/apply/change/{app.id}"))
    finally:
        ctx.test_client_class = None


def test_failed_recheck_is_logged_and_shown_as_the_systems(ctx, world, services):
    app, new = _reported_change(world, services)
    world.assign(new, world.add_project("新经理的其他工程"), PROJECT_MANAGER)
    _decide(world, services, app, "approve", "同意变更")
    assert app.status == RETURNED
    log = services.change.operation_log(app)
    assert [(e.action, e.user_name) for e in log[-2:]] == [("审核通过", "赵监督"), ("复核未通过", "系统")]
    assert "变更生效" not in [e.action for e in log]

    page = _page(ctx, app)
    assert "已退回，系统复核未通过：该项目经理已有项目管理工作，请重新选择。请修改后重新上报，或撤回。" in page
    assert "审核意见" not in page
    row = re.search(r"<tr>\s*<td>\d+</td>\s*<td>[^<]*</td>\s*<td>系统</td>\s*<td>复核未通过</td>\s*"
                    r"<td>审核通过时复核未通过：该项目经理已有项目管理工作，请重新选择</td>", page)
    assert row, page


def test_a_reviewers_return_after_a_failed_recheck_shows_their_opinion(ctx, world, services):
    app, new = _reported_change(world, services)
    world.assign(new, world.add_project("新经理的其他工程"), PROJECT_MANAGER)
    _decide(world, services, app, "approve", "同意变更")
    other = world.add_person("另一新经理", "contractor", CONSTRUCTOR, SAFETY_B)
    applicant = world.who("contractor_user")
    services.change.save(applicant, app.id, {"new_person_id": other.id})
    services.change.report(applicant, app.id)
    _decide(world, services, app, "return_", "请补充任命文件", "auth_reviewer")
    assert "已退回，审核意见：请补充任命文件。" in _page(ctx, app)
