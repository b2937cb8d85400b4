"""A small in-memory rate limit for the public pages (no login, so no account to throttle).

A sliding window per client address and bucket. Each application object has its own counters
(``app.extensions["rate_limits"]``); with several worker processes the limit holds per process,
which is enough to make guessing case numbers with credit codes impractical.
"""
import threading
import time
from collections import deque

from flask import current_app, request


class RateLimiter:
    def __init__(self):
        self._hits: dict[tuple[str, str], deque] = {}
        self._lock = threading.Lock()

    def allow(self, bucket: str, key: str, limit: int, window: float) -> bool:
        """Count one hit; False when ``key`` already had ``limit`` hits in the last ``window`` seconds."""
        now = time.monotonic()
        with self._lock:
            if len(self._hits) > 10_000:   # forget idle clients rather than grow without bound
                self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - window}
            hits = self._hits.setdefault((bucket, key), deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(now)
            return True


def allow(bucket: str, limit: int, window: float) -> bool:
    """One hit of the current request's client on ``bucket``."""
    limiter = current_app.extensions.setdefault("rate_limits", RateLimiter())
    return limiter.allow(bucket, request.remote_addr or "-", limit, window)
