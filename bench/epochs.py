"""Epochs of one Ray Data pipeline through each way of reading remote storage, side by side.

    .venv/bin/python bench/epochs.py [--quick] [--epochs 3] [--latency-ms 25]
                                     [--bandwidth-mbps 88] [--json FILE] [--max-seconds 240]

Emulated remote storage: MinIO on 127.0.0.1 behind toxiproxy (latency to first byte and a
per-connection bandwidth cap) with a counting relay in between (bench/harness.py). A Parquet
dataset (20 columns) and an image dataset (files of 100-200 KB) are generated once under
--workdir and uploaded with boto3. Then, per setting (Ray object store large enough / under
memory pressure; Ray is started afresh for each), per reader and per system, the same pipeline
runs for N epochs:

    read -> map_batches (a light transform) -> iter_batches (as a training loop would)

Readers: parquet, parquet_2cols (2 of the 20 columns), images (decoded by Ray), binary (Ray's
read_binary_files over the image files: the bytes go to the loop undecoded and unmapped, as in a
pipeline that decodes on the GPU) and arrow (pyarrow's own multi-threaded dataset scan of the
Parquet files, no Ray; batches converted to NumPy and mapped in the loop). binary and arrow are
the readers where storage, not the CPU, is the bottleneck.

Systems: ray_s3 (pyarrow's S3 filesystem, Ray's default), s3fs, fsspec_cache (fsspec's
whole-file local cache over s3fs: simplecache, or filecache with --fsspec-cache filecache),
materialize (Ray's object store: materialize() in epoch 1, iterate it after; not for arrow),
local (the files on local disk: the ceiling on one machine), epochcache_1w and epochcache_3w (1
and 3 local workers over the same S3, each run starting from empty caches) and epochcache_arrow
(1 worker, read through the native Arrow filesystem EpochCacheFileSystem(...).to_arrow();
skipped with a note when the installed epochcache does not have it); epochcache_local and
epochcache_arrow_local are epochcache_1w and epochcache_arrow with local reads (the worker's
--local-socket, found through a real etcd, so hits are read from its page files).

Printed and written per system/setting/reader/epoch: seconds, rows, rows/s, MB/s of data
delivered to the loop, bytes fetched from S3 (counted at the relay), requests S3 served by kind
(list/stat/read, counted by MinIO), the workers' own under-store counters, peak object-store use
and spilled bytes (sampled from the raylet; best effort). Outputs: --json (one row per epoch and
one per summary measure, every row with measure/value/unit), a Markdown table and a PNG chart in
--workdir; summary measures last.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Dataset generators and the MinIO launcher: development code, not in the wheel.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devtools"))

from harness import emulated_s3, make_images, request_kinds  # noqa: E402

from epochcache.cluster import EtcdServer  # noqa: E402
from epochcache.local_worker import LocalWorker  # noqa: E402
from epochcache_dev.demo_data import (  # noqa: E402
    dataset_bytes,
    make_parquet_dataset,
)
from epochcache_dev.local_servers import upload_tree  # noqa: E402

BUCKET = "bench"
ALL_SYSTEMS = ["ray_s3", "s3fs", "fsspec_cache", "materialize", "local", "epochcache_1w",
               "epochcache_3w", "epochcache_arrow", "epochcache_local", "epochcache_arrow_local"]
QUICK_SYSTEMS = ["ray_s3", "local", "epochcache_1w", "epochcache_arrow"]
ALL_READERS = ["parquet", "parquet_2cols", "images", "binary", "arrow"]
# parquet_2cols is parquet's code path with a projection: left out of --quick to keep it short.
QUICK_READERS = ["parquet", "images", "binary", "arrow"]
# Which dataset each reader reads.
DATASET = {"parquet": "parquet", "parquet_2cols": "parquet", "arrow": "parquet",
           "images": "images", "binary": "images"}
EPOCHCACHE_SYSTEMS = ["epochcache_1w", "epochcache_3w", "epochcache_arrow", "epochcache_local",
                      "epochcache_arrow_local"]
MiB = 1 << 20

# Dataset shapes. Full: ~146 MB of Parquet (20 files, 20 float/int columns of random values, so
# nothing compresses) and ~109 MB of images (800 files, half PNG ~150 KB, half JPEG ~120 KB).
FULL = {"parquet_files": 20, "rows_per_file": 40_000, "images": 800, "image_size": 224}
QUICK = {"parquet_files": 4, "rows_per_file": 5_000, "images": 48, "image_size": 224}


def _parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/epochs.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="tiny data, 2 epochs, one setting, systems " + "/".join(QUICK_SYSTEMS)
                        + ", readers " + "/".join(QUICK_READERS))
    p.add_argument("--epochs", type=int, help="epochs per run (default 3; 2 with --quick)")
    p.add_argument("--systems", help="comma-separated subset of " + ",".join(ALL_SYSTEMS))
    p.add_argument("--settings", help="comma-separated subset of large,pressure "
                                      "(default both; large with --quick)")
    p.add_argument("--readers", help="comma-separated subset of " + ",".join(ALL_READERS))
    p.add_argument("--latency-ms", type=float, default=25.0,
                   help="added time to first byte of every S3 response (default 25: same-region "
                        "S3 is tens of ms)")
    p.add_argument("--bandwidth-mbps", type=float, default=88.0,
                   help="per-connection S3 download cap in MB/s, 10^6 bytes/s (default 88: AWS "
                        "budgets ~85-90 MB/s per connection)")
    p.add_argument("--large-store-mb", type=int, default=2048,
                   help="object store size of the 'large' setting (default 2048)")
    p.add_argument("--pressure-store-mb", type=int, default=80,
                   help="object store size of the 'pressure' setting (default 80, Ray's minimum "
                        "is 75; the full datasets are 100-150 MB on disk and more decoded)")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="time guard per run (one system/setting/reader, all its epochs); an epoch "
                        "cut short is marked truncated (default 240; 60 with --quick)")
    p.add_argument("--fsspec-cache", choices=["simplecache", "filecache"], default="simplecache",
                   help="fsspec's whole-file cache used by the fsspec_cache system (default "
                        "simplecache: filecache's metadata file is not safe across Ray's reader "
                        "processes and fails with TypeError in _check_file)")
    p.add_argument("--ec-metadata-ttl", type=float, default=None,
                   help="epochcache's metadata TTL in seconds, for workers (--metadata-ttl) and "
                        "client (metadata_ttl); default: theirs (10 s)")
    p.add_argument("--workdir", help="datasets, caches, logs and outputs (default bench/results, "
                                     "bench/results/quick with --quick)")
    p.add_argument("--json", metavar="FILE", help="write the per-epoch results as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    a = p.parse_args(argv)
    a.epochs = a.epochs or (2 if a.quick else 3)
    a.systems = a.systems.split(",") if a.systems else (QUICK_SYSTEMS if a.quick else ALL_SYSTEMS)
    a.settings = a.settings.split(",") if a.settings else (["large"] if a.quick
                                                            else ["large", "pressure"])
    a.readers = a.readers.split(",") if a.readers else (QUICK_READERS if a.quick
                                                        else ALL_READERS)
    a.workdir = a.workdir or ("bench/results/quick" if a.quick else "bench/results")
    a.max_seconds = a.max_seconds or (60.0 if a.quick else 240.0)
    for name, chosen, allowed in [("system", a.systems, ALL_SYSTEMS),
                                  ("setting", a.settings, ["large", "pressure"]),
                                  ("reader", a.readers, ALL_READERS)]:
        bad = [c for c in chosen if c not in allowed]
        if bad:
            p.error(f"unknown {name}(s): {', '.join(bad)}")
    if a.epochs < 1 or a.epochs > 20:
        p.error("--epochs must be between 1 and 20")
    return a


# ---------------------------------------------------------------- object store sampling

class StoreSampler:
    """Samples the raylet's object-store stats in a thread: peak bytes used, spilled bytes.

    Uses ray._private.internal_api (the source of `ray memory --stats-only`), which needs the
    grpcio package; a private API, so any failure (or grpcio missing) leaves the fields empty.
    """

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.peak = None
        self.spilled_start = self.spilled_end = None
        self._stop = threading.Event()
        self._thread = None
        self._state = self._addr = None
        try:
            import ray
            from ray._private import internal_api

            self._api = internal_api
            self._state = internal_api.get_state_from_address(ray.get_runtime_context().gcs_address)
            node = next(n for n in self._state.node_table() if n["Alive"])
            self._addr = (node["NodeManagerAddress"], node["NodeManagerPort"])
        except Exception:  # noqa: BLE001 - best effort
            self._state = None

    def _stats(self):
        reply = self._api.get_memory_info_reply(self._state, *self._addr, timeout_seconds=5)
        return reply.store_stats.object_store_bytes_used, reply.store_stats.spilled_bytes_total

    def __enter__(self):
        if self._state is None:
            return self
        try:
            used, self.spilled_start = self._stats()
            self.peak = used
        except Exception:  # noqa: BLE001
            self._state = None
            return self
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                used, _ = self._stats()
                self.peak = max(self.peak or 0, used)
            except Exception:  # noqa: BLE001
                pass

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread:
            self._thread.join(10)
            try:
                used, self.spilled_end = self._stats()
                self.peak = max(self.peak or 0, used)
            except Exception:  # noqa: BLE001
                pass

    @property
    def spilled(self):
        if self.spilled_start is None or self.spilled_end is None:
            return None
        return self.spilled_end - self.spilled_start


# ---------------------------------------------------------------- pipeline

def _light_map_parquet(batch):
    batch["f0"] = batch["f0"] * 2.0 + 1.0
    return batch


def _light_map_images(batch):
    batch["image"] = batch["image"][:, :, ::-1]  # horizontal flip, as an augmentation would
    return batch


def read_dataset(reader: str, path: str, fs):
    import ray

    if reader == "parquet":
        return ray.data.read_parquet(path, filesystem=fs)
    if reader == "parquet_2cols":
        # Ray pushes the projection down into the Parquet reader: only 2 column chunks are read.
        return ray.data.read_parquet(path, filesystem=fs).select_columns(["id", "f0"])
    if reader == "binary":
        return ray.data.read_binary_files(path, filesystem=fs)
    return ray.data.read_images(path, filesystem=fs, mode="RGB")


def with_map(reader: str, ds):
    if reader == "binary":  # the bytes go to the loop as read: decoding and augmenting are the GPU's
        return ds
    fn = _light_map_images if reader == "images" else _light_map_parquet
    return ds.map_batches(fn, batch_format="numpy")


# Training batch sizes: 1024 rows of tabular data, 32 images (decoded or not).
BATCH_SIZE = {"parquet": 1024, "parquet_2cols": 1024, "arrow": 1024, "images": 32, "binary": 32}


def _batch_bytes(batch: dict) -> int:
    """Bytes a batch delivers: array payloads, or the lengths of the byte strings of binary rows."""
    total = 0
    for v in batch.values():
        if getattr(v, "dtype", None) is not None and v.dtype == object:
            total += sum(len(x) for x in v)
        elif hasattr(v, "nbytes"):
            total += v.nbytes
    return total


def iterate(ds, reader: str, deadline: float, progress) -> tuple[int, int, bool]:
    """Iterates batches as a training loop would; returns rows, delivered bytes, truncated."""
    rows = nbytes = 0
    for batch in ds.iter_batches(batch_size=BATCH_SIZE[reader], batch_format="numpy",
                                 prefetch_batches=2):
        n = len(next(iter(batch.values())))
        rows += n
        nbytes += _batch_bytes(batch)
        if progress is not None:
            progress.update(n)
        if time.monotonic() > deadline:
            return rows, nbytes, True
    return rows, nbytes, False


def iterate_arrow(path: str, fs, deadline: float, progress) -> tuple[int, int, bool]:
    """pyarrow's own scan, no Ray: a multi-threaded dataset scan (what pq.read_table does, but
    streamed), each batch converted to NumPy and mapped in the loop as the Ray pipelines do."""
    import pyarrow.dataset as pds

    dataset = pds.dataset(path, filesystem=fs, format="parquet")
    rows = nbytes = 0
    for batch in dataset.to_batches(batch_size=BATCH_SIZE["arrow"], use_threads=True):
        cols = {name: batch.column(i).to_numpy(zero_copy_only=False)
                for i, name in enumerate(batch.schema.names)}
        cols = _light_map_parquet(cols)
        rows += batch.num_rows
        nbytes += _batch_bytes(cols)
        if progress is not None:
            progress.update(batch.num_rows)
        if time.monotonic() > deadline:
            return rows, nbytes, True
    return rows, nbytes, False


# ---------------------------------------------------------------- systems

class System:
    """How one system reads: a filesystem and a path per dataset, and its own setup/teardown."""

    def __init__(self, name: str, s3, local_root: Path, scratch: Path) -> None:
        self.name, self.s3, self.local_root, self.scratch = name, s3, local_root, scratch
        self.workers: list[LocalWorker] = []
        self._materialized = None
        self._sources: dict[str, tuple] = {}
        self.fsspec_cache = "simplecache"
        self.metadata_ttl = None
        self.etcd = None  # for the _local systems
        self.sock_dir = Path()

    def unavailable(self, reader: str) -> str | None:
        """Why this system cannot run ``reader`` here, or None."""
        if self.name == "materialize" and reader == "arrow":
            return "materialize is Ray's object store; the arrow reader does not use Ray"
        if self.name in ("epochcache_arrow", "epochcache_arrow_local"):
            from epochcache import EpochCacheFileSystem

            if not hasattr(EpochCacheFileSystem, "to_arrow"):
                import epochcache

                return ("the installed epochcache has no EpochCacheFileSystem.to_arrow "
                        f"(native Arrow filesystem), from {Path(epochcache.__file__).parent}")
            try:  # to_arrow() imports it: built without pyarrow, or for another pyarrow
                import epochcache.arrow  # noqa: F401
            except ImportError as e:
                return f"the native Arrow filesystem cannot be loaded: {e}"
        return None

    def start(self) -> None:
        if self.scratch.exists():
            shutil.rmtree(self.scratch)
        self.scratch.mkdir(parents=True)
        if self.name.startswith("epochcache"):
            n = 3 if self.name.endswith("3w") else 1
            local_args: list[str] = []
            if self.name.endswith("_local"):
                # Local reads: the worker registers its socket in etcd, where the client finds it.
                self.etcd = EtcdServer(self.scratch / "etcd").start()
                self.sock_dir = Path(tempfile.mkdtemp(prefix="ec-epochs-"))
                local_args = ["--etcd", self.etcd.endpoint, "--cluster", "epochs",
                              "--local-socket", str(self.sock_dir / "w.sock")]
            for i in range(n):
                w = LocalWorker(self.scratch / f"cache{i}", under=f"s3://{BUCKET}",
                                capacity="4GiB", extra_args=self.s3.worker_args() + local_args + (
                                    [] if self.metadata_ttl is None
                                    else ["--metadata-ttl", f"{self.metadata_ttl:g}s"]),
                                env=self.s3.minio.worker_env(),
                                log_path=self.scratch / f"worker{i}.log")
                self.workers.append(w.start())

    def stop(self) -> None:
        for w in self.workers:
            w.stop()
        self.workers = []
        if self.etcd is not None:
            self.etcd.stop()
            self.etcd = None
            shutil.rmtree(self.sock_dir, ignore_errors=True)
        self._materialized = None
        self._sources = {}
        shutil.rmtree(self.scratch, ignore_errors=True)

    def worker_counters(self) -> dict[str, int] | None:
        """The workers' under-store counters, summed: ``under_store_bytes`` and every other
        integer ``under_store_*`` field of /v1/stats (requests by kind where the worker reports
        them; nested objects are flattened to ``under_store_x.y``)."""
        if not self.workers:
            return None
        total: dict[str, int] = {}
        for w in self.workers:
            for key, value in w.stats().items():
                if not key.startswith("under_store"):
                    continue
                items = value.items() if isinstance(value, dict) else [(None, value)]
                for sub, v in items:
                    if isinstance(v, int) and not isinstance(v, bool):
                        name = key if sub is None else f"{key}.{sub}"
                        total[name] = total.get(name, 0) + v
        return total

    def source(self, dataset: str):
        """(path, filesystem) for reading ``dataset`` ("parquet" or "images"): made once per run
        and kept across its epochs, as a training script creates its filesystem once."""
        if dataset not in self._sources:
            self._sources[dataset] = self._new_source(dataset)
        return self._sources[dataset]

    def _new_source(self, dataset: str):
        if self.name == "local":
            return str(self.local_root / dataset), None
        if self.name in ("ray_s3", "materialize"):
            return f"{BUCKET}/{dataset}", self.s3.pyarrow_fs()
        if self.name == "s3fs":
            import s3fs

            return f"{BUCKET}/{dataset}", s3fs.S3FileSystem(**self.s3.s3fs_options(),
                                                            skip_instance_cache=True)
        if self.name == "fsspec_cache":
            import fsspec

            fs = fsspec.filesystem(self.fsspec_cache, target_protocol="s3",
                                   target_options=self.s3.s3fs_options(),
                                   cache_storage=str(self.scratch / "fsspec_cache"),
                                   skip_instance_cache=True)
            return f"{BUCKET}/{dataset}", fs
        from epochcache import EpochCacheFileSystem

        options = {} if self.metadata_ttl is None else {"metadata_ttl": self.metadata_ttl}
        if self.etcd is not None:
            options.update(etcd_hosts=self.etcd.endpoint, cluster="epochs")
        else:
            options.update(worker_hosts=[w.address for w in self.workers])
        fs = EpochCacheFileSystem(target_protocol="s3", target_options=self.s3.s3fs_options(),
                                  skip_instance_cache=True, **options)
        if self.name in ("epochcache_arrow", "epochcache_arrow_local"):
            # A pyarrow.fs.FileSystem: paths without a scheme, as for pyarrow's S3FileSystem.
            return f"{BUCKET}/{dataset}", fs.to_arrow()
        return f"s3://{BUCKET}/{dataset}", fs

    def epoch_dataset(self, reader: str, epoch: int):
        path, fs = self.source(DATASET[reader])
        if self.name != "materialize":
            return with_map(reader, read_dataset(reader, path, fs))
        if self._materialized is None:  # epoch 1 pays the read and the materialization
            self._materialized = read_dataset(reader, path, fs).materialize()
        return with_map(reader, self._materialized)


# ---------------------------------------------------------------- runs

def _ray_temp_dir(workdir: Path) -> Path:
    """Ray's session dir: under the workdir when the path is short enough, else under /tmp.

    Ray puts AF_UNIX sockets ~70 characters below it (session_<date>_<pid>/sockets/plasma_store)
    and such a path may not exceed 107 bytes, which a deeply nested bench/results can.
    """
    candidate = workdir / "ray"
    if len(str(candidate)) <= 36:
        return candidate
    return Path(tempfile.mkdtemp(prefix="ec-ray-"))


def _init_ray(store_mb: int, ray_dir: Path) -> None:
    import ray

    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    ray.init(num_cpus=2, object_store_memory=store_mb * MiB, include_dashboard=False,
             log_to_driver=False, configure_logging=False,
             _temp_dir=str(ray_dir))
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Warm-up: start Ray's worker processes and import Ray Data's operators once, so the first
    # system measured does not pay for it.
    ray.data.range(4096, override_num_blocks=4).map_batches(
        lambda b: b, batch_format="numpy").take_all()


def run_one(args, system: System, setting: str, reader: str, expected_rows: int,
            ds_bytes: int) -> list[dict]:
    from tqdm import tqdm

    results = []
    started = time.monotonic()
    deadline = started + args.max_seconds
    system.start()
    progress = None if args.no_progress else tqdm(
        total=expected_rows * args.epochs, unit="row", unit_scale=True, leave=False,
        desc=f"{setting:8s} {reader:13s} {system.name:13s}", file=sys.stderr)
    try:
        for epoch in range(1, args.epochs + 1):
            if time.monotonic() > deadline:
                break
            fetched0 = system.s3.bytes_fetched()
            requests0 = system.s3.request_counts()
            worker0 = system.worker_counters()
            t0 = time.perf_counter()
            with StoreSampler() as store:
                if reader == "arrow":
                    path, fs = system.source(DATASET[reader])
                    # pyarrow's filesystems take paths without a scheme (fsspec ones are wrapped).
                    path = path.split("://", 1)[-1]
                    rows, nbytes, truncated = iterate_arrow(path, fs, deadline, progress)
                else:
                    ds = system.epoch_dataset(reader, epoch)
                    rows, nbytes, truncated = iterate(ds, reader, deadline, progress)
            seconds = time.perf_counter() - t0
            requests = _delta(system.s3.request_counts(), requests0)
            worker = _delta(system.worker_counters(), worker0)
            results.append({
                "measure": "epoch_seconds", "value": round(seconds, 4), "unit": "s",
                "system": system.name, "setting": setting, "reader": reader, "epoch": epoch,
                "seconds": round(seconds, 4), "rows": rows,
                "rows_per_s": round(rows / seconds, 1) if seconds > 0 else None,
                "mb_per_s": round(nbytes / 1e6 / seconds, 2) if seconds > 0 else None,
                "decoded_bytes": nbytes, "dataset_file_bytes": ds_bytes,
                "remote_bytes": system.s3.bytes_fetched() - fetched0,
                "remote_requests": None if requests is None else sum(requests.values()),
                "remote_requests_by_kind": None if requests is None else request_kinds(requests),
                "remote_requests_by_api": requests,
                "worker_under_store_bytes": None if worker is None
                else worker.get("under_store_bytes", 0),
                "worker_under_store": worker,
                "object_store_peak_bytes": store.peak, "spilled_bytes": store.spilled,
                "truncated": truncated or rows < expected_rows,
                "latency_ms": args.latency_ms, "bandwidth_mbps": args.bandwidth_mbps,
            })
    finally:
        if progress is not None:
            progress.close()
        system.stop()
    return results


def _delta(after: dict | None, before: dict | None) -> dict | None:
    """Per-key growth of a counter dict between two samples (keys that did not move are dropped)."""
    if after is None or before is None:
        return None
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def _fmt_bytes(n) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:.1f}"


def _fmt_requests(r: dict) -> str:
    kinds = r.get("remote_requests_by_kind")
    if kinds is None:
        return "-"
    return f"{r['remote_requests']} ({kinds['list']}/{kinds['stat']}/{kinds['read']})"


def markdown_table(results: list[dict]) -> str:
    lines = ["| setting | reader | system | epoch | seconds | rows | rows/s | MB/s | "
             "S3 MB | S3 requests (list/stat/read) | store peak MB | spilled MB |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if r["measure"] != "epoch_seconds":
            continue
        lines.append(
            f"| {r['setting']} | {r['reader']} | {r['system']} | {r['epoch']} | "
            f"{r['seconds']:.2f} | {r['rows']}{' (cut)' if r['truncated'] else ''} | "
            f"{r['rows_per_s']:.0f} | {r['mb_per_s']:.1f} | {_fmt_bytes(r['remote_bytes'])} | "
            f"{_fmt_requests(r)} | {_fmt_bytes(r['object_store_peak_bytes'])} | "
            f"{_fmt_bytes(r['spilled_bytes'])} |")
    return "\n".join(lines) + "\n"


def _runs(results, system, setting, reader, epochs: str) -> list[dict]:
    """A system's epoch rows: "cold" = epoch 1, "warm" = epochs 2..N, "all" = every one.

    Runs cut short by --max-seconds are left out.
    """
    rows = [r for r in results if r["measure"] == "epoch_seconds" and r["system"] == system
            and r["setting"] == setting and r["reader"] == reader and not r["truncated"]]
    if epochs == "warm":
        rows = [r for r in rows if r["epoch"] > 1]
    elif epochs == "cold":
        rows = [r for r in rows if r["epoch"] == 1]
    return rows


def _throughput(results, system, setting, reader, epochs: str):
    """rows/s over a system's epochs (see _runs)."""
    rows = _runs(results, system, setting, reader, epochs)
    if not rows:
        return None
    return sum(r["rows"] for r in rows) / sum(r["seconds"] for r in rows)


# Baselines of the warm-epoch ratios: systems that read S3 (or local disk) every epoch are taken
# over all their epochs, the other caches over their warm epochs.
BASELINES = [("ray_s3", "all"), ("s3fs", "all"), ("local", "all"), ("fsspec_cache", "warm"),
             ("materialize", "warm"), ("epochcache_1w", "warm")]


def measures(results: list[dict], config: dict) -> list[dict]:
    """The summary as rows of measure/value/unit, for a script to read the issues' ratios back.

    Every measure compares runs made side by side in this one invocation:
    - ``warm_rows_per_s`` / ``cold_rows_per_s`` (rows/s) for every system;
    - ``warm_over_<base>`` (x): rows/s of an epochcache system's warm epochs (2..N) over
      ``<base>``'s (every epoch of ray_s3, s3fs and local; the warm epochs of fsspec_cache,
      materialize and epochcache_1w);
    - ``cold_over_ray_s3_epoch1`` (x): its first epoch over ray_s3's first epoch;
    - ``cold_bytes_over_ray_s3`` (x): bytes S3 sent in its first epoch (at the relay) over
      ray_s3's first epoch;
    - ``cold_remote_bytes`` (bytes) for every system;
    - ``warm_remote_requests`` (requests per warm epoch, as MinIO counted them; one row per kind:
      all, list, stat, read, other), with the dataset's file and directory counts alongside.
    """
    out = []

    def row(measure, value, unit, setting, reader, system, **extra):
        out.append({"measure": measure, "value": value, "unit": unit, "setting": setting,
                    "reader": reader, "system": system,
                    "latency_ms": config["latency_ms"],
                    "bandwidth_mbps": config["bandwidth_mbps_per_connection"],
                    "epochs": config["epochs"], **extra})

    epochs_rows = [r for r in results if r["measure"] == "epoch_seconds"]
    for setting in dict.fromkeys(r["setting"] for r in epochs_rows):
        for reader in dict.fromkeys(r["reader"] for r in epochs_rows):
            systems = list(dict.fromkeys(r["system"] for r in epochs_rows
                                         if r["setting"] == setting and r["reader"] == reader))

            def tp(system, epochs, setting=setting, reader=reader):
                return _throughput(results, system, setting, reader, epochs)

            for system in systems:
                for kind in ("cold", "warm"):
                    v = tp(system, kind)
                    if v is not None:
                        row(f"{kind}_rows_per_s", round(v, 1), "rows/s", setting, reader, system)
                cold = _runs(results, system, setting, reader, "cold")
                if cold:
                    row("cold_remote_bytes", cold[0]["remote_bytes"], "bytes", setting, reader,
                        system)
                warm = _runs(results, system, setting, reader, "warm")
                if warm and all(r["remote_requests_by_kind"] is not None for r in warm):
                    ds = config["datasets"][DATASET[reader]]
                    for kind in ("all", "list", "stat", "read", "other"):
                        n = sum(r["remote_requests"] if kind == "all"
                                else r["remote_requests_by_kind"][kind] for r in warm)
                        row("warm_remote_requests", round(n / len(warm), 1), "requests/epoch",
                            setting, reader, system, kind=kind, dataset_files=ds["files"],
                            dataset_directories=ds["directories"])
            ray_cold = _runs(results, "ray_s3", setting, reader, "cold")
            for system in [s for s in systems if s in EPOCHCACHE_SYSTEMS]:
                warm = tp(system, "warm")
                for base, epochs in BASELINES:
                    b = tp(base, epochs)
                    if warm and b and base != system:
                        row(f"warm_over_{base}", round(warm / b, 3), "x", setting, reader,
                            system, baseline=base, baseline_epochs=epochs)
                cold, b = tp(system, "cold"), tp("ray_s3", "cold")
                if cold and b:
                    row("cold_over_ray_s3_epoch1", round(cold / b, 3), "x", setting, reader,
                        system, baseline="ray_s3")
                mine = _runs(results, system, setting, reader, "cold")
                if mine and ray_cold and ray_cold[0]["remote_bytes"]:
                    row("cold_bytes_over_ray_s3",
                        round(mine[0]["remote_bytes"] / ray_cold[0]["remote_bytes"], 3), "x",
                        setting, reader, system, baseline="ray_s3")
    return out


def summary(measure_rows: list[dict]) -> str:
    """The measures as Markdown: ratios, then warm-epoch requests."""
    out = ["| setting | reader | system | measure | value |", "|---|---|---|---|---:|"]
    for m in measure_rows:
        if m["unit"] == "x":
            out.append(f"| {m['setting']} | {m['reader']} | {m['system']} | {m['measure']} | "
                       f"{m['value']:.2f}x |")
    out += ["", "S3 requests per warm epoch (counted by MinIO):", "",
            "| setting | reader | system | all | list | stat | read | other | dataset |",
            "|---|---|---|---:|---:|---:|---:|---:|---|"]
    reqs: dict[tuple, dict] = {}
    for m in measure_rows:
        if m["measure"] == "warm_remote_requests":
            key = (m["setting"], m["reader"], m["system"])
            reqs.setdefault(key, {"dataset": f"{m['dataset_files']} files in "
                                             f"{m['dataset_directories']} dir(s)"})
            reqs[key][m["kind"]] = m["value"]
    for (setting, reader, system), k in reqs.items():
        out.append(f"| {setting} | {reader} | {system} | {k['all']:g} | {k['list']:g} | "
                   f"{k['stat']:g} | {k['read']:g} | {k['other']:g} | {k['dataset']} |")
    return "\n".join(out) + "\n"


def chart(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [r for r in results if r["measure"] == "epoch_seconds"]
    settings = list(dict.fromkeys(r["setting"] for r in results))
    readers = list(dict.fromkeys(r["reader"] for r in results))
    fig, axes = plt.subplots(len(settings), len(readers), squeeze=False,
                             figsize=(4.2 * len(readers), 3.4 * len(settings)))
    for i, setting in enumerate(settings):
        for j, reader in enumerate(readers):
            ax = axes[i][j]
            for system in dict.fromkeys(r["system"] for r in results):
                rs = [r for r in results if r["system"] == system and r["setting"] == setting
                      and r["reader"] == reader]
                if rs:
                    ax.plot([r["epoch"] for r in rs], [r["rows_per_s"] for r in rs], marker="o",
                            label=system)
            ax.set_title(f"{reader}, object store {setting}", fontsize=9)
            ax.set_xlabel("epoch")
            ax.set_xticks(sorted({r["epoch"] for r in results}))
            ax.set_ylabel("rows/s")
            ax.set_yscale("log")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _tree_shape(root: Path) -> dict:
    """Files and directories holding them below ``root`` (a warm epoch's listing budget is one
    listing per directory)."""
    files = [p for p in Path(root).rglob("*") if p.is_file()]
    return {"files": len(files), "directories": len({p.parent for p in files})}


def prepare_data(workdir: Path, shape: dict) -> dict:
    data = workdir / ("data-quick" if shape is QUICK else "data")
    parquet = make_parquet_dataset(data / "parquet", files=shape["parquet_files"],
                                   rows_per_file=shape["rows_per_file"], columns=20)
    images = make_images(data / "images", count=shape["images"], size=shape["image_size"])
    return {"root": data, "parquet": parquet, "images": images,
            "parquet_rows": shape["parquet_files"] * shape["rows_per_file"],
            "image_rows": shape["images"]}


def main(argv=None) -> int:
    args = _parse_args(argv)
    repo = Path(__file__).resolve().parents[1]
    os.environ.setdefault("EPOCHCACHE_TOOLS", str(repo / "tools" / "bin"))
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    bench_started = time.monotonic()
    data = prepare_data(workdir, QUICK if args.quick else FULL)
    sizes = {"parquet": dataset_bytes(data["parquet"]), "images": dataset_bytes(data["images"])}
    shapes = {name: _tree_shape(data[name]) for name in ("parquet", "images")}
    print(f"datasets: parquet {sizes['parquet'] / 1e6:.1f} MB ({data['parquet_rows']} rows, "
          f"20 columns), images {sizes['images'] / 1e6:.1f} MB ({data['image_rows']} files); "
          f"S3 emulation: {args.latency_ms:g} ms to first byte, {args.bandwidth_mbps:g} MB/s per "
          f"connection", flush=True)

    results: list[dict] = []
    skipped: set[tuple[str, str]] = set()
    shutil.rmtree(workdir / "minio", ignore_errors=True)
    with emulated_s3(workdir, args.latency_ms, args.bandwidth_mbps) as s3:
        client = s3.minio.client()
        client.create_bucket(Bucket=BUCKET)
        upload_tree(client, BUCKET, data["parquet"], "parquet")
        upload_tree(client, BUCKET, data["images"], "images")
        import ray

        for setting in args.settings:
            store_mb = args.large_store_mb if setting == "large" else args.pressure_store_mb
            ray_dir = _ray_temp_dir(workdir)
            _init_ray(store_mb, ray_dir)
            try:
                for reader in args.readers:
                    dataset = DATASET[reader]
                    expected = data[f"{'image' if dataset == 'images' else 'parquet'}_rows"]
                    ds_bytes = sizes[dataset]
                    for name in args.systems:
                        system = System(name, s3, data["root"], workdir / "scratch" / name)
                        why = system.unavailable(reader)
                        if why:
                            if (name, why) not in skipped:  # one line per system and reason
                                print(f"skipped: {name}: {why}", flush=True)
                                skipped.add((name, why))
                            continue
                        system.fsspec_cache = args.fsspec_cache
                        system.metadata_ttl = args.ec_metadata_ttl
                        results += run_one(args, system, setting, reader, expected, ds_bytes)
            finally:
                ray.shutdown()
                if workdir not in ray_dir.parents:
                    shutil.rmtree(ray_dir, ignore_errors=True)

    config = {"latency_ms": args.latency_ms, "bandwidth_mbps_per_connection": args.bandwidth_mbps,
              "epochs": args.epochs, "large_store_mb": args.large_store_mb,
              "pressure_store_mb": args.pressure_store_mb, "fsspec_cache": args.fsspec_cache,
              "ec_metadata_ttl": args.ec_metadata_ttl,
              "dataset_file_bytes": sizes, "datasets": shapes,
              "skipped": [{"system": n, "why": w} for n, w in sorted(skipped)],
              "cpus": os.cpu_count(), "quick": args.quick}
    measure_rows = measures(results, config)
    table = markdown_table(results)
    ratios = summary(measure_rows)
    (workdir / "results.md").write_text(table + "\n" + ratios)
    out_json = Path(args.json) if args.json else workdir / "results.json"
    out_json.write_text(json.dumps(results + measure_rows, indent=1))
    (workdir / "config.json").write_text(json.dumps(config, indent=1))
    try:
        chart(results, workdir / "epochs.png")
    except Exception as e:  # noqa: BLE001 - the chart is optional output
        print(f"chart not written: {e}", file=sys.stderr)
    print(table)
    print(f"written: {out_json}, {workdir / 'results.md'}, {workdir / 'epochs.png'}; "
          f"total {time.monotonic() - bench_started:.0f} s\n")
    print("summary (ratios of rows/s or of S3 bytes; warm = epochs 2..N):")
    print(ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
