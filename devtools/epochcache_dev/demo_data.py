"""Small synthetic datasets for the demo, tests and benchmarks: nothing is downloaded."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np


def make_parquet_dataset(
    root: str | Path, files: int = 8, rows_per_file: int = 20_000, columns: int = 8, seed: int = 0
) -> Path:
    """Writes ``files`` Parquet files of ``rows_per_file`` rows under ``root`` (kept if present)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(files):
        path = root / f"part-{i:04d}.parquet"
        if path.exists():
            continue
        table = pa.table(
            {
                "id": np.arange(i * rows_per_file, (i + 1) * rows_per_file, dtype=np.int64),
                **{f"f{c}": rng.standard_normal(rows_per_file) for c in range(columns - 2)},
                "label": rng.integers(0, 10, rows_per_file, dtype=np.int32),
            }
        )
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp, row_group_size=max(1, rows_per_file // 4))
        tmp.rename(path)
    return root


def make_image_dataset(root: str | Path, count: int = 64, size: int = 64, seed: int = 0) -> Path:
    """Writes ``count`` small images (alternately PNG and JPEG) under ``root`` (kept if present)."""
    from PIL import Image

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        ext = "png" if i % 2 == 0 else "jpg"
        path = root / f"img-{i:05d}.{ext}"
        if path.exists():
            continue
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG" if ext == "png" else "JPEG", quality=90)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(buf.getvalue())
        tmp.rename(path)
    return root


def dataset_bytes(root: str | Path) -> int:
    """Total size of the files below ``root``."""
    return sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())
