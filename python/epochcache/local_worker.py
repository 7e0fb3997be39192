"""Start and stop an epochcache worker process on this machine.

Used by the demo, the test harness and benchmarks; the same ``epochcache worker`` command an
operator runs by hand, with the port chosen by the worker and read back from a port file.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from epochcache._procs import stop_process


def worker_binary() -> str:
    """Path of the ``epochcache`` executable: $EPOCHCACHE_BIN, this environment's scripts dir, or PATH."""
    explicit = os.environ.get("EPOCHCACHE_BIN")
    if explicit:
        return explicit
    candidate = Path(sysconfig.get_path("scripts")) / "epochcache"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("epochcache")
    if found:
        return found
    raise FileNotFoundError(
        "the epochcache executable was not found: install the package (pip install .) "
        "or set EPOCHCACHE_BIN"
    )


class LocalWorker:
    """One ``epochcache worker`` process bound to 127.0.0.1 on a free port.

    ``auth_token_file`` starts it with ``--auth-token-file`` (and :meth:`get` then sends the
    token); ``tls_cert_file``/``tls_key_file`` make it serve HTTPS (and :meth:`get` trusts that
    certificate); ``env`` is added to the child's environment; ``preexec_fn`` runs in the child
    before the worker starts (e.g. to lower its resource limits). ``cache_dir`` and ``under``
    may be lists (one ``--cache-dir``/``--under`` flag each); ``host`` is the address it listens
    on and is reached at; ``create_cache_dir=False`` leaves a missing cache dir missing.
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike | Sequence[str | os.PathLike],
        under: str | Sequence[str],
        capacity: str = "1GiB",
        extra_args: list[str] | None = None,
        log_path: str | os.PathLike | None = None,
        env: dict[str, str] | None = None,
        auth_token_file: str | os.PathLike | None = None,
        preexec_fn: Callable[[], None] | None = None,
        tls_cert_file: str | os.PathLike | None = None,
        tls_key_file: str | os.PathLike | None = None,
        host: str = "127.0.0.1",
        create_cache_dir: bool = True,
    ) -> None:
        dirs = [cache_dir] if isinstance(cache_dir, (str, os.PathLike)) else list(cache_dir)
        if not dirs:
            raise ValueError("a worker needs at least one cache dir")
        self.cache_dirs = [Path(d) for d in dirs]
        self.cache_dir = self.cache_dirs[0]
        self.under = under
        self.host = host
        self.create_cache_dir = create_cache_dir
        self.capacity = capacity
        self.extra_args = list(extra_args or [])
        self.log_path = Path(log_path) if log_path else self.cache_dir.parent / (
            self.cache_dir.name + ".log"
        )
        self.env = dict(env or {})
        self.auth_token_file = Path(auth_token_file) if auth_token_file else None
        self.preexec_fn = preexec_fn
        self.tls_cert_file = Path(tls_cert_file) if tls_cert_file else None
        self.tls_key_file = Path(tls_key_file) if tls_key_file else None
        self.port: int | None = None
        self.returncode: int | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def auth_token(self) -> str | None:
        """The token this worker requires (read from its token file), or None."""
        if self.auth_token_file is None:
            return None
        return self.auth_token_file.read_text().rstrip()

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert_file else "http"

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context trusting this worker's (self-signed) certificate, when it has one."""
        if self.tls_cert_file is None:
            return None
        return ssl.create_default_context(cafile=str(self.tls_cert_file))

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def address(self) -> str:
        if self.port is None:
            raise RuntimeError("worker is not running")
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0, port: int = 0) -> "LocalWorker":
        """Starts the worker and waits until /v1/health answers. ``port=0`` lets it pick one."""
        if self.create_cache_dir:
            for d in self.cache_dirs:
                d.mkdir(parents=True, exist_ok=True)
        port_file = Path(tempfile.mkdtemp(prefix="ec-port-")) / "port"
        unders = [self.under] if isinstance(self.under, str) else list(self.under)
        args = [
            worker_binary(), "worker",
            "--host", self.host,
            "--port", str(port),
            "--port-file", str(port_file),
            *[a for d in self.cache_dirs for a in ("--cache-dir", str(d))],
            "--capacity", self.capacity,
            *[a for u in unders for a in ("--under", u)],
            *(["--auth-token-file", str(self.auth_token_file)] if self.auth_token_file else []),
            *(["--tls-cert", str(self.tls_cert_file), "--tls-key", str(self.tls_key_file)]
              if self.tls_cert_file else []),
            *self.extra_args,
        ]
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                      env={**os.environ, **self.env},
                                      preexec_fn=self.preexec_fn)  # noqa: PLW1509
        log.close()
        self.returncode = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self.returncode = self._proc.returncode
                shutil.rmtree(port_file.parent, ignore_errors=True)
                raise RuntimeError(
                    f"worker exited with code {self._proc.returncode}; see {self.log_path}:\n"
                    + self.log_path.read_text(errors="replace")[-2000:]
                )
            if port_file.exists() and port_file.read_text().strip():
                self.port = int(port_file.read_text().strip())
                try:
                    self.get("/v1/health", timeout=1.0)
                    shutil.rmtree(port_file.parent, ignore_errors=True)
                    return self
                except OSError:
                    pass
            time.sleep(0.05)
        self.kill()
        shutil.rmtree(port_file.parent, ignore_errors=True)
        raise TimeoutError(f"worker did not become healthy within {timeout}s; see {self.log_path}")

    def get(self, path: str, timeout: float = 10.0) -> dict:
        """GETs a JSON endpoint of this worker (with its token, if it has one)."""
        request = urllib.request.Request(f"{self.scheme}://{self.address}{path}")
        token = self.auth_token
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=timeout, context=self.ssl_context()) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict:
        return self.get("/v1/stats")

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the worker with SIGTERM (a clean shutdown)."""
        stop_process(self._proc, timeout)
        if self._proc is not None:
            self.returncode = self._proc.returncode
        self._proc = None

    def kill(self) -> None:
        """Kills the worker with SIGKILL, as a crash would."""
        if self._proc and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._proc is not None:
            self.returncode = self._proc.returncode
        self._proc = None

    @property
    def running(self) -> bool:
        """True while the process runs; once it has exited, ``returncode`` says how."""
        if self._proc is None:
            return False
        if self._proc.poll() is None:
            return True
        self.returncode = self._proc.returncode
        return False

    def __enter__(self) -> "LocalWorker":
        return self.start() if not self.running else self

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":  # pragma: no cover - manual use
    w = LocalWorker(sys.argv[1], sys.argv[2]).start()
    print(w.address)
