"""流程设计器 (/studio/): the process designer's pages and the JSON calls of the editor.

Every route requires the 流程设计 role (the guard), and every handler call checks it again on the
server (handlers.studio_pages); every POST carries the CSRF token (a form field or, from the
editor's script, the X-CSRFToken header).
"""
import dataclasses
from pathlib import Path

from flask import Blueprint, Response, abort, g, jsonify, render_template, request

from handlers import studio_pages as studio
from handlers.errors import DomainError

from .. import services
from ..access import principal_required
from ..form_builder import form_class

bp = Blueprint("studio", __name__)
BUNDLE = Path(__file__).resolve().parent.parent / "static" / "vendor" / "studio" / "studio.js"
UPLOAD_MAX = studio.MAX_DIAGRAM_BYTES
PREVIEW_TARGETS = ("workflow", "log", "application")


def designer(view):
    return principal_required(studio.DESIGNER)(view)


@bp.context_processor
def _built():
    """Without Node.js the bundle was never built: the pages say so instead of a blank editor."""
    return {"studio_built": BUNDLE.is_file()}


def _key(process_key: str) -> str:
    if not studio.FORM_KEY_RE.fullmatch(process_key):
        abort(404)
    return process_key


def _version_arg(name: str = "version") -> int | None:
    raw = request.args.get(name, "")
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 100000:
        abort(404)
    return int(raw)


def _refused(error: DomainError, status: int = 400):
    return jsonify(error=error.message, problems=getattr(error, "problems", [])), status


def _draft(process_key: str) -> studio.Draft:
    return studio.draft_from(process_key, request.get_json(silent=True))


# -- pages -------------------------------------------------------------------------------------
@bp.get("/")
@designer
def index():
    return render_template("studio/index.html", processes=studio.processes(g.principal))


@bp.get("/<process_key>/")
@designer
def edit(process_key):
    key = _key(process_key)
    version = _version_arg()
    studio.bundle(g.principal, services().engine, key, version)   # 404 before the page loads the editor
    return render_template("studio/modeler.html", key=key, version=version,
                           rows={p.key: p for p in studio.processes(g.principal)})


@bp.get("/<process_key>/compare")
@designer
def compare(process_key):
    key = _key(process_key)
    older, newer = _version_arg("older"), _version_arg("newer")
    rows = {p.key: p for p in studio.processes(g.principal)}
    if key not in rows:
        abort(404)
    versions = [v.version for v in rows[key].versions]
    older = older or (versions[1] if len(versions) > 1 else versions[0])
    newer = newer or versions[0]
    changes = studio.changes(g.principal, services().engine, key, older, newer)
    return render_template("studio/compare.html", key=key, row=rows[key], versions=versions,
                           older=older, newer=newer, changes=changes)


@bp.get("/<process_key>/live")
@designer
def live(process_key):
    key = _key(process_key)
    rows = {p.key: p for p in studio.processes(g.principal)}
    if key not in rows:
        abort(404)
    version = _version_arg() or rows[key].versions[0].version
    table = studio.live_table(g.principal, services().engine, key, version)
    return render_template("studio/live.html", key=key, row=rows[key], version=version, table=table)


@bp.get("/<process_key>/versions/<id:version>.zip")
@designer
def download(process_key, version):
    name, data = studio.version_zip(g.principal, services().engine, _key(process_key), version)
    return Response(data, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# -- the editor's JSON calls -------------------------------------------------------------------
@bp.get("/api/<process_key>/choices")
@designer
def choices(process_key):
    return jsonify(studio.choices(g.principal, services().engine))


@bp.get("/api/<process_key>/bundle")
@designer
def bundle(process_key):
    return jsonify(studio.bundle(g.principal, services().engine, _key(process_key), _version_arg()))


@bp.post("/api/<process_key>/draft")
@designer
def save_draft(process_key):
    try:
        return jsonify(message=studio.save_draft(g.principal, services().engine, _draft(_key(process_key))))
    except DomainError as e:
        return _refused(e)


@bp.post("/api/<process_key>/check")
@designer
def check(process_key):
    try:
        return jsonify(problems=studio.problems_of(g.principal, services().engine, _draft(_key(process_key))))
    except DomainError as e:
        return _refused(e)


@bp.post("/api/<process_key>/tests")
@designer
def tests(process_key):
    try:
        return jsonify(scenarios=studio.run_tests(g.principal, services().engine, _draft(_key(process_key))))
    except DomainError as e:
        return _refused(e)


@bp.post("/api/<process_key>/deploy")
@designer
def deploy(process_key):
    try:
        draft = _draft(_key(process_key))
        note = (request.get_json(silent=True) or {}).get("note")
        return jsonify(message=studio.deploy(g.principal, services().engine, draft, note if isinstance(note, str) else ""))
    except DomainError as e:
        return _refused(e, 409 if isinstance(e, studio.StudioRefusal) else 400)


@bp.post("/api/<process_key>/upload")
@designer
def upload(process_key):
    key = _key(process_key)
    file = request.files.get("file")
    if file is None or not (file.filename or "").lower().endswith(".bpmn"):
        return jsonify(error="上传文件：请选择 .bpmn 文件"), 400
    data = file.read(UPLOAD_MAX + 1)
    if len(data) > UPLOAD_MAX:
        return jsonify(error="上传文件：文件过大（不超过 1 MB）"), 400
    try:
        engine = services().engine
        forms = studio.bundle(g.principal, engine, key)["forms"]
        xml, problems = studio.upload(g.principal, engine, key, data, forms)
    except DomainError as e:
        return _refused(e)
    message = f"已载入 {file.filename}：" + (f"发现 {len(problems)} 个问题" if problems else "检查通过") + "，保存草稿后生效"
    return jsonify(xml=xml, problems=problems, message=message)


@bp.get("/api/<process_key>/compare")
@designer
def compare_bundles(process_key):
    key = _key(process_key)
    older, newer = _version_arg("older"), _version_arg("newer")
    if older is None or newer is None:
        abort(404)
    return jsonify(studio.compare(g.principal, services().engine, key, older, newer))


@bp.get("/api/<process_key>/live")
@designer
def live_counts(process_key):
    return jsonify(studio.live_counts(g.principal, services().engine, _key(process_key), _version_arg() or abort(404)))


@bp.get("/api/<process_key>/live/applications")
@designer
def live_applications(process_key):
    element = request.args.get("element", "")
    if not element or len(element) > 100:
        abort(404)
    return jsonify(applications=studio.live_applications(g.principal, services().engine, _key(process_key),
                                                         _version_arg() or abort(404), element))


@bp.post("/api/form-preview")
@designer
def form_preview():
    payload = request.get_json(silent=True) or {}
    spec, problems = studio.preview_spec(g.principal, payload.get("key"), payload.get("form"))
    if spec is None:
        return jsonify(html="", problems=problems)
    # a class of its own, so the preview never replaces the class the real pages cached for the key
    spec = dataclasses.replace(spec, key=f"studio_preview.{spec.key}")
    form = form_class(spec, PREVIEW_TARGETS)(formdata=None, meta={"csrf": False})
    return jsonify(html=render_template("studio/_form_preview.html", form=form, spec=spec), problems=[])
