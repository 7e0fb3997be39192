"""The client's side of worker security, end to end against real `epochcache worker` processes.

A token-checking, header-recording proxy on 127.0.0.1 stands in front of a real worker (whose
own token check may not exist in this build): it answers 401 like a worker started with
--auth-token-file and forwards everything else, so the filesystem's requests, their headers and
the real worker's answers are all observed. Tests of the worker's own enforcement and TLS run
when `epochcache worker --help` lists the flags.
"""

from __future__ import annotations

import http.client
import os
import pickle
import shutil
import subprocess
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Optional

import pytest

from epochcache import EpochCacheFileSystem
from epochcache.local_worker import LocalWorker, worker_binary
from epochcache_dev.local_servers import free_port, stop_process
from support.http_stub import LocalHttpServer, refuse_without_token

TOKEN = "e2e-token-51f0c3a9"
TOKEN_ENV = "EPOCHCACHE_AUTH_TOKEN"


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl CLI")


class TokenProxy(LocalHttpServer):
    """Requires `Authorization: Bearer <token>` like a guarded worker; forwards to `upstream`."""

    def __init__(self, upstream: str, token: str,
                 tls: Optional[tuple[str, str]] = None) -> None:
        self.upstream = upstream
        self.token = token
        self.seen: list[tuple[str, Optional[str]]] = []  # (endpoint, Authorization)
        self.refused = 0
        super().__init__(self.handle, tls)

    def _count_refusal(self) -> None:
        self.refused += 1

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        auth = h.headers.get("Authorization")
        self.seen.append((h.path.split("?", 1)[0], auth))
        if refuse_without_token(h, self.token, self._count_refusal):
            return
        host, port = self.upstream.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            headers = {"Range": h.headers["Range"]} if h.headers.get("Range") else {}
            conn.request("GET", h.path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        h.send_response(resp.status)
        for name in ("Content-Type", "Content-Range", "X-Epochcache-Version"):
            if resp.getheader(name):
                h.send_header(name, resp.getheader(name))
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


@pytest.fixture()
def proxy(worker):
    p = TokenProxy(worker.address, TOKEN)
    yield p
    p.close()


def _files_under(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.is_file())


def test_token_reaches_the_worker_on_every_request(proxy, data_root, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    fs = EpochCacheFileSystem(worker_hosts=[proxy.address], auth_token=TOKEN, piece_size=1 << 20,
                              direct_fallback=False, skip_instance_cache=True)
    big = data_root / "misc" / "big.bin"
    assert fs.cat_file(str(big)) == big.read_bytes()
    assert fs.find(str(data_root)) == _files_under(data_root)
    endpoints = {e for e, _ in proxy.seen}
    assert {"/v1/stat", "/v1/read", "/v1/list"} <= endpoints
    assert sum(e == "/v1/read" for e, _ in proxy.seen) >= 6  # 5 MiB in 1 MiB pieces
    assert {a for _, a in proxy.seen} == {f"Bearer {TOKEN}"}
    assert proxy.refused == 0


def test_token_from_the_environment(proxy, data_root, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    fs = EpochCacheFileSystem(worker_hosts=[proxy.address], direct_fallback=False,
                              skip_instance_cache=True)
    hello = data_root / "misc" / "hello.txt"
    assert fs.cat_file(str(hello)) == hello.read_bytes()
    assert TOKEN.encode() not in pickle.dumps(fs)


def test_no_token_is_refused_once_with_a_clear_error(proxy, worker, data_root, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    # The real worker is the second candidate and the local file is readable directly: a 401
    # must still be final, neither failed over nor read around.
    fs = EpochCacheFileSystem(worker_hosts=[proxy.address, worker.address],
                              skip_instance_cache=True)
    hello = str(data_root / "misc" / "hello.txt")
    owner = fs._client.locate(hello, 0, 1)[0]
    if owner != proxy.address:
        fs = EpochCacheFileSystem(worker_hosts=[proxy.address], skip_instance_cache=True)
    with pytest.raises(PermissionError) as e:
        fs.cat_file(hello)
    msg = str(e.value)
    assert proxy.address in msg and "auth_token=" in msg and TOKEN_ENV in msg, msg
    assert proxy.refused == 1
    stats = fs.client_stats()
    assert stats["failovers"] == 0 and stats["direct_metadata"] == 0 and stats["direct_reads"] == 0


def test_listing_through_a_real_worker_is_complete(worker, data_root):
    # Whether or not this worker pages its listings, the filesystem gets every entry.
    fs = EpochCacheFileSystem(worker_hosts=[worker.address], direct_fallback=False,
                              skip_instance_cache=True)
    images = data_root / "images"
    assert fs.ls(str(images), detail=False) == sorted(str(p) for p in images.iterdir())
    assert fs.find(str(data_root)) == _files_under(data_root)


def test_worker_enforces_the_token(data_root, tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    w = LocalWorker(tmp_path / "cache", under=f"file://{data_root}",
                    extra_args=["--auth-token-file", str(token_file)])
    w.start()
    try:
        hello = data_root / "misc" / "hello.txt"
        refused = EpochCacheFileSystem(worker_hosts=[w.address], direct_fallback=False,
                                       skip_instance_cache=True)
        with pytest.raises(PermissionError, match="EPOCHCACHE_AUTH_TOKEN") as e:
            refused.cat_file(str(hello))
        assert TOKEN not in str(e.value) and w.address in str(e.value)
        wrong = EpochCacheFileSystem(worker_hosts=[w.address], direct_fallback=False,
                                     auth_token="not-" + TOKEN, skip_instance_cache=True)
        with pytest.raises(PermissionError) as e:
            wrong.info(str(hello))
        assert TOKEN not in str(e.value)
        good = EpochCacheFileSystem(worker_hosts=[w.address], direct_fallback=False,
                                    auth_token=TOKEN, skip_instance_cache=True)
        assert good.cat_file(str(hello)) == hello.read_bytes()
        assert good.find(str(data_root)) == _files_under(data_root)
        monkeypatch.setenv(TOKEN_ENV, TOKEN)
        from_env = EpochCacheFileSystem(worker_hosts=[w.address], direct_fallback=False,
                                        skip_instance_cache=True)
        assert from_env.cat_file(str(hello)) == hello.read_bytes()
    finally:
        w.kill()
    assert TOKEN not in w.log_path.read_text(errors="replace")


# ------------------------------------------------------------------------------------------------
# TLS: certificates made with the openssl CLI for this run.

def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _make_ca(d: Path, name: str) -> Path:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "1", "-subj", f"/CN={name}", "-keyout", str(d / f"{name}.key"),
             "-out", str(d / f"{name}.pem"))
    return d / f"{name}.pem"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl CLI")
    d = tmp_path_factory.mktemp("pki")
    ca = _make_ca(d, "ca")
    other = _make_ca(d, "other-ca")
    (d / "worker.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", "/CN=worker", "-keyout", str(d / "worker.key"), "-out",
             str(d / "worker.csr"))
    _openssl("x509", "-req", "-days", "1", "-in", str(d / "worker.csr"), "-CA", str(ca),
             "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-extfile", str(d / "worker.ext"),
             "-out", str(d / "worker.pem"))
    return {"ca": str(ca), "other_ca": str(other), "cert": str(d / "worker.pem"),
            "key": str(d / "worker.key")}


@needs_openssl
def test_tls_with_the_right_ca_reads_and_a_wrong_ca_fails(worker, data_root, pki, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    p = TokenProxy(worker.address, TOKEN, tls=(pki["cert"], pki["key"]))
    try:
        fs = EpochCacheFileSystem(worker_hosts=[p.address], auth_token=TOKEN, tls_ca=pki["ca"],
                                  direct_fallback=False, skip_instance_cache=True)
        big = data_root / "misc" / "big.bin"
        assert fs.cat_file(str(big)) == big.read_bytes()
        assert fs.find(str(data_root / "images")) == _files_under(data_root / "images")
        assert {a for _, a in p.seen} == {f"Bearer {TOKEN}"}
        seen = len(p.seen)
        wrong = EpochCacheFileSystem(worker_hosts=[p.address], auth_token=TOKEN,
                                     tls_ca=pki["other_ca"], direct_fallback=False,
                                     skip_instance_cache=True)
        with pytest.raises(PermissionError) as e:
            wrong.info(str(big))
        msg = str(e.value)
        assert p.address in msg and "failed TLS verification" in msg, msg
        assert TOKEN not in msg
        assert len(p.seen) == seen  # no request went out over an unverified connection
        # Not read around either: with direct reads allowed, an unverified worker is still an
        # error, never a silent switch to reading the store directly.
        fallback = EpochCacheFileSystem(worker_hosts=[p.address], auth_token=TOKEN,
                                        tls_ca=pki["other_ca"], skip_instance_cache=True)
        with pytest.raises(PermissionError, match="failed TLS verification"):
            fallback.cat_file(str(big))
        plain = EpochCacheFileSystem(worker_hosts=[p.address], auth_token=TOKEN,
                                     direct_fallback=False, skip_instance_cache=True)
        with pytest.raises(OSError):
            plain.info(str(big))
    finally:
        p.close()


@needs_openssl
def test_worker_serves_tls(data_root, tmp_path, pki):
    port = free_port()
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [worker_binary(), "worker", "--host", "127.0.0.1", "--port", str(port),
             "--cache-dir", str(tmp_path / "cache"), "--capacity", "1GiB",
             "--under", f"file://{data_root}", "--tls-cert", pki["cert"], "--tls-key", pki["key"]],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        fs = EpochCacheFileSystem(worker_hosts=[f"127.0.0.1:{port}"], tls_ca=pki["ca"],
                                  direct_fallback=False, connect_timeout=1.0,
                                  skip_instance_cache=True)
        hello = data_root / "misc" / "hello.txt"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                fs.info(str(hello))
                break
            except ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        big = data_root / "misc" / "big.bin"
        assert fs.cat_file(str(big)) == big.read_bytes()
        wrong = EpochCacheFileSystem(worker_hosts=[f"127.0.0.1:{port}"], tls_ca=pki["other_ca"],
                                     direct_fallback=False, skip_instance_cache=True)
        with pytest.raises(PermissionError, match="failed TLS verification"):
            wrong.info(str(hello))
    finally:
        stop_process(proc)
