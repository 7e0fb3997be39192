"""Micro-benchmarks of the read path, each next to its physical ceiling on this machine.

    .venv/bin/python bench/read_micro.py [--file-mib 128] [--seconds 3] [--json FILE]
                                         [--no-single-flight]

1. Cache hits (one worker over a local directory, the file read once to warm the cache):
   - 64 KiB random reads and 16 MiB sequential reads through the native client
     (``epochcache._native.Client.readinto``, the filesystem's own client), 1, 4 and 16
     threads;
   - the same reads through the Python fsspec front end (``EpochCacheFileSystem``:
     ``open().seek/readinto``), 1 thread;
   - the same native reads as local reads: a client that finds the worker through etcd, where
     it advertises its ``--local-socket``, and reads hits from the page files it is handed;
   - ceilings: ``os.pread`` of the same page files in the worker's cache dir (page cache hot),
     and a raw loopback TCP stream (16 MiB ``sendall`` -> ``recv_into``) plus a 64 KiB
     request/response round trip over one loopback connection, both in Python.
2. Single-flight: 64 concurrent cold readers (64 native clients, one thread each) read one file
   through one worker over emulated S3 (MinIO behind toxiproxy, bench/harness.py); the bytes
   fetched from S3 are counted at the relay and by the worker (under_store_bytes). They should
   equal the file size once (plus HTTP headers at the relay).

Every loop is bounded by --seconds and a count; nothing asserts speed.

``--json FILE`` writes every result, and under "rows" the headline ratios as
``{"measure", "value", "unit"}`` objects (also printed), so a script can read them back:
native 64 KiB hit latency ÷ ``pread`` of the page, 16 MiB hit throughput ÷ a raw loopback
stream (run interleaved with it), native 64 KiB hits/s with 1 and 16 threads.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import emulated_s3  # noqa: E402

from epochcache.cluster import EtcdServer  # noqa: E402
from epochcache.local_worker import LocalWorker  # noqa: E402

KiB, MiB = 1 << 10, 1 << 20
SMALL, LARGE = 64 * KiB, 16 * MiB
MAX_OPS = 200_000


def timed_loop(fn, seconds: float, nbytes_per_op: int, threads: int = 1) -> dict:
    """Calls fn(rng, buf) repeatedly from ``threads`` threads for ``seconds``; returns rates."""
    stop = time.monotonic() + seconds
    counts = [0] * threads

    def run(i):
        rng = random.Random(i)
        buf = bytearray(nbytes_per_op)
        n = 0
        while time.monotonic() < stop and n < MAX_OPS:
            fn(rng, buf)
            n += 1
        counts[i] = n

    t0 = time.perf_counter()
    if threads == 1:
        run(0)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, range(threads)))
    elapsed = time.perf_counter() - t0
    ops = sum(counts)
    return {"ops": ops, "seconds": round(elapsed, 3), "ops_per_s": round(ops / elapsed, 1),
            "mb_per_s": round(ops * nbytes_per_op / elapsed / 1e6, 1),
            "us_per_op": round(elapsed * threads / ops * 1e6, 1) if ops else None,
            "threads": threads}


def interleaved(loops: dict, seconds: float, nbytes_per_op: int, threads: int = 1,
                rounds: int = 4) -> dict[str, dict]:
    """Runs each loop in ``rounds`` alternating slices and sums them, so that on a shared,
    noisy machine the loops compared with each other see the same background load."""
    parts: dict[str, list[dict]] = {name: [] for name in loops}
    names = list(loops)
    for i in range(rounds):
        for name in (names if i % 2 == 0 else names[::-1]):  # alternate order: no slot bias
            fn = loops[name]
            parts[name].append(timed_loop(fn, seconds / rounds, nbytes_per_op, threads))
    out = {}
    for name, rs in parts.items():
        ops = sum(r["ops"] for r in rs)
        elapsed = sum(r["seconds"] for r in rs)
        out[name] = {"ops": ops, "seconds": round(elapsed, 3),
                     "ops_per_s": round(ops / elapsed, 1),
                     "mb_per_s": round(ops * nbytes_per_op / elapsed / 1e6, 1),
                     "us_per_op": round(elapsed * threads / ops * 1e6, 1) if ops else None,
                     "threads": threads}
    return out


# ------------------------------------------------------------------ ceilings

def pread_loops(fds: list[int], header: int):
    """Loops that pread the same page files the worker serves (the disk/page-cache ceiling)."""
    data_len = os.fstat(fds[0]).st_size - header

    def small(rng, buf):
        fd = fds[rng.randrange(len(fds))]
        os.preadv(fd, [buf], header + rng.randrange(0, data_len - SMALL))

    def large(rng, buf):  # 16 consecutive pages of 1 MiB, as a 16 MiB range would be
        mv = memoryview(buf)
        pages = LARGE // data_len
        first = rng.randrange(0, max(1, len(fds) - pages))
        for k in range(pages):
            os.preadv(fds[(first + k) % len(fds)], [mv[k * data_len:(k + 1) * data_len]], header)

    return small, large


class LoopbackStream:
    """A raw loopback TCP stream (16 MiB ``sendall`` -> ``recv_into``) kept open, so that its
    loop can run interleaved with the loops it is compared with."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.client = socket.create_connection(self.listener.getsockname())
        self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn, _ = self.listener.accept()
        self.payload = memoryview(os.urandom(LARGE))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            while True:
                self.conn.sendall(self.payload)
        except OSError:
            pass

    def loop(self, rng, buf):
        mv = memoryview(buf)
        got = 0
        while got < LARGE:
            n = self.client.recv_into(mv[got:], LARGE - got, socket.MSG_WAITALL)
            if n == 0:
                raise ConnectionError("server closed")
            got += n

    def close(self):
        self.client.close()
        self.conn.close()
        self.listener.close()
        self.thread.join(5)


def loopback_ceiling(seconds: float) -> dict[str, dict]:
    """A raw TCP stream and a 64 KiB request/response over one loopback connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(2)
    port = listener.getsockname()[1]
    payload = os.urandom(LARGE)
    results = {}

    def serve_stream(conn):
        with conn:
            mv = memoryview(payload)
            try:
                while True:
                    conn.sendall(mv)
            except OSError:
                pass

    def serve_rr(conn):
        with conn:
            chunk = payload[:SMALL]
            try:
                while conn.recv(8):
                    conn.sendall(chunk)
            except OSError:
                pass

    try:
        for name, server in (("tcp_16m_stream", serve_stream), ("tcp_64k_request_response",
                                                                 serve_rr)):
            client = socket.create_connection(("127.0.0.1", port))
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t = threading.Thread(target=server, args=(conn,), daemon=True)
            t.start()
            size = LARGE if server is serve_stream else SMALL

            def recv_exact(rng, buf, client=client, size=size, server=server):
                if server is serve_rr:
                    client.sendall(b"get     ")
                mv = memoryview(buf)
                got = 0
                while got < size:  # MSG_WAITALL: one system call per message, not per segment
                    n = client.recv_into(mv[got:], size - got, socket.MSG_WAITALL)
                    if n == 0:
                        raise ConnectionError("server closed")
                    got += n

            results[name] = timed_loop(recv_exact, seconds, size)
            client.close()
            t.join(5)
    finally:
        listener.close()
    return results


# ------------------------------------------------------------------ the read path

def cache_hits(workdir: Path, file_mib: int, seconds: float) -> dict[str, dict]:
    from epochcache import EpochCacheFileSystem

    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    src = data / "big.bin"
    size = file_mib * MiB
    if not src.exists() or src.stat().st_size != size:
        with open(src, "wb") as f:
            for _ in range(file_mib):
                f.write(os.urandom(MiB))
    cache = workdir / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    results: dict[str, dict] = {}
    # The worker also serves local reads (--local-socket, advertised in etcd): a second client,
    # which finds it through etcd, reads hits from the page files; the first (given the
    # worker's address, so it knows no socket) goes over HTTP. Same worker, same cached pages.
    sock_dir = Path(tempfile.mkdtemp(prefix="ec-bench-"))
    etcd = EtcdServer(workdir / "etcd").start()
    with LocalWorker(cache, under=f"file://{data}", capacity=f"{2 * file_mib}MiB",
                     log_path=workdir / "worker.log",
                     extra_args=["--etcd", etcd.endpoint, "--cluster", "bench",
                                 "--local-socket", str(sock_dir / "w.sock")]) as worker:
        fs = EpochCacheFileSystem(target_protocol="file", worker_hosts=[worker.address],
                                  skip_instance_cache=True)
        # The filesystem's own native client (same piece size, parallelism and timeouts), so
        # native vs fsspec differ only by the Python front end.
        client = fs._client
        local_fs = EpochCacheFileSystem(target_protocol="file", etcd_hosts=etcd.endpoint,
                                        cluster="bench", skip_instance_cache=True)
        local_client = local_fs._client
        uri = str(src)  # the native client takes under-store URIs: a local path for file://
        buf = bytearray(LARGE)
        for off in range(0, size, LARGE):  # warm the cache
            client.readinto(uri, off, memoryview(buf)[:min(LARGE, size - off)])
        before = worker.stats()["under_store_bytes"]

        def native_small(rng, b):
            client.readinto(uri, rng.randrange(0, size - SMALL), b)

        def native_large(rng, b):
            client.readinto(uri, rng.randrange(0, size // LARGE) * LARGE, b)

        def local_small(rng, b):
            local_client.readinto(uri, rng.randrange(0, size - SMALL), b)

        def local_large(rng, b):
            local_client.readinto(uri, rng.randrange(0, size // LARGE) * LARGE, b)

        f = fs.open(str(src), "rb")

        def fsspec_small(rng, b):
            f.seek(rng.randrange(0, size - SMALL))
            f.readinto(b)

        def fsspec_large(rng, b):
            f.seek(rng.randrange(0, size // LARGE) * LARGE)
            f.readinto(b)

        pages = sorted(p for p in (cache / "pages").rglob("*") if p.is_file()
                       and not p.name.endswith(".tmp"))
        fds = [os.open(p, os.O_RDONLY) for p in pages]
        stream = LoopbackStream()
        try:
            # 1 MiB pages: the header is what precedes the last MiB of a full page file.
            pread_small, pread_large = pread_loops(fds, os.fstat(fds[0]).st_size - MiB)
            # Loops compared with each other run interleaved.
            results.update(interleaved({"native_64k_random": native_small,
                                        "local_64k_random": local_small,
                                        "fsspec_64k_random": fsspec_small,
                                        "pread_64k_random": pread_small}, 4 * seconds, SMALL))
            results.update(interleaved({"native_16m_sequential": native_large,
                                        "local_16m_sequential": local_large,
                                        "fsspec_16m_sequential": fsspec_large,
                                        "pread_16m_sequential": pread_large,
                                        "tcp_16m_stream_interleaved": stream.loop},
                                       5 * seconds, LARGE))
        finally:
            stream.close()
            for fd in fds:
                os.close(fd)
        results["native_64k_random_4threads"] = timed_loop(native_small, seconds, SMALL, 4)
        results["native_64k_random_16threads"] = timed_loop(native_small, seconds, SMALL, 16)
        results["native_16m_sequential_4threads"] = timed_loop(native_large, seconds, LARGE, 4)
        results["local_64k_random_16threads"] = timed_loop(local_small, seconds, SMALL, 16)
        f.close()
        stats = worker.stats()
        results["_hits_only"] = {"under_store_bytes_during_hits":
                                 stats["under_store_bytes"] - before,
                                 "local_reads": stats["local_reads"],
                                 "local_client": local_fs.client_stats()}
    etcd.stop()
    shutil.rmtree(sock_dir, ignore_errors=True)
    return results


def single_flight(workdir: Path, readers: int, file_mib: int, latency_ms: float,
                  bandwidth_mbps: float) -> dict:
    from epochcache._native import Client

    shutil.rmtree(workdir / "minio", ignore_errors=True)
    size = file_mib * MiB
    with emulated_s3(workdir, latency_ms, bandwidth_mbps) as s3:
        s3.minio.client().create_bucket(Bucket="bench")
        s3.minio.client().put_object(Bucket="bench", Key="one.bin", Body=os.urandom(size))
        cache = workdir / "sf-cache"
        shutil.rmtree(cache, ignore_errors=True)
        with LocalWorker(cache, under="s3://bench", capacity=f"{2 * file_mib}MiB",
                         extra_args=s3.worker_args(), env=s3.minio.worker_env(),
                         log_path=workdir / "sf-worker.log") as worker:
            clients = [Client([worker.address]) for _ in range(readers)]
            fetched0 = s3.bytes_fetched()
            barrier = threading.Barrier(readers)

            def read_all(i):
                buf = bytearray(4 * MiB)
                barrier.wait(30)
                total = 0
                for off in range(0, size, len(buf)):
                    total += clients[i].readinto("s3://bench/one.bin", off, buf)
                return total

            t0 = time.perf_counter()
            with ThreadPoolExecutor(readers) as pool:
                totals = list(pool.map(read_all, range(readers)))
            elapsed = time.perf_counter() - t0
            stats = worker.stats()
            return {"readers": readers, "file_bytes": size,
                    "bytes_read_by_readers": sum(totals),
                    "worker_under_store_bytes": stats["under_store_bytes"],
                    "s3_response_bytes_at_relay": s3.bytes_fetched() - fetched0,
                    "fetch_ratio": round(stats["under_store_bytes"] / size, 4),
                    "seconds": round(elapsed, 3), "latency_ms": latency_ms,
                    "bandwidth_mbps": bandwidth_mbps}


def headline_rows(h: dict[str, dict]) -> list[dict]:
    """The issue's measures, each a {"measure", "value", "unit"} row (missing loops skipped)."""
    rows = []

    def add(measure, value, unit):
        if value is not None:
            rows.append({"measure": measure, "value": value, "unit": unit})

    def get(name, key):
        r = h.get(name)
        return r.get(key) if r and r.get("ops") else None

    native_us, pread_us = get("native_64k_random", "us_per_op"), get("pread_64k_random",
                                                                     "us_per_op")
    add("native_64k_hit_latency_1thread", native_us, "us")
    add("pread_64k_latency", pread_us, "us")
    if native_us and pread_us:
        add("native_64k_hit_latency_1thread_over_pread", round(native_us / pread_us, 2), "ratio")
    native_mb = get("native_16m_sequential", "mb_per_s")
    stream_mb = get("tcp_16m_stream_interleaved", "mb_per_s")
    add("native_16m_hit_throughput", native_mb, "MB/s")
    add("tcp_16m_loopback_stream_throughput", stream_mb, "MB/s")
    if native_mb and stream_mb:
        add("native_16m_hit_throughput_over_loopback_stream", round(native_mb / stream_mb, 3),
            "ratio")
    add("native_64k_hits_per_s_1thread", get("native_64k_random", "ops_per_s"), "1/s")
    add("native_64k_hits_per_s_16threads", get("native_64k_random_16threads", "ops_per_s"),
        "1/s")
    # The same hits through the worker's local socket (page files read by the client).
    local_us = get("local_64k_random", "us_per_op")
    add("local_64k_hit_latency_1thread", local_us, "us")
    if local_us and pread_us:
        add("local_64k_hit_latency_1thread_over_pread", round(local_us / pread_us, 2), "ratio")
    local_mb = get("local_16m_sequential", "mb_per_s")
    add("local_16m_hit_throughput", local_mb, "MB/s")
    if local_mb and stream_mb:
        add("local_16m_hit_throughput_over_loopback_stream", round(local_mb / stream_mb, 3),
            "ratio")
    add("local_64k_hits_per_s_16threads", get("local_64k_random_16threads", "ops_per_s"), "1/s")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench/read_micro.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--file-mib", type=int, default=128, help="size of the cached file (128)")
    p.add_argument("--seconds", type=float, default=3.0, help="duration of each loop (3)")
    p.add_argument("--readers", type=int, default=64, help="concurrent cold readers (64)")
    p.add_argument("--cold-file-mib", type=int, default=32, help="file they read (32)")
    p.add_argument("--latency-ms", type=float, default=25.0)
    p.add_argument("--bandwidth-mbps", type=float, default=88.0)
    p.add_argument("--workdir", help="scratch dir (default: a temp dir, removed at exit)")
    p.add_argument("--json", metavar="FILE")
    p.add_argument("--no-single-flight", action="store_true",
                   help="skip the single-flight part (needs MinIO and toxiproxy)")
    args = p.parse_args(argv)
    repo = Path(__file__).resolve().parents[1]
    os.environ.setdefault("EPOCHCACHE_TOOLS", str(repo / "tools" / "bin"))
    own = args.workdir is None
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="ec-micro-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        results = {"cpus": os.cpu_count()}
        results["loopback"] = loopback_ceiling(args.seconds)
        results["hits"] = cache_hits(workdir, args.file_mib, args.seconds)
        if not args.no_single_flight:
            results["single_flight"] = single_flight(workdir, args.readers,
                                                     args.cold_file_mib, args.latency_ms,
                                                     args.bandwidth_mbps)
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    print("| measurement | threads | ops/s | MB/s | us/op |")
    print("|---|---:|---:|---:|---:|")
    for group in ("loopback", "hits"):
        for name, r in results[group].items():
            if name.startswith("_"):
                continue
            print(f"| {name} | {r['threads']} | {r['ops_per_s']:.0f} | {r['mb_per_s']:.0f} | "
                  f"{r['us_per_op']} |")
    h = results["hits"]
    for a, b in (("native_64k_random", "pread_64k_random"),
                 ("native_16m_sequential", "pread_16m_sequential"),
                 ("native_16m_sequential", "tcp_16m_stream"),
                 ("native_64k_random", "tcp_64k_request_response"),
                 ("fsspec_64k_random", "native_64k_random"),
                 ("fsspec_16m_sequential", "native_16m_sequential")):
        x = h.get(a)
        y = h.get(b) or results["loopback"].get(b)
        if x and y:
            print(f"{a} / {b}: {x['mb_per_s'] / y['mb_per_s']:.2f}x")
    results["rows"] = headline_rows(h)
    for row in results["rows"]:
        print(f"{row['measure']}: {row['value']} {row['unit']}")
    sf = results.get("single_flight")
    if sf:
        print(f"single-flight: {sf['readers']} cold readers of a "
              f"{sf['file_bytes'] / MiB:.0f} MiB file: the worker fetched "
              f"{sf['worker_under_store_bytes']} bytes from S3 "
              f"({sf['fetch_ratio']}x the file), the relay saw "
              f"{sf['s3_response_bytes_at_relay']} response bytes; {sf['seconds']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
