"""Warm passes of Ray Data over many small files: local files next to the same files through one
worker, and what each pass asks of the worker.

    PYTHONPATH=devtools .venv/bin/python bench/ray_small_files.py [--files 800] [--rounds 4]
        [--workdir DIR] [--json FILE]

``ray.data.read_binary_files`` over --files files of ~136 KB (bench/epochs.py's image files
are this size), served by one worker over a local directory (``file://``) with its local socket
registered in etcd. Ray pickles the filesystem into every read task (about a hundred tasks of a
few files each, in 2 worker processes), so each file is opened by a process that may never
have seen it: this is where per-file costs (a status, a message to the worker) show. After a
warming pass of each, the systems take turns, the order alternating each round: pyarrow's
``LocalFileSystem``, the fsspec filesystem (Ray wraps it in ``PyFileSystem(FSSpecHandler)``)
and the native Arrow filesystem, both with local reads, and the Arrow filesystem over HTTP.
Per system: the median seconds of a pass, its ratio to local, and per pass the worker's HTTP
requests and local-socket answers (deltas of /v1/stats, which count themselves once each). Loops
are bounded by --rounds; nothing asserts speed. Measure with the installed (Release) package.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.fs as pafs

from epochcache import EpochCacheFileSystem
from epochcache.cluster import EtcdServer
from epochcache.local_worker import LocalWorker

FILE_BYTES = 136_000


def one_pass(ray, path: str, filesystem) -> tuple[float, int]:
    started = time.perf_counter()
    rows = 0
    ds = ray.data.read_binary_files(path, filesystem=filesystem)
    for batch in ds.iter_batches(batch_size=32, batch_format="numpy", prefetch_batches=2):
        rows += len(batch["bytes"])
    return time.perf_counter() - started, rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=800)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--workdir", help="files and cache (default: a temporary directory)")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="ray-small-"))
    data = work / "data" / "files"
    data.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    for i in range(args.files):
        f = data / f"f{i:05d}.bin"
        if not f.exists():
            f.write_bytes(rng.randbytes(FILE_BYTES))

    import ray

    sock_dir = Path(tempfile.mkdtemp(prefix="ec-small-"))
    etcd = EtcdServer(work / "etcd").start()
    worker = LocalWorker(work / "cache", under=f"file://{data.parent}", capacity="2GiB",
                         extra_args=["--etcd", etcd.endpoint, "--cluster", "small",
                                     "--local-socket", str(sock_dir / "w.sock")]).start()
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        local_fs = EpochCacheFileSystem(target_protocol="file", etcd_hosts=etcd.endpoint,
                                        cluster="small", direct_fallback=False)
        http_fs = EpochCacheFileSystem(target_protocol="file", worker_hosts=[worker.address],
                                       direct_fallback=False)
        systems = {
            "local": None,
            "epochcache_fsspec_local": local_fs,
            "epochcache_arrow_local": local_fs.to_arrow(),
            "epochcache_arrow": http_fs.to_arrow(),
        }
        for name, filesystem in systems.items():  # warms the cache, Ray and the page cache
            _, rows = one_pass(ray, str(data), filesystem)
            if rows != args.files:
                raise SystemExit(f"{name} read {rows} files of {args.files}")
        seconds: dict[str, list[float]] = {name: [] for name in systems}
        http: dict[str, list[int]] = {name: [] for name in systems}
        local: dict[str, list[int]] = {name: [] for name in systems}
        for r in range(args.rounds):
            order = list(systems) if r % 2 == 0 else list(reversed(systems))
            for name in order:
                before = worker.stats()
                seconds[name].append(one_pass(ray, str(data), systems[name])[0])
                after = worker.stats()
                http[name].append(after["requests"] - before["requests"] - 1)
                local[name].append(after["local_reads"] - before["local_reads"])
    finally:
        ray.shutdown()
        worker.stop()
        etcd.stop()
        for s in sock_dir.iterdir():
            s.unlink()
        sock_dir.rmdir()

    median = {name: statistics.median(values) for name, values in seconds.items()}
    rows = []
    for name in systems:
        ratio = median["local"] / median[name]
        print(f"{name:24} median {median[name]:.2f} s ({ratio:.2f}x local)  passes "
              + " ".join(f"{v:.2f}" for v in seconds[name])
              + f"  per pass: HTTP requests {statistics.median(http[name]):.0f}, "
              f"local answers {statistics.median(local[name]):.0f}")
        rows += [{"measure": f"{name}_pass_seconds", "value": round(median[name], 3), "unit": "s"},
                 {"measure": f"{name}_pass_over_local", "value": round(ratio, 3), "unit": "x"},
                 {"measure": f"{name}_http_requests_per_pass",
                  "value": statistics.median(http[name]), "unit": "requests"}]
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "seconds": seconds}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
