"""转办, 批量签收, the next open task and 常用意见 (issue 12, features 6 and 7)."""
import threading

import pytest
from sqlalchemy import select

from engine import NotCandidate, TaskAlreadyClaimed, TaskNotClaimed
from engine.db import db
from engine.models import AuditEntry, HumanTask, TaskCandidate
from handlers.errors import DomainError, NotFound
from handlers.models import Notification, OpinionPhrase

from .world import locked_person, reported_unlock, row_counts


@pytest.fixture()
def two_tasks(world, services):
    tasks = []
    for name in ("张三", "李四"):
        pm, _project = locked_person(world, name, project_name=f"{name}的工程")
        reported_unlock(world, services, pm)
    tasks = services.reviews.inbox(world.who("auth_reviewer")).rows
    assert len(tasks) == 2
    return tasks


def test_transfer_hands_the_task_to_a_colleague_who_is_told(world, services, two_tasks):
    me, colleague = world.who("auth_reviewer"), world.who("auth_reviewer2")
    task = two_tasks[0]
    assert services.reviews.colleagues(me) == [(colleague.user_id, "王审核")]
    services.reviews.claim(me, task.id)
    services.reviews.transfer(me, task.id, colleague.user_id, "本人出差，请代为办理")
    db.session.expire_all()
    row = db.session.get(HumanTask, task.id)
    assert (row.claimed_by_user_id, row.claimed_by_name) == (colleague.user_id, "王审核")
    # the candidate rows follow the holder: it is now in the colleague's 我的待办, not mine
    assert [t.id for t in services.reviews.inbox(colleague, "mine").rows] == [task.id]
    assert services.reviews.inbox(me, "mine").rows == []
    assert set(db.session.scalars(select(TaskCandidate.claimed_by_user_id)
                                  .where(TaskCandidate.task_id == task.id))) == {colleague.user_id}
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.instance_id == row.instance_id)
                               .order_by(AuditEntry.id.desc())).first()
    assert (entry.action, entry.user_name, entry.opinion) == ("转办", "李审核", "转办给王审核：本人出差，请代为办理")
    [note] = db.session.scalars(select(Notification).where(Notification.kind == "task_transferred")).all()
    assert note.user_id == colleague.user_id and note.task_id == task.id
    assert "本人出差" in note.body
    # the colleague decides; I no longer can
    with pytest.raises(TaskAlreadyClaimed):
        services.reviews.approve(me, task.id)
    services.reviews.approve(colleague, task.id, "同意")
    # the 转办 entry and its opinion are part of the tamper-evident chain
    from engine.audit import verify_chains
    db.session.commit()
    assert [found for _instance, found in verify_chains(row.instance_id)] == [None]


def test_transfer_goes_through_the_claim_gate(world, services, two_tasks):
    me, colleague, agency = (world.who(k) for k in ("auth_reviewer", "auth_reviewer2", "agency_reviewer"))
    task = two_tasks[0]
    before = row_counts(AuditEntry, Notification)
    with pytest.raises(TaskNotClaimed):   # nobody holds it
        services.reviews.transfer(me, task.id, colleague.user_id, "请代办")
    services.reviews.claim(colleague, task.id)
    with pytest.raises(TaskAlreadyClaimed) as exc:   # someone else holds it
        services.reviews.transfer(me, task.id, colleague.user_id, "请代办")
    assert "王审核" in exc.value.message
    with pytest.raises(DomainError) as exc:   # not a colleague: the other organisation's reviewer
        services.reviews.transfer(colleague, task.id, agency.user_id, "请代办")
    assert exc.value.field == "to_user_id"
    with pytest.raises(DomainError) as exc:
        services.reviews.transfer(colleague, task.id, me.user_id, "  ")
    assert exc.value.field == "reason" and exc.value.message == "转办原因：请填写转办原因"
    with pytest.raises(NotCandidate):
        services.engine.transfer(task.id, colleague.actor, agency.actor, "跨单位")
    after = row_counts(AuditEntry, Notification)
    assert after["audit_entry"] == before["audit_entry"] + 1   # only the colleague's 签收
    db.session.expire_all()
    assert db.session.get(HumanTask, task.id).claimed_by_user_id == colleague.user_id


def test_batch_claim_is_all_or_nothing_per_task_with_reasons(world, services, two_tasks):
    me, agency = world.who("auth_reviewer"), world.who("agency_reviewer")
    first, second = two_tasks
    services.reviews.claim(agency, second.id)
    result = services.reviews.claim_many(me, [first.id, second.id, 999999])
    assert [t.id for t in result.claimed] == [first.id]
    refused = {r.task_id: r for r in result.refused}
    assert refused[second.id].reason == "该任务已由昆明市建设工程质量安全监督站的赵监督签收"
    assert refused[second.id].subject == second.subject
    assert refused[999999].reason == "任务不存在或无权访问"
    db.session.expire_all()
    assert db.session.get(HumanTask, first.id).claimed_by_user_id == me.user_id
    assert db.session.get(HumanTask, second.id).claimed_by_user_id == agency.user_id


def test_next_task_after_a_decision(world, services, two_tasks):
    me = world.who("auth_reviewer")
    first, second = two_tasks
    services.reviews.claim(me, first.id)
    assert services.reviews.next_task_id(me) == first.id        # my own claimed task first
    services.reviews.approve(me, first.id, "同意")
    assert services.reviews.next_task_id(me) == second.id       # then an unclaimed one
    services.reviews.claim(me, second.id)
    services.reviews.return_(me, second.id, "材料不全")
    assert services.reviews.next_task_id(me) is None


def test_opinion_phrases_are_per_user(world, services):
    me, colleague = world.who("auth_reviewer"), world.who("auth_reviewer2")
    services.reviews.add_phrase(me, "  材料齐全，  同意。 ")
    services.reviews.add_phrase(me, "请补充解锁申请表原件")
    assert [p.text for p in services.reviews.phrases(me)] == ["材料齐全， 同意。", "请补充解锁申请表原件"]
    assert services.reviews.phrases(colleague) == []
    with pytest.raises(DomainError) as exc:
        services.reviews.add_phrase(me, "请补充解锁申请表原件")
    assert exc.value.message == "常用意见：该意见已保存" and exc.value.field == "text"
    with pytest.raises(DomainError):
        services.reviews.add_phrase(me, "")
    phrase_id = services.reviews.phrases(me)[0].id
    with pytest.raises(NotFound):   # another user's phrase cannot be deleted
        services.reviews.delete_phrase(colleague, phrase_id)
    services.reviews.delete_phrase(me, phrase_id)
    assert [p.text for p in services.reviews.phrases(me)] == ["请补充解锁申请表原件"]
    assert db.session.scalar(select(OpinionPhrase.id).where(OpinionPhrase.id == phrase_id)) is None
