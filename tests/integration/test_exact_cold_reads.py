"""Exact cold reads against a real MinIO and a real worker: reading 2 of 20 Parquet columns cold
through the fsspec filesystem fetches from S3 about what pyarrow reads directly (not whole 1 MiB
pages), and a later full read fetches the rest exactly once."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.fs
import pyarrow.parquet as pq
import pytest

from epochcache import EpochCacheFileSystem
from epochcache.local_worker import LocalWorker

BUCKET = "exact"
KEY = "wide/w.parquet"
COLUMNS = ["c03", "c11"]


class CountingFile(io.RawIOBase):
    """A file-like view of a pyarrow input file that counts the bytes read through it."""

    def __init__(self, inner) -> None:
        super().__init__()
        self._inner = inner
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._inner.seek(pos, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read() if n is None or n < 0 else self._inner.read(n)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@pytest.fixture(scope="module")
def wide_parquet(minio, tmp_path_factory) -> tuple[bytes, pa.Table]:
    """20 float64 columns of 200,000 random rows, one row group, plain encoding: ~1.6 MB a
    column, so a column chunk spans a couple of 1 MiB pages and starts anywhere in one."""
    rng = np.random.default_rng(15)
    table = pa.table({f"c{i:02d}": rng.random(200_000) for i in range(20)})
    path = tmp_path_factory.mktemp("wide") / "w.parquet"
    pq.write_table(table, path, compression="none", use_dictionary=False,
                   row_group_size=200_000)
    body = path.read_bytes()
    client = minio.client()
    client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    return body, table


@pytest.fixture()
def s3_worker(minio, wide_parquet, tmp_path):
    w = LocalWorker(tmp_path / "cache", under=f"s3://{BUCKET}",
                    extra_args=["--s3-endpoint", minio.endpoint, "--metadata-ttl", "60s"],
                    env=minio.worker_env()).start()
    yield w
    w.kill()


def _direct_column_read(minio) -> tuple[int, pa.Table]:
    """Reads COLUMNS with pyarrow straight from MinIO, counting the bytes it read."""
    s3 = pyarrow.fs.S3FileSystem(endpoint_override=minio.endpoint, scheme="http",
                                 access_key=minio.access_key, secret_key=minio.secret_key,
                                 region="us-east-1")
    with s3.open_input_file(f"{BUCKET}/{KEY}") as raw:
        counting = CountingFile(raw)
        table = pq.read_table(counting, columns=COLUMNS)
    return counting.bytes_read, table


def test_cold_column_subset_fetches_what_pyarrow_reads_and_full_read_fills_the_rest_once(
    minio, wide_parquet, s3_worker
):
    body, table = wide_parquet
    direct_bytes, direct_table = _direct_column_read(minio)
    # The column chunks and the footer, as the Parquet metadata gives them.
    meta = pq.ParquetFile(io.BytesIO(body)).metadata
    chunk_bytes = sum(meta.row_group(0).column(i).total_compressed_size
                      for i in range(meta.num_columns)
                      if meta.row_group(0).column(i).path_in_schema in COLUMNS)
    assert direct_bytes >= chunk_bytes

    fs = EpochCacheFileSystem(target_protocol="s3", target_options=minio.s3fs_options(),
                              worker_hosts=[s3_worker.address], skip_instance_cache=True)
    cold = pq.read_table(f"s3://{BUCKET}/{KEY}", columns=COLUMNS, filesystem=fs)
    assert cold.equals(direct_table)
    assert cold.equals(table.select(COLUMNS))

    stats = s3_worker.stats()
    fetched = stats["under_store_bytes"]
    assert stats["bytes_served"] > 0  # answered by the worker, not by a client fallback
    ratio = fetched / direct_bytes
    print(f"file {len(body)} B; pyarrow direct read {direct_bytes} B (column chunks "
          f"{chunk_bytes} B); worker fetched {fetched} B cold = {ratio:.3f}x")
    assert fetched <= 1.3 * direct_bytes
    # Whole 1 MiB pages would have fetched at least the pages the two columns touch.
    assert fetched < len(body) / 4

    # Every column now: the rest of the file is fetched, every byte exactly once in all.
    full = pq.read_table(f"s3://{BUCKET}/{KEY}", filesystem=fs)
    assert full.equals(table)
    assert s3_worker.stats()["under_store_bytes"] == len(body)
    # And once more: all hits.
    again = pq.read_table(f"s3://{BUCKET}/{KEY}", filesystem=fs)
    assert again.equals(table)
    assert s3_worker.stats()["under_store_bytes"] == len(body)
