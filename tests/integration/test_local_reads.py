"""Local reads with real processes on this host: a worker started with --local-socket (and
registered in a real etcd), the fsspec filesystem reading hits from its page files, and the
socket tried the way an attacker on the same host would: another user, no token, garbage."""

from __future__ import annotations

import os
import socket
import struct
import tempfile
import time
from pathlib import Path

import pytest

from epochcache import EpochCacheFileSystem
from epochcache.cluster import EtcdServer
from epochcache.local_worker import LocalWorker

pytestmark = pytest.mark.timeout(300)

MAGIC = b"ECLR\x02"


def _str(b: bytes) -> bytes:
    return struct.pack("<H", len(b)) + b


def hello(token: bytes = b"") -> bytes:
    return MAGIC + b"\x01" + _str(token)


def read_request(path: str, offset: int, length: int, version: str = "") -> bytes:
    return (MAGIC + b"\x03" + struct.pack("<QQ", offset, length) + _str(path.encode())
            + _str(version.encode()))


def decode_hello_answer(msg: bytes) -> tuple[bool, str]:
    assert msg[:6] == MAGIC + b"\x02", msg
    accepted = msg[6] == 1
    (n,) = struct.unpack_from("<H", msg, 7)
    return accepted, msg[9:9 + n].decode()


@pytest.fixture()
def sock_dir():
    # Short: a Unix socket path has at most 107 bytes, and pytest's tmp_path can be longer.
    d = Path(tempfile.mkdtemp(prefix="ec-lr-"))
    yield d
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


@pytest.fixture()
def etcd(tmp_path):
    server = EtcdServer(tmp_path / "etcd").start()
    yield server
    server.stop()


def start_worker(tmp_path, data_root, etcd, sock_dir, extra=(), **kwargs) -> LocalWorker:
    return LocalWorker(tmp_path / "cache", under=f"file://{data_root}", capacity="1GiB",
                       extra_args=["--etcd", etcd.endpoint, "--cluster", "lr",
                                   "--local-socket", str(sock_dir / "w.sock"), *extra],
                       **kwargs).start()


def connect(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(str(path))
    return s


def test_cached_reads_come_from_the_page_files_and_misses_over_http(tmp_path, data_root, etcd,
                                                                     sock_dir):
    worker = start_worker(tmp_path, data_root, etcd, sock_dir)
    try:
        sock = sock_dir / "w.sock"
        assert (os.stat(sock).st_mode & 0o777) == 0o600
        fs = EpochCacheFileSystem(target_protocol="file", etcd_hosts=etcd.endpoint,
                                  cluster="lr", skip_instance_cache=True)
        [record] = fs.workers()
        assert record["local_socket"] == str(sock)
        path = str(data_root / "misc" / "big.bin")
        want = (data_root / "misc" / "big.bin").read_bytes()

        assert fs.cat_file(path) == want  # cold: read through over HTTP
        cold = worker.stats()
        assert cold["local_reads"] == 0 and cold["local_declines"] > 0
        assert fs.client_stats()["local_reads"] == 0

        # Warm: every byte from the page files; the worker sends none over HTTP.
        for start, end in [(None, None), (0, 1), (12345, 1 << 20), ((4 << 20) - 7, None)]:
            assert fs.cat_file(path, start=start, end=end) == want[start:end]
        warm = worker.stats()
        assert warm["bytes_served"] == cold["bytes_served"]
        assert warm["local_reads"] > 0
        stats = fs.client_stats()
        assert stats["local_reads"] >= 4 and stats["local_read_bytes"] >= len(want)
        with fs.open(path, "rb") as f:
            f.seek(3 << 20)
            assert f.read(100_000) == want[3 << 20:(3 << 20) + 100_000]

        # local_reads=False: the same reads over HTTP.
        http = EpochCacheFileSystem(target_protocol="file", etcd_hosts=etcd.endpoint,
                                    cluster="lr", local_reads=False, skip_instance_cache=True)
        assert http.cat_file(path) == want
        assert http.client_stats()["local_reads"] == 0
        assert worker.stats()["bytes_served"] == warm["bytes_served"] + len(want)
    finally:
        worker.kill()


def test_a_new_client_opens_and_reads_a_cached_file_with_one_message_and_no_http(
        tmp_path, etcd, sock_dir):
    """A process that has not seen a file (a Ray read task in another worker process) learns
    its status and its page in one local message: no HTTP stat, no second message."""
    root = tmp_path / "data"
    root.mkdir()
    files = {f"f{i}.bin": os.urandom(100_000 + i) for i in range(3)}
    for name, data in files.items():
        (root / name).write_bytes(data)
    worker = start_worker(tmp_path, root, etcd, sock_dir)
    try:
        options = dict(target_protocol="file", etcd_hosts=etcd.endpoint, cluster="lr",
                       skip_instance_cache=True)
        warm = EpochCacheFileSystem(**options)
        for name, data in files.items():
            assert warm.cat_file(str(root / name)) == data  # cached on the worker
        fresh = EpochCacheFileSystem(**options)
        fresh.workers()  # membership known before counting
        before = worker.stats()
        stats_call = worker.stats()["requests"] - before["requests"]  # the stats request itself
        before = worker.stats()
        for name, data in files.items():
            with fresh.open(str(root / name), "rb") as f:
                assert f.read() == data
            assert fresh.info(str(root / name))["size"] == len(data)
        after = worker.stats()
        assert after["requests"] - before["requests"] == stats_call  # nothing over HTTP
        assert after["local_reads"] - before["local_reads"] == len(files)  # a message per file
        client = fresh.client_stats()
        assert client["local_stats"] == len(files)
        assert client["local_kept_reads"] == len(files)  # each read served by the stat's page

        # A file the worker has not cached: its status over HTTP, as before.
        (root / "new.bin").write_bytes(b"n" * 10)
        assert fresh.cat_file(str(root / "new.bin")) == b"n" * 10
        assert fresh.client_stats()["local_stats"] == len(files)
    finally:
        worker.kill()


def test_an_overwritten_file_is_read_anew_after_the_ttl(tmp_path, etcd, sock_dir):
    root = tmp_path / "data"
    root.mkdir()
    target = root / "f.bin"
    target.write_bytes(b"a" * 300_000)
    worker = start_worker(tmp_path, root, etcd, sock_dir,
                          extra=["--metadata-ttl", "1s", "--metadata-max-stale", "0s"])
    try:
        fs = EpochCacheFileSystem(target_protocol="file", etcd_hosts=etcd.endpoint,
                                  cluster="lr", metadata_ttl=0.5, skip_instance_cache=True)
        assert fs.cat_file(str(target)) == b"a" * 300_000
        assert fs.cat_file(str(target)) == b"a" * 300_000
        assert fs.client_stats()["local_reads"] > 0
        target.write_bytes(b"b" * 300_000)  # same size, new bytes and mtime
        os.utime(target, (time.time() + 5, time.time() + 5))
        deadline = time.monotonic() + 30
        while fs.cat_file(str(target)) != b"b" * 300_000:
            assert time.monotonic() < deadline, "the overwrite was never seen"
            time.sleep(0.2)
        # Once seen, no read goes back to the old bytes (kept page files are per version).
        for _ in range(5):
            assert fs.cat_file(str(target)) == b"b" * 300_000
    finally:
        worker.kill()


def as_nobody(sock: Path) -> str:
    """Connects to `sock` and says hello from a child process running as user nobody."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        outcome = "crashed"
        try:
            os.close(r)
            os.setgid(65534)
            os.setuid(65534)
            with connect(sock) as s:
                s.send(hello())
                accepted, text = decode_hello_answer(s.recv(9000))
                outcome = "accepted" if accepted else f"refused by the worker: {text}"
        except PermissionError:
            outcome = "refused by the file mode"
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            outcome = f"error {e!r}"
        finally:
            os.write(w, outcome.encode())
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r, "rb") as f:
        return f.read().decode()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_another_user_cannot_connect_nor_read(tmp_path, data_root, etcd, sock_dir):
    worker = start_worker(tmp_path, data_root, etcd, sock_dir)
    try:
        os.chmod(sock_dir, 0o755)  # the directory is open: only the socket's mode protects it
        assert as_nobody(sock_dir / "w.sock") == "refused by the file mode"
        # Were the mode ever wider (it is set right after bind), the worker still checks who
        # connected and answers another user with a refusal.
        os.chmod(sock_dir / "w.sock", 0o666)
        assert as_nobody(sock_dir / "w.sock") == (
            "refused by the worker: local reads are served only to the worker's own user")
        assert worker.stats()["local_refusals"] == 1
    finally:
        worker.kill()


def test_a_worker_with_a_token_requires_it_on_the_socket(tmp_path, data_root, etcd, sock_dir):
    token_file = tmp_path / "token"
    token_file.write_text("local-s3cret\n")
    token_file.chmod(0o600)
    worker = start_worker(tmp_path, data_root, etcd, sock_dir, auth_token_file=token_file)
    try:
        path = str(data_root / "misc" / "hello.txt")
        fs = EpochCacheFileSystem(target_protocol="file", etcd_hosts=etcd.endpoint,
                                  cluster="lr", auth_token="local-s3cret",
                                  skip_instance_cache=True)
        assert fs.cat_file(path) == b"hello, epochcache\n"
        assert fs.cat_file(path) == b"hello, epochcache\n"
        assert fs.client_stats()["local_reads"] == 1

        with connect(sock_dir / "w.sock") as s:
            s.send(hello(b"wrong"))
            accepted, reason = decode_hello_answer(s.recv(9000))
            assert not accepted and "not valid" in reason and "wrong" not in reason
        with connect(sock_dir / "w.sock") as s:  # no hello at all: a read gets nothing
            s.send(read_request(path, 0, 10))
            assert s.recv(9000) == b""
        log = worker.log_path.read_text()
        assert "local-s3cret" not in log
    finally:
        worker.kill()


def test_hostile_clients_do_not_hurt_the_worker(tmp_path, data_root, etcd, sock_dir):
    worker = start_worker(tmp_path, data_root, etcd, sock_dir)
    sock = sock_dir / "w.sock"
    try:
        path = str(data_root / "misc" / "hello.txt")
        fs = EpochCacheFileSystem(target_protocol="file", etcd_hosts=etcd.endpoint,
                                  cluster="lr", skip_instance_cache=True)
        assert fs.cat_file(path) == b"hello, epochcache\n"  # cached now

        for junk in [b"", b"GET / HTTP/1.1\r\n\r\n", b"E" * 65536, MAGIC,
                     b"ECLR\x07\x01" + _str(b""), hello() + b"trailing"]:
            with connect(sock) as s:
                s.send(junk)
                if junk:
                    assert s.recv(9000) == b""  # closed without an answer
        with connect(sock) as s:
            s.send(hello())
            assert decode_hello_answer(s.recv(9000))[0]
            # Paths the worker refuses over HTTP are declined here, never read.
            for bad in ["/etc/passwd", str(data_root / ".." / "secret.txt"), "relative", ""]:
                s.send(read_request(bad, 0, 10))
                msg, fds, flags, _ = socket.recv_fds(s, 9000, 64)
                assert msg[6] == 0 and fds == [], bad
            # Descriptors sent to the worker are not kept by it.
            fds_before = len(os.listdir(f"/proc/{worker.pid}/fd"))
            with open(os.devnull, "rb") as f:
                socket.send_fds(s, [read_request(path, 0, 10)], [f.fileno()] * 16)
            assert s.recv(9000) == b""
            assert len(os.listdir(f"/proc/{worker.pid}/fd")) <= fds_before

        # Many connections at once: the ones past the limit are refused with a reason, and the
        # worker goes on serving.
        held, refused = [], 0
        for _ in range(300):
            s = connect(sock)
            held.append(s)
        for s in held:
            s.send(hello())
            accepted, reason = decode_hello_answer(s.recv(9000))
            if not accepted:
                refused += 1
                assert "too many" in reason
        # The filesystem above holds one connection of its own.
        assert 300 - 256 <= refused <= 300 - 255
        for s in held:
            s.close()
        assert worker.stats()["local_refusals"] >= refused
        assert worker.running
        assert fs.cat_file(path) == b"hello, epochcache\n"
        assert worker.get("/v1/health")["status"] == "ok"
    finally:
        worker.kill()


def test_a_second_worker_cannot_take_a_live_socket_but_replaces_a_dead_ones(tmp_path, data_root,
                                                                            etcd, sock_dir):
    first = start_worker(tmp_path, data_root, etcd, sock_dir)
    try:
        second = LocalWorker(tmp_path / "cache2", under=f"file://{data_root}",
                             extra_args=["--local-socket", str(sock_dir / "w.sock")])
        with pytest.raises(RuntimeError, match="another process is serving"):
            second.start()
        first.kill()  # SIGKILL: the socket file stays behind
        assert (sock_dir / "w.sock").exists()
        second.start()
        try:
            with connect(sock_dir / "w.sock") as s:
                s.send(hello())
                assert decode_hello_answer(s.recv(9000)) == (True, second.address)
        finally:
            second.stop()
        assert not (sock_dir / "w.sock").exists()  # removed on a clean stop
    finally:
        first.kill()
