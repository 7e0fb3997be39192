"""The worker next to a good HTTP file server: the same cached bytes, the same load generator.

    EPOCHCACHE_BIN=build/rel/src/cli/epochcache PYTHONPATH=python:devtools \\
        .venv/bin/python bench/http_peer.py [--file-mib 256] [--seconds 5] [--rounds 2]
        [--baseline-bin OTHER/epochcache] [--json FILE]

One worker over a local directory holding one file (read once through the worker to warm its
cache) and nginx (Debian's nginx-light: 2 worker processes, sendfile, tcp_nodelay, no access
log) serving the same file from the page cache, both on 127.0.0.1. ``wrk`` (-t2, keep-alive)
with bench/wrk_ranges.lua sends random ``Range: bytes=`` requests of 4 KiB / 64 KiB / 1 MiB
inside the file over 16 connections, and 4 KiB over 1 connection. The servers take turns
(``--rounds`` slices each, alternating which goes first) so that each ratio comes from one
run on a shared machine. ``--baseline-bin`` adds a second worker (e.g. main's build) to the
same rotation, so before/after are measured side by side too. Each server's CPU time (utime +
stime, nginx's workers included) over its slices gives requests per CPU-second next to
requests per second: on a machine shared with other work, req/s is partly the scheduler's
share, which grows with a server's runnable threads.

Then the native client (``epochcache._native.Client.readinto``, 16 Python threads, 64 KiB
random hits; it releases the GIL) takes turns with ``wrk`` 16 connections 64 KiB on the same
worker: their ratio is the client's own cost. Last, "hits never wait for misses": 64 KiB hit
latency on a worker over a slow HTTP origin, idle and while 8 slow misses are in flight.

Every loop is bounded by --seconds and a count; nothing asserts speed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from epochcache._procs import free_port, stop_process
from epochcache.local_worker import LocalWorker

KiB, MiB = 1 << 10, 1 << 20
LUA = Path(__file__).resolve().parent / "wrk_ranges.lua"
MAX_OPS = 2_000_000
SIZES = {"4k": 4 * KiB, "64k": 64 * KiB, "1m": MiB}


# ------------------------------------------------------------------ servers

NGINX_CONF = """\
{user}daemon off;
master_process on;
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    sendfile on;
    tcp_nodelay on;
    tcp_nopush off;
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


class Nginx:
    """nginx serving ``root`` on a free loopback port, config and logs in a temp dir."""

    def __init__(self, root: Path, workdir: Path) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="nginx-", dir=workdir))
        self.port = free_port()
        conf = self.tmp / "nginx.conf"
        # Started as root, nginx's workers would run as nobody, who cannot read a private temp
        # dir: keep them as the user who runs the bench.
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf.write_text(NGINX_CONF.format(user=user, tmp=self.tmp, port=self.port, root=root))
        self.proc = subprocess.Popen(["nginx", "-p", str(self.tmp), "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited: " + (self.tmp / "error.log").read_text())
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("HEAD", "/")
                conn.getresponse().read()
                conn.close()
                return
            except OSError:
                time.sleep(0.05)
        stop_process(self.proc)
        raise RuntimeError("nginx did not answer within 10 s")

    def stop(self) -> None:
        stop_process(self.proc)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) and of its child processes
    that are still running (nginx's workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def get_range(port: int, target: str, first: int, length: int) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", target, headers={"Range": f"bytes={first}-{first + length - 1}"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# ------------------------------------------------------------------ load generators

def run_wrk(port: int, target: str, size: int, length: int, conns: int, seconds: int,
            pid: int | None = None) -> dict:
    threads = min(2, conns)
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s",
           "-s", str(LUA), f"http://127.0.0.1:{port}{target}", "--", target, str(size),
           str(length)]
    cpu0 = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True)
    cpu1 = cpu_seconds(pid) if pid else 0.0
    match = re.search(r"^WRK_JSON (\{.*\})$", out.stdout, re.M)
    if match is None:
        raise RuntimeError("wrk printed no summary:\n" + out.stdout + out.stderr)
    row = json.loads(match.group(1))
    row["req_per_s"] = row["requests"] / (row["duration_us"] / 1e6)
    row["cpu_s"] = cpu1 - cpu0
    return row


def native_loop(client, uri: str, size: int, length: int, threads: int, seconds: float) -> dict:
    stop = time.monotonic() + seconds
    counts = [0] * threads

    def run(i: int) -> None:
        rng = random.Random(i)
        buf = bytearray(length)
        n = 0
        while time.monotonic() < stop and n < MAX_OPS:
            client.readinto(uri, rng.randrange(0, size - length), buf)
            n += 1
        counts[i] = n

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, range(threads)))
    elapsed = time.perf_counter() - t0
    return {"requests": sum(counts), "req_per_s": sum(counts) / elapsed, "errors": 0}


def rotate(runs: dict, rounds: int) -> dict[str, dict]:
    """Runs each named callable ``rounds`` times, alternating the order; sums the slices."""
    totals = {name: {"requests": 0, "seconds": 0.0, "errors": 0, "cpu": 0.0, "p50_us": [],
                     "p99_us": []} for name in runs}
    names = list(runs)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            row = runs[name]()
            t = totals[name]
            t["requests"] += row["requests"]
            t["seconds"] += row["requests"] / row["req_per_s"] if row["req_per_s"] else 0
            t["errors"] += row["errors"]
            t["cpu"] += row.get("cpu_s", 0.0)
            for key in ("p50_us", "p99_us"):
                if key in row:
                    t[key].append(row[key])
    out = {}
    for name, t in totals.items():
        out[name] = {"req_per_s": t["requests"] / t["seconds"] if t["seconds"] else 0.0,
                     "requests": t["requests"], "errors": t["errors"],
                     "req_per_cpu_s": t["requests"] / t["cpu"] if t["cpu"] else 0.0}
        if t["p50_us"]:
            out[name]["p50_us"] = statistics.median(t["p50_us"])
            out[name]["p99_us"] = max(t["p99_us"])
    return out


# ------------------------------------------------------------------ hits next to slow misses

class _SlowOrigin(ThreadingHTTPServer):
    """Files under /data on 127.0.0.1; a GET of /data/slow* waits (up to ``delay``) first."""

    daemon_threads = True

    def __init__(self, files: dict[str, bytes], delay: float) -> None:
        self.files, self.delay = files, delay
        self.slow_in_flight = 0
        self.lock = threading.Lock()
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), _OriginHandler)


class _OriginHandler(BaseHTTPRequestHandler):
    server: _SlowOrigin

    def log_message(self, *args) -> None:
        pass

    def _serve(self, with_body: bool) -> None:
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        if with_body and "/slow" in self.path:
            with self.server.lock:
                self.server.slow_in_flight += 1
            try:
                self.server.release.wait(self.server.delay)
            finally:
                with self.server.lock:
                    self.server.slow_in_flight -= 1
        status, payload, extra = 200, body, {}
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            first, _, last = rng[6:].partition("-")
            first, last = int(first), min(int(last or len(body) - 1), len(body) - 1)
            payload = body[first:last + 1]
            status, extra = 206, {"Content-Range": f"bytes {first}-{last}/{len(body)}"}
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("ETag", '"v1"')
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        if with_body:
            self.wfile.write(payload)

    do_HEAD = lambda self: self._serve(False)  # noqa: E731, N815
    do_GET = lambda self: self._serve(True)  # noqa: E731, N815


def hit_latencies(port: int, target: str, size: int, count: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    rng = random.Random(1)
    out = []
    try:
        for _ in range(count):
            first = rng.randrange(0, size - 64 * KiB)
            t0 = time.perf_counter()
            conn.request("GET", target, headers={"Range": f"bytes={first}-{first + 64 * KiB - 1}"})
            resp = conn.getresponse()
            body = resp.read()
            out.append(time.perf_counter() - t0)
            if resp.status != 206 or len(body) != 64 * KiB:
                raise RuntimeError(f"hit answered {resp.status}, {len(body)} bytes")
    finally:
        conn.close()
    return out


def hits_next_to_slow_misses(workdir: Path, count: int = 200) -> dict:
    files = {"/data/hit.bin": os.urandom(8 * MiB)}
    for i in range(8):
        files[f"/data/slow{i}.bin"] = os.urandom(MiB)
    origin = _SlowOrigin(files, delay=30.0)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    root = f"http://127.0.0.1:{origin.server_address[1]}/data"
    quote = lambda p: "/v1/read?path=" + urllib.parse.quote(p, safe="")  # noqa: E731
    worker = LocalWorker(workdir / "slow-cache", under=root, log_path=workdir / "slow.log",
                         extra_args=["--metadata-ttl", "600s"]).start()
    readers: list[threading.Thread] = []
    try:
        hit = quote(f"{root}/hit.bin")
        status, _ = get_range(worker.port, hit, 0, 8 * MiB)  # warm
        assert status == 206, status
        idle = hit_latencies(worker.port, hit, 8 * MiB, count)

        def slow(i: int) -> None:
            try:
                get_range(worker.port, quote(f"{root}/slow{i}.bin"), 0, MiB)
            except OSError:
                pass

        readers = [threading.Thread(target=slow, args=(i,), daemon=True) for i in range(8)]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + 10
        while origin.slow_in_flight < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        in_flight_before = origin.slow_in_flight
        busy = hit_latencies(worker.port, hit, 8 * MiB, count)
        in_flight_after = origin.slow_in_flight
    finally:
        origin.release.set()
        for reader in readers:
            reader.join(30)
        worker.stop()
        origin.shutdown()
    return {"idle_median_us": statistics.median(idle) * 1e6,
            "busy_median_us": statistics.median(busy) * 1e6,
            "busy_max_us": max(busy) * 1e6,
            "slow_in_flight": min(in_flight_before, in_flight_after)}


# ------------------------------------------------------------------ main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--file-mib", type=int, default=256)
    ap.add_argument("--seconds", type=int, default=5, help="length of one wrk slice")
    ap.add_argument("--rounds", type=int, default=2, help="slices per server and case")
    ap.add_argument("--baseline-bin", help="a second worker binary to measure alongside")
    ap.add_argument("--workdir", type=Path, help="kept (default: a temp dir, removed)")
    ap.add_argument("--json", type=Path, help="write rows of measure/value/unit here")
    args = ap.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="http-peer-"))
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    src = data / "big.bin"
    size = args.file_mib * MiB
    if not src.exists() or src.stat().st_size != size:
        with open(src, "wb") as f:
            for _ in range(args.file_mib):
                f.write(os.urandom(MiB))
    with open(src, "rb") as f:  # into the page cache, for nginx
        while f.read(16 * MiB):
            pass

    from epochcache._native import Client

    binaries = {"worker": os.environ.get("EPOCHCACHE_BIN")}
    if args.baseline_bin:
        binaries["baseline"] = args.baseline_bin
    workers: dict[str, LocalWorker] = {}
    nginx = None
    rows: list[dict] = []
    results: dict = {"file_mib": args.file_mib, "seconds": args.seconds, "rounds": args.rounds}
    try:
        for name, binary in binaries.items():
            if binary:
                os.environ["EPOCHCACHE_BIN"] = binary
            # A long metadata TTL keeps every request a hit for the whole run (with the default
            # 10 s a status expires mid-run and one request in many re-stats the file).
            workers[name] = LocalWorker(workdir / f"cache-{name}", under=f"file://{data}",
                                        capacity=f"{2 * args.file_mib}MiB",
                                        log_path=workdir / f"{name}.log",
                                        extra_args=["--metadata-ttl", "3600s"]).start()
        if binaries["worker"]:
            os.environ["EPOCHCACHE_BIN"] = binaries["worker"]
        nginx = Nginx(data, workdir)
        target = "/v1/read?path=" + urllib.parse.quote(str(src), safe="")
        targets = {name: (w.port, target) for name, w in workers.items()}
        targets["nginx"] = (nginx.port, "/big.bin")
        pids = {name: w.pid for name, w in workers.items()}
        pids["nginx"] = nginx.proc.pid
        clients = {name: Client([w.address]) for name, w in workers.items()}

        buf = bytearray(16 * MiB)
        for name, client in clients.items():  # warm each worker's cache
            for off in range(0, size, len(buf)):
                client.readinto(str(src), off, memoryview(buf)[:min(len(buf), size - off)])
        expect = src.read_bytes()[12345:12345 + 4096]
        for name, (port, tgt) in targets.items():
            status, body = get_range(port, tgt, 12345, 4096)
            if status != 206 or body != expect:
                raise RuntimeError(f"{name} answered {status} with other bytes")

        cases = [("16c_4k", 16, "4k"), ("16c_64k", 16, "64k"), ("16c_1m", 16, "1m"),
                 ("1c_4k", 1, "4k")]
        for case, conns, label in cases:
            length = SIZES[label]
            runs = {name: (lambda p=port, t=tgt, n=name: run_wrk(p, t, size, length, conns,
                                                                 args.seconds, pids[n]))
                    for name, (port, tgt) in targets.items()}
            results[case] = rotate(runs, args.rounds)
            print(case, json.dumps(results[case]), flush=True)

        port, tgt = targets["worker"]
        results["client_64k_16"] = rotate({
            "native_16_threads": lambda: native_loop(clients["worker"], str(src), size, 64 * KiB,
                                                     16, args.seconds),
            "wrk_16": lambda: run_wrk(port, tgt, size, 64 * KiB, 16, args.seconds),
        }, args.rounds)
        print("client_64k_16", json.dumps(results["client_64k_16"]), flush=True)
    finally:
        if nginx is not None:
            nginx.stop()
        for w in workers.values():
            w.stop()

    results["slow_misses"] = hits_next_to_slow_misses(workdir)
    print("slow_misses", json.dumps(results["slow_misses"]), flush=True)

    def ratio(a: float, b: float) -> float:
        return round(a / b, 3) if b else 0.0

    for name in workers:
        for case, _, _ in cases:
            r = results[case]
            rows.append({"measure": f"{name}_over_nginx_req_per_s_{case}",
                         "value": ratio(r[name]["req_per_s"], r["nginx"]["req_per_s"]),
                         "unit": "x"})
            rows.append({"measure": f"{name}_over_nginx_req_per_cpu_s_{case}",
                         "value": ratio(r[name]["req_per_cpu_s"], r["nginx"]["req_per_cpu_s"]),
                         "unit": "x"})
    c = results["client_64k_16"]
    rows.append({"measure": "native_16_threads_over_wrk_16_64k",
                 "value": ratio(c["native_16_threads"]["req_per_s"], c["wrk_16"]["req_per_s"]),
                 "unit": "x"})
    s = results["slow_misses"]
    rows.append({"measure": "hit_latency_8_slow_misses_over_idle",
                 "value": ratio(s["busy_median_us"], s["idle_median_us"]), "unit": "x"})

    for key, label in (("req_per_s", "req/s"), ("req_per_cpu_s", "req/cpu-s")):
        print(f"\n{'case':10} " + " ".join(f"{n + ' ' + label:>18}" for n in targets)
              + " " + " ".join(f"{n + '/nginx':>16}" for n in workers))
        for case, _, _ in cases:
            r = results[case]
            print(f"{case:10} " + " ".join(f"{r[n][key]:18.0f}" for n in targets) + " "
                  + " ".join(f"{ratio(r[n][key], r['nginx'][key]):16.2f}" for n in workers))
    print(f"native 16 threads {c['native_16_threads']['req_per_s']:.0f} req/s, wrk 16 conns "
          f"{c['wrk_16']['req_per_s']:.0f} req/s (64 KiB): "
          f"{ratio(c['native_16_threads']['req_per_s'], c['wrk_16']['req_per_s']):.2f}x")
    print(f"64 KiB hit: idle {s['idle_median_us']:.0f} us, with {s['slow_in_flight']} slow misses "
          f"in flight {s['busy_median_us']:.0f} us (max {s['busy_max_us']:.0f} us): "
          f"{ratio(s['busy_median_us'], s['idle_median_us']):.2f}x")
    errors = sum(r[n]["errors"] for case, _, _ in cases for r in [results[case]] for n in r)
    if errors:
        print(f"WARNING: {errors} wrk errors (socket errors or non-2xx answers)")
    for row in rows:
        print(json.dumps(row))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "results": results}, indent=1))
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
