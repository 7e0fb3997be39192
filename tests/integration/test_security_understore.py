"""The under stores hold their root against a real worker: S3 (MinIO) and HTTP (an origin started
here) root escapes are refused with 403 and nothing is sent upstream, and credentials embedded in
an HTTP root URL appear in no response body and no log line.

All servers listen on 127.0.0.1. Each escape spelling is sent as raw bytes on the request line
(http.client, no client-side normalisation), exactly as an attacker would."""

from __future__ import annotations

import base64
import http.client
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from epochcache.local_worker import LocalWorker

BUCKET = "sec-bucket"
OTHER_BUCKET = "sec-other"
PASSWORD = "pw-" + uuid.uuid4().hex  # unique, so any occurrence anywhere is a leak


def _get(worker: LocalWorker, target: str) -> tuple[int, bytes]:
    """GET `target` (sent verbatim on the request line) from the worker."""
    conn = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=30)
    try:
        conn.putrequest("GET", target, skip_host=False, skip_accept_encoding=True)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# S3


@pytest.fixture(scope="module")
def s3_buckets(minio):
    client = minio.client()
    secret = ("OTHER-BUCKET-OBJECT-" + uuid.uuid4().hex).encode()
    for bucket in (BUCKET, OTHER_BUCKET):
        try:
            client.create_bucket(Bucket=bucket)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
    client.put_object(Bucket=BUCKET, Key="prefix/ok.txt", Body=b"inside the root")
    client.put_object(Bucket=BUCKET, Key="elsewhere/key.txt", Body=secret)
    client.put_object(Bucket=OTHER_BUCKET, Key="key.txt", Body=secret)
    return secret


@pytest.fixture()
def s3_worker(minio, s3_buckets, tmp_path):
    w = LocalWorker(tmp_path / "cache", under=f"s3://{BUCKET}/prefix",
                    extra_args=["--s3-endpoint", minio.endpoint], env=minio.worker_env()).start()
    yield w
    w.kill()


S3_ESCAPES = [
    f"s3://{BUCKET}/prefix/../../{OTHER_BUCKET}/key.txt",
    f"s3://{BUCKET}/prefix/../elsewhere/key.txt",
    f"s3://{BUCKET}/prefix/%2e%2e/%2e%2e/{OTHER_BUCKET}/key.txt",
    f"s3://{BUCKET}/prefix/%2E%2E/elsewhere/key.txt",
    f"s3://{BUCKET}/prefix/.%2e/.%2e/{OTHER_BUCKET}/key.txt",
    f"s3%3A%2F%2F{BUCKET}%2Fprefix%2F..%2F..%2F{OTHER_BUCKET}%2Fkey.txt",
    f"s3://{BUCKET}/prefix/./../../{OTHER_BUCKET}/key.txt",
    f"s3://{BUCKET}/prefix//../../{OTHER_BUCKET}/key.txt",
]


@pytest.mark.parametrize("endpoint", ["/v1/read", "/v1/stat", "/v1/list"])
def test_s3_root_escapes_are_refused_and_never_return_the_other_object(
    s3_worker, s3_buckets, endpoint
):
    secret = s3_buckets
    status, body = _get(s3_worker, f"/v1/read?path=s3://{BUCKET}/prefix/ok.txt")
    assert (status, body) == (200, b"inside the root")  # the worker does serve its root

    for path in S3_ESCAPES:
        status, body = _get(s3_worker, f"{endpoint}?path={path}")
        assert status == 403, (path, status, body[:300])
        assert secret not in body
        assert b'"permission_denied"' in body, body[:300]

    # Encoded twice, the worker decodes once: a key literally named "%2e%2e" below the prefix.
    # It does not exist, and above all it is not the other bucket's object.
    twice = f"s3://{BUCKET}/prefix/%252e%252e/%252e%252e/{OTHER_BUCKET}/key.txt"
    status, body = _get(s3_worker, f"{endpoint}?path={twice}")
    assert status in (403, 404), (status, body[:300])
    assert secret not in body
    assert secret.decode() not in s3_worker.log_path.read_text(errors="replace")


# ---------------------------------------------------------------------------------------------
# HTTP


class Origin:
    """A small HTTP origin on 127.0.0.1 that records every request it receives. Files under
    /data/ need Basic auth when `password` is set; /data/forbidden.txt answers 403 with a body
    that echoes the request's Authorization header (as a careless server might)."""

    SECRET = ("ORIGIN-OUTSIDE-ROOT-" + uuid.uuid4().hex).encode()

    def __init__(self, password: str | None = None) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.files = {"/data/file.txt": b"0123456789" * 100, "/secret.txt": self.SECRET,
                      "/data/forbidden.txt": b"never served"}
        origin = self
        expected = None
        if password is not None:
            expected = "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _answer(self, head_only: bool) -> None:
                with origin.lock:
                    origin.requests.append((self.command, self.path, dict(self.headers)))
                auth = self.headers.get("Authorization", "")
                if self.path == "/data/forbidden.txt":
                    return self._send(403, b"forbidden; you sent: " + auth.encode() + b" = "
                                      + base64.b64decode(auth[6:] or "") if auth else b"no", {},
                                      head_only)
                if self.path.startswith("/data/") and expected is not None and auth != expected:
                    return self._send(401, b"who are you", {}, head_only)
                data = origin.files.get(self.path)
                if data is None:
                    # Anything else, "/?x=1" included, would leak what lies outside the root.
                    return self._send(200 if self.path.startswith("/?") else 404,
                                      self.SECRET_LISTING, {}, head_only)
                headers = {"ETag": '"v1"', "Accept-Ranges": "bytes"}
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    first, last = rng[6:].split("-")
                    first, last = int(first), min(int(last), len(data) - 1)
                    headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
                    return self._send(206, data[first:last + 1], headers, head_only)
                return self._send(200, data, headers, head_only)

            SECRET_LISTING = b"ROOT-LISTING " + Origin.SECRET

            def _send(self, code, body, headers, head_only):
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head_only:
                    self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                self._answer(False)

            def do_HEAD(self):  # noqa: N802
                self._answer(True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Origin":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def seen(self) -> list[tuple[str, str, dict[str, str]]]:
        with self.lock:
            return list(self.requests)


@pytest.fixture()
def origin():
    with Origin() as o:
        yield o


@pytest.fixture()
def http_worker(origin, tmp_path):
    w = LocalWorker(tmp_path / "cache", under=f"http://127.0.0.1:{origin.port}/data").start()
    yield w
    w.kill()


def test_http_root_escapes_are_refused_and_the_origin_receives_none(origin, http_worker):
    root = f"http://127.0.0.1:{origin.port}/data"
    status, body = _get(http_worker, f"/v1/read?path={root}/file.txt")
    assert (status, body) == (200, b"0123456789" * 100)
    before = len(origin.seen())
    assert before > 0

    escapes = [
        f"{root}/..%3Fx=1",                 # decoded by the worker: ".../data/..?x=1"
        f"{root}/..?x=1",                   # '?' ends the path parameter: ".../data/.."
        f"{root}/../secret.txt",
        f"{root}/%2e%2e/secret.txt",
        f"{root}/%252e%252e/secret.txt",    # "%2e%2e" after the worker's decoding
        f"{root}/.%252E/secret.txt",
        f"{root}/sub/..%252fsecret.txt",    # an encoded '/' the origin would decode
        f"{root}/..%255csecret.txt",        # an encoded '\'
        f"{root}/%253Fx=1",                 # an encoded '?'
        f"{root}/./file.txt",
        f"{root}//file.txt",
        f"{root}x/file.txt",
        f"http://127.0.0.1:{origin.port}/secret.txt",
    ]
    for path in escapes:
        for endpoint in ("/v1/read", "/v1/stat"):
            status, body = _get(http_worker, f"{endpoint}?path={path}")
            assert status == 403, (endpoint, path, status, body[:300])
            assert Origin.SECRET not in body
    after = origin.seen()
    assert after[before:] == [], after[before:]
    assert all(p.startswith("/data/") and ".." not in p and "?" not in p for _, p, _ in after)


def _run_worker_with_password_root(tmp_path) -> tuple[LocalWorker, list[bytes], list]:
    """Starts a worker whose root carries credentials, exercises it, stops it; returns the
    worker, every response body, and every request the origin received."""
    with Origin(password=PASSWORD) as origin:
        root = f"http://127.0.0.1:{origin.port}/data"
        worker = LocalWorker(tmp_path / "cache",
                             under=f"http://alice:{PASSWORD}@127.0.0.1:{origin.port}/data")
        worker.start()
        try:
            bodies = []
            status, body = _get(worker, f"/v1/read?path={root}/file.txt")
            assert (status, body) == (200, b"0123456789" * 100)  # the credentials do work
            status, body = _get(worker, f"/v1/read?path={root}/forbidden.txt")
            assert status == 403, body[:300]  # the origin's own 403, which echoes them
            bodies.append(body)
            for target in [f"/v1/stat?path={root}/file.txt", f"/v1/stat?path={root}/missing",
                           f"/v1/read?path={root}/../secret.txt", f"/v1/list?path={root}",
                           "/v1/stats", "/v1/health"]:
                bodies.append(_get(worker, target)[1])
        finally:
            worker.stop()
        return worker, bodies, origin.seen()


def test_http_root_password_never_in_responses(tmp_path):
    _, bodies, seen = _run_worker_with_password_root(tmp_path)
    for body in bodies:
        assert PASSWORD.encode() not in body, body[:300]
    # The credentials went to the origin, as Basic auth, never in a URL.
    assert any(h.get("Authorization", "").startswith("Basic ") for _, _, h in seen)
    assert all(PASSWORD not in p for _, p, _ in seen)


def test_http_root_password_never_in_the_worker_log(tmp_path):
    worker, _, _ = _run_worker_with_password_root(tmp_path)
    log = worker.log_path.read_text(errors="replace")
    assert log, "the worker wrote no log at all"
    assert PASSWORD not in log, [line for line in log.splitlines() if PASSWORD in line]


def test_http_root_password_never_in_start_up_errors(tmp_path):
    """A worker whose root cannot be used says so without showing the password."""
    worker = LocalWorker(tmp_path / "cache",
                         under=f"http://alice:{PASSWORD}@127.0.0.1:1/data/../up")
    with pytest.raises(RuntimeError) as failed:
        worker.start(timeout=10)
    assert "--under" in str(failed.value)
    assert PASSWORD not in str(failed.value)
    assert PASSWORD not in worker.log_path.read_text(errors="replace")
