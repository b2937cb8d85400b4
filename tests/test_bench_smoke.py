"""The benchmark's smoke mode runs here so that it cannot rot (SQLite, tiny sizes, no gunicorn)."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_smoke(tmp_path):
    out, raw = tmp_path / "performance.md", tmp_path / "results.json"
    # the smoke run proves the benchmark works; how fast it runs is the benchmark's business, and a
    # wall-clock limit here failed whenever the machine was busy (the timeout only stops a hang)
    subprocess.run([sys.executable, "-m", "bench", "--smoke", "--output", str(out), "--json", str(raw)],
                   cwd=ROOT, check=True, timeout=300, capture_output=True)
    r = json.loads(raw.read_text(encoding="utf-8"))

    # the in-memory lifecycle and the service-layer lifecycles completed (the bench raises otherwise)
    assert r["ceiling"]["lifecycles"] >= 20 and r["ceiling"]["per_second"] > 0
    [svc] = r["service"]
    assert svc["dialect"] == "sqlite" and svc["lifecycles"] == 3 and svc["per_second"] > 0
    assert all(svc["statements"][a] > 0 for a in ("create", "save", "report", "claim", "approve"))
    assert svc["profile"]["buckets"]["engine steps (do_engine_steps)"] > 0

    # claim storm: exactly one winner, who is the task's holder; nobody else won
    [storm] = r["claim"]
    assert storm["winners"] == 1 and storm["holder_matches"]
    assert storm["winners"] + storm["refused"] + storm["errored"] == storm["reviewers"]
    assert storm["latency"]["n"] == storm["reviewers"] == 50

    # the inbox returned the rows the loaded population implies (checked by count, not only timed)
    [ib] = r["inbox"]
    assert ib["loaded"]["rows"]["human_task"] == 500 and ib["loaded"]["rows"]["task_candidate"] == 1000
    assert ib["check"]["open_count"] > 0 and ib["check"]["open_rows_first_page"] == min(20, ib["check"]["open_count"])
    assert ib["check"]["done_count"] > 0 and ib["check"]["enterprise_apps"] > 0
    assert all(p["n"] == 5 for p in ib["latency"].values())

    text = out.read_text(encoding="utf-8")
    for heading in ("## Machine", "## 1. Engine ceiling", "## 2. Service layer", "## 3. HTTP", "## 4. Inbox at scale",
                    "## 5. Claim storm", "## 6. Memory", "## How to run it"):
        assert heading in text
    assert "skipped: smoke mode" in text


def test_bench_timers_part_runs_alone(tmp_path):
    """The timer part (python -m bench.timers) on a small SQLite run: every timer fired once."""
    out = subprocess.run([sys.executable, "-m", "bench.timers", "--timers", "40", "--lead", "4",
                          "--database", f"sqlite:///{tmp_path / 'timers.sqlite3'}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert (result["done"], result["instances_completed"]) == (40, 40)
    assert result["lag_ms"]["n"] == 40 and result["jobs_per_second"] > 0


def test_bench_intake_smoke(tmp_path):
    """The intake part runs (SQLite, a few rows) and reports both rates."""
    from bench import intake
    r = intake.run(f"sqlite:///{tmp_path / 'intake.sqlite3'}", 5, tmp_path)
    assert r["rows"] == 5 and r["single_per_second"] > 0 and r["bulk_per_second"] > 0
