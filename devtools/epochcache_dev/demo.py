"""The main job: Ray Data reads a dataset through epochcache for several epochs.

    make demo
    PYTHONPATH=devtools python -m epochcache_dev.demo [--under s3|local] [--workers 3]
        [--epochs 3] [--json FILE] [--latency-ms 25] [--bandwidth-mbps 88]

Generates a small Parquet and image dataset (nothing is downloaded). With ``--under s3`` (the
default) it starts a local S3-compatible server (MinIO, on 127.0.0.1), uploads the dataset with
boto3 and starts a local epochcache cluster in front of it (etcd and ``--workers`` workers, found
by the client through etcd); each epoch is read both through epochcache and with Ray's default
S3 access, side by side. A MinIO on 127.0.0.1 answers faster than any remote store, so both read
it through toxiproxy, which makes it behave like one: 25 ms added to the first byte of every
response and each connection capped at 88 MB/s, the numbers the benchmark uses and documents
(docs/benchmarks.md; ``--latency-ms 0 --bandwidth-mbps 0`` reads MinIO as it is). With
``--under local`` the worker reads the dataset directory itself (the embedded single-node
default). The table shows, per epoch: rows,
seconds, MB/s and the bytes fetched from the under store. Every epochcache epoch after the first
should fetch 0 bytes: it is served from the local cache.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from epochcache.cluster import LocalCluster
from epochcache.local_worker import LocalWorker
from epochcache_dev.demo_data import dataset_bytes, make_image_dataset, make_parquet_dataset

BUCKET = "demo"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m epochcache_dev.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--under", choices=["s3", "local"], default="s3",
                   help="read from a local S3 server (default) or a local directory")
    p.add_argument("--epochs", type=int, default=3, help="epochs per reader (default 3)")
    p.add_argument("--workers", type=int, default=3,
                   help="workers in the local cluster (default 3; 1 = a single worker, no etcd)")
    p.add_argument("--workdir", default=".demo", help="dataset, cache and logs (default .demo)")
    p.add_argument("--json", metavar="FILE", help="also write the table as JSON to FILE")
    p.add_argument("--latency-ms", type=float, default=25.0,
                   help="emulated S3: added time to first byte of every response (default 25, "
                        "as bench/epochs.py; 0 disables)")
    p.add_argument("--bandwidth-mbps", type=float, default=88.0,
                   help="emulated S3: per-connection download cap in MB/s (default 88, as "
                        "bench/epochs.py; 0 disables)")
    p.add_argument("--keep-cache", action="store_true",
                   help="keep the cache of an earlier run (by default it is emptied first, "
                        "so epoch 1 reads from the under store)")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    if args.workers < 1:
        p.error("--workers must be at least 1")
    if args.latency_ms < 0 or args.bandwidth_mbps < 0:
        p.error("--latency-ms and --bandwidth-mbps must not be negative")
    return args


def _quiet_ray_data() -> None:
    """Keeps the table readable: no per-dataset progress bars or execution logs."""
    import ray

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _run_epoch(reader: str, path: str, fs) -> int:
    """One pass over the dataset, batch by batch as a training loop would; returns the rows."""
    import ray

    if reader == "read_parquet":
        ds = ray.data.read_parquet(path, filesystem=fs)
    else:
        ds = ray.data.read_images(path, filesystem=fs, mode="RGB")
    rows = 0
    for batch in ds.iter_batches(batch_size=1024, batch_format="numpy"):
        rows += len(next(iter(batch.values())))
    return rows


class _Sources:
    """Where the dataset lives and how each system reads it."""

    def __init__(self, args: argparse.Namespace, workdir: Path, data: Path) -> None:
        self.minio = None
        self.toxiproxy = None
        self.systems: dict[str, object] = {}
        cache_dir = workdir / "cluster"
        if not args.keep_cache and cache_dir.exists():
            shutil.rmtree(cache_dir)
        worker_args: list[str] = []
        env: dict[str, str] = {}
        if args.under == "s3":
            import pyarrow.fs

            from epochcache_dev.local_servers import MinioServer, upload_tree

            shutil.rmtree(workdir / "minio", ignore_errors=True)  # a fresh server every run
            self.minio = MinioServer(workdir / "minio").start()
            client = self.minio.client()
            client.create_bucket(Bucket=BUCKET)
            uploaded = upload_tree(client, BUCKET, data)
            print(f"S3 server (MinIO) on {self.minio.endpoint}: uploaded {uploaded} files "
                  f"to s3://{BUCKET}/")
            endpoint = self._emulate_remote_store(args, workdir)
            under = f"s3://{BUCKET}"
            worker_args = ["--s3-endpoint", endpoint]
            env = self.minio.worker_env()
            self.paths = {"read_parquet": f"s3://{BUCKET}/parquet",
                          "read_images": f"s3://{BUCKET}/images"}
            self.direct_paths = {"read_parquet": f"{BUCKET}/parquet",
                                 "read_images": f"{BUCKET}/images"}
            self.systems["ray default S3"] = pyarrow.fs.S3FileSystem(
                endpoint_override=endpoint, scheme="http",
                access_key=self.minio.access_key, secret_key=self.minio.secret_key,
                region="us-east-1")
            target = "s3"
        else:
            under = f"file://{data}"
            self.paths = {"read_parquet": str(data / "parquet"),
                          "read_images": str(data / "images")}
            target = "file"
        import fsspec

        if args.workers == 1:
            self.cluster = None
            self.workers = [LocalWorker(cache_dir / "worker-0" / "cache", under=under,
                                        capacity="2GiB", extra_args=worker_args, env=env).start()]
            found = {"worker_hosts": [self.workers[0].address]}
        else:
            self.cluster = LocalCluster(cache_dir, under, args.workers, capacity="2GiB",
                                        worker_args=worker_args, env=env).start()
            self.workers = self.cluster.workers
            found = self.cluster.filesystem_options()
            print(f"etcd on {self.cluster.etcd.endpoint}")
        print(f"epochcache workers on {', '.join(w.address for w in self.workers)}, "
              f"caches in {cache_dir}")
        self.systems["epochcache"] = fsspec.filesystem("epochcache", target_protocol=target,
                                                       skip_instance_cache=True, **found)

    def _emulate_remote_store(self, args: argparse.Namespace, workdir: Path) -> str:
        """Puts toxiproxy between the readers and MinIO; returns the endpoint to read from."""
        if args.latency_ms == 0 and args.bandwidth_mbps == 0:
            print("S3 is NOT emulated as remote (--latency-ms 0 --bandwidth-mbps 0): both "
                  "readers get MinIO on 127.0.0.1 directly, faster than any real store")
            return self.minio.endpoint
        from epochcache_dev.local_servers import ToxiproxyServer

        self.toxiproxy = ToxiproxyServer(workdir / "toxiproxy").start()
        listen = self.toxiproxy.add_proxy("s3", f"127.0.0.1:{self.minio.port}")
        if args.latency_ms > 0:
            self.toxiproxy.set_latency("s3", args.latency_ms)
        if args.bandwidth_mbps > 0:
            self.toxiproxy.set_bandwidth("s3", args.bandwidth_mbps)
        print(f"Emulated remote S3: both readers reach MinIO through toxiproxy on {listen}, "
              f"which adds {args.latency_ms:g} ms to the first byte of every response and caps "
              f"each connection at {args.bandwidth_mbps:g} MB/s (the benchmark's numbers for "
              f"same-region S3, docs/benchmarks.md)")
        return f"http://{listen}"

    def under_store_bytes(self) -> int:
        """Bytes all workers fetched from the under store so far."""
        return sum(w.stats()["under_store_bytes"] for w in self.workers)

    def path(self, system: str, reader: str) -> str:
        if system == "epochcache":
            return self.paths[reader]
        return self.direct_paths[reader]

    def close(self) -> None:
        if self.cluster:
            self.cluster.stop()
        else:
            self.workers[0].stop()
        if self.toxiproxy:
            self.toxiproxy.stop()
        if self.minio:
            self.minio.stop()


def _print_warm_summary(rows: list[dict]) -> None:
    """Per reader: mean seconds of the warm epochs (2..N) of each system, side by side."""
    systems = sorted({r["system"] for r in rows})
    if len(systems) < 2:
        return
    print()
    for reader in dict.fromkeys(r["reader"] for r in rows):
        means = {}
        for system in systems:
            warm = [r["seconds"] for r in rows
                    if r["system"] == system and r["reader"] == reader and r["epoch"] > 1]
            if warm:
                means[system] = sum(warm) / len(warm)
        if "epochcache" not in means or len(means) < 2:
            continue
        others = ", ".join(f"{s} {m:.2f} s ({m / means['epochcache']:.1f}x epochcache's time)"
                           for s, m in means.items() if s != "epochcache")
        print(f"{reader}, warm epochs: epochcache {means['epochcache']:.2f} s; {others}")


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    import ray

    workdir = Path(args.workdir).resolve()
    data = workdir / "data"
    sizes = {
        "read_parquet": dataset_bytes(make_parquet_dataset(data / "parquet")) / 1e6,
        "read_images": dataset_bytes(make_image_dataset(data / "images")) / 1e6,
    }
    sources = _Sources(args, workdir, data)
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING, ignore_reinit_error=True)
    _quiet_ray_data()
    rows_out = []
    header = (f"\n{'system':<15} {'reader':<13} {'epoch':>5} {'rows':>8} {'seconds':>8} "
              f"{'MB/s':>8} {'under-store bytes':>18}")
    print(header)
    try:
        for reader in ("read_parquet", "read_images"):
            for epoch in range(1, args.epochs + 1):
                for system, fs in sources.systems.items():
                    cached = system == "epochcache"
                    before = sources.under_store_bytes() if cached else 0
                    t0 = time.perf_counter()
                    rows = _run_epoch(reader, sources.path(system, reader), fs)
                    seconds = time.perf_counter() - t0
                    fetched = sources.under_store_bytes() - before if cached else None
                    mb_s = sizes[reader] / seconds
                    rows_out.append({"system": system, "reader": reader, "epoch": epoch,
                                     "rows": rows, "seconds": round(seconds, 4),
                                     "mb_per_s": round(mb_s, 2), "under_store_bytes": fetched})
                    shown = f"{fetched:,}" if fetched is not None else "(all, uncached)"
                    print(f"{system:<15} {reader:<13} {epoch:>5} {rows:>8} {seconds:>8.2f} "
                          f"{mb_s:>8.1f} {shown:>18}")
    finally:
        ray.shutdown()
        sources.close()
    if args.json:
        Path(args.json).write_text(json.dumps(rows_out, indent=2))
        print(f"\nwrote {args.json}")
    _print_warm_summary(rows_out)
    warm = [r for r in rows_out if r["system"] == "epochcache" and r["epoch"] > 1]
    if warm and all(r["under_store_bytes"] == 0 for r in warm):
        print("\nevery epochcache epoch after the first was served from the cache "
              "(0 bytes from the under store)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
