"""A job worker process for tests/test_job_workers.py: ``python -m tests.job_worker DATABASE_URL``.

Runs the application's worker with one extra job kind, ``test.effect``, whose effect is a row
in ``job_effect`` written in the job's transaction (so a duplicate run would show as a duplicate row).
"""
import os
import sys
import tempfile
import threading
from datetime import timedelta

from sqlalchemy import text

from engine.db import db
from handlers.processes import registry
from webui import create_app


@registry.job_handler("test.effect")
def _effect(job):
    db.session.execute(text("INSERT INTO job_effect (job_id, worker) VALUES (:j, :w)"),
                       {"j": job.id, "w": os.getpid()})


def main(url: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "UPLOAD_DIR": tempfile.mkdtemp(), "SECRET_KEY": "test"})
    with app.app_context():
        worker = app.extensions["services"].worker(batch=25, lease=timedelta(seconds=2))
        print("ready", flush=True)
        sys.stdin.readline()   # "go": both workers start together, whichever booted first
        worker.run_forever(threading.Event(), poll=0.05)


if __name__ == "__main__":
    main(sys.argv[1])
