"""instance/secret_key: created once, whoever starts first; every worker gets the same key."""
import multiprocessing
from pathlib import Path

from webui.config import _instance_secret


def _worker(instance: str, barrier, results) -> None:
    barrier.wait()
    results.put(_instance_secret(Path(instance)))


def test_workers_starting_together_share_one_key(tmp_path):
    mp = multiprocessing.get_context("fork")
    for round_ in range(5):
        instance = tmp_path / str(round_)
        instance.mkdir()
        n = 8
        barrier, results = mp.Barrier(n), mp.Queue()
        procs = [mp.Process(target=_worker, args=(str(instance), barrier, results)) for _ in range(n)]
        for p in procs:
            p.start()
        keys = [results.get(timeout=30) for _ in range(n)]
        for p in procs:
            p.join(timeout=30)
        assert len(set(keys)) == 1 and len(keys[0]) == 64
        assert (instance / "secret_key").read_text() == keys[0]
        assert [p.name for p in instance.iterdir()] == ["secret_key"]   # no temporary file left
        assert (instance / "secret_key").stat().st_mode & 0o077 == 0


def test_a_worker_that_loses_the_race_reads_the_winners_key(tmp_path, monkeypatch):
    """The window between "does it exist?" and "create it": another worker wrote its key there."""
    (tmp_path / "secret_key").write_text("winner" * 8)
    monkeypatch.setattr(Path, "exists", lambda self: False)
    assert _instance_secret(tmp_path) == "winner" * 8
    assert (tmp_path / "secret_key").read_text() == "winner" * 8
