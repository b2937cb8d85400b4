"""Claim storm: many reviewers of the two candidate organisations claim the same task at once."""
import threading
import time

from sqlalchemy import select

from engine.db import db
from engine.errors import TaskAlreadyClaimed
from engine.models import HumanTask
from handlers.applications import Upload
from handlers.processes.unlock import UNLOCK_FORM
from handlers.models import CONSTRUCTOR, PROJECT_MANAGER, SAFETY_B

from .common import percentiles
from .service import PDF, _open_lock, attach


def run(app, world, reviewers: int) -> dict:
    services = app.extensions["services"]
    with app.app_context():
        attach(world)
        pm = world.add_person("抢签经理", "contractor", CONSTRUCTOR, SAFETY_B)
        project = world.add_project("抢签工程")
        world.assign(pm, project, PROJECT_MANAGER)
        applicant = world.who("contractor_user")
        unlock = services.unlock.create(applicant, _open_lock(pm.id))
        services.unlock.save(applicant, unlock.id, {"reason": "项目已停工"}, [Upload(UNLOCK_FORM, "a.pdf", PDF)])
        services.unlock.report(applicant, unlock.id)
        task_id = db.session.scalar(select(HumanTask.id).where(HumanTask.instance_id == unlock.instance_id,
                                                               HumanTask.state == "open"))
        principals = []
        for i in range(reviewers):
            key = f"storm{i}"
            world.add_account(key, "authority" if i % 2 else "agency", f"审核员{i}")
            principals.append(world.who(key))
        db.session.commit()
        db.session.remove()

    barrier = threading.Barrier(reviewers)
    results = [None] * reviewers

    def reviewer(i):
        with app.app_context():   # each thread: its own app context, hence its own session
            db.session.connection()   # check a connection out before the start line
            barrier.wait()
            t0 = time.perf_counter()
            try:
                services.reviews.claim(principals[i], task_id)
                outcome = "won"
            except TaskAlreadyClaimed:
                outcome = "refused"
            except Exception as exc:  # noqa: BLE001 — reported, never hidden
                outcome = f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
            results[i] = (outcome, time.perf_counter() - t0)
            db.session.remove()

    threads = [threading.Thread(target=reviewer, args=(i,)) for i in range(reviewers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with app.app_context():
        holder = db.session.scalar(select(HumanTask.claimed_by_user_id).where(HumanTask.id == task_id))
        dialect = db.engine.dialect.name
        db.session.remove()
    winners = [i for i, (o, _) in enumerate(results) if o == "won"]
    errors = sorted({o for o, _ in results if o.startswith("error")})
    return {"dialect": dialect, "reviewers": reviewers, "winners": len(winners),
            "refused": sum(1 for o, _ in results if o == "refused"), "errors": errors,
            "errored": sum(1 for o, _ in results if o.startswith("error")),
            "holder_matches": bool(winners) and holder == principals[winners[0]].user_id,
            "latency": percentiles([t for _, t in results])}
