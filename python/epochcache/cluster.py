"""A local epochcache cluster on this machine: etcd plus N workers on 127.0.0.1.

    python -m epochcache.cluster up --workers 3 --under s3://bucket [--s3-endpoint URL] [--dir D]

starts etcd (Debian's ``etcd``) and N ``epochcache worker`` processes, each with its own cache
dir under ``--dir`` and registered in etcd, prints how to connect, and runs until Ctrl-C (or
SIGTERM), when it stops them all. Workers keep their ids and caches in ``--dir``, so a second
``up`` on the same dir starts warm. The demo, the tests and the benchmarks use the same
``LocalCluster`` class.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from epochcache._procs import free_port
from epochcache.local_worker import LocalWorker


class EtcdServer:
    """A single-member etcd with its data in ``data_dir``, serving clients on ``host``.

    The ports are kept across ``stop()``/``start()``, so a restarted etcd is found at the same
    endpoint. ``preexec_fn`` runs in the child before etcd starts.
    """

    def __init__(self, data_dir: str | os.PathLike, host: str = "127.0.0.1",
                 port: int | None = None, peer_port: int | None = None,
                 preexec_fn: Callable[[], None] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port()
        self.peer_port = peer_port or free_port()
        self.preexec_fn = preexec_fn
        self._proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 30.0) -> "EtcdServer":
        etcd = shutil.which("etcd")
        if not etcd:
            raise FileNotFoundError("etcd is not installed (Debian package etcd-server)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        client = f"http://{self.host}:{self.port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        log = self.data_dir / "etcd.log"
        with open(log, "ab") as out:
            self._proc = subprocess.Popen(
                [etcd, "--data-dir", str(self.data_dir / "data"), "--listen-client-urls", client,
                 "--advertise-client-urls", client, "--listen-peer-urls", peer,
                 "--initial-advertise-peer-urls", peer, "--initial-cluster", f"default={peer}"],
                stdout=out, stderr=subprocess.STDOUT,
                preexec_fn=self.preexec_fn)  # noqa: PLW1509
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"etcd exited ({self._proc.returncode}); see {log}")
            try:
                with urllib.request.urlopen(f"{client}/health", timeout=1) as r:
                    if b"true" in r.read():
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"etcd did not become healthy within {timeout}s; see {log}")

    def stop(self) -> None:
        """Stops etcd (SIGKILL: etcd is only a registry; the tests also use this as a crash)."""
        if self._proc and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


class LocalCluster:
    """etcd and ``workers`` epochcache workers on 127.0.0.1, registered under ``cluster``.

    With ``local_reads`` (the default) each worker also serves local reads on a Unix socket
    (``--local-socket``, in a private temporary directory: socket paths are short), so clients
    on this machine read cache hits from its page files."""

    def __init__(self, root: str | os.PathLike, under: str, workers: int = 3,
                 cluster: str = "local", capacity: str = "1GiB",
                 worker_args: list[str] | None = None, env: dict[str, str] | None = None,
                 local_reads: bool = True) -> None:
        if workers < 1:
            raise ValueError("a cluster needs at least one worker")
        self.root = Path(root)
        self.cluster = cluster
        self.local_reads = local_reads
        self._sock_dir: Path | None = None
        self.etcd = EtcdServer(self.root / "etcd")
        self.workers = [
            LocalWorker(self.root / f"worker-{i}" / "cache", under=under, capacity=capacity,
                        extra_args=list(worker_args or []), env=env,
                        log_path=self.root / f"worker-{i}.log")
            for i in range(workers)
        ]

    def start(self) -> "LocalCluster":
        self.etcd.start()
        if self.local_reads and self._sock_dir is None:
            self._sock_dir = Path(tempfile.mkdtemp(prefix="epochcache-sock-"))  # mode 0700
        for i, w in enumerate(self.workers):
            w.extra_args += ["--etcd", self.etcd.endpoint, "--cluster", self.cluster,
                             "--lease-ttl", "3s"]
            if self._sock_dir is not None:
                w.extra_args += ["--local-socket", str(self._sock_dir / f"worker-{i}.sock")]
            w.start()
        return self

    def filesystem_options(self) -> dict:
        """Options for EpochCacheFileSystem that find this cluster's workers through etcd."""
        return {"etcd_hosts": self.etcd.endpoint, "cluster": self.cluster}

    def stats(self) -> list[dict]:
        return [w.stats() for w in self.workers if w.running]

    def under_store_bytes(self) -> int:
        return sum(s["under_store_bytes"] for s in self.stats())

    def describe(self) -> dict:
        return {"etcd": self.etcd.endpoint, "cluster": self.cluster,
                "workers": [w.address for w in self.workers if w.running]}

    def stop(self) -> None:
        for w in self.workers:
            w.stop()
        self.etcd.stop()
        if self._sock_dir is not None:
            shutil.rmtree(self._sock_dir, ignore_errors=True)
            self._sock_dir = None

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m epochcache.cluster", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start etcd and the workers; stop them on Ctrl-C")
    up.add_argument("--workers", type=int, default=3, help="number of workers (default 3)")
    up.add_argument("--under", required=True,
                    help="what the workers read: file:///data, s3://bucket[/prefix], https://...")
    up.add_argument("--dir", default=None,
                    help="etcd data, caches and logs (default: a new temporary dir)")
    up.add_argument("--cluster", default="local", help="cluster name in etcd (default local)")
    up.add_argument("--capacity", default="1GiB", help="cache capacity per worker (default 1GiB)")
    up.add_argument("--s3-endpoint", help="S3-compatible endpoint for the workers")
    up.add_argument("--status-file", help="write the etcd endpoint and worker addresses here (JSON)")
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error("--workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    root = Path(args.dir or tempfile.mkdtemp(prefix="epochcache-cluster-"))
    worker_args = ["--s3-endpoint", args.s3_endpoint] if args.s3_endpoint else []
    cluster = LocalCluster(root, args.under, args.workers, args.cluster, args.capacity,
                           worker_args)
    stop = False

    def on_signal(signum, frame):  # noqa: ARG001
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        cluster.start()
        info = cluster.describe()
        if args.status_file:
            Path(args.status_file).write_text(json.dumps(info))
        print(f"etcd {info['etcd']}, cluster '{info['cluster']}', workers: "
              f"{', '.join(info['workers'])}; data and logs in {root}")
        print(f'fsspec.filesystem("epochcache", target_protocol=..., '
              f'etcd_hosts="{info["etcd"]}", cluster="{info["cluster"]}")')
        print("Ctrl-C stops the cluster.", flush=True)
        while not stop:
            time.sleep(0.2)
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
