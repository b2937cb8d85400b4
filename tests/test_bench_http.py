"""The HTTP part of the benchmark on a slow machine: the readiness loop waits through any request
error (a worker still importing answers late, not never), and the port can be chosen."""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import http


class _SlowFirst(BaseHTTPRequestHandler):
    """Refuses nothing, but the first two answers come after the client's read timeout."""
    slow = 2

    def do_GET(self):
        if _SlowFirst.slow > 0:
            _SlowFirst.slow -= 1
            time.sleep(0.6)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args):
        pass


class _Running:
    pid = 0

    def poll(self):
        return None


@pytest.fixture()
def slow_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowFirst)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def test_readiness_survives_read_timeouts_and_waits_for_every_worker(slow_server, tmp_path):
    _SlowFirst.slow = 2
    g = http.Gunicorn("sqlite://", tmp_path, workers=2, port=slow_server, scale=0.005)   # read timeout 0.3 s
    assert g.base == f"http://127.0.0.1:{slow_server}"
    g.proc = _Running()
    g.log.write_text("Booting worker with pid: 1\nBooting worker with pid: 2\n")
    t0 = time.monotonic()
    g._wait_ready(30)
    assert _SlowFirst.slow == 0 and time.monotonic() - t0 < 20


def test_readiness_gives_up_with_the_last_error(tmp_path):
    g = http.Gunicorn("sqlite://", tmp_path, workers=1, port=http._free_port(), scale=0.01)   # nothing listens
    g.proc = _Running()
    with pytest.raises(RuntimeError, match="did not answer within 1 s .*ConnectionError"):
        g._wait_ready(1)


def test_a_free_port_is_picked_when_none_is_given(tmp_path):
    assert http.Gunicorn("sqlite://", tmp_path).port > 0
