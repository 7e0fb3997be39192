"""One worker, many roots: two MinIO buckets and a directory served by one process, paths outside
every root refused naming the roots, per-root endpoints and keys from a TOML --config, the
precedence flag > EPOCHCACHE_* > file, --print-config without secrets, config errors that name
the file, line and key, and --log-format json."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from epochcache.local_worker import LocalWorker, worker_binary
from epochcache_dev.local_servers import ToxiproxyServer, stop_process

A, B, C = "roots-a", "roots-b", "roots-c"


@pytest.fixture(scope="module")
def buckets(minio):
    client = minio.client()
    for bucket in (A, B, C):
        client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=A, Key="train/x.bin", Body=b"a-train-x" * 1000)
    client.put_object(Bucket=A, Key="train2/y.bin", Body=b"a-train2-y")
    client.put_object(Bucket=B, Key="deep/z.bin", Body=b"bucket-b-z")
    client.put_object(Bucket=C, Key="w.bin", Body=b"bucket-c-w")
    return client


@pytest.fixture()
def local_root(tmp_path) -> Path:
    root = tmp_path / "local-root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f.txt").write_bytes(b"from a directory")
    return root


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The worker's environment without any AWS credentials or EPOCHCACHE_* setting of ours."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "EPOCHCACHE_")) or k in ("EPOCHCACHE_BIN",)}
    env["HOME"] = str(tmp_path)  # no ~/.aws of the machine
    env.update(extra)
    return env


def _request(address: str, endpoint: str, path: str) -> tuple[int, bytes]:
    url = f"http://{address}{endpoint}?path={urllib.parse.quote(path, safe='')}"
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class ConfigWorker:
    """A worker started from a command line of our choosing (roots may come from --config)."""

    def __init__(self, tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
        self.port_file = Path(tempfile.mkdtemp(prefix="ec-port-", dir=tmp_path)) / "port"
        self.log = tmp_path / f"worker-{time.monotonic_ns()}.log"
        cmd = [worker_binary(), "worker", "--port", "0", "--port-file", str(self.port_file),
               *args]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited {self.proc.returncode}: {self.log.read_text()}")
            if self.port_file.exists() and self.port_file.read_text().strip():
                self.address = f"127.0.0.1:{int(self.port_file.read_text())}"
                return
            time.sleep(0.05)
        stop_process(self.proc)
        raise TimeoutError(f"worker did not start: {self.log.read_text()}")

    def stop(self) -> None:
        stop_process(self.proc)


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([worker_binary(), "worker", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_one_worker_serves_two_buckets_and_a_directory_and_refuses_the_rest(
    minio, buckets, local_root, tmp_path
):
    root_file = f"file://{local_root}"
    worker = LocalWorker(tmp_path / "cache", under=f"s3://{A}/train",
                         extra_args=["--under", f"s3://{B}", "--under", root_file,
                                     "--s3-endpoint", minio.endpoint],
                         env=minio.worker_env()).start()
    try:
        assert _request(worker.address, "/v1/read", f"s3://{A}/train/x.bin") == (
            200, b"a-train-x" * 1000)
        assert _request(worker.address, "/v1/read", f"s3://{B}/deep/z.bin") == (200, b"bucket-b-z")
        assert _request(worker.address, "/v1/read", f"{local_root}/sub/f.txt") == (
            200, b"from a directory")
        status, body = _request(worker.address, "/v1/list", f"s3://{B}/deep")
        assert status == 200
        assert [e["path"] for e in json.loads(body)["entries"]] == [f"s3://{B}/deep/z.bin"]

        # The object exists in MinIO and the worker's credentials could read it: refused anyway.
        for outside in (f"s3://{C}/w.bin", f"s3://{A}/train2/y.bin", f"s3://{A}/x",
                        f"{local_root.parent}/other.txt"):
            for endpoint in ("/v1/read", "/v1/stat", "/v1/list"):
                status, body = _request(worker.address, endpoint, outside)
                assert status == 403, (endpoint, outside, body)
                error = json.loads(body)
                assert error["error"] == "permission_denied"
                for root in (f"s3://{A}/train", f"s3://{B}", root_file):
                    assert root in error["message"], error["message"]
    finally:
        worker.stop()


def test_roots_that_nest_or_repeat_stop_the_worker(minio, tmp_path):
    env = _clean_env(tmp_path)
    for roots in ([f"s3://{A}", f"s3://{A}/train"], [f"s3://{A}/train", f"s3://{A}/train/"],
                  ["/data", "file:///data/x"]):
        args = ["--cache-dir", str(tmp_path / "c"), "--s3-endpoint", minio.endpoint]
        for root in roots:
            args += ["--under", root]
        result = _run(args, env)
        assert result.returncode == 1
        assert "overlap" in result.stderr or "twice" in result.stderr, result.stderr
    # Siblings that share a prefix are distinct roots.
    worker = ConfigWorker(tmp_path, ["--cache-dir", str(tmp_path / "c2"), "--s3-endpoint",
                                     minio.endpoint, "--under", f"s3://{A}/train",
                                     "--under", f"s3://{A}/train2"], {**env, **minio.worker_env()})
    try:
        assert _request(worker.address, "/v1/read", f"s3://{A}/train2/y.bin") == (200, b"a-train2-y")
    finally:
        worker.stop()


def _write_config(tmp_path: Path, minio, proxy_endpoint: str) -> Path:
    config = tmp_path / "epochcache.toml"
    config.write_text(f"""
# Global S3 settings: an endpoint where nothing listens, so only per-root values can work.
s3_endpoint = "http://127.0.0.1:1"
under_attempts = 1
under_deadline = "2s"
cache_dirs = ["{tmp_path / 'cache'}"]
capacity = "256MiB"
metadata_ttl = "0"

[[under]]
uri = "s3://{A}/train"
endpoint = "http://{proxy_endpoint}"
region = "us-east-1"
access_key_id = "{minio.access_key}"
secret_access_key = "{minio.secret_key}"

[[under]]
uri = "s3://{B}"
endpoint = "{minio.endpoint}"
access_key_id = "{minio.access_key}"
secret_access_key = "{minio.secret_key}"
""")
    config.chmod(0o600)
    return config


def test_config_file_per_root_endpoints_and_keys_are_honoured_and_flags_override_them(
    minio, buckets, local_root, tmp_path
):
    minio_hostport = minio.endpoint.removeprefix("http://")
    with ToxiproxyServer(tmp_path / "toxi") as toxi:
        proxy = toxi.add_proxy("roots-a", minio_hostport)
        config = _write_config(tmp_path, minio, proxy)
        env = _clean_env(tmp_path)  # no AWS credentials: only the file's per-root keys
        worker = ConfigWorker(tmp_path, ["--config", str(config)], env)
        try:
            assert _request(worker.address, "/v1/read", f"s3://{A}/train/x.bin") == (
                200, b"a-train-x" * 1000)
            assert _request(worker.address, "/v1/read", f"s3://{B}/deep/z.bin") == (
                200, b"bucket-b-z")
            status, body = _request(worker.address, "/v1/read", f"{local_root}/sub/f.txt")
            assert status == 403 and f"s3://{A}/train" in json.loads(body)["message"]
        finally:
            worker.stop()
        # Root A's bytes came through its own endpoint (toxiproxy counts a connection's bytes
        # once it closes, hence after the worker stopped).
        relayed = 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            relayed = toxi.bytes_relayed("roots-a")["downstream"]
            if relayed >= 9000:
                break
            time.sleep(0.1)
        assert relayed >= 9000

        # --under on the command line replaces the file's roots (and their options); the global
        # s3_endpoint of the file stays, and a flag beats it.
        worker = ConfigWorker(tmp_path, ["--config", str(config), "--under", f"file://{local_root}",
                                         "--under", f"s3://{C}", "--s3-endpoint", minio.endpoint],
                              {**env, **minio.worker_env()})
        try:
            assert _request(worker.address, "/v1/read", f"{local_root}/sub/f.txt") == (
                200, b"from a directory")
            assert _request(worker.address, "/v1/read", f"s3://{C}/w.bin") == (200, b"bucket-c-w")
            status, _ = _request(worker.address, "/v1/read", f"s3://{A}/train/x.bin")
            assert status == 403
        finally:
            worker.stop()


def test_precedence_is_default_then_file_then_environment_then_flag(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('port = 7001\ncapacity = "3GiB"\nmax_connections = 10\n'
                      'cache_dir = "/tmp/x"\nunder = ["/data"]\n')
    env = _clean_env(tmp_path)

    def effective(extra_args: list[str], extra_env: dict[str, str]) -> dict:
        result = _run(["--config", str(config), "--print-config", *extra_args], {**env, **extra_env})
        assert result.returncode == 0, result.stderr
        return tomllib.loads(result.stdout)

    base = effective([], {})
    assert (base["port"], base["capacity"], base["max_connections"]) == (7001, "3GiB", 10)
    assert base["page_size"] == "1MiB"  # built-in default
    assert base["under"] == [{"uri": "/data"}]
    from_env = effective([], {"EPOCHCACHE_PORT": "7002", "EPOCHCACHE_CAPACITY": "4GiB"})
    assert (from_env["port"], from_env["capacity"], from_env["max_connections"]) == (
        7002, "4GiB", 10)
    from_flag = effective(["--port", "7003"], {"EPOCHCACHE_PORT": "7002"})
    assert from_flag["port"] == 7003
    from_env_root = effective([], {"EPOCHCACHE_UNDER": "/other"})
    assert from_env_root["under"] == [{"uri": "/other"}]


def test_print_config_hides_every_secret(tmp_path):
    secret, token_like, password = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY", "FQoGZXIvYXdzEJr", "hunter2pw"
    config = tmp_path / "c.toml"
    config.write_text(f"""
cache_dir = ["/tmp/c1", "/tmp/c2"]
etcd = "user:{password}@127.0.0.1:2379"
s3_endpoint = "http://minio:{password}@127.0.0.1:9000"

[[under]]
uri = "s3://bucket/train"
access_key_id = "AKIAEXAMPLEKEYID"
secret_access_key = "{secret}"
session_token = "{token_like}"

[[under]]
uri = "https://reader:{password}@files.example.com/data"
""")
    config.chmod(0o600)
    result = _run(["--config", str(config), "--print-config"], _clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    for hidden in (secret, token_like, password, "AKIAEXAMPLEKEYID"):
        assert hidden not in result.stdout
        assert hidden not in result.stderr
    printed = tomllib.loads(result.stdout)
    assert printed["cache_dir"] == ["/tmp/c1", "/tmp/c2"]
    assert printed["under"][0]["secret_access_key"] == "<redacted>"
    assert printed["under"][1]["uri"] == "https://***@files.example.com/data"
    assert printed["s3_endpoint"] == "http://***@127.0.0.1:9000"


@pytest.mark.parametrize(
    ("text", "line", "key", "says"),
    [
        ('cache_dir = "/tmp/c"\n\nport = "7411"\n', 3, "port", "expected an integer"),
        ('\ncapacity = "lots"\n', 2, "capacity", "not a size"),
        ('prot = 7411\n', 1, "prot", "unknown key"),
        ('port = 99999\n', 1, "port", "not in range"),
        ('\n\n[[under]]\nuri = "s3://a"\nendpont = "http://x"\n', 5, "under.endpont", "unknown key"),
        ('[[under]]\nendpoint = "http://x"\n', 1, "under.uri", "missing"),
        ('cache_dirs = [1, 2]\n', 1, "cache_dirs", "array of strings"),
        ('log_format = "xml"\n', 1, "log_format", "xml"),
        ('insecure = "yes"\n', 1, "insecure", "true or false"),
        ('metadata_ttl = "10 parsecs"\n', 1, "metadata_ttl", "unit"),
    ],
)
def test_bad_config_names_the_file_line_and_key(tmp_path, text, line, key, says):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    result = _run(["--config", str(config), "--cache-dir", str(tmp_path / "c"), "--under", "/"],
                  _clean_env(tmp_path))
    assert result.returncode == 1
    assert f"{config}:{line}: key '{key}'" in result.stderr, result.stderr
    assert says in result.stderr, result.stderr


def test_keys_in_a_file_others_can_read_are_refused(tmp_path):
    config = tmp_path / "shared.toml"
    config.write_text('[[under]]\nuri = "s3://b"\naccess_key_id = "AKIAX"\n'
                      'secret_access_key = "s3cr3t-value"\n')
    config.chmod(0o644)
    result = _run(["--config", str(config), "--print-config"], _clean_env(tmp_path))
    assert result.returncode == 1
    assert "chmod 600" in result.stderr and str(config) in result.stderr
    assert "s3cr3t-value" not in result.stderr + result.stdout


def test_broken_toml_names_the_line(tmp_path):
    config = tmp_path / "broken.toml"
    config.write_text('port = 1\ncapacity = "1GiB\n')
    result = _run(["--config", str(config)], _clean_env(tmp_path))
    assert result.returncode == 1
    assert f"{config}:2:" in result.stderr, result.stderr


def test_log_format_json_writes_one_json_object_per_line(tmp_path):
    quoted = tmp_path / 'da"ta'  # a root whose name needs escaping in every log line naming it
    quoted.mkdir()
    (quoted / "f").write_bytes(b"x")
    worker = ConfigWorker(tmp_path, ["--cache-dir", str(tmp_path / "cache"), "--under",
                                     str(quoted), "--log-format", "json"], _clean_env(tmp_path))
    try:
        assert _request(worker.address, "/v1/read", f"{quoted}/f") == (200, b"x")
    finally:
        worker.stop()
    lines = [line for line in worker.log.read_text().splitlines()
             if not line.startswith("listening on ")]  # the startup line on stdout, not a log
    records = [json.loads(line) for line in lines]
    assert len(records) >= 2
    for record in records:
        assert set(record) == {"time", "level", "message"}
        assert record["time"].endswith("Z")
    assert any(str(quoted) in r["message"] and r["level"] == "info" for r in records)
    assert any("shutting down" in r["message"] for r in records)
