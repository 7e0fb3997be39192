"""A worker stand-in for unit tests: the worker HTTP contract (docs/api.md) for /v1/stat, /v1/list
and /v1/read over an in-memory dict, counting what it serves; it can be told to stall, fail, require
a bearer token, page its listings, or hold reads until several are in flight at once."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, Optional
from urllib.parse import parse_qs, urlparse

from support.http_stub import LocalHttpServer, refuse_without_token, send_json


class FakeWorker(LocalHttpServer):
    """A worker stand-in over a dict of {uri: bytes}; directories are implied by the paths."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.bytes_served = 0
        self.requests: list[str] = []
        self.delay = 0.0
        self.status_override: Optional[tuple[int, str]] = None
        self.required_token: Optional[str] = None  # like a worker with --auth-token-file
        self.authorizations: list[Optional[str]] = []
        self.page_size = 0  # > 0: /v1/list answers pages of this many entries
        # When set, every /v1/read waits here until this many reads are in flight together
        # (a broken barrier, after its timeout, answers 500).
        self.read_barrier: Optional[threading.Barrier] = None
        super().__init__(self.handle)

    def _is_dir(self, path: str) -> bool:
        prefix = path.rstrip("/") + "/"
        return any(p.startswith(prefix) for p in self.files)

    def _stat(self, path: str) -> dict[str, Any]:
        if path in self.files:
            data = self.files[path]
            return {"path": path, "type": "file", "size": len(data),
                    "mtime_ns": 1_700_000_000 * 10**9,
                    "version": f"{len(data)}-{hash(data) & 0xFFFF}"}
        return {"path": path, "type": "directory", "size": 0, "mtime_ns": 0, "version": ""}

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlparse(h.path)
        query = parse_qs(url.query)
        path = query.get("path", [""])[0]
        self.requests.append(f"{url.path} {path} {h.headers.get('Range', '')}")
        self.authorizations.append(h.headers.get("Authorization"))
        if refuse_without_token(h, self.required_token):
            return None
        if self.delay:
            time.sleep(self.delay)
        if self.status_override:
            status, code = self.status_override
            return send_json(h, status, {"error": code, "message": f"{path}: injected {code}"})
        exists = path in self.files or self._is_dir(path)
        if url.path == "/v1/stats":
            return send_json(h, 200, {"bytes_served": self.bytes_served})
        if not exists:
            return send_json(h, 404, {"error": "not_found", "message": f"{path} does not exist"})
        if url.path == "/v1/stat":
            return send_json(h, 200, self._stat(path))
        if url.path == "/v1/list":
            if path in self.files:
                return send_json(h, 404, {"error": "not_found",
                                           "message": f"{path} is not a directory"})
            prefix = path.rstrip("/") + "/"
            below = sorted(p for p in self.files if p.startswith(prefix))
            if query.get("recursive") == ["1"]:
                entries = [self._stat(p) for p in below]
            else:
                children = sorted({prefix + p[len(prefix):].split("/", 1)[0] for p in below})
                entries = [self._stat(c) for c in children]
            doc: dict[str, Any] = {"path": path}
            start_after = query.get("start_after", [""])[0]
            if start_after:
                entries = [e for e in entries if e["path"] > start_after]
            if self.page_size and len(entries) > self.page_size:
                entries = entries[: self.page_size]
                doc["next_start_after"] = entries[-1]["path"]
            doc["entries"] = entries
            return send_json(h, 200, doc)
        if url.path == "/v1/read":
            if self.read_barrier is not None:
                try:
                    self.read_barrier.wait()
                except threading.BrokenBarrierError:
                    return send_json(h, 500, {"error": "internal",
                                               "message": "reads did not arrive together"})
            data = self.files[path]
            version = query.get("version", [""])[0]
            if version and version != self._stat(path)["version"]:
                return send_json(h, 409, {"error": "changed", "message": f"{path} changed"})
            first, last = (int(x) for x in h.headers["Range"].split("=")[1].split("-"))
            if first >= len(data):
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(data)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return None
            last = min(last, len(data) - 1)
            body = data[first : last + 1]
            self.bytes_served += len(body)
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return None
        return send_json(h, 400, {"error": "invalid_argument", "message": "unknown endpoint"})
