"""Bad input reaches the user as a clear Python exception; the worker survives malformed HTTP."""

from __future__ import annotations

import socket
import time

import pytest

from epochcache import EpochCacheFileSystem


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_missing_path_raises_file_not_found(fs, data_root):
    missing = str(data_root / "parquet" / "nope.parquet")
    with pytest.raises(FileNotFoundError, match="nope.parquet"):
        fs.info(missing)
    with pytest.raises(FileNotFoundError):
        fs.cat_file(missing)
    with pytest.raises(FileNotFoundError):
        fs.open(missing)
    assert not fs.exists(missing)


def test_ranges_past_the_end_are_clipped_like_local_files(fs, data_root):
    path = data_root / "misc" / "big.bin"
    local = path.read_bytes()
    size = len(local)
    with open(path, "rb") as lf, fs.open(str(path)) as ef:
        for offset, n in [(size - 10, 100), (size, 10), (size + 5000, 1), (0, size + 1)]:
            lf.seek(offset)
            ef.seek(offset)
            assert ef.read(n) == lf.read(n), (offset, n)
    assert fs.cat_file(str(path), start=size - 3, end=size + 100) == local[-3:]
    assert fs.cat_file(str(path), start=size + 1, end=size + 100) == b""


def test_negative_length_raises_value_error(fs, data_root):
    path = str(data_root / "misc" / "hello.txt")
    with pytest.raises(ValueError):
        fs._client.read(path, 0, -1)
    with fs.open(path) as f:
        with pytest.raises((ValueError, OSError)):
            f.seek(-1)


def test_worker_not_running_names_its_address_within_deadline(data_root):
    address = f"127.0.0.1:{_free_port()}"
    fs = EpochCacheFileSystem(worker_hosts=[address], connect_timeout=1.0, request_timeout=2.0,
                              direct_fallback=False, skip_instance_cache=True)
    start = time.monotonic()
    with pytest.raises(OSError, match=address):
        fs.cat_file(str(data_root / "misc" / "hello.txt"))
    assert time.monotonic() - start < 10


def test_worker_not_running_falls_back_to_the_under_store(data_root):
    """By default a read that no worker can serve is read from the under store directly."""
    fs = EpochCacheFileSystem(worker_hosts=[f"127.0.0.1:{_free_port()}"], connect_timeout=1.0,
                              request_timeout=2.0, skip_instance_cache=True)
    assert fs.cat_file(str(data_root / "misc" / "hello.txt")) == b"hello, epochcache\n"
    stats = fs.client_stats()
    assert stats["direct_reads"] >= 1


def test_path_escaping_the_root_is_refused(fs, data_root):
    with pytest.raises(PermissionError):
        fs.cat_file(str(data_root / ".." / "secret.txt"))
    with pytest.raises(PermissionError):
        fs.cat_file("/etc/passwd")


def _raw_exchange(address: str, payload: bytes) -> bytes:
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        chunks = []
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the worker may answer and close before reading all of a bad request
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, socket.timeout):
            pass
    return b"".join(chunks)


@pytest.mark.parametrize(
    "payload",
    [
        b"\x00\xff garbage \r\n\r\n",
        b"GET /v1/read?path=/x HTTP/1.1\r\nHost: x\r\nRange: bytes=zz-1\r\n\r\n",
        b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n",
        b"GET /v1/read HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v1/read?path=%zz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /v1/stats HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        b"GET /no/such/endpoint HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["garbage", "bad-range", "oversized-header", "no-path", "bad-escape", "post", "unknown"],
)
def test_worker_keeps_serving_after_malformed_http(worker, fs, data_root, payload):
    answer = _raw_exchange(worker.address, payload)
    if answer:
        status = int(answer.split(b" ", 2)[1])
        assert 400 <= status < 500, answer[:200]
    assert worker.running
    assert worker.get("/v1/health")["status"] == "ok"
    assert fs.cat_file(str(data_root / "misc" / "hello.txt")) == b"hello, epochcache\n"


def test_bad_range_header_gets_400_naming_it(worker, data_root):
    path = str(data_root / "misc" / "hello.txt")
    answer = _raw_exchange(
        worker.address,
        f"GET /v1/read?path={path} HTTP/1.1\r\nHost: x\r\nRange: bytes=9-2\r\n\r\n".encode(),
    )
    assert answer.split(b" ", 2)[1] == b"400"
    assert b"invalid_argument" in answer
