"""The browsable API reference at /api/v1/docs, rendered on the server from the OpenAPI document.

Swagger UI and ReDoc load scripts from a CDN, which the pages' Content-Security-Policy forbids and
an offline deployment cannot reach; this page needs neither.
"""
from flask import Blueprint, current_app, render_template

bp = Blueprint("api_docs", __name__)
METHODS = ("get", "post", "put", "patch", "delete")


@bp.get("/docs")
def docs():
    spec = current_app.extensions["api"].spec.to_dict()
    operations = [
        {"method": method.upper(), "path": path, "summary": op.get("summary", ""), "tag": (op.get("tags") or [""])[0],
         "parameters": op.get("parameters", []),
         "body": _schema_name(op.get("requestBody", {}).get("content", {}).get("application/json", {})),
         "responses": sorted(op.get("responses", {}))}
        for path, item in sorted(spec.get("paths", {}).items()) for method, op in item.items() if method in METHODS
    ]
    schemas = spec.get("components", {}).get("schemas", {})
    return render_template("api/docs.html", spec=spec, operations=operations, schemas=schemas)


def _schema_name(media: dict) -> str:
    ref = media.get("schema", {}).get("$ref", "")
    return ref.rsplit("/", 1)[-1]
