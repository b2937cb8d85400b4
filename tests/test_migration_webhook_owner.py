"""Migration sec_webhooks_subscription_token: each subscription goes to its client's token record."""
from flask_migrate import upgrade
from sqlalchemy import select

from engine.db import db
from handlers.models import ApiToken, WebhookSubscription

from .test_migrations import migration_app

SCHEMA = "migration_webhook_owner"


def _token(conn, n, client, revoked=False):
    return conn.execute(ApiToken.__table__.insert().values(
        prefix=f"p{n}", secret_hash=f"h{n}", client=client, scopes=["webhooks:manage"],
        revoked_at=db.func.current_timestamp() if revoked else None).returning(ApiToken.id)).scalar_one()


def test_upgrade_gives_each_subscription_to_the_oldest_unrevoked_token_of_its_client(tmp_path):
    with migration_app(tmp_path, SCHEMA) as app, app.app_context():
        upgrade(revision="h11_review_desk")
        subs = WebhookSubscription.__table__
        with db.engine.begin() as conn:
            _token(conn, 1, "工改系统", revoked=True)   # rotated away
            original = _token(conn, 2, "工改系统")      # what the rotation made of it
            _token(conn, 3, "工改系统")                  # a later token that merely took the same name
            gone_old, gone_new = _token(conn, 4, "旧系统", revoked=True), _token(conn, 5, "旧系统", revoked=True)
            for client in ("工改系统", "旧系统", "无令牌"):
                conn.execute(subs.insert().values(client=client, url="https://hooks.example.org/",
                                                  events=["lock.opened"], secret="s", active=True))
        upgrade()
        with db.engine.connect() as conn:
            owners = conn.execute(select(subs.c.client, subs.c.token_id).order_by(subs.c.id)).all()
        assert owners == [("工改系统", original), ("旧系统", gone_new), ("无令牌", None)]
        assert gone_old < gone_new
