"""gunicorn settings for the web workers: ``gunicorn -c python:webui.gunicorn_conf 'webui:create_app()'``.

Everything here can be overridden on the command line (``-w 8 -b 0.0.0.0:8000``) or with
GUNICORN_CMD_ARGS. With ``PROMETHEUS_MULTIPROC_DIR`` set, /metrics adds up every worker's
request histogram: the folder is emptied when the server starts (no counts of a previous run)
and a dead worker's live files are marked so (docs/operators.md "Running a farm")."""
import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", 4))
# a worker silent this long is killed and replaced (a request longer than this is cut off)
timeout = 60
# on SIGTERM (and HUP, a reload) a worker stops taking connections and finishes its requests
# within this many seconds before it is killed: keep it below the service manager's stop timeout
graceful_timeout = 30
keepalive = 5


def on_starting(server):
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.unlink(os.path.join(folder, name))


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)
