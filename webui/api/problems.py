"""RFC 9457 problem details (``application/problem+json``) with Chinese ``detail`` and the fields named."""
import re

from flask import current_app, jsonify

from .schemas import Problem

PROBLEM = "application/problem+json"
TITLES = {400: "请求内容有误", 401: "未认证", 403: "无权访问", 404: "资源不存在", 405: "不支持的请求方法",
          409: "与当前状态冲突", 413: "请求内容过大", 415: "不支持的内容类型", 422: "请求内容有误",
          429: "请求过于频繁", 500: "服务器内部错误"}
# marshmallow's messages, in Chinese
_MESSAGES = [
    (r"Missing data for required field", "必填项不能为空"),
    (r"Field may not be null", "不能为空"),
    (r"Not a valid string", "必须是文本"),
    (r"Not a valid integer", "必须是整数"),
    (r"Not a valid boolean", "必须是布尔值"),
    (r"Not a valid list", "必须是列表"),
    (r"Not a valid mapping type|Invalid input type", "必须是 JSON 对象"),
    (r"Unknown field", "不允许的字段"),
    (r"Longer than maximum length (\d+)", r"不能超过 \1 个字符"),
    (r"Shorter than minimum length (\d+)", r"不能少于 \1 个字符"),
    (r"Must be one of: (.*)\.", r"只能是以下之一：\1"),
    (r"Length must be between (\d+) and (\d+)", r"数量须在 \1 至 \2 之间"),
    (r"Must be greater than or equal to (\S+) and less than or equal to (\S+)\.", r"须在 \1 至 \2 之间"),
]


def problem(status: int, detail: str, errors: list[dict] | None = None, **extra):
    body = {"type": "about:blank", "title": TITLES.get(status, "请求失败"), "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def problem_responses(blp, *codes):
    """A decorator documenting each of ``codes`` as a problem+json answer of ``blp``'s view."""
    def decorate(view):
        for code in codes:
            view = blp.alt_response(code, schema=Problem, content_type=PROBLEM, description="错误（problem+json）")(view)
        return view
    return decorate


def translate(message: str) -> str:
    for pattern, chinese in _MESSAGES:
        if re.search(pattern, message):
            return re.sub(r".*?" + pattern + r".*", chinese, message, flags=re.S)
    return message if _chinese(message) else "格式不正确"   # the project's own validators speak Chinese


def flatten(messages, prefix: str = "") -> list[dict]:
    """marshmallow's nested {field: [messages]} as a list of {field, message}."""
    out = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(key, int):
                name = f"{prefix}[{key}]"
            out += flatten(value, name)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out += [{"field": prefix, "message": translate(m)} for m in messages]
    elif isinstance(messages, list):
        for i, value in enumerate(messages):
            out += flatten(value, f"{prefix}[{i}]")
    else:
        out.append({"field": prefix, "message": translate(str(messages))})
    return out


def from_http_exception(e):
    """Any HTTPException raised under /api/v1 as a problem; webargs' 422 becomes a 400 naming the fields."""
    data = getattr(e, "data", None) or {}
    messages = data.get("messages")
    if messages:
        errors = []
        for location, fields in messages.items():
            errors += flatten(fields, "" if location == "json" else location)
        detail = "；".join(f"{x['field']}：{x['message']}" if x["field"] else x["message"] for x in errors)
        return problem(400, detail, errors)
    code = e.code or 500
    if code >= 500:
        current_app.logger.error("API error %s: %s", code, e)
    description = e.description if isinstance(e.description, str) and _chinese(e.description) else None
    return problem(code, description or TITLES.get(code, "请求失败"))


def _chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)
