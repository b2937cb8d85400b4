"""Intake endpoints: projects (报监, by registration number) and people (by ID-card number).

The HTTP layer only: validation, the upserts, the lock rule and the transaction are in
``handlers.intake``; the Idempotency-Key store is ``handlers.api_tokens.run_idempotent``.
"""
import hashlib

from flask import request
from flask_smorest import Blueprint

from handlers import api_tokens, intake
from handlers.errors import DomainError

from .problems import problem, problem_responses
from .schemas import BulkIn, BulkOut, PageArgs, PersonIn, PersonOut, PersonPage, ProjectIn, ProjectOut, ProjectPage, \
    UpsertOut
from .security import caller, protect, scope_required

blp = Blueprint("api_intake", __name__, description="数据接入：工程（报监）与人员、证书")
protect(blp)
IDEMPOTENCY = {"in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string", "maxLength": 200},
               "description": "同一个键的重复请求返回第一次的响应，不会再次写入"}
ERRORS = (400, 401, 403, 409, 429)


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


def _serve(one, many, key, *, shapes, upsert, find, listing, as_dict, summaries, missing):
    """One kind of record kept by its natural ``key``: push one (idempotent), push many, list, read one.

    ``one`` / ``many`` name it in the paths, the scopes and the endpoints (push_project, push_projects,
    list_projects, get_project); ``shapes`` are its request, response and page schemas."""
    shape_in, shape_out, page = shapes
    push_summary, bulk_summary, list_summary, get_summary = summaries

    @blp.route(f"/{many}", methods=["POST"], endpoint=f"push_{one}")
    @scope_required(f"{many}:write")
    @blp.arguments(shape_in)
    @blp.doc(parameters=[IDEMPOTENCY], summary=push_summary)
    @blp.response(200, UpsertOut)
    @problem_responses(blp, *ERRORS, 422)
    def push(data):
        return _upsert(upsert, data)

    @blp.route(f"/{many}/bulk", methods=["POST"], endpoint=f"push_{many}")
    @scope_required(f"{many}:write")
    @blp.arguments(BulkIn)
    @blp.doc(summary=bulk_summary)
    @blp.response(200, BulkOut)
    @problem_responses(blp, 400, 401, 403, 429)
    def push_bulk(data):
        return _bulk(many, data["rows"])

    @blp.route(f"/{many}", methods=["GET"], endpoint=f"list_{many}")
    @scope_required(f"{many}:read")
    @blp.arguments(PageArgs, location="query")
    @blp.doc(summary=list_summary)
    @blp.response(200, page)
    @problem_responses(blp, 400, 401, 403, 429)
    def list_(args):
        rows = listing(args.get("cursor"), args["limit"] + 1)
        more = len(rows) > args["limit"]
        rows = rows[:args["limit"]]
        return {"items": [as_dict(r) for r in rows], "next_cursor": rows[-1].id if more else None}

    @blp.route(f"/{many}/<string:{key}>", methods=["GET"], endpoint=f"get_{one}")
    @scope_required(f"{many}:read")
    @blp.doc(summary=get_summary)
    @blp.response(200, shape_out)
    @problem_responses(blp, 401, 403, 404, 429)
    def get(**path):
        record = find(path[key])
        if record is None:
            return problem(404, missing)
        return as_dict(record)


_serve("project", "projects", "supervision_no", shapes=(ProjectIn, ProjectOut, ProjectPage),
       upsert=intake.upsert_project, find=intake.get_project, listing=intake.list_projects,
       as_dict=intake.project_dict, missing="工程不存在",
       summaries=("推送工程（按报监登记号新增或更新）", "批量推送工程：逐行处理，坏行报告错误，好行照常入库",
                  "工程列表（键集分页）", "按报监登记号读取工程"))
_serve("person", "people", "id_card", shapes=(PersonIn, PersonOut, PersonPage),
       upsert=intake.upsert_person, find=intake.get_person, listing=intake.list_people,
       as_dict=intake.person_dict, missing="人员不存在",
       summaries=("推送人员及证书（按身份证号新增或更新）", "批量推送人员：逐行处理",
                  "人员列表（键集分页）", "按身份证号读取人员、证书与锁定记录"))
