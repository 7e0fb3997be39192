"""The main job: Ray Data reads a dataset through epochcache for several epochs.

    python -m epochcache.demo [--epochs 3] [--workdir .demo] [--json FILE]

Generates a small Parquet and image dataset (nothing is downloaded), starts one worker over it,
and reads it with ``ray.data.read_parquet`` and ``ray.data.read_images`` through epochcache,
printing per epoch: rows, seconds, MB/s and the bytes the worker fetched from the under store.
Every epoch after the first should fetch 0 bytes: it is served from the local cache.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from epochcache.demo_data import dataset_bytes, make_image_dataset, make_parquet_dataset
from epochcache.local_worker import LocalWorker


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m epochcache.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3, help="epochs per reader (default 3)")
    p.add_argument("--workdir", default=".demo", help="dataset, cache and logs (default .demo)")
    p.add_argument("--json", metavar="FILE", help="also write the table as JSON to FILE")
    p.add_argument("--keep-cache", action="store_true",
                   help="keep the cache of an earlier run (by default it is emptied first, "
                        "so epoch 1 reads from the under store)")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    return args


def _quiet_ray_data() -> None:
    """Keeps the table readable: no per-dataset progress bars or execution logs."""
    import ray

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _run_epoch(reader: str, data_dir: Path, fs) -> int:
    import ray

    if reader == "read_parquet":
        ds = ray.data.read_parquet(str(data_dir), filesystem=fs)
    else:
        ds = ray.data.read_images(str(data_dir), filesystem=fs, mode="RGB")
    rows = 0
    for batch in ds.iter_batches(batch_size=1024, batch_format="numpy"):
        rows += len(next(iter(batch.values())))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    import fsspec
    import ray

    workdir = Path(args.workdir).resolve()
    data = workdir / "data"
    datasets = {
        "read_parquet": make_parquet_dataset(data / "parquet"),
        "read_images": make_image_dataset(data / "images"),
    }
    cache_dir = workdir / "cache"
    if not args.keep_cache and cache_dir.exists():
        import shutil

        shutil.rmtree(cache_dir)
    worker = LocalWorker(cache_dir, under=f"file://{data}", capacity="2GiB")
    worker.start()
    print(f"worker on {worker.address}, cache {cache_dir}, under store file://{data}")
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING, ignore_reinit_error=True)
    _quiet_ray_data()
    rows_out = []
    try:
        fs = fsspec.filesystem("epochcache", target_protocol="file",
                               worker_hosts=[worker.address])
        print(f"\n{'reader':<13} {'epoch':>5} {'rows':>8} {'seconds':>8} {'MB/s':>8} "
              f"{'under-store bytes':>18}")
        for reader, data_dir in datasets.items():
            size_mb = dataset_bytes(data_dir) / 1e6
            for epoch in range(1, args.epochs + 1):
                before = worker.stats()["under_store_bytes"]
                t0 = time.perf_counter()
                rows = _run_epoch(reader, data_dir, fs)
                seconds = time.perf_counter() - t0
                fetched = worker.stats()["under_store_bytes"] - before
                rows_out.append({"reader": reader, "epoch": epoch, "rows": rows,
                                 "seconds": round(seconds, 4), "mb_per_s": round(size_mb / seconds, 2),
                                 "under_store_bytes": fetched})
                print(f"{reader:<13} {epoch:>5} {rows:>8} {seconds:>8.2f} "
                      f"{size_mb / seconds:>8.1f} {fetched:>18,}")
    finally:
        ray.shutdown()
        worker.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(rows_out, indent=2))
        print(f"\nwrote {args.json}")
    warm = [r for r in rows_out if r["epoch"] > 1]
    if warm and all(r["under_store_bytes"] == 0 for r in warm):
        print("\nevery epoch after the first was served from the cache (0 bytes from the under store)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
