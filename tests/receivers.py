"""Local webhook receivers on loopback (the tests allow 127.0.0.1 through WEBHOOK_ALLOWED_HOSTS):
an HTTP one that records what it gets, one that trickles its answer, one that does not speak HTTP."""
import socket
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer

from handlers import api_tokens, webhooks
from handlers.webhook_targets import AllowList


class Receiver:
    """Answers each request with the next status of ``statuses`` (then 200) and keeps what it got;
    ``headers`` are added to every answer (a Location for a redirect)."""

    def __init__(self, statuses=(), host="127.0.0.1", headers=None):
        self.statuses, self.received = list(statuses), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = HTTPServer((host, 0), Handler)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://{host}:{self.port}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class RawReceiver:
    """A TCP listener that reads the request, then answers ``reply`` one chunk every ``every``
    seconds (``every=None``: all at once), for at most ``limit`` seconds, and closes."""

    def __init__(self, reply: bytes, every: float | None = None, limit: float = 15.0):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.reply, self.every, self.limit, self.connections = reply, every, limit, 0
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            try:
                conn.settimeout(2)
                conn.recv(65536)
                if self.every is None:
                    conn.sendall(self.reply)
                    return
                ends = time.monotonic() + self.limit
                for i in range(len(self.reply)):
                    if time.monotonic() > ends or self.stopped.is_set():
                        return
                    conn.sendall(self.reply[i:i + 1])
                    time.sleep(self.every)
            except OSError:
                return

    def close(self):
        self.stopped.set()
        self.sock.close()


@contextmanager
def webhook_settings(allowed="127.0.0.1", deadline=webhooks.DEADLINE):
    """Deliveries under these operator settings (WEBHOOK_ALLOWED_HOSTS, WEBHOOK_DEADLINE)."""
    before = webhooks.settings
    webhooks.configure(webhooks.Settings(AllowList.parse(allowed), deadline))
    try:
        yield
    finally:
        webhooks.configure(before)


def subscription(url, events, client="数据交换"):
    """A machine client of its own subscribes ``url``; returns (subscription, secret)."""
    token, _ = api_tokens.create_client_token(client, "webhooks:manage")
    return webhooks.subscribe(token.id, url, events)
