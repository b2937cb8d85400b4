"""Blueprint registration."""


def register(app):
    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}
