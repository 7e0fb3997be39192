"""Shared pieces of the Python benchmarks: emulated remote storage on 127.0.0.1 and a byte counter.

Emulated S3 is three processes in a chain, all on loopback:

    client --> toxiproxy (latency + per-connection bandwidth cap) --> CountingRelay --> MinIO

toxiproxy only publishes byte counts when a connection closes, and every client here keeps its
connections alive, so the bytes fetched from S3 are counted by ``CountingRelay``: a TCP relay that
moves data with ``splice(2)`` (no copy through Python) and counts what MinIO sends back.
Requests are counted by MinIO itself, per S3 API (its Prometheus counters, read directly).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

# The MinIO/toxiproxy launchers are development code the wheel does not ship (devtools/).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devtools"))

from epochcache_dev.local_servers import MinioServer, ToxiproxyServer  # noqa: E402


class CountingRelay:
    """A TCP relay 127.0.0.1:port -> upstream that counts the bytes the upstream sends back."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(256)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._down = 0
        self._closing = False
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="relay-accept", daemon=True)
        self._thread.start()

    @property
    def bytes_down(self) -> int:
        """Bytes the upstream (the S3 server) has sent so far, HTTP headers included."""
        with self._lock:
            return self._down

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        r, w = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 1 << 20)
        try:
            while True:
                n = os.splice(src.fileno(), w, 1 << 20)
                if n == 0:
                    break
                left = n
                while left:
                    left -= os.splice(r, dst.fileno(), left)
                if count:
                    with self._lock:
                        self._down += n
        except OSError:
            pass
        finally:
            os.close(r)
            os.close(w)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
            with contextlib.suppress(OSError):
                src.shutdown(socket.SHUT_RD)

    def close(self) -> None:
        self._closing = True
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


@dataclass
class EmulatedS3:
    """MinIO behind a counting relay behind toxiproxy. ``endpoint`` is what clients use."""

    minio: MinioServer
    toxiproxy: ToxiproxyServer
    relay: CountingRelay
    listen: str
    latency_ms: float
    bandwidth_mbps: float

    @property
    def endpoint(self) -> str:
        return f"http://{self.listen}"

    def bytes_fetched(self) -> int:
        return self.relay.bytes_down

    def s3fs_options(self) -> dict:
        return {"endpoint_url": self.endpoint, "key": self.minio.access_key,
                "secret": self.minio.secret_key, "client_kwargs": {"region_name": "us-east-1"}}

    def pyarrow_fs(self):
        import pyarrow.fs

        return pyarrow.fs.S3FileSystem(endpoint_override=self.listen, scheme="http",
                                       access_key=self.minio.access_key,
                                       secret_key=self.minio.secret_key, region="us-east-1")

    def worker_args(self) -> list[str]:
        return ["--s3-endpoint", self.endpoint]

    def request_counts(self) -> dict[str, int] | None:
        """Requests MinIO has served so far, by S3 API name (``GetObject``, ``HeadObject``,
        ``ListObjectsV2``, ...), from its Prometheus metrics (read straight from MinIO, not
        through toxiproxy, so counting costs no emulated latency). None if unavailable."""
        return minio_request_counts(self.minio)


# S3 API names by the kind of request the issue targets speak of.
REQUEST_KINDS = {"HeadObject": "stat", "ListObjectsV2": "list", "ListObjects": "list",
                 "ListObjectVersions": "list", "GetObject": "read"}


def request_kinds(by_api: dict[str, int]) -> dict[str, int]:
    """Sums per-API request counts into stat / list / read / other."""
    kinds = {"stat": 0, "list": 0, "read": 0, "other": 0}
    for api, n in by_api.items():
        kinds[REQUEST_KINDS.get(api, "other")] += n
    return kinds


def minio_request_counts(minio: MinioServer) -> dict[str, int] | None:
    """MinIO's ``minio_api_requests_total`` (metrics v3, immediate, not cached), by API name.

    The server must have been started with ``MINIO_PROMETHEUS_AUTH_TYPE=public`` (as
    :func:`emulated_s3` does); None when the metrics or ``prometheus_client`` are unavailable.
    """
    import urllib.request

    try:
        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(f"{minio.endpoint}/minio/metrics/v3/api/requests",
                                    timeout=5) as resp:
            text = resp.read().decode()
    except (ImportError, OSError):
        return None
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "minio_api_requests_total" and sample.labels.get("type") == "s3":
                name = sample.labels.get("name", "?")
                counts[name] = counts.get(name, 0) + int(sample.value)
    return counts


@contextlib.contextmanager
def emulated_s3(workdir, latency_ms: float, bandwidth_mbps: float):
    """Starts MinIO, the counting relay and toxiproxy with the given toxics; stops all at exit.

    ``latency_ms`` delays every response (time to first byte); ``bandwidth_mbps`` caps each
    connection's download rate in MB/s (10^6 bytes per second). 0 disables either.
    """
    # Public metrics (only on 127.0.0.1) let request_counts() read MinIO's per-API counters.
    saved = os.environ.get("MINIO_PROMETHEUS_AUTH_TYPE")
    os.environ["MINIO_PROMETHEUS_AUTH_TYPE"] = "public"
    try:
        minio = MinioServer(os.path.join(workdir, "minio")).start()
    finally:
        if saved is None:
            del os.environ["MINIO_PROMETHEUS_AUTH_TYPE"]
        else:
            os.environ["MINIO_PROMETHEUS_AUTH_TYPE"] = saved
    toxi = relay = None
    try:
        relay = CountingRelay(minio.port)
        toxi = ToxiproxyServer(os.path.join(workdir, "toxiproxy")).start()
        listen = toxi.add_proxy("s3", f"127.0.0.1:{relay.port}")
        if latency_ms > 0:
            toxi.set_latency("s3", latency_ms)
        if bandwidth_mbps > 0:
            toxi.set_bandwidth("s3", bandwidth_mbps)
        yield EmulatedS3(minio, toxi, relay, listen, latency_ms, bandwidth_mbps)
    finally:
        if toxi:
            toxi.stop()
        if relay:
            relay.close()
        minio.stop()


def make_images(root, count: int, size: int = 224, seed: int = 0):
    """``count`` RGB images of ``size``x``size`` random pixels under ``root`` (kept if present):
    even ones PNG (~150 KB at 224), odd ones JPEG quality 95 without chroma subsampling (~120 KB
    at 224), so every file is 100-200 KB as in common image training sets."""
    import io
    from pathlib import Path

    import numpy as np
    from PIL import Image

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        ext = "png" if i % 2 == 0 else "jpg"
        path = root / f"img-{i:05d}.{ext}"
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        if path.exists():
            continue
        buf = io.BytesIO()
        if ext == "png":
            Image.fromarray(pixels).save(buf, format="PNG")
        else:
            Image.fromarray(pixels).save(buf, format="JPEG", quality=95, subsampling=0)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(buf.getvalue())
        tmp.rename(path)
    return root
