"""Webhook subscriptions of machine clients (scope ``webhooks:manage``); delivery in handlers.webhooks."""
from urllib.parse import urlsplit

from flask_smorest import Blueprint
from marshmallow import ValidationError, fields, validate

from handlers import webhooks
from handlers.errors import DomainError, NotFound

from .problems import problem, problem_responses
from .schemas import Strict
from .security import caller, protect, scope_required

blp = Blueprint("api_webhooks", __name__, description="事件推送（Webhook）订阅")
protect(blp)


def _well_formed_url(value: str) -> None:
    """A URL that splits into scheme, host and port ("http://[::1" does not: urlsplit raises)."""
    try:
        parts = urlsplit(value)
        parts.port   # noqa: B018 (raises on a port that is not a number in 0..65535)
    except ValueError:
        raise ValidationError("回调地址格式不正确") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("回调地址必须是 http(s) 网址")


class SubscriptionIn(Strict):
    url = fields.String(required=True, validate=[validate.Length(min=1, max=500), _well_formed_url],
                        metadata={"description": "回调地址"})
    events = fields.List(fields.String(validate=validate.OneOf(list(webhooks.EVENTS))), required=True,
                         validate=validate.Length(min=1, max=len(webhooks.EVENTS)))


class Subscription(Strict):
    id = fields.Integer()
    url = fields.String()
    events = fields.List(fields.String())
    active = fields.Boolean()
    secret = fields.String(metadata={"description": "签名密钥，仅在创建时返回一次"})


class Subscriptions(Strict):
    items = fields.List(fields.Nested(Subscription))


def _dict(sub, secret=None) -> dict:
    out = {"id": sub.id, "url": sub.url, "events": sub.events, "active": sub.active}
    if secret:
        out["secret"] = secret
    return out


@blp.route("/webhooks", methods=["GET"])
@scope_required("webhooks:manage")
@blp.doc(summary="本客户端的订阅")
@blp.response(200, Subscriptions)
@problem_responses(blp, 401, 403, 429)
def list_subscriptions():
    return {"items": [_dict(s) for s in webhooks.subscriptions(caller().token_id)]}


@blp.route("/webhooks", methods=["POST"])
@scope_required("webhooks:manage")
@blp.arguments(SubscriptionIn)
@blp.doc(summary="订阅事件：推送带 X-Ynqs-Signature（HMAC-SHA256）签名头")
@blp.response(201, Subscription)
@problem_responses(blp, 400, 401, 403, 429)
def subscribe(data):
    try:
        sub, secret = webhooks.subscribe(caller().token_id, data["url"], data["events"])
    except DomainError as e:
        return problem(400, e.message, [{"field": e.field or "", "message": e.message}])
    return _dict(sub, secret)


@blp.route("/webhooks/<id:subscription_id>", methods=["DELETE"])
@scope_required("webhooks:manage")
@blp.doc(summary="取消订阅")
@blp.response(204)
@problem_responses(blp, 401, 403, 404, 429)
def unsubscribe(subscription_id):
    try:
        webhooks.unsubscribe(caller().token_id, subscription_id)
    except NotFound as e:
        return problem(404, e.message)
    return ""
