"""A people push that would move a person holding a key role to another employer is refused (409,
naming the assignment), and ``flask check-invariants`` names an assignment whose person works elsewhere."""
import pytest
from sqlalchemy import select, text

from engine.db import db
from handlers.invariants import check_invariants
from handlers.models import CONSTRUCTOR, NORMAL, SAFETY_B, Certificate, Person, Project

from .api_helpers import auth, machine_token, org_ref, person_payload, project_payload
from .web_helpers import client_world  # noqa: F401 (fixture)
from .world import locked_person


@pytest.fixture()
def api(client_world):
    client, world = client_world
    return client, world, machine_token()


def _moved_to(world, person, org_key, name=None) -> dict:
    """The person's push with another employer (and another name and no certificates)."""
    return {"id_card": person.id_card, "name": name or person.name, "employer": org_ref(world.org(org_key)),
            "certificates": []}


def test_a_locked_project_manager_cannot_be_moved_to_another_contractor(api):
    client, world, token = api
    pm, project = locked_person(world, "张三")
    certificates = sorted(c.number for c in pm.certificates)
    resp = client.post("/api/v1/people", json=_moved_to(world, pm, "contractor2", "张三丰"), headers=auth(token))
    body = resp.get_json()
    assert resp.status_code == 409 and resp.mimetype == "application/problem+json"
    assert body["errors"] == [{"field": "employer.credit_code", "message": (
        f"张三现任工程“张三的工程”（报监登记号 {project.supervision_no}）的项目经理，不能变更所在单位；"
        "请先由原单位办理项目主要管理人员变更或人员解锁")}]
    assert [(p["role"], p["project"], p["outcome"]) for p in body["people"]] == \
        [("project_manager", project.supervision_no, "assigned")]
    db.session.rollback()
    person = db.session.get(Person, pm.id)
    assert (person.enterprise_id, person.name) == (world.org("contractor").id, "张三")
    assert sorted(db.session.scalars(select(Certificate.number).where(Certificate.person_id == pm.id))) == certificates
    assert check_invariants() == []


def test_a_bulk_push_refuses_the_assigned_person_and_keeps_the_others(api):
    client, world, token = api
    chief, project = locked_person(world, "李总监", org_key="firm", role="chief_supervisor")
    free = world.add_person("王五", "contractor", CONSTRUCTOR, SAFETY_B)
    rows = [_moved_to(world, free, "contractor2"), _moved_to(world, chief, "contractor2"),
            person_payload(world, "新人")]
    body = client.post("/api/v1/people/bulk", json={"rows": rows}, headers=auth(token)).get_json()
    assert (body["accepted"], body["refused"]) == (2, 1)
    refused = body["results"][1]
    assert refused["status"] == 409 and "项目总监" in refused["errors"][0]["message"]
    assert project.supervision_no in refused["errors"][0]["message"]
    db.session.rollback()
    assert db.session.get(Person, free.id).enterprise_id == world.org("contractor2").id   # held no role
    assert db.session.get(Person, chief.id).enterprise_id == world.org("firm").id
    assert check_invariants() == []


def test_check_invariants_names_an_assignment_whose_person_works_elsewhere(ctx, world):
    pm, project = locked_person(world, "张三")
    assert check_invariants() == []
    db.session.execute(text("UPDATE person SET enterprise_id = :o WHERE id = :p"),
                       {"o": world.org("contractor2").id, "p": pm.id})
    db.session.commit()
    assignment_id = db.session.scalar(text("SELECT id FROM assignment WHERE person_id = :p"), {"p": pm.id})
    problems = check_invariants()
    assert problems == [f"人员 {pm.id} 担任工程 {project.id} 的项目经理（任职记录 {assignment_id}），"
                        f"但其所在单位 {world.org('contractor2').id} 不是该工程的施工单位（{world.org('contractor').id}）"]
    result = ctx.test_cli_runner().invoke(args=["check-invariants"])
    assert result.exit_code == 1 and problems[0] in result.output


def test_a_project_pushed_with_another_contractor_must_name_its_people(api):
    """The same rule from the project's side: the old contractor's project manager does not stay on."""
    client, world, token = api
    pm, project = locked_person(world, "张三")
    payload = project_payload(world, project.supervision_no, contractor=org_ref(world.org("contractor2")))
    resp = client.post("/api/v1/projects", json=payload, headers=auth(token))
    assert resp.status_code == 409, resp.get_json()
    assert resp.get_json()["errors"] == [{"field": "personnel.project_manager",
                                          "message": "项目经理张三不属于本工程的施工单位，请同时推送新单位的项目经理"}]
    db.session.rollback()
    assert db.session.get(Project, project.id).contractor_id == world.org("contractor").id

    new_pm = client.post("/api/v1/people", json=person_payload(world, "郑经理", "contractor2"), headers=auth(token))
    payload["personnel"] = {"project_manager": new_pm.get_json()["key"]}
    resp = client.post("/api/v1/projects", json=payload, headers=auth(token))
    assert resp.status_code == 200, resp.get_json()
    db.session.rollback()
    assert db.session.get(Person, pm.id).status == NORMAL
    assert check_invariants() == []
