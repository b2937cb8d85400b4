"""HTTP: the unlock lifecycle over the web pages, against gunicorn with two workers."""
import tempfile


def run(pg_url: str, work, threads: int, lifecycles: int) -> dict:
    return {"skipped": "the HTTP driver is not written yet"}
