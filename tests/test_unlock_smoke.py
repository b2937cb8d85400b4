from handlers.applications import Upload
from handlers.processes.unlock import UNLOCK_FORM
from handlers.models import APPROVED, LOCKED, NORMAL, PROJECT_MANAGER, CONSTRUCTOR, SAFETY_B, REPORTED

PDF = b"%PDF-1.4 unlock form"


def test_unlock_walks_from_draft_to_automatic_unlock(world, services):
    pm = world.add_person("张三", "contractor", CONSTRUCTOR, SAFETY_B)
    project = world.add_project("昆明市第一中学教学楼")
    world.assign(pm, project, PROJECT_MANAGER)
    assert pm.status == LOCKED
    applicant = world.who("contractor_user")
    [lock] = services.unlock.lockable(applicant)
    app = services.unlock.create(applicant, lock.id)
    services.unlock.save(applicant, app.id, {"reason": "项目已停工"},
                         [Upload(UNLOCK_FORM, "申请表.pdf", PDF)])
    services.unlock.report(applicant, app.id)
    assert app.status == REPORTED
    reviewer = world.who("agency_reviewer")
    page = services.reviews.inbox(reviewer)
    assert [t.subject for t in page.rows] == ["张三（项目经理）解锁"]
    task = page.rows[0]
    services.reviews.claim(reviewer, task.id)
    assert services.reviews.inbox(world.who("auth_reviewer"), "held").rows[0].claimed_by_name == "赵监督"
    services.reviews.approve(reviewer, task.id, "同意")
    assert app.status == APPROVED
    assert pm.status == NORMAL
    actions = [e.action for e in services.unlock.operation_log(app)]
    assert actions == ["新建", "暂存", "上报", "签收", "审核通过", "自动解锁"]
