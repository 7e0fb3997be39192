"""The worker's front door against a hostile network (issue 9), on real worker processes.

Every test talks to workers on 127.0.0.1 only; loops are bounded in count and time.
"""

from __future__ import annotations

import http.client
import json
import os
import resource
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from epochcache.local_worker import LocalWorker, worker_binary

TOKEN = "tok-3f9a1c7e5b2d48e0a6c4-secret"


def _read_url(worker: LocalWorker, path: str) -> str:
    return "/v1/read?path=" + urllib.parse.quote(str(path), safe="")


def _request(worker: LocalWorker, target: str, headers: dict[str, str] | None = None,
             timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=timeout)
    try:
        conn.request("GET", target, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture()
def token_file(tmp_path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")  # the trailing newline is not part of the token
    path.chmod(0o600)
    return path


def test_token_required_except_health_and_never_revealed(data_root, tmp_path, token_file):
    worker = LocalWorker(tmp_path / "cache", under=f"file://{data_root}",
                         auth_token_file=token_file).start()
    bodies: list[bytes] = []
    try:
        hello = data_root / "misc" / "hello.txt"
        target = _read_url(worker, hello)

        status, headers, body = _request(worker, target)
        bodies.append(body)
        assert status == 401
        assert headers.get("WWW-Authenticate") == 'Bearer realm="epochcache"'
        assert json.loads(body)["error"] == "unauthenticated"
        for wrong in (TOKEN[:-1] + "X", TOKEN[:10], TOKEN + "x", ""):
            status, _, body = _request(worker, target, {"Authorization": f"Bearer {wrong}"})
            bodies.append(body)
            assert status == 401, wrong
        for endpoint in ("/v1/stats", "/v1/stat?path=" + urllib.parse.quote(str(hello)),
                         "/v1/list?path=" + urllib.parse.quote(str(data_root))):
            status, _, body = _request(worker, endpoint)
            bodies.append(body)
            assert status == 401, endpoint

        # urllib, as a plain client would: 401 without the token, 200 with it.
        url = f"http://{worker.address}{target}"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 401
        bodies.append(refused.value.read())
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
            assert resp.read() == hello.read_bytes()

        status, _, body = _request(worker, "/v1/health")
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert worker.stats()["requests"] >= 1  # LocalWorker.get sends the token
    finally:
        worker.stop()
    for body in bodies:
        assert TOKEN.encode() not in body
    log = worker.log_path.read_bytes()
    assert TOKEN.encode() not in log
    assert TOKEN[:10].encode() not in log


def test_token_file_from_the_environment(data_root, tmp_path, token_file):
    worker = LocalWorker(tmp_path / "cache", under=f"file://{data_root}",
                         env={"EPOCHCACHE_AUTH_TOKEN_FILE": str(token_file)}).start()
    try:
        target = _read_url(worker, data_root / "misc" / "hello.txt")
        assert _request(worker, target)[0] == 401
        assert _request(worker, target, {"Authorization": f"Bearer {TOKEN}"})[0] == 200
    finally:
        worker.stop()
    assert TOKEN.encode() not in worker.log_path.read_bytes()


def _run_worker(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [worker_binary(), "worker", "--port", "0", "--cache-dir", str(tmp_path / "cache"),
         "--under", f"file://{tmp_path}", *args],
        capture_output=True, text=True, timeout=30,
        env={k: v for k, v in os.environ.items() if not k.startswith("EPOCHCACHE_")})


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_non_loopback_without_token_refuses_to_start(tmp_path, host):
    result = _run_worker(tmp_path, "--host", host)
    assert result.returncode != 0
    assert "--auth-token-file" in result.stderr and "--insecure" in result.stderr, result.stderr
    assert host in result.stderr
    assert not (tmp_path / "cache").exists()  # refused before touching anything


def test_bad_token_files_refuse_to_start(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text(" \n\t\n")
    result = _run_worker(tmp_path, "--auth-token-file", str(empty))
    assert result.returncode != 0
    assert "--auth-token-file" in result.stderr and "empty" in result.stderr, result.stderr
    result = _run_worker(tmp_path, "--auth-token-file", str(tmp_path / "missing"))
    assert result.returncode != 0
    assert "--auth-token-file" in result.stderr and "missing" in result.stderr, result.stderr


def _open_non_reading(port: int, target: str, extra_headers: str = "") -> socket.socket:
    """A connection that sends one request and then never reads its answer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra_headers}\r\n".encode())
    return sock


BUDGET_FLAG = "--max-inflight-miss-bytes"


def test_fifty_non_reading_connections_stay_inside_the_miss_budget(tmp_path):
    # A sparse file: 50 distinct cold 8 MiB ranges, 400 MiB if each were held in memory.
    root = tmp_path / "root"
    root.mkdir()
    big = root / "sparse.bin"
    range_bytes = 8 << 20
    with open(big, "wb") as f:
        f.truncate(50 * range_bytes)
    budget_mib = 64
    worker = LocalWorker(tmp_path / "cache", under=f"file://{root}", capacity="2GiB",
                         extra_args=[BUDGET_FLAG, f"{budget_mib}MiB", "--threads", "2"]).start()
    socks: list[socket.socket] = []
    try:
        baseline = _rss_kib(worker.pid)
        target = _read_url(worker, big)
        for i in range(50):
            first = i * range_bytes
            sock = _open_non_reading(worker.port, target,
                                     f"Range: bytes={first}-{first + range_bytes - 1}\r\n")
            socks.append(sock)
        # Every request has been planned (or refused) once the worker has counted them all.
        peak = baseline
        polls = 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            peak = max(peak, _rss_kib(worker.pid))
            polls += 1
            if worker.stats()["requests"] >= 50 + polls:  # the stats requests count too
                break
            time.sleep(0.1)
        for _ in range(20):  # and a little longer, for fetches still finishing
            peak = max(peak, _rss_kib(worker.pid))
            time.sleep(0.1)
        # The budget, plus slack for socket buffers, allocator caching and the page store's
        # own work (one page file write at a time per miss thread); 400 MiB without a budget.
        bound_kib = baseline + (budget_mib + 64) * 1024
        assert peak <= bound_kib, f"RSS {peak} KiB > bound {bound_kib} KiB (baseline {baseline})"
        status, headers, _ = _request(worker, "/v1/health")
        assert status == 200
    finally:
        for sock in socks:
            sock.close()
        worker.stop()


def test_fd_limit_keeps_the_worker_responsive_and_its_log_short(data_root, tmp_path):
    limit = 64

    def low_fd_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    worker = LocalWorker(tmp_path / "cache", under=f"file://{data_root}",
                         extra_args=["--threads", "2", "--idle-timeout", "60s"],
                         preexec_fn=low_fd_limit).start()
    socks: list[socket.socket] = []
    try:
        log_before = len(worker.log_path.read_text(errors="replace").splitlines())
        cpu_before = _cpu_seconds(worker.pid)
        for _ in range(3 * limit):  # far past the limit; the kernel queues them in the backlog
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(5)
            sock.connect(("127.0.0.1", worker.port))
            socks.append(sock)
        storm = 3.0
        time.sleep(storm)
        cpu_used = _cpu_seconds(worker.pid) - cpu_before
        # Backing off, not spinning: well under one busy core over the storm.
        assert cpu_used < storm / 2, f"worker used {cpu_used:.2f}s of CPU in {storm}s"
        # Once most of them go (those still open, accepted or waiting in the backlog, fit in
        # the descriptors left), a new connection must be served again.
        for sock in socks[:-16]:
            sock.close()
        healthy = False
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not healthy:
            try:
                healthy = _request(worker, "/v1/health", timeout=2)[0] == 200
            except OSError:
                time.sleep(0.1)
        assert healthy, ("the worker did not answer /v1/health after connections closed:\n"
                         + worker.log_path.read_text(errors="replace")[-3000:])
        lines = worker.log_path.read_text(errors="replace").splitlines()[log_before:]
        assert len(lines) <= 10, "\n".join(lines[:20])
        assert any("accept failed" in line for line in lines), "\n".join(lines)
    finally:
        for sock in socks:
            sock.close()
        worker.stop()


class _SlowOrigin(ThreadingHTTPServer):
    """An HTTP origin on 127.0.0.1: files under /data; requests for /data/slow* wait first."""

    daemon_threads = True

    def __init__(self, files: dict[str, bytes], delay: float) -> None:
        self.files = files
        self.delay = delay
        self.slow_in_flight = 0
        self.lock = threading.Lock()
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), _OriginHandler)


class _OriginHandler(BaseHTTPRequestHandler):
    server: _SlowOrigin

    def log_message(self, *args) -> None:  # quiet
        pass

    def _serve(self, with_body: bool) -> None:
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        if "/slow" in self.path:
            with self.server.lock:
                self.server.slow_in_flight += 1
            try:
                self.server.release.wait(self.server.delay)
            finally:
                with self.server.lock:
                    self.server.slow_in_flight -= 1
        status, payload, extra = 200, body, {}
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            first, _, last = rng[6:].partition("-")
            first, last = int(first), min(int(last or len(body) - 1), len(body) - 1)
            payload = body[first:last + 1]
            status, extra = 206, {"Content-Range": f"bytes {first}-{last}/{len(body)}"}
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("ETag", '"v1"')
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        if with_body:
            self.wfile.write(payload)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(False)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(True)


def test_hit_is_not_held_up_by_slow_misses(tmp_path):
    files = {"/data/hit.bin": os.urandom(3 << 20)}
    for i in range(8):
        files[f"/data/slow{i}.bin"] = os.urandom(1 << 20)
    origin = _SlowOrigin(files, delay=20.0)
    thread = threading.Thread(target=origin.serve_forever, daemon=True)
    thread.start()
    root = f"http://127.0.0.1:{origin.server_address[1]}/data"
    worker = LocalWorker(tmp_path / "cache", under=root,
                         extra_args=["--threads", "2", "--metadata-ttl", "120s"]).start()
    try:
        hit_target = _read_url(worker, f"{root}/hit.bin")
        status, _, body = _request(worker, hit_target, timeout=30)  # warm it
        assert status == 200 and body == files["/data/hit.bin"]

        results: list[int] = []

        def slow_read(i: int) -> None:
            try:
                results.append(_request(worker, _read_url(worker, f"{root}/slow{i}.bin"),
                                        timeout=60)[0])
            except OSError:
                results.append(-1)

        readers = [threading.Thread(target=slow_read, args=(i,)) for i in range(8)]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + 10
        while origin.slow_in_flight < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert origin.slow_in_flight == 8, "the 8 slow reads did not reach the origin"

        start = time.monotonic()
        status, _, body = _request(worker, hit_target, timeout=10)
        elapsed = time.monotonic() - start
        assert status == 200 and body == files["/data/hit.bin"]
        assert origin.slow_in_flight == 8  # the misses were still in flight throughout
        assert elapsed < 1.0, f"a cache hit took {elapsed:.2f}s behind slow misses"
        origin.release.set()
        for reader in readers:
            reader.join(60)
        assert results == [200] * 8
    finally:
        origin.release.set()
        worker.stop()
        origin.shutdown()
        origin.server_close()


@pytest.fixture()
def tls_files(tmp_path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key), made with the openssl CLI."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60)
    return cert, key


def test_tls_serves_https_and_still_needs_the_token(data_root, tmp_path, token_file, tls_files):
    cert, key = tls_files
    worker = LocalWorker(
        tmp_path / "cache", under=f"file://{data_root}", auth_token_file=token_file,
        tls_cert_file=cert, tls_key_file=key, extra_args=["--page-size", "256KiB"]).start()
    try:
        big = (data_root / "misc" / "big.bin").read_bytes()
        target = _read_url(worker, data_root / "misc" / "big.bin")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        conn = http.client.HTTPSConnection("127.0.0.1", worker.port, context=worker.ssl_context(),
                                           timeout=30)
        try:
            conn.request("GET", "/v1/health")
            resp = conn.getresponse()
            assert resp.status == 200 and json.loads(resp.read())["status"] == "ok"
            conn.request("GET", target)
            resp = conn.getresponse()
            assert resp.status == 401
            assert TOKEN.encode() not in resp.read()
            # Cold (from memory), then warm (page files read and encrypted), on one connection.
            for _ in range(2):
                conn.request("GET", target, headers=auth)
                resp = conn.getresponse()
                assert resp.status == 200
                assert resp.read() == big
            conn.request("GET", target, headers={**auth, "Range": "bytes=300000-2000000"})
            resp = conn.getresponse()
            assert resp.status == 206
            assert resp.read() == big[300000:2000001]
        finally:
            conn.close()
        stats = worker.stats()  # over HTTPS, with the token
        assert stats["page_hits"] > 0

        # Nothing is served in plain text on the TLS port.
        with pytest.raises((http.client.HTTPException, OSError)):
            _request(worker, "/v1/health", timeout=5)
        # The certificate is verified: not trusted without the CA, and not valid for another
        # name than the worker's address.
        with pytest.raises(ssl.SSLCertVerificationError):
            http.client.HTTPSConnection("127.0.0.1", worker.port, timeout=5,
                                        context=ssl.create_default_context()).request(
                                            "GET", "/v1/health")
        with pytest.raises(ssl.SSLCertVerificationError):
            http.client.HTTPSConnection("localhost", worker.port, timeout=5,
                                        context=worker.ssl_context()).request("GET", "/v1/health")
    finally:
        worker.stop()
    assert TOKEN.encode() not in worker.log_path.read_bytes()


def test_tls_on_a_non_loopback_address_still_needs_a_token(tmp_path, tls_files):
    cert, key = tls_files
    result = _run_worker(tmp_path, "--host", "0.0.0.0", "--tls-cert", str(cert),
                         "--tls-key", str(key))
    assert result.returncode != 0
    assert "--auth-token-file" in result.stderr, result.stderr
    result = _run_worker(tmp_path, "--tls-cert", str(cert))
    assert result.returncode != 0
    assert "--tls-key" in result.stderr, result.stderr
