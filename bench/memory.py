"""Resident memory of processes, read from /proc/<pid>/status (Linux) with a psutil fallback."""
from pathlib import Path

import psutil


def of(pid: int) -> dict:
    """Current (VmRSS) and peak (VmHWM) resident memory of ``pid`` in MiB."""
    status = Path(f"/proc/{pid}/status")
    fields = {}
    try:
        for line in status.read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024   # kB -> MiB
    except OSError:
        pass
    if "VmRSS" not in fields:
        rss = psutil.Process(pid).memory_info().rss / 2**20
        fields = {"VmRSS": rss, "VmHWM": rss}   # no peak available: current is a lower bound
    return {"pid": pid, "rss_mib": fields["VmRSS"], "peak_mib": fields.get("VmHWM", fields["VmRSS"])}


def gunicorn(master_pid: int) -> dict:
    """The master and each worker; the figure reported is the largest worker peak."""
    workers = [of(child.pid) for child in psutil.Process(master_pid).children()]
    master = of(master_pid)
    largest = max(workers, key=lambda w: w["peak_mib"]) if workers else master
    return {"label": f"largest gunicorn worker after the HTTP run (of {len(workers)} workers; VmHWM)",
            "rss_mib": largest["rss_mib"], "peak_mib": largest["peak_mib"],
            "workers": workers, "master": master}
