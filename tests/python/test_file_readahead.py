"""The file object's read policy (fsspec's cache_type / block_size) against a worker stand-in that
records every range it is asked for: sequential reads coalesce, scattered reads stay exact."""

from __future__ import annotations

import io
import random

import pytest

pytest.importorskip("epochcache._native")

from epochcache import EpochCacheFileSystem  # noqa: E402
from fake_worker import FakeWorker  # noqa: E402

DATA = bytes(random.Random(7).getrandbits(8) for _ in range(1 << 20))
PIECE = 64 << 10


@pytest.fixture()
def worker():
    w = FakeWorker({"/data/f.bin": DATA})
    yield w
    w.close()


@pytest.fixture()
def fs(worker):
    return EpochCacheFileSystem(worker_hosts=[worker.address], piece_size=PIECE,
                                direct_fallback=False, skip_instance_cache=True)


def ranges(worker) -> list[tuple[int, int]]:
    """The byte ranges [first, last] of the reads the worker served, in order."""
    out = []
    for line in worker.requests:
        endpoint, _, rng = line.split(" ", 2)
        if endpoint == "/v1/read":
            first, last = rng.split("=")[1].split("-")
            out.append((int(first), int(last)))
    return sorted(out)


def spans(worker) -> list[tuple[int, int]]:
    """ranges() with pieces of one read (split at piece boundaries by the client) joined."""
    out: list[tuple[int, int]] = []
    for first, last in ranges(worker):
        if out and out[-1][1] + 1 == first:
            out[-1] = (out[-1][0], last)
        else:
            out.append((first, last))
    return out


def test_small_sequential_reads_go_out_as_one_block(worker, fs):
    with fs.open("/data/f.bin", block_size=256 << 10) as f:
        got = b"".join(f.read(4096) for _ in range(64))  # 256 KiB in 4 KiB reads
    assert got == DATA[: 256 << 10]
    # The first read is exact (it may be a header); the second continues it and reads ahead one
    # block of 256 KiB (4 pieces), which serves every later read but the last's tail.
    got_ranges = ranges(worker)
    assert got_ranges[0] == (0, 4095)
    fetched = sum(last - first + 1 for first, last in got_ranges)
    assert fetched <= 4096 + 2 * (256 << 10)
    assert len(got_ranges) <= 1 + 2 * (256 << 10) // PIECE


def test_scattered_reads_fetch_exactly_what_was_asked(worker, fs):
    rng = random.Random(1)
    offsets = rng.sample(range(0, len(DATA) - 1000, 1000), 40)
    with fs.open("/data/f.bin") as f:
        for off in offsets:
            f.seek(off)
            assert f.read(700) == DATA[off:off + 700]
    assert spans(worker) == sorted((off, off + 699) for off in offsets)


def test_readinto_continues_through_the_read_ahead_and_past_it(worker, fs):
    with fs.open("/data/f.bin", block_size=100_000) as f:
        buf = bytearray(30_000)
        seen = bytearray()
        while (n := f.readinto(buf)) > 0:
            seen += buf[:n]
    assert bytes(seen) == DATA
    # Every byte was fetched once: read-ahead blocks follow each other without overlap.
    got = ranges(worker)
    assert sum(last - first + 1 for first, last in got) == len(DATA)


def test_a_large_read_after_a_small_one_goes_straight_into_the_buffer(worker, fs):
    with fs.open("/data/f.bin", block_size=64 << 10) as f:
        f.read(10)
        assert f.read(200_000) == DATA[10:200_010]
    fetched = sum(last - first + 1 for first, last in ranges(worker))
    assert fetched == 200_010


def test_cache_type_none_is_always_exact(worker, fs):
    with fs.open("/data/f.bin", cache_type="none") as f:
        parts = [f.read(1000) for _ in range(5)]
    assert b"".join(parts) == DATA[:5000]
    assert ranges(worker) == [(i * 1000, i * 1000 + 999) for i in range(5)]


def test_fsspec_caches_by_name(worker, fs):
    with fs.open("/data/f.bin", cache_type="readahead", block_size=100_000) as f:
        f.seek(500_000)
        assert f.read(10) == DATA[500_000:500_010]
        assert f.read(10) == DATA[500_010:500_020]
    # fsspec's readahead cache fetched the read plus one block, once.
    assert spans(worker) == [(500_000, 600_009)]
    with fs.open("/data/f.bin", cache_type="all") as f:
        f.seek(123)
        assert f.read(5) == DATA[123:128]


def test_seek_back_into_the_read_ahead_is_served_from_it(worker, fs):
    with fs.open("/data/f.bin", block_size=128 << 10) as f:
        f.read(100)
        f.read(100)  # reads ahead [100, 100 + 128 KiB)
        before = len(ranges(worker))
        f.seek(5000)
        assert f.read(1000) == DATA[5000:6000]
        assert len(ranges(worker)) == before
        assert isinstance(f, io.RawIOBase)


def test_bad_cache_options_are_named(fs):
    with pytest.raises(ValueError, match="unknown cache_type 'nosuch'"):
        fs.open("/data/f.bin", cache_type="nosuch")
    with pytest.raises(ValueError, match="block_size must be a positive"):
        fs.open("/data/f.bin", block_size=-5)
