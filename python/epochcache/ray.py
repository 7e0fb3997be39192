"""epochcache on an existing Ray cluster: one worker per node, following the cluster.

    import epochcache.ray
    dep = epochcache.ray.deploy(under=["s3://bucket/train"], cache_dirs=["/mnt/nvme/epochcache"],
                                capacity="500GiB", etcd_hosts="10.0.0.5:2379")
    ds = ray.data.read_parquet("s3://bucket/train", filesystem=dep.filesystem(target_protocol="s3"))

Every node gets a detached actor pinned to it (``NodeAffinitySchedulingStrategy(soft=False)``,
``num_cpus=0`` so it takes no CPU from training) that owns one ``epochcache worker`` process:
it restarts the process when it exits (with a growing back-off), stops it when the deployment
shuts down, and the process dies with the actor (``PR_SET_PDEATHSIG``). A small detached
controller actor on the head node watches ``ray.nodes()`` and starts a worker on every node that
joins; a node that leaves drops out of the workers' membership when its etcd lease expires.
Without ``etcd_hosts`` the controller runs one etcd on the head node (not highly available).
Details: docs/ray.md.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

NAMESPACE = "epochcache"
log = logging.getLogger("epochcache.ray")

_PR_SET_PDEATHSIG = 1


def _libc_prctl() -> Callable[..., int] | None:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except OSError:  # not Linux: no parent-death signal; the actor's stop() still stops it
        return None


_prctl = _libc_prctl()


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it when the thread that started it goes away.

    The kernel sends the signal when the *thread* that forked exits, so a supervisor starts and
    reaps its child from one thread that outlives it.
    """
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _actor_name(name: str, role: str) -> str:
    return f"{name}.{role}"


class _Supervised:
    """Keeps one server process (LocalWorker or EtcdServer) running from a thread of its own.

    ``precheck()`` returns the problems that forbid a start (checked before every start, and
    every ``recheck`` seconds while there are some); a process that exits or fails to start is
    started again after a back-off that doubles from ``backoff`` up to ``max_backoff`` and
    resets once a process has run for ``stable`` seconds.
    """

    def __init__(self, server: Any, precheck: Callable[[], list[str]] | None = None,
                 backoff: float = 0.5, max_backoff: float = 30.0, stable: float = 60.0,
                 recheck: float = 5.0, start_kwargs: dict[str, Any] | None = None) -> None:
        self.server = server
        self.start_kwargs = dict(start_kwargs or {})
        self.precheck = precheck or (lambda: [])
        self.backoff, self.max_backoff, self.stable, self.recheck = (backoff, max_backoff,
                                                                     stable, recheck)
        self.state = "starting"
        self.problems: list[str] = []
        self.restarts = 0
        self.last_exit: int | None = None
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _set(self, **fields: Any) -> None:
        with self._lock:
            for k, v in fields.items():
                setattr(self, k, v)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            problems = self.precheck()
            if problems:
                self._set(state="cache-dir-missing", problems=problems)
                self._stop.wait(self.recheck)
                continue
            self._set(state="starting" if self.restarts == 0 else "restarting", problems=[])
            started = time.monotonic()
            try:
                self.server.start(**self.start_kwargs)
                self._set(state="up", last_error=None)
                while not self._stop.wait(0.2) and self.server.running:
                    pass
            except Exception as e:  # noqa: BLE001 - a failed start is retried like a crash
                self._set(last_error=str(e)[-500:])
            if self._stop.is_set():
                break
            self._set(state="down", restarts=self.restarts + 1,
                      last_exit=getattr(self.server, "returncode", None))
            failures = 0 if time.monotonic() - started > self.stable else failures + 1
            self._stop.wait(min(self.max_backoff, self.backoff * 2 ** (failures - 1)))
        self.server.stop()
        self._set(state="stopped")

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"state": self.state, "pid": self.server.pid if self.state == "up" else None,
                    "restarts": self.restarts, "last_exit": self.last_exit,
                    "last_error": self.last_error, "problems": list(self.problems)}


def _write_secret(path: Path, value: str) -> None:
    """Writes ``value`` to a new 0600 file (never readable by others, whatever the umask)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)


def _private_dir(path: Path) -> Path:
    """Creates ``path`` (mode 0700) or checks that the existing one is this user's own real
    directory: in a shared /tmp, another user's directory or symlink must not get the token."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(path)
    if not os.path.isdir(path) or os.path.islink(path) or st.st_uid != os.getuid():
        raise PermissionError(f"{path} is not a directory owned by uid {os.getuid()}: "
                              "pass run_dir= a private directory")
    os.chmod(path, 0o700)
    return path


def _node_ip() -> str:
    return ray.util.get_node_ip_address()


def _expand(template: str, node_id: str, node_ip: str) -> str:
    return template.format(node_id=node_id, node_ip=node_ip, hostname=os.uname().nodename)


class _NodeWorker:
    """The actor on one node: checks the cache dirs, writes the token file, supervises the worker."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from epochcache.local_worker import LocalWorker

        self.node_id = ray.get_runtime_context().get_node_id()
        self.node_ip = _node_ip()
        host = spec["host"] or self.node_ip
        self.run_dir = _private_dir(Path(spec["run_dir"]) / self.node_id[:16])
        self.cache_dirs = [Path(_expand(d, self.node_id, self.node_ip))
                           for d in spec["cache_dirs"]]
        token_file = self.token_file = self.run_dir / "token"
        _write_secret(token_file, spec["token"])
        etcd_args = ["--etcd", spec["etcd_hosts"], "--cluster", spec["cluster"],
                     "--lease-ttl", spec["lease_ttl"]]
        # Local reads: the socket lives in the node's private run dir (0700), and the worker
        # makes it 0600, so only this user's processes (Ray's own) can use it.
        local_args: list[str] = []
        if spec.get("local_reads", True):
            sock = self.run_dir / "local.sock"
            if len(str(sock)) < 108:
                local_args = ["--local-socket", str(sock)]
            else:
                log.warning("epochcache.ray: %s is too long for a Unix socket; local reads off "
                            "on this node (pass a shorter run_dir)", sock)
        self.worker = LocalWorker(
            self.cache_dirs, under=list(spec["under"]), capacity=spec["capacity"],
            extra_args=[*etcd_args, *local_args, *spec["worker_args"]], env=spec["env"],
            log_path=self.run_dir / "worker.log", auth_token_file=token_file,
            preexec_fn=_die_with_parent, host=host, create_cache_dir=False)
        self.supervisor = _Supervised(self.worker, self._cache_dir_problems,
                                      backoff=spec["backoff"], max_backoff=spec["max_backoff"],
                                      start_kwargs={"port": spec["port"]})

    def _cache_dir_problems(self) -> list[str]:
        problems = []
        for d in self.cache_dirs:
            if not d.is_dir():
                problems.append(f"cache dir {d} does not exist on this node (it is not created: "
                                "mount or create it, then the worker starts)")
            elif not os.access(d, os.W_OK | os.X_OK):
                problems.append(f"cache dir {d} is not writable by uid {os.getuid()}")
        return problems

    def status(self) -> dict[str, Any]:
        out = self.supervisor.snapshot()
        out.update(node_id=self.node_id, node_ip=self.node_ip, log=str(self.worker.log_path),
                   cache_dirs=[str(d) for d in self.cache_dirs],
                   address=self.worker.address if out["state"] == "up" else None)
        if out["state"] == "up":
            try:
                self.worker.get("/v1/health", timeout=2.0)
            except OSError:
                out["state"] = "unresponsive"
        return out

    def stop(self) -> bool:
        self.supervisor.stop()
        self.token_file.unlink(missing_ok=True)  # the log stays, for whoever investigates
        return True


class _Etcd:
    """The actor that runs the deployment's own single-member etcd on the head node."""

    def __init__(self, data_dir: str, host: str | None, port: int, peer_port: int) -> None:
        from epochcache.cluster import EtcdServer

        self.server = EtcdServer(data_dir, host=host or _node_ip(), port=port,
                                 peer_port=peer_port, preexec_fn=_die_with_parent)
        self.supervisor = _Supervised(self.server)

    def endpoint(self) -> str:
        return self.server.endpoint

    def wait_up(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.supervisor.snapshot()["state"] != "up":
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def status(self) -> dict[str, Any]:
        return {**self.supervisor.snapshot(), "endpoint": self.server.endpoint}

    def stop(self) -> bool:
        self.supervisor.stop()
        shutil.rmtree(self.server.data_dir, ignore_errors=True)
        return True


def _alive_nodes() -> dict[str, dict]:
    return {n["NodeID"]: n for n in ray.nodes() if n.get("Alive")}


def _head_node_id() -> str:
    for node_id, n in _alive_nodes().items():
        if "node:__internal_head__" in n.get("Resources", {}):
            return node_id
    return ray.get_runtime_context().get_node_id()


def _pinned(node_id: str) -> NodeAffinitySchedulingStrategy:
    return NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)


def _get_actor(name: str):
    try:
        return ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return None


class _Controller:
    """Starts etcd (when asked to) and a worker actor on every alive node, and keeps doing so."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.name = config["name"]
        self._lock = threading.Lock()
        self._workers: dict[str, Any] = {}
        self._stop = threading.Event()
        if not config["etcd_hosts"]:
            etcd_name = _actor_name(self.name, "etcd")
            etcd = _get_actor(etcd_name)
            if etcd is None:
                from epochcache._procs import free_port

                etcd = ray.remote(_Etcd).options(
                    name=etcd_name, namespace=NAMESPACE, lifetime="detached", num_cpus=0,
                    max_restarts=-1, scheduling_strategy=_pinned(_head_node_id()),
                ).remote(str(Path(config["run_dir"]) / "etcd"), config["host"], free_port(),
                         free_port())
            self._etcd = etcd
            self.etcd_hosts = ray.get(etcd.endpoint.remote())
            if not ray.get(etcd.wait_up.remote(60.0)):
                log.error("epochcache controller: the etcd on the head node is not up after "
                          "60 s; workers will register once it is")
        else:
            self._etcd = None
            self.etcd_hosts = config["etcd_hosts"]
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _worker_spec(self) -> dict[str, Any]:
        keys = ("under", "cache_dirs", "capacity", "cluster", "lease_ttl", "token", "env",
                "worker_args", "host", "port", "run_dir", "backoff", "max_backoff", "local_reads")
        return {**{k: self.config[k] for k in keys}, "etcd_hosts": self.etcd_hosts}

    def _sync(self) -> None:
        alive = _alive_nodes()
        with self._lock:
            for node_id in alive:
                if node_id in self._workers:
                    continue
                name = _actor_name(self.name, f"worker.{node_id}")
                handle = _get_actor(name) or ray.remote(_NodeWorker).options(
                    name=name, namespace=NAMESPACE, lifetime="detached", num_cpus=0,
                    max_restarts=-1, scheduling_strategy=_pinned(node_id),
                ).remote(self._worker_spec())
                self._workers[node_id] = handle
            # A node that left takes its actor and worker with it; its lease expires in etcd.
            for node_id in [n for n in self._workers if n not in alive]:
                try:
                    ray.kill(self._workers.pop(node_id), no_restart=True)
                except Exception:  # noqa: BLE001 - already gone with its node
                    pass

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self._sync()
            except Exception:  # noqa: BLE001 - a failed poll is retried at the next one
                log.exception("epochcache controller: following the Ray nodes failed")
            self._stop.wait(self.config["poll_interval"])

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "cluster": self.config["cluster"],
                "etcd_hosts": self.etcd_hosts, "token": self.config["token"],
                "managed_etcd": self._etcd is not None}

    def status(self, timeout: float = 10.0) -> dict[str, Any]:
        self._sync()
        with self._lock:
            items = list(self._workers.items())
        nodes = []
        for node_id, handle in items:
            try:
                nodes.append(ray.get(handle.status.remote(), timeout=timeout))
            except Exception as e:  # noqa: BLE001 - an actor still starting or gone
                nodes.append({"node_id": node_id, "state": "unreachable", "address": None,
                              "restarts": None, "problems": [], "error": type(e).__name__})
        etcd = {"endpoint": self.etcd_hosts, "managed": self._etcd is not None}
        if self._etcd is not None:
            try:
                etcd.update(ray.get(self._etcd.status.remote(), timeout=timeout))
            except Exception as e:  # noqa: BLE001
                etcd.update(state="unreachable", error=type(e).__name__)
        return {"name": self.name, "cluster": self.config["cluster"], "etcd": etcd,
                "nodes": sorted(nodes, key=lambda n: n["node_id"])}

    def shutdown(self) -> bool:
        self._stop.set()
        self._thread.join(30)
        with self._lock:
            handles = list(self._workers.values())
            self._workers.clear()
        for handle, ref in [(h, h.stop.remote()) for h in handles]:
            try:
                ray.get(ref, timeout=60)
            except Exception:  # noqa: BLE001 - an actor already gone has nothing to stop
                pass
            ray.kill(handle, no_restart=True)
        if self._etcd is not None:
            try:
                ray.get(self._etcd.stop.remote(), timeout=60)
            except Exception:  # noqa: BLE001
                pass
            ray.kill(self._etcd, no_restart=True)
        return True


class Deployment:
    """A running epochcache deployment on this Ray cluster (from :func:`deploy` or :func:`connect`)."""

    def __init__(self, controller: Any, info: dict[str, Any]) -> None:
        self._controller = controller
        self.name: str = info["name"]
        self.cluster: str = info["cluster"]
        self.etcd_hosts: str = info["etcd_hosts"]
        self.managed_etcd: bool = info["managed_etcd"]
        self._token: str = info["token"]

    def __repr__(self) -> str:  # the token stays out of it
        return (f"Deployment(name={self.name!r}, cluster={self.cluster!r}, "
                f"etcd_hosts={self.etcd_hosts!r})")

    def filesystem(self, target_protocol: str = "file", **options: Any):
        """An EpochCacheFileSystem reading ``target_protocol`` through this deployment's workers
        (found in etcd, with the deployment's token). ``options`` go to the filesystem."""
        from epochcache.filesystem import EpochCacheFileSystem

        return EpochCacheFileSystem(target_protocol=target_protocol, etcd_hosts=self.etcd_hosts,
                                    cluster=self.cluster, auth_token=self._token, **options)

    def status(self, timeout: float = 10.0) -> dict[str, Any]:
        """Per node: state (up, starting, restarting, down, unresponsive, cache-dir-missing,
        unreachable), address, pid, restarts, problems, log; and etcd's."""
        return ray.get(self._controller.status.remote(timeout), timeout=timeout * 4)

    def workers(self) -> list[dict[str, Any]]:
        """The workers that are up: node id, node IP, address, pid."""
        return [{k: n[k] for k in ("node_id", "node_ip", "address", "pid")}
                for n in self.status()["nodes"] if n["state"] == "up"]

    def stats(self) -> dict[str, dict]:
        """Each up worker's /v1/stats, by address."""
        out = {}
        for w in self.workers():
            req = urllib.request.Request(f"http://{w['address']}/v1/stats",
                                         headers={"Authorization": f"Bearer {self._token}"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                out[w["address"]] = json.loads(resp.read())
        return out

    def wait_until_settled(self, timeout: float = 60.0) -> dict[str, Any]:
        """Waits until no node is starting (each is up or has a problem to report); returns
        the last status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            settled = all(n["state"] not in ("starting", "unreachable")
                          for n in status["nodes"]) and status["nodes"]
            if settled or time.monotonic() > deadline:
                return status
            time.sleep(0.5)

    def shutdown(self) -> None:
        """Stops every worker process, the deployment's etcd (if it runs one) and its actors."""
        try:
            ray.get(self._controller.shutdown.remote(), timeout=300)
        finally:
            ray.kill(self._controller, no_restart=True)


def _ensure_ray() -> None:
    if not ray.is_initialized():
        ray.init()  # joins the cluster of RAY_ADDRESS or this machine, else starts one


def _as_list(value: str | Sequence[str], what: str) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    if not items or not all(isinstance(i, str) and i for i in items):
        raise ValueError(f"epochcache.ray.deploy: {what} must be a non-empty list of strings")
    return items


def deploy(
    under: str | Sequence[str],
    cache_dirs: str | Sequence[str],
    capacity: str = "10GiB",
    etcd_hosts: str | Sequence[str] | None = None,
    auth_token: str | None = None,
    name: str = "epochcache",
    port: int = 7411,
    *,
    cluster: str | None = None,
    host: str | None = None,
    env: dict[str, str] | None = None,
    worker_args: Sequence[str] = (),
    lease_ttl: str = "10s",
    poll_interval: float = 5.0,
    run_dir: str | None = None,
    backoff: float = 0.5,
    max_backoff: float = 30.0,
    timeout: float = 120.0,
    local_reads: bool = True,
) -> Deployment:
    """Starts an epochcache worker on every alive Ray node (and on every node that joins later).

    under: the under-store roots each worker serves (one ``--under`` each), e.g.
        ``["s3://bucket/train", "file:///data"]``.
    cache_dirs: directories for cached pages on each node; each must already exist there (a
        node where one does not is reported by ``status()`` and gets no worker until it does).
        ``{node_id}``, ``{node_ip}`` and ``{hostname}`` are replaced per node.
    capacity: bytes to keep in each cache dir ("500GiB").
    etcd_hosts: the etcd the workers register in ("host:2379,..."); without it, one etcd is
        started on the head node, which is not highly available.
    auth_token: the token workers require and clients send; generated when not given. Workers
        read it from a 0600 file; it is never logged and is carried by ``.filesystem()``.
    name: the deployment's name (its actors are named after it in namespace "epochcache").
    port: the port each worker listens on (0: any free port; clients find it in etcd).
    cluster: the cluster name in etcd (default: ``name``).
    host: the address workers (and the managed etcd) listen on (default: each node's Ray IP).
    env: added to each worker's environment (e.g. AWS_* credentials; never on a command line).
    worker_args: further ``epochcache worker`` flags (e.g. ``["--s3-endpoint", URL]``).
    lease_ttl: how long after a node disappears its worker leaves the membership.
    poll_interval: seconds between the controller's looks at ``ray.nodes()``.
    run_dir: per-node directory for token files and logs (default: <tmp>/epochcache-<name>).
    backoff, max_backoff: seconds before restarting a crashed worker, doubling up to the max.
    timeout: how long to wait for the first workers to come up.
    local_reads: each worker also serves local reads on a Unix socket in its node's run dir
        (``--local-socket``, advertised in etcd), so Ray tasks on the same node read cached
        pages from its page files with no TCP round trip (docs/api.md, "Local reads").
    """
    _ensure_ray()
    under = _as_list(under, "under")
    cache_dirs = _as_list(cache_dirs, "cache_dirs")
    if isinstance(etcd_hosts, (list, tuple)):
        etcd_hosts = ",".join(etcd_hosts)
    if auth_token is not None and not str(auth_token).strip():
        raise ValueError("epochcache.ray.deploy: auth_token must be non-empty (or None)")
    controller_name = _actor_name(name, "controller")
    if _get_actor(controller_name) is not None:
        raise RuntimeError(f"an epochcache deployment named {name!r} is already running: use "
                           f"epochcache.ray.connect({name!r}) or shut it down first")
    config = {
        "name": name, "under": under, "cache_dirs": cache_dirs, "capacity": capacity,
        "etcd_hosts": etcd_hosts or None, "cluster": cluster or name,
        "token": auth_token or secrets.token_urlsafe(32), "port": int(port), "host": host,
        "env": dict(env or {}), "worker_args": list(worker_args), "lease_ttl": lease_ttl,
        "poll_interval": float(poll_interval), "backoff": backoff, "max_backoff": max_backoff,
        "run_dir": run_dir or str(Path(tempfile.gettempdir()) / f"epochcache-{name}"),
        "local_reads": bool(local_reads),
    }
    if not etcd_hosts:
        log.warning("epochcache.ray: no etcd_hosts given, so one etcd runs on the Ray head node: "
                    "it is NOT highly available (if it stops, workers cannot join or leave, "
                    "though reads continue). For production pass etcd_hosts= a 3-member etcd.")
    controller = ray.remote(_Controller).options(
        name=controller_name, namespace=NAMESPACE, lifetime="detached", num_cpus=0,
        max_restarts=-1, max_concurrency=4, scheduling_strategy=_pinned(_head_node_id()),
    ).remote(config)
    deployment = Deployment(controller, ray.get(controller.info.remote(), timeout=timeout))
    status = deployment.wait_until_settled(timeout)
    for node in status["nodes"]:
        if node["state"] != "up":
            log.warning("epochcache.ray: node %s (%s) has no worker up: %s %s",
                        node["node_id"][:12], node.get("node_ip"), node["state"],
                        "; ".join(node.get("problems") or []) or node.get("last_error") or "")
    return deployment


def connect(name: str = "epochcache") -> Deployment:
    """The running deployment called ``name``, from any driver of this Ray cluster."""
    _ensure_ray()
    controller = _get_actor(_actor_name(name, "controller"))
    if controller is None:
        raise LookupError(f"no epochcache deployment named {name!r} runs on this Ray cluster "
                          f"(namespace {NAMESPACE!r})")
    return Deployment(controller, ray.get(controller.info.remote(), timeout=60))
