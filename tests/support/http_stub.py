"""HTTP stand-ins for Python tests, on 127.0.0.1: a threaded server that hands every GET to one
callback, JSON answers in the worker's error format, and the bearer-token check of a worker
started with --auth-token-file. Shared by the fake worker (tests/python) and the token proxy of
the security tests (tests/integration); import it as `support.http_stub` (tests/ is on the path
through tests/conftest.py)."""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional


class LocalHttpServer:
    """Serves GETs on a free 127.0.0.1 port, each on its own thread, by calling `on_get(handler)`;
    over TLS when `tls` is (certificate file, key file)."""

    def __init__(self, on_get: Callable[[BaseHTTPRequestHandler], None],
                 tls: Optional[tuple[str, str]] = None) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                on_get(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def send_json(h: BaseHTTPRequestHandler, status: int, doc: dict[str, Any],
              headers: Optional[dict[str, str]] = None) -> None:
    body = json.dumps(doc).encode()
    h.send_response(status)
    for name, value in (headers or {}).items():
        h.send_header(name, value)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def refuse_without_token(h: BaseHTTPRequestHandler, token: Optional[str],
                         before_refusing: Optional[Callable[[], None]] = None) -> bool:
    """Answers 401 as a guarded worker does, and returns True, when `token` is required (not None)
    and the request does not carry it; /v1/health stays open. `before_refusing` runs before the
    answer is sent, so what it counts is in place by the time the caller sees the 401."""
    if token is None or h.path.split("?", 1)[0] == "/v1/health":
        return False
    if h.headers.get("Authorization") == f"Bearer {token}":
        return False
    if before_refusing is not None:
        before_refusing()
    send_json(h, 401, {"error": "unauthenticated", "message": "a valid bearer token is required"},
              {"WWW-Authenticate": 'Bearer realm="epochcache"'})
    return True
