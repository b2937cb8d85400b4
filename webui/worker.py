"""The job worker process: its lanes (handlers.services.Services.lanes), one thread each.

Stopping (SIGTERM, SIGINT): no lane claims again; each finishes the job it is running and hands
the rest of its claim back. A lane still running a job after ``grace`` seconds has its jobs
handed back by the main thread (JobExecutor.release_all), and the process ends."""
import logging
import threading
import time

log = logging.getLogger(__name__)


def run_lanes(app, lanes, stop: threading.Event, poll: float = 1.0, grace: float = 25.0) -> int:
    """Run every lane until ``stop`` is set, then wait up to ``grace`` seconds for the jobs under
    way. Each thread has its own application context and so its own database session (removed
    when the context ends). Returns how many lanes were still running a job at the end."""
    threads = [threading.Thread(target=_run, args=(app, lane, stop, poll), name=f"jobs-{i}", daemon=True)
               for i, lane in enumerate(lanes)]
    for thread in threads:
        thread.start()
    while not stop.is_set() and any(t.is_alive() for t in threads):
        stop.wait(0.5)   # short waits: the main thread keeps taking SIGTERM
    deadline = time.monotonic() + grace
    for thread in threads:
        while thread.is_alive() and time.monotonic() < deadline:
            thread.join(min(0.5, max(deadline - time.monotonic(), 0.01)))
    stuck = [lane for lane, thread in zip(lanes, threads) if thread.is_alive()]
    if stuck:
        with app.app_context():
            for lane in stuck:
                try:
                    lane.release_all()
                except Exception:  # noqa: BLE001 - the leases then run out as after a kill
                    log.exception("worker %s: handing back its jobs failed", lane.worker_id)
    return len(stuck)


def _run(app, lane, stop, poll) -> None:
    with app.app_context():
        lane.run_forever(stop, poll)
