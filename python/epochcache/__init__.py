"""epochcache: a distributed read-through cache for remote datasets.

``EpochCacheFileSystem`` is the fsspec filesystem users pass to Ray Data or PyArrow; it is also
registered as the fsspec protocol ``epochcache``, which chains in front of a target's URL like
fsspec's own caches: ``pd.read_parquet("epochcache::s3://bucket/key", storage_options={
"epochcache": {"worker_hosts": [...]}, "s3": {...}})``.
"""

from __future__ import annotations

from epochcache._native import __version__  # the build's version (CMakeLists.txt project())
from epochcache.filesystem import EpochCacheFile, EpochCacheFileSystem

__all__ = ["EpochCacheFile", "EpochCacheFileSystem", "__version__"]
