"""Running calls at the same moment, for the tests of races between requests."""
import threading

from engine.db import db


def run_at_once(app, n, work):
    """work(i) in n threads released together, each in its own app context: [(outcome, value)], where
    outcome is "ok" with work's result or "error" with the exception it raised."""
    barrier, results = threading.Barrier(n), [None] * n

    def runner(i):
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                results[i] = ("ok", work(i))
            except Exception as exc:   # noqa: BLE001 — every outcome is asserted by the caller
                db.session.rollback()
                results[i] = ("error", exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results
