"""epochcache.ray on a real multi-node Ray cluster on this machine (ray.cluster_utils.Cluster,
each node its own raylet), real worker processes, a real etcd and MinIO: deploy, read with Ray
Data through .filesystem(), a killed worker restarted, a joining node, a missing cache dir,
connect() from another driver, and shutdown leaving no process behind."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from epochcache_dev.demo_data import make_parquet_dataset
from epochcache_dev.local_servers import upload_tree

pytestmark = pytest.mark.timeout(300)

NAME = "ectest"
BUCKET = "raydeploy"
NODE = dict(num_cpus=1, object_store_memory=80 << 20)


def _wait(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(interval)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")  # exited, only waiting to be reaped by whoever inherited it


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, minio):
    root = make_parquet_dataset(tmp_path_factory.mktemp("raydeploy") / "parquet", files=4,
                                rows_per_file=5_000, columns=6)
    client = minio.client()
    client.create_bucket(Bucket=BUCKET)
    upload_tree(client, BUCKET, root, prefix="parquet")
    expected = pd.concat(pd.read_parquet(p) for p in sorted(root.glob("*.parquet")))
    return expected.sort_values("id").reset_index(drop=True)


# The acceptance: three nodes, then a fourth joins.
INITIAL_NODES = 3


@pytest.fixture(scope="module")
def ray_cluster():
    """INITIAL_NODES Ray nodes on this machine, each its own raylet; the session's own Ray (if
    any) is restored afterwards."""
    import ray
    from ray.cluster_utils import Cluster

    had_session = ray.is_initialized()
    ray.shutdown()
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    cluster = Cluster(initialize_head=True,
                      head_node_args=dict(NODE, include_dashboard=False))
    for _ in range(INITIAL_NODES - 1):
        cluster.add_node(**NODE)
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()
    if had_session:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, ignore_reinit_error=True)


@pytest.fixture(scope="module")
def caches(tmp_path_factory, ray_cluster):
    """A cache dir per node that exists now ({node_id} in the template keeps them apart)."""
    import ray

    base = tmp_path_factory.mktemp("caches")
    for n in ray.nodes():
        (base / n["NodeID"]).mkdir()
    return base


@pytest.fixture(scope="module")
def deployment(ray_cluster, caches, minio, dataset, tmp_path_factory):
    import epochcache.ray

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("epochcache.ray").addHandler(handler)
    try:
        dep = epochcache.ray.deploy(
            under=[f"s3://{BUCKET}"], cache_dirs=[str(caches / "{node_id}")],
            capacity="256MiB", name=NAME, port=0, host="127.0.0.1", env=minio.worker_env(),
            worker_args=["--s3-endpoint", minio.endpoint], lease_ttl="3s", poll_interval=1.0,
            run_dir=str(tmp_path_factory.mktemp("run")), backoff=0.2, timeout=90)
    finally:
        logging.getLogger("epochcache.ray").removeHandler(handler)
    dep.deploy_log = [r.getMessage() for r in records]
    yield dep
    try:
        dep.shutdown()
    except Exception:  # noqa: BLE001 - the last test shuts it down itself
        pass


def _fs(dep):
    return dep.filesystem(target_protocol="s3", direct_fallback=False, skip_instance_cache=True,
                          breaker_backoff=0.2, breaker_max_backoff=1.0)


def _read(fs) -> pd.DataFrame:
    import ray

    ds = ray.data.read_parquet(f"s3://{BUCKET}/parquet", filesystem=fs)
    return ds.to_pandas().sort_values("id").reset_index(drop=True)


def _assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    # Ray hands back pyarrow-backed dtypes; the values must be exactly the files' values.
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_exact=True)


def _under_bytes(dep) -> int:
    return sum(s["under_store_bytes"] for s in dep.stats().values())


def test_deploy_starts_a_worker_per_node_and_ray_data_reads_exactly(deployment, dataset,
                                                                    ray_cluster):
    import ray

    status = deployment.status()
    nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert {n["node_id"] for n in status["nodes"]} == nodes
    assert [n["state"] for n in status["nodes"]] == ["up"] * INITIAL_NODES, status
    assert status["etcd"]["managed"] and status["etcd"]["state"] == "up"
    assert any("NOT highly available" in m for m in deployment.deploy_log)
    addresses = sorted(n["address"] for n in status["nodes"])
    assert len(set(addresses)) == INITIAL_NODES

    fs = _fs(deployment)
    # Both workers registered in etcd under the deployment's cluster.
    _wait(lambda: sorted(fs.worker_hosts) == addresses, 30, "both workers in etcd")
    _assert_same(_read(fs), dataset)
    first = _under_bytes(deployment)
    assert first > 0
    _assert_same(_read(fs), dataset)
    assert _under_bytes(deployment) == first  # epoch 2 came from the caches
    # Every worker serves local reads, and Ray's tasks (on this one host) used them.
    assert all(w["local_socket"] for w in fs.workers())
    assert sum(s["local_reads"] for s in deployment.stats().values()) > 0


def test_token_is_private_and_required(deployment, ray_cluster):
    status = deployment.status()
    token = deployment._token
    assert token not in json.dumps(status) and token not in repr(deployment)
    for node in status["nodes"]:
        token_file = Path(node["log"]).parent / "token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        assert token_file.read_text() == token
        assert token not in Path(node["log"]).read_text()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://{node['address']}/v1/stats", timeout=5)
        assert err.value.code == 401


def test_killed_worker_is_restarted_and_reads_continue(deployment, dataset):
    victim = deployment.status()["nodes"][0]
    os.kill(victim["pid"], signal.SIGKILL)

    def restarted():
        node = next(n for n in deployment.status()["nodes"] if n["node_id"] == victim["node_id"])
        return node if node["state"] == "up" and node["pid"] != victim["pid"] else None

    node = _wait(restarted, 60, "the killed worker restarted by its actor")
    assert node["restarts"] >= 1 and node["last_exit"] == -signal.SIGKILL
    assert _gone(victim["pid"])
    fs = _fs(deployment)
    _wait(lambda: node["address"] in fs.worker_hosts, 30, "the restarted worker in etcd")
    _assert_same(_read(fs), dataset)


def test_worker_process_dies_with_its_actor(deployment, dataset):
    import ray

    import epochcache.ray

    victim = deployment.status()["nodes"][-1]
    actor = ray.get_actor(f"{NAME}.worker.{victim['node_id']}", namespace=epochcache.ray.NAMESPACE)
    ray.kill(actor, no_restart=False)  # as an actor crash would: Ray starts the actor again
    _wait(lambda: _gone(victim["pid"]), 30, "the worker process gone with its actor")

    def back():
        node = next(n for n in deployment.status()["nodes"] if n["node_id"] == victim["node_id"])
        return node if node["state"] == "up" and node["pid"] != victim["pid"] else None

    _wait(back, 60, "the restarted actor's new worker")
    _assert_same(_read(_fs(deployment)), dataset)


def test_a_joining_node_gets_a_worker_once_its_cache_dir_exists(deployment, ray_cluster,
                                                                 caches, dataset):
    new = ray_cluster.add_node(**NODE)
    new_id = new.node_id

    def reported():
        node = next((n for n in deployment.status()["nodes"] if n["node_id"] == new_id), None)
        return node if node and node["state"] == "cache-dir-missing" else None

    node = _wait(reported, 60, "the new node reported without its cache dir")
    assert node["address"] is None and node["pid"] is None
    assert any(str(caches / new_id) in p and "does not exist" in p for p in node["problems"])
    assert not (caches / new_id).exists()  # reported, never created

    (caches / new_id).mkdir()
    status = _wait(lambda: (s := deployment.status()) and
                   all(n["state"] == "up" for n in s["nodes"])
                   and len(s["nodes"]) == INITIAL_NODES + 1 and s,
                   60, "a worker on the new node")
    fs = _fs(deployment)
    _wait(lambda: len(fs.worker_hosts) == INITIAL_NODES + 1, 30, "a worker per node in etcd")
    _assert_same(_read(fs), dataset)
    assert len(status["nodes"]) == INITIAL_NODES + 1


def test_a_node_leaving_mid_read_loses_no_read(deployment, ray_cluster, dataset, minio):
    """Reads in flight while a node (and with it its worker) goes away all return exact bytes;
    the node drops out of the status and, at lease expiry, out of etcd."""
    import threading

    fs = _fs(deployment)
    files = sorted(fs.find(f"s3://{BUCKET}/parquet"))
    client = minio.client()
    expected = {f: client.get_object(Bucket=BUCKET, Key=f.split("/", 1)[1])["Body"].read()
                for f in files}
    leaving = ray_cluster.list_all_nodes()[-1]
    node = next(n for n in deployment.status()["nodes"] if n["node_id"] == leaving.node_id)
    assert node["state"] == "up"
    errors: list[BaseException] = []
    reads = 0
    stop = threading.Event()

    def reader():
        nonlocal reads
        try:
            while not stop.is_set():
                for f in files:
                    assert fs.cat_file(f) == expected[f], f
                    reads += 1
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            errors.append(e)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        time.sleep(1.0)
        ray_cluster.remove_node(leaving)
        _wait(lambda: _gone(node["pid"]), 30, "the leaving node's worker process gone")
        _wait(lambda: node["address"] not in fs.worker_hosts, 30, "its lease expired in etcd")
        time.sleep(1.0)
    finally:
        stop.set()
        thread.join(60)
    assert not errors, errors
    assert reads > len(files)
    status = deployment.status()
    assert leaving.node_id not in {n["node_id"] for n in status["nodes"]}
    assert [n["state"] for n in status["nodes"]] == ["up"] * INITIAL_NODES  # 4 joined, 1 left


def test_connect_from_another_driver(deployment, ray_cluster):
    script = (
        "import json, ray, epochcache.ray as er\n"
        f"ray.init(address={ray_cluster.address!r}, log_to_driver=False)\n"
        f"d = er.connect({NAME!r})\n"
        f"fs = d.filesystem(target_protocol='s3', direct_fallback=False)\n"
        f"data = fs.cat_file('s3://{BUCKET}/parquet/part-0000.parquet')\n"
        "print(json.dumps({'workers': len(d.workers()), 'etcd': d.etcd_hosts, 'n': len(data)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ))
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["etcd"] == deployment.etcd_hosts
    assert got["workers"] == len(deployment.workers())
    assert got["n"] > 0

    import epochcache.ray

    with pytest.raises(LookupError):
        epochcache.ray.connect("no-such-deployment")
    with pytest.raises(RuntimeError, match="already running"):
        epochcache.ray.deploy(under=["file:///nonexistent"], cache_dirs=["/nonexistent"],
                              name=NAME)


def test_shutdown_stops_every_process(deployment):
    import epochcache.ray

    status = deployment.status()
    pids = [n["pid"] for n in status["nodes"] if n["pid"]] + [status["etcd"]["pid"]]
    assert len(pids) == len(status["nodes"]) + 1 and all(pids)
    token_files = [Path(n["log"]).parent / "token" for n in status["nodes"]]
    assert all(f.exists() for f in token_files)
    deployment.shutdown()
    _wait(lambda: all(_gone(p) for p in pids), 30, "every worker and etcd process gone")
    assert not any(f.exists() for f in token_files)
    with pytest.raises(LookupError):
        epochcache.ray.connect(NAME)
