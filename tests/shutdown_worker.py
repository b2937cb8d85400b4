"""``flask engine worker`` with the job kinds of tests/test_worker_shutdown.py:
``python -m tests.shutdown_worker [worker options…]`` (DATABASE_URL names the database).

``test.slow`` works ``SLOW_JOB_SECONDS`` inside its transaction, ``test.slow_io`` as long outside
any transaction (like a webhook delivery), ``test.effect`` at once; each writes its effect, a row
in ``job_effect``, in the job's transaction, so a job done twice would show as two rows. The slow
kinds print ``started <job id>`` when they begin."""
import os
import sys
import time

from sqlalchemy import text

from engine.db import db
from engine.jobs import IOJob
from handlers.processes import registry

SLOW = float(os.environ.get("SLOW_JOB_SECONDS", "2"))


def _effect(job):
    db.session.execute(text("INSERT INTO job_effect (job_id, worker) VALUES (:j, :w)"),
                       {"j": job.id, "w": os.getpid()})


def _slow(job):
    print(f"started {job.id}", flush=True)
    time.sleep(SLOW)
    _effect(job)


def _outside(job):
    print(f"started {job.id}", flush=True)
    time.sleep(SLOW)


registry.job_handler("test.effect")(_effect)
registry.job_handler("test.slow")(_slow)
registry.job_handler("test.slow_io")(IOJob(_outside, lambda job, _result: _effect(job)))

if __name__ == "__main__":
    from webui.cli import main
    sys.argv = ["flask", "engine", "worker", *sys.argv[1:]]
    main()
