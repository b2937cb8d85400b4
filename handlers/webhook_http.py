"""One webhook POST to addresses already checked, within one deadline for the whole exchange.

A socket timeout bounds each read, not the delivery: a receiver trickling one byte at a time
would hold the sender indefinitely. Here a watchdog shuts the socket down when the deadline
passes, whatever the sender is doing (connecting, the TLS handshake, sending, reading the answer).
Redirects are not followed: a 3xx is the answer.
"""
import http.client
import socket
import ssl
import threading
import time


class Undeliverable(Exception):
    """Nothing usable came back: no connection, a timeout, the deadline, an answer that is not HTTP."""


class _PinnedConnection(http.client.HTTPConnection):
    """Connects to the checked addresses, never to what the host name resolves to now; the Host
    header and the TLS certificate check still use the name."""

    def __init__(self, host, port, tls: bool, addresses, deadline: float):
        super().__init__(host, port, timeout=max(deadline - time.monotonic(), 0.01))
        self.default_port = 443 if tls else 80
        self.tls, self.addresses, self.deadline = tls, addresses, deadline
        self.raw = None

    def connect(self):
        self.raw = _connect(self.addresses, self.port, self.deadline)
        self.sock = self.raw
        if self.tls:
            self.sock = ssl.create_default_context().wrap_socket(self.raw, server_hostname=self.host)

    def abort(self):
        raw = self.raw
        if raw is not None:
            try:
                socket.socket.shutdown(raw, socket.SHUT_RDWR)   # the blocked read returns at once
            except OSError:
                pass


def _connect(addresses, port: int, deadline: float) -> socket.socket:
    error = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            return socket.create_connection((str(address), port), timeout=remaining)
        except OSError as e:
            error = e
    raise Undeliverable(f"connect: {error or 'deadline'}")


def post(host: str, port: int, tls: bool, addresses, path: str, body: bytes, headers: dict,
         seconds: float) -> int:
    """The answer's status code; Undeliverable when there is none within ``seconds``."""
    deadline = time.monotonic() + seconds
    conn = _PinnedConnection(host, port, tls, addresses, deadline)
    watchdog = threading.Timer(seconds, conn.abort)
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.request("POST", path, body=body, headers=headers)
        status = conn.getresponse().status
        if time.monotonic() > deadline:
            raise Undeliverable("deadline")
        return status
    except (OSError, http.client.HTTPException, ValueError) as e:
        raise Undeliverable(f"{type(e).__name__}: {e}") from None
    finally:
        watchdog.cancel()
        conn.close()
