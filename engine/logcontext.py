"""What a log line is about, beside its message: the request or the job being handled.

Context variables, so that each thread (a web worker's request, a job worker's lane) carries its
own; a log formatter reads them when it writes the line (webui/logs.py)."""
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id: ContextVar[int | None] = ContextVar("job_id", default=None)
