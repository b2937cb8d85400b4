"""Intake endpoints: projects (报监, by registration number) and people (by ID-card number).

The HTTP layer only: validation, the upserts, the lock rule and the transaction are in
``handlers.intake``; the Idempotency-Key store is ``handlers.api_tokens.run_idempotent``.
"""
import hashlib

from flask import request
from flask_smorest import Blueprint

from handlers import api_tokens, intake
from handlers.errors import DomainError

from .problems import PROBLEM, problem
from .schemas import Problem, BulkIn, BulkOut, PageArgs, PersonIn, PersonOut, PersonPage, ProjectIn, ProjectOut, \
    ProjectPage, UpsertOut
from .security import caller, protect, scope_required

blp = Blueprint("api_intake", __name__, description="数据接入：工程（报监）与人员、证书")
protect(blp)
IDEMPOTENCY = {"in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string", "maxLength": 200},
               "description": "同一个键的重复请求返回第一次的响应，不会再次写入"}
ERRORS = (400, 401, 403, 409, 429)


def _errors(*codes):
    def decorate(view):
        for code in codes:
            view = blp.alt_response(code, schema=Problem, content_type=PROBLEM,
                                    description="错误（problem+json）")(view)
        return view
    return decorate


def _upsert(upsert, data):
    body_hash = hashlib.sha256(request.method.encode() + request.path.encode() + request.get_data()).hexdigest()

    def action():
        return 200, upsert(data).as_dict()
    try:
        status, body = api_tokens.run_idempotent(caller().token_id, request.headers.get("Idempotency-Key"),
                                                 body_hash, action)
    except intake.IntakeRefused as e:
        return problem(e.status, "；".join(x["message"] for x in e.errors), e.errors, people=e.people)
    except DomainError as e:
        if e.field == "idempotency_key":   # the header, named as the client sends it
            return problem(422, e.message, [{"field": "Idempotency-Key", "message": e.message}])
        return problem(409 if e.field is None else 400, e.message, [{"field": e.field or "", "message": e.message}])
    return body, status


def _bulk(kind, rows):
    results = intake.bulk(kind, rows)
    accepted = sum(1 for r in results if r["status"] == 200)
    return {"accepted": accepted, "refused": len(results) - accepted, "results": results}


@blp.route("/projects", methods=["POST"])
@blp.arguments(ProjectIn)
@blp.doc(parameters=[IDEMPOTENCY], summary="推送工程（按报监登记号新增或更新）")
@blp.response(200, UpsertOut)
@_errors(*ERRORS, 422)
@scope_required("projects:write")
def push_project(data):
    return _upsert(intake.upsert_project, data)


@blp.route("/projects/bulk", methods=["POST"])
@blp.arguments(BulkIn)
@blp.doc(summary="批量推送工程：逐行处理，坏行报告错误，好行照常入库")
@blp.response(200, BulkOut)
@_errors(400, 401, 403, 429)
@scope_required("projects:write")
def push_projects(data):
    return _bulk("projects", data["rows"])


@blp.route("/projects", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.doc(summary="工程列表（键集分页）")
@blp.response(200, ProjectPage)
@_errors(400, 401, 403, 429)
@scope_required("projects:read")
def list_projects(args):
    rows = intake.list_projects(args.get("cursor"), args["limit"] + 1)
    more = len(rows) > args["limit"]
    rows = rows[:args["limit"]]
    return {"items": [intake.project_dict(p) for p in rows], "next_cursor": rows[-1].id if more else None}


@blp.route("/projects/<string:supervision_no>", methods=["GET"])
@blp.doc(summary="按报监登记号读取工程")
@blp.response(200, ProjectOut)
@_errors(401, 403, 404, 429)
@scope_required("projects:read")
def get_project(supervision_no):
    project = intake.get_project(supervision_no)
    if project is None:
        return problem(404, "工程不存在")
    return intake.project_dict(project)


@blp.route("/people", methods=["POST"])
@blp.arguments(PersonIn)
@blp.doc(parameters=[IDEMPOTENCY], summary="推送人员及证书（按身份证号新增或更新）")
@blp.response(200, UpsertOut)
@_errors(*ERRORS, 422)
@scope_required("people:write")
def push_person(data):
    return _upsert(intake.upsert_person, data)


@blp.route("/people/bulk", methods=["POST"])
@blp.arguments(BulkIn)
@blp.doc(summary="批量推送人员：逐行处理")
@blp.response(200, BulkOut)
@_errors(400, 401, 403, 429)
@scope_required("people:write")
def push_people(data):
    return _bulk("people", data["rows"])


@blp.route("/people", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.doc(summary="人员列表（键集分页）")
@blp.response(200, PersonPage)
@_errors(400, 401, 403, 429)
@scope_required("people:read")
def list_people(args):
    rows = intake.list_people(args.get("cursor"), args["limit"] + 1)
    more = len(rows) > args["limit"]
    rows = rows[:args["limit"]]
    return {"items": [intake.person_dict(p) for p in rows], "next_cursor": rows[-1].id if more else None}


@blp.route("/people/<string:id_card>", methods=["GET"])
@blp.doc(summary="按身份证号读取人员、证书与锁定记录")
@blp.response(200, PersonOut)
@_errors(401, 403, 404, 429)
@scope_required("people:read")
def get_person(id_card):
    person = intake.get_person(id_card)
    if person is None:
        return problem(404, "人员不存在")
    return intake.person_dict(person)
