"""Blueprint registration: one blueprint per area."""
from flask import send_from_directory

from .blueprints import (
    admin, api_tokens, applications, auth, certificates, enterprise, main, messages, mine, public, review, review_desk, studio,
    studio_migration,
)


def register(app):
    app.register_blueprint(main.bp)
    app.register_blueprint(auth.bp, url_prefix="/auth")
    app.register_blueprint(admin.bp, url_prefix="/admin")
    app.register_blueprint(api_tokens.bp, url_prefix="/admin/api-tokens")
    app.register_blueprint(enterprise.bp, url_prefix="/enterprise")
    app.register_blueprint(applications.bp, url_prefix="/apply")
    app.register_blueprint(review.bp, url_prefix="/review")
    app.register_blueprint(review_desk.bp, url_prefix="/review")
    app.register_blueprint(messages.bp, url_prefix="/messages")
    app.register_blueprint(public.bp)
    app.register_blueprint(certificates.bp)
    app.register_blueprint(mine.bp, url_prefix="/apply")
    app.register_blueprint(studio.bp, url_prefix="/studio")
    app.register_blueprint(studio_migration.bp, url_prefix="/studio/migrations")

    @app.get("/favicon.ico")
    def favicon():
        """Browsers ask for it on every site, whatever the page links: answer instead of a 404."""
        return send_from_directory(app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon",
                                   max_age=86400)
