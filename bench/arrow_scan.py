"""A warm pyarrow dataset scan: local files next to the same files through one worker.

    EPOCHCACHE_BIN=build/rel/src/cli/epochcache PYTHONPATH=devtools \\
        .venv/bin/python bench/arrow_scan.py [--workdir DIR] [--rounds 6] [--json FILE]

The dataset of bench/epochs.py's "large" setting (20 Parquet files of 40,000 rows, 20 columns,
~146 MB; written once under --workdir) is served by one worker over a local directory
(``file://``). After one warming scan of each, the systems take turns, the order alternating
each round: pyarrow's ``LocalFileSystem`` reading the files from the page cache, the native
Arrow filesystem (``EpochCacheFileSystem(...).to_arrow()``) and the fsspec filesystem wrapped
for Arrow (``PyFileSystem(FSSpecHandler(fs))``), each over HTTP and with local reads
("_local": the worker's ``--local-socket``, found through etcd). Each scan is ``pyarrow.dataset(...)
.to_batches(use_threads=True)``: pyarrow's own multi-threaded reads, no Ray, no decode beyond
Arrow's. Medians per system and their ratios to local go to stdout (and --json as rows of
``measure``, ``value``, ``unit``). Measure with the installed (Release) package, not a Debug
build's module. Loops are bounded by --rounds; nothing asserts speed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devtools"))

import pyarrow.dataset as pds  # noqa: E402
import pyarrow.fs as pafs  # noqa: E402

from epochcache import EpochCacheFileSystem  # noqa: E402
from epochcache.cluster import EtcdServer  # noqa: E402
from epochcache.local_worker import LocalWorker  # noqa: E402
from epochcache_dev.demo_data import make_parquet_dataset  # noqa: E402


def scan(filesystem, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    rows = 0
    for batch in pds.dataset(path, filesystem=filesystem, format="parquet").to_batches(
            use_threads=True):
        rows += batch.num_rows
    return time.perf_counter() - started, rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", help="dataset and cache (default: a temporary directory)")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="arrow-scan-"))
    data = make_parquet_dataset(work / "data" / "parquet", files=20, rows_per_file=40_000,
                                columns=20)
    # The worker advertises a local socket in etcd: the filesystems that find it through etcd
    # read hits from its page files ("_local"); those given its address go over HTTP.
    sock_dir = Path(tempfile.mkdtemp(prefix="ec-scan-"))
    etcd = EtcdServer(work / "etcd").start()
    worker = LocalWorker(work / "cache", under=f"file://{data.parent}", capacity="2GiB",
                         extra_args=["--metadata-ttl", "3600s", "--etcd", etcd.endpoint,
                                     "--cluster", "scan",
                                     "--local-socket", str(sock_dir / "w.sock")]).start()
    try:
        fs = EpochCacheFileSystem(target_protocol="file", worker_hosts=[worker.address],
                                  direct_fallback=False)
        local_fs = EpochCacheFileSystem(target_protocol="file", etcd_hosts=etcd.endpoint,
                                        cluster="scan", direct_fallback=False)
        systems = {
            "local": pafs.LocalFileSystem(),
            "epochcache_arrow": fs.to_arrow(),
            "epochcache_arrow_local": local_fs.to_arrow(),
            "epochcache_fsspec": pafs.PyFileSystem(pafs.FSSpecHandler(fs)),
            "epochcache_fsspec_local": pafs.PyFileSystem(pafs.FSSpecHandler(local_fs)),
        }
        expected = None
        for name, filesystem in systems.items():  # warms the cache and the page cache
            _, rows = scan(filesystem, str(data))
            if expected is not None and rows != expected:
                raise SystemExit(f"{name} scanned {rows} rows, local {expected}")
            expected = rows
        seconds: dict[str, list[float]] = {name: [] for name in systems}
        for r in range(args.rounds):
            order = list(systems) if r % 2 == 0 else list(reversed(systems))
            for name in order:
                seconds[name].append(scan(systems[name], str(data))[0])
        under_bytes = worker.stats()["under_store_bytes"]
        local_reads = worker.stats()["local_reads"]
    finally:
        worker.stop()
        etcd.stop()

    median = {name: statistics.median(values) for name, values in seconds.items()}
    for name, values in seconds.items():
        print(f"{name:18} median {median[name]:.3f} s  " + " ".join(f"{v:.3f}" for v in values))
    rows = [{"measure": f"{name}_scan_seconds", "value": round(median[name], 4), "unit": "s"}
            for name in systems]
    for name in ("epochcache_arrow", "epochcache_arrow_local", "epochcache_fsspec",
                 "epochcache_fsspec_local"):
        ratio = median["local"] / median[name]
        print(f"{name} ÷ local (speed): {ratio:.2f}x")
        rows.append({"measure": f"{name}_warm_scan_over_local", "value": round(ratio, 3),
                     "unit": "x"})
    print(f"bytes the worker read from the directory in this run: {under_bytes} "
          "(only the warming scan reads any; 0 when --workdir held a warm cache); "
          f"reads answered on the local socket: {local_reads}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "seconds": seconds}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
