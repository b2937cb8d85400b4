"""HTTP: the unlock lifecycle over the web pages, against gunicorn with two workers.

Not driven yet: the web pages (login with CSRF, role choice, /apply/unlock/…, /review/…)
were being built while this benchmark was written, so this part reports itself as
skipped instead of inventing figures. The memory figure then falls back to the
service-layer process, labelled as such.
"""


def run(pg_url: str, work, threads: int, lifecycles: int) -> dict:
    return {"skipped": "the HTTP client driver (login with CSRF token, role choice, /apply/unlock/…, "
                       "/review/task/…) is not implemented yet — the web pages landed while this benchmark "
                       "was being written; no gunicorn figures were measured in this run"}
