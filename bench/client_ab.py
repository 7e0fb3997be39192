"""Native clients side by side on the same cached hits: one worker, interleaved runs.

    EPOCHCACHE_BIN=build/rel/src/cli/epochcache PYTHONPATH=python:devtools \\
    .venv/bin/python bench/client_ab.py --native new=build/rel/src/python/_native*.so \\
        --native old=/path/to/other/_native*.so [--cpp new=build/rel/bench/client_hits] \\
        [--wrk] [--threads 16 --threads 1] [--seconds 5] [--rounds 2] [--length 65536]

One worker serves random ``--length`` ranges of one cached file. Every variant (a ``_native``
module driven by Python threads exactly like bench/http_peer.py's ``native_loop``, or a
``client_hits`` binary driving the C++ client from std::threads, or with ``--wrk`` wrk with
bench/wrk_ranges.lua and as many connections as threads) runs in its own process for
``--seconds``, in turn, the order reversed every round; the requests of all rounds are summed.
Printed: one JSON line per variant and thread count, then each variant's ratio to the first.
Every loop is bounded in time and count; only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import re
import tempfile
import urllib.parse
from pathlib import Path

from epochcache.local_worker import LocalWorker

MiB = 1 << 20
MAX_OPS = 1_000_000
LUA = Path(__file__).resolve().parent / "wrk_ranges.lua"

# Runs in a child process: loads the given _native module file and reads from N threads.
PY_LOOP = r"""
import importlib.util, json, random, sys, threading, time
so, worker, path, size, length, threads, seconds, max_ops = sys.argv[1:]
size, length, threads, max_ops = int(size), int(length), int(threads), int(max_ops)
seconds = float(seconds)
spec = importlib.util.spec_from_file_location("_native", so)
native = importlib.util.module_from_spec(spec)
spec.loader.exec_module(native)
client = native.Client([worker])
client.readinto(path, 0, bytearray(length))
counts = [0] * threads
stop = time.monotonic() + seconds

def run(i):
    rng = random.Random(i)
    buf = bytearray(length)
    n = 0
    while time.monotonic() < stop and n < max_ops:
        client.readinto(path, rng.randrange(0, size - length), buf)
        n += 1
    counts[i] = n

t0 = time.perf_counter()
ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
elapsed = time.perf_counter() - t0
print(json.dumps({"requests": sum(counts), "seconds": elapsed}))
"""


def run_variant(kind: str, target: str, worker: str, path: str, size: int, length: int,
                threads: int, seconds: float) -> dict:
    if kind == "wrk":
        target_url = "/v1/read?path=" + urllib.parse.quote(path, safe="")
        cmd = ["wrk", f"-t{min(2, threads)}", f"-c{threads}", f"-d{int(seconds)}s", "--timeout",
               "10s", "-s", str(LUA), f"http://{worker}{target_url}", "--", target_url,
               str(size), str(length)]
    elif kind == "py":
        cmd = [sys.executable, "-c", PY_LOOP, target, worker, path, str(size), str(length),
               str(threads), str(seconds), str(MAX_OPS)]
    else:
        cmd = [target, "--worker", worker, "--path", path, "--size", str(size), "--length",
               str(length), "--threads", str(threads), "--seconds", str(seconds), "--max-ops",
               str(MAX_OPS)]
    before = os.times()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         timeout=seconds * 4 + 60).stdout
    after = os.times()
    if kind == "wrk":
        match = re.search(r"^WRK_JSON (\{.*\})$", out, re.M)
        if match is None:
            raise RuntimeError("wrk printed no summary:\n" + out)
        row = json.loads(match.group(1))
        row["seconds"] = row["duration_us"] / 1e6
    else:
        row = json.loads(out.strip().splitlines()[-1])
    row["cpu_s"] = (after.children_user - before.children_user
                    + after.children_system - before.children_system)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--native", action="append", default=[], metavar="NAME=SO")
    ap.add_argument("--cpp", action="append", default=[], metavar="NAME=BINARY")
    ap.add_argument("--wrk", action="store_true", help="wrk as one more variant")
    ap.add_argument("--threads", action="append", type=int, default=[])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--length", type=int, default=64 * 1024)
    ap.add_argument("--file-mib", type=int, default=256)
    ap.add_argument("--workdir", type=Path)
    args = ap.parse_args()
    variants = [("py:" + n, "py", so) for n, so in (v.split("=", 1) for v in args.native)]
    variants += [("cpp:" + n, "cpp", b) for n, b in (v.split("=", 1) for v in args.cpp)]
    if not variants:
        ap.error("give at least one --native or --cpp")
    if args.wrk:
        variants.append(("wrk", "wrk", "wrk"))
    thread_counts = args.threads or [16]

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="client-ab-"))
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    src = data / "big.bin"
    size = args.file_mib * MiB
    if not src.exists() or src.stat().st_size != size:
        with open(src, "wb") as f:
            for _ in range(args.file_mib):
                f.write(os.urandom(MiB))
    worker = LocalWorker(workdir / "cache", under=f"file://{data}",
                         capacity=f"{2 * args.file_mib}MiB", log_path=workdir / "worker.log",
                         extra_args=["--metadata-ttl", "3600s"]).start()
    try:
        # Warm the cache with the first variant's reads (every byte once, sequentially).
        kind, target = variants[0][1], variants[0][2]
        warm = (f"import importlib.util,sys\n"
                f"spec=importlib.util.spec_from_file_location('_native', {target!r})\n"
                f"m=importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
                f"c=m.Client([{worker.address!r}]); b=bytearray({16 * MiB})\n"
                f"for o in range(0, {size}, len(b)): c.readinto({str(src)!r}, o, b)\n")
        if kind == "py":
            subprocess.run([sys.executable, "-c", warm], check=True, timeout=600)
        else:
            subprocess.run([target, "--worker", worker.address, "--path", str(src), "--size",
                            str(size), "--length", str(16 * MiB), "--threads", "1", "--seconds",
                            "30", "--max-ops", str(4 * args.file_mib)], check=True, timeout=600)
        results = {}
        for threads in thread_counts:
            totals = {name: {"requests": 0, "seconds": 0.0, "cpu_s": 0.0}
                      for name, _, _ in variants}
            for r in range(args.rounds):
                order = variants if r % 2 == 0 else variants[::-1]
                for name, kind, target in order:
                    row = run_variant(kind, target, worker.address, str(src), size, args.length,
                                      threads, args.seconds)
                    t = totals[name]
                    t["requests"] += row["requests"]
                    t["seconds"] += row["seconds"]
                    t["cpu_s"] += row["cpu_s"]
            for name, t in totals.items():
                rate = t["requests"] / t["seconds"] if t["seconds"] else 0.0
                out = {"threads": threads, "req_per_s": round(rate, 1),
                       "us_per_req": round(1e6 / rate, 1) if rate else None,
                       "client_cpu_us_per_req": round(1e6 * t["cpu_s"] / t["requests"], 1)
                       if t["requests"] else None,
                       "requests": t["requests"]}
                results[(name, threads)] = out
                print(name, json.dumps(out), flush=True)
            base = results[(variants[0][0], threads)]["req_per_s"]
            for name, _, _ in variants[1:]:
                ratio = results[(name, threads)]["req_per_s"] / base if base else 0.0
                print(json.dumps({"measure": f"{name}_over_{variants[0][0]}_{threads}_threads",
                                  "value": round(ratio, 3), "unit": "x"}), flush=True)
    finally:
        worker.stop()


if __name__ == "__main__":
    main()
