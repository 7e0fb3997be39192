"""Real servers on 127.0.0.1 for the demo, tests and benchmarks: an S3-compatible server
(MinIO) with a fresh data dir, and toxiproxy to add latency and bandwidth limits in front of
it. Each is a child process that is stopped with its object.

The binaries are installed by ``scripts/install_test_servers.sh`` into ``tools/bin``
(MinIO is built with ``go install``); ``$EPOCHCACHE_TOOLS`` overrides that directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from epochcache._procs import free_port, stop_process


def tool_path(name: str) -> str:
    """Path of a server binary: $EPOCHCACHE_TOOLS/name, ./tools/bin/name, or PATH."""
    for directory in filter(None, [os.environ.get("EPOCHCACHE_TOOLS"), "tools/bin"]):
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(
        f"{name} is not installed: run scripts/install_test_servers.sh (it builds it into tools/bin)"
    )


def _wait_http(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited ({proc.returncode}); log:\n"
                               + log.read_text(errors="replace")[-2000:])
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise TimeoutError(f"{url} did not answer within {timeout}s; see {log}")


class MinioServer:
    """A MinIO server on 127.0.0.1 with a fresh data dir and known root credentials."""

    access_key = "epochcache-test"
    secret_key = "epochcache-test-secret"

    def __init__(self, data_dir: str | os.PathLike | None = None) -> None:
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="ec-minio-"))
        self.port = free_port()
        self._proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "MinioServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir.parent / f"{self.data_dir.name}.log"
        env = dict(os.environ, MINIO_ROOT_USER=self.access_key,
                   MINIO_ROOT_PASSWORD=self.secret_key, MINIO_BROWSER="off",
                   MINIO_UPDATE="off", CI="true")
        with open(log, "ab") as out:
            self._proc = subprocess.Popen(
                [tool_path("minio"), "server", "--quiet", "--address", f"127.0.0.1:{self.port}",
                 "--console-address", f"127.0.0.1:{free_port()}", str(self.data_dir / "data")],
                stdout=out, stderr=subprocess.STDOUT, env=env)
        _wait_http(f"{self.endpoint}/minio/health/live", self._proc, timeout, log)
        return self

    def client(self):
        """A boto3 S3 client for this server (used to create buckets and objects)."""
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}))

    def worker_env(self) -> dict[str, str]:
        """Environment for a worker that reads this server (credentials never go on a command line)."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_REGION": "us-east-1"}

    def s3fs_options(self) -> dict:
        """s3fs-style options (the same names epochcache's target_options take)."""
        return {"endpoint_url": self.endpoint, "key": self.access_key,
                "secret": self.secret_key, "client_kwargs": {"region_name": "us-east-1"}}

    def stop(self) -> None:
        stop_process(self._proc)
        self._proc = None
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> "MinioServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def upload_tree(client, bucket: str, local_root: str | os.PathLike, prefix: str = "") -> int:
    """Uploads every file below ``local_root`` to ``bucket/prefix`` with boto3; returns the count."""
    local_root = Path(local_root)
    count = 0
    for path in sorted(p for p in local_root.rglob("*") if p.is_file()):
        key = (prefix.rstrip("/") + "/" if prefix else "") + path.relative_to(local_root).as_posix()
        client.upload_file(str(path), bucket, key)
        count += 1
    return count


class AzuriteServer:
    """Azurite's blob service (the Azure Storage emulator) on 127.0.0.1 with a fresh data dir.

    The account is Azurite's documented development account; requests use path-style URLs
    (``http://127.0.0.1:PORT/devstoreaccount1/container/blob``). ``put_blob`` and
    ``create_container`` sign with Shared Key here, with the standard library's HMAC, so tests
    upload without the Azure SDK and the worker's own signing is checked against a second,
    independent implementation.
    """

    account = "devstoreaccount1"
    key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

    def __init__(self, data_dir: str | os.PathLike | None = None) -> None:
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="ec-azurite-"))
        self.port = free_port()
        self._proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.account}"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={self.account};"
                f"AccountKey={self.key};BlobEndpoint={self.endpoint};")

    def start(self, timeout: float = 60.0) -> "AzuriteServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir.parent / f"{self.data_dir.name}.log"
        with open(log, "ab") as out:
            self._proc = subprocess.Popen(
                [tool_path("azurite-blob"), "--blobHost", "127.0.0.1", "--blobPort",
                 str(self.port), "--location", str(self.data_dir), "--skipApiVersionCheck",
                 "--disableProductStyleUrl", "--silent"],
                stdout=out, stderr=subprocess.STDOUT)
        # Any HTTP answer (an unauthenticated request gets 403) means the service is up.
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"azurite exited ({self._proc.returncode}); log:\n"
                                   + log.read_text(errors="replace")[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"azurite did not listen within {timeout}s; see {log}")
                time.sleep(0.1)

    def request(self, method: str, path: str, query: dict[str, str] | None = None,
                body: bytes = b"", headers: dict[str, str] | None = None,
                key: str | None = None) -> tuple[int, bytes]:
        """One Shared Key request to ``/container[/blob]``; returns (status, body)."""
        import base64
        import hashlib
        import hmac as hmac_mod
        import urllib.error
        import urllib.parse
        from email.utils import formatdate

        query = dict(query or {})
        ms = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": "2021-08-06"}
        ms.update({k.lower(): v for k, v in (headers or {}).items() if k.lower().startswith("x-ms-")})
        url_path = f"/{self.account}/" + urllib.parse.quote(path.lstrip("/"), safe="/")
        # urllib adds a form Content-Type to any request with a body: name one, and sign it.
        content_type = (headers or {}).get("Content-Type",
                                           "application/octet-stream" if method == "PUT" else "")
        length = str(len(body)) if body else ""
        # The Blob service's string-to-sign (Shared Key, version 2009-09-19 and later).
        to_sign = "\n".join([method, "", "", length, "", content_type, "", "", "", "", "", ""])
        to_sign += "\n" + "".join(f"{k}:{ms[k]}\n" for k in sorted(ms))
        to_sign += f"/{self.account}{url_path}"
        for name in sorted(query):
            to_sign += f"\n{name.lower()}:{query[name]}"
        mac = hmac_mod.new(base64.b64decode(key or self.key), to_sign.encode(), hashlib.sha256)
        auth = f"SharedKey {self.account}:{base64.b64encode(mac.digest()).decode()}"
        url = f"http://127.0.0.1:{self.port}{url_path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        all_headers = dict(ms, Authorization=auth)
        if content_type:
            all_headers["Content-Type"] = content_type
        req = urllib.request.Request(url, data=body if method == "PUT" else None, method=method,
                                     headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def create_container(self, name: str) -> None:
        status, body = self.request("PUT", name, {"restype": "container"})
        if status not in (201, 409):
            raise RuntimeError(f"create container {name}: HTTP {status} {body[:300]!r}")

    def put_blob(self, container: str, name: str, data: bytes) -> None:
        status, body = self.request("PUT", f"{container}/{name}", body=data,
                                    headers={"x-ms-blob-type": "BlockBlob",
                                             "Content-Type": "application/octet-stream"})
        if status != 201:
            raise RuntimeError(f"put blob {container}/{name}: HTTP {status} {body[:300]!r}")

    def worker_env(self) -> dict[str, str]:
        """Environment for a worker that reads this server (no secret on a command line)."""
        return {"AZURE_STORAGE_CONNECTION_STRING": self.connection_string}

    def stop(self) -> None:
        stop_process(self._proc)
        self._proc = None
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> "AzuriteServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ToxiproxyServer:
    """A toxiproxy server on 127.0.0.1: TCP proxies with injected latency and bandwidth limits.

    Driven through toxiproxy's HTTP API (https://github.com/Shopify/toxiproxy#http-api) with
    urllib. Started with ``-proxy-metrics`` so ``/metrics`` counts the bytes each proxy relays,
    which is how benchmarks measure what was fetched from the server behind it.
    """

    def __init__(self, log_dir: str | os.PathLike | None = None) -> None:
        self.port = free_port()
        self._own_dir = log_dir is None
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="ec-toxiproxy-"))
        self._proc: subprocess.Popen | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "ToxiproxyServer":
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / "toxiproxy.log"
        with open(log, "ab") as out:
            self._proc = subprocess.Popen(
                [tool_path("toxiproxy-server"), "-host", "127.0.0.1", "-port", str(self.port),
                 "-proxy-metrics"], stdout=out, stderr=subprocess.STDOUT)
        _wait_http(f"{self.api}/version", self._proc, timeout, log)
        return self

    def _call(self, method: str, path: str, body: dict | None = None) -> object:
        import json

        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.api}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
        return json.loads(raw) if raw.strip() else None

    def add_proxy(self, name: str, upstream: str) -> str:
        """Creates proxy ``name`` to ``upstream`` ("host:port"); returns its "127.0.0.1:port"."""
        listen = f"127.0.0.1:{free_port()}"
        self._call("POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream,
                                        "enabled": True})
        return listen

    def add_toxic(self, proxy: str, kind: str, attributes: dict, stream: str = "downstream",
                  name: str | None = None, toxicity: float = 1.0) -> None:
        """Adds a toxic (``latency``, ``bandwidth``, ``timeout``, ``reset_peer``, ...)."""
        self._call("POST", f"/proxies/{proxy}/toxics",
                   {"name": name or f"{kind}_{stream}", "type": kind, "stream": stream,
                    "toxicity": toxicity, "attributes": attributes})

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def set_latency(self, proxy: str, latency_ms: float, jitter_ms: float = 0) -> None:
        """Delays the server's responses (time to first byte) by ``latency_ms``."""
        self.add_toxic(proxy, "latency", {"latency": int(latency_ms), "jitter": int(jitter_ms)})

    def set_bandwidth(self, proxy: str, megabytes_per_second: float) -> None:
        """Caps each connection's download rate (toxiproxy applies toxics per connection)."""
        # toxiproxy's rate is in KB/s with KB = 1000 bytes (bytes * ms / rate).
        self.add_toxic(proxy, "bandwidth", {"rate": max(1, int(megabytes_per_second * 1000))})

    def bytes_relayed(self, proxy: str) -> dict[str, int]:
        """Bytes the proxy has sent so far, per direction ("upstream": to the server,
        "downstream": to the clients), read from toxiproxy's Prometheus ``/metrics``."""
        with urllib.request.urlopen(f"{self.api}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        totals = {"upstream": 0, "downstream": 0}
        for line in text.splitlines():
            if not line.startswith("toxiproxy_proxy_sent_bytes_total{"):
                continue
            labels, _, value = line.rpartition(" ")
            if f'proxy="{proxy}"' not in labels:
                continue
            for direction in totals:
                if f'direction="{direction}"' in labels:
                    totals[direction] += int(float(value))
        return totals

    def stop(self) -> None:
        stop_process(self._proc)
        self._proc = None
        if self._own_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> "ToxiproxyServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
