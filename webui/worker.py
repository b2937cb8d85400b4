"""The job worker process: its lanes (handlers.services.Services.lanes), one thread each."""
import threading


def run_lanes(app, lanes, stop: threading.Event, poll: float = 1.0) -> None:
    """Run every lane until ``stop`` is set; each thread has its own application context and so
    its own database session (removed when the context ends)."""
    threads = [threading.Thread(target=_run, args=(app, lane, stop, poll), name=f"jobs-{i}", daemon=True)
               for i, lane in enumerate(lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.5)   # short joins: the main thread keeps taking SIGTERM


def _run(app, lane, stop, poll) -> None:
    with app.app_context():
        lane.run_forever(stop, poll)
