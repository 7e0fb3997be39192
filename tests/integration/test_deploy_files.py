"""The deployment files in deploy/ are checked as far as this machine can: the manifests parse
and name only real `epochcache worker` flags, the Dockerfile's configure step and its runtime
package script run here, and the packages it installs exist in Debian 12."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from epochcache.local_worker import worker_binary

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="module")
def worker_flags() -> set[str]:
    out = subprocess.run([worker_binary(), "worker", "--help"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    flags = set(re.findall(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)", out))
    assert {"--under", "--cache-dir", "--auth-token-file", "--etcd"} <= flags
    return flags


def _flag_names(args: list[str]) -> list[str]:
    return [a.split("=", 1)[0] for a in args if a.startswith("--")]


def _env_flag(name: str) -> str:
    """EPOCHCACHE_CACHE_DIR -> --cache-dir (the worker reads every flag from such a variable)."""
    return "--" + name.removeprefix("EPOCHCACHE_").lower().replace("_", "-")


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_every_manifest_parses():
    manifests = sorted(DEPLOY.rglob("*.yaml"))
    assert {p.relative_to(DEPLOY).as_posix() for p in manifests} >= {
        "kubernetes/epochcache.yaml", "kuberay/raycluster.yaml"}
    for path in manifests:
        for doc in _docs(path):
            assert doc.get("apiVersion") and doc.get("kind"), path


def test_daemonset_names_real_flags_and_is_wired_as_documented(worker_flags):
    docs = {d["kind"]: d for d in _docs(DEPLOY / "kubernetes" / "epochcache.yaml")}
    ds, config = docs["DaemonSet"], docs["ConfigMap"]
    pod = ds["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    args = container["args"]
    assert set(_flag_names(args)) <= worker_flags, set(_flag_names(args)) - worker_flags

    # Every $(VAR) in the args is defined in the container's env (Kubernetes leaves others as
    # written), and the ones from ConfigMaps name keys that exist.
    env = {e["name"]: e for e in container["env"]}
    used = set(re.findall(r"\$\((\w+)\)", " ".join(args)))
    assert used <= set(env), used - set(env)
    for e in env.values():
        ref = e.get("valueFrom", {}).get("configMapKeyRef")
        if ref:
            assert ref["name"] == config["metadata"]["name"] and ref["key"] in config["data"]
    assert env["ETCD_ENDPOINTS"]["valueFrom"]["configMapKeyRef"]["key"] == "etcd"
    assert env["NODE_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert "--advertise=$(NODE_IP):7411" in args

    # The token comes from a Secret, mounted where --auth-token-file looks.
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    token_arg = next(a for a in args if a.startswith("--auth-token-file="))
    assert volumes["token"]["secret"]["secretName"]
    assert token_arg.split("=", 1)[1].startswith(mounts["token"] + "/")
    # The cache dir is the node's disk, and it is never created on the root disk.
    assert volumes["cache"]["hostPath"]["type"] == "Directory"
    assert f"--cache-dir={mounts['cache']}" in args

    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v1/health"
    limits = container["resources"]["limits"]
    assert limits["cpu"] and limits["memory"]


def test_kuberay_cluster_mounts_the_cache_dir_on_every_group():
    (rc,) = _docs(DEPLOY / "kuberay" / "raycluster.yaml")
    assert rc["kind"] == "RayCluster"
    specs = [rc["spec"]["headGroupSpec"]["template"]["spec"]] + [
        g["template"]["spec"] for g in rc["spec"]["workerGroupSpecs"]]
    for spec in specs:
        volume = next(v for v in spec["volumes"] if v["name"] == "epochcache")
        assert volume["hostPath"]["type"] == "Directory"
        (container,) = spec["containers"]
        assert {"name": "epochcache", "mountPath": "/mnt/epochcache"} in container["volumeMounts"]


def test_systemd_unit_names_real_flags(worker_flags):
    unit = configparser.ConfigParser(strict=True, interpolation=None)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read(DEPLOY / "systemd" / "epochcache-worker.service")
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"].replace("\\\n", " "))
    assert argv[:2] == ["/usr/local/bin/epochcache", "worker"]
    assert set(_flag_names(argv)) <= worker_flags
    assert service["User"] != "root" and service["Restart"] == "always"
    assert "--auth-token-file" in argv

    env_file = (DEPLOY / "systemd" / "epochcache-worker.env").read_text()
    names = [line.split("=", 1)[0] for line in env_file.splitlines()
             if line and not line.startswith("#")]
    assert names and all(_env_flag(n) in worker_flags for n in names if n.startswith("EPOCHCACHE_"))


def _stages(dockerfile: str) -> list[str]:
    text = dockerfile.replace("\\\n", " ")
    return re.split(r"(?m)^FROM ", text)[1:]


def test_dockerfile_runs_as_non_root_and_names_real_settings(worker_flags):
    build, runtime = _stages((DEPLOY / "Dockerfile").read_text())
    assert build.startswith("debian:12") and " AS build" in build.splitlines()[0]
    assert runtime.startswith("debian:12")
    user = re.search(r"(?m)^USER (\S+)", runtime).group(1)
    assert user.split(":")[0] not in ("root", "0")
    entry = re.search(r"(?m)^ENTRYPOINT (.+)$", runtime).group(1)
    assert yaml.safe_load(entry) == ["/usr/local/bin/epochcache", "worker"]
    env_names = re.findall(r"\b(EPOCHCACHE_[A-Z_]+)=", runtime)
    assert env_names and all(_env_flag(n) in worker_flags for n in env_names)
    assert "EPOCHCACHE_AUTH_TOKEN_FILE=/run/secrets/" in runtime


def _apt_packages(stage: str) -> list[str]:
    line = re.search(r"apt-get install ([^&]+)", stage).group(1)
    line = re.sub(r"\$\([^)]*\)", " ", line)  # the runtime list computed in the build stage
    return [w for w in line.split() if not w.startswith("-")]


def test_dockerfile_packages_exist_in_this_debian():
    if not shutil.which("apt-cache"):
        pytest.skip("not a Debian system")
    build, runtime = _stages((DEPLOY / "Dockerfile").read_text())
    packages = _apt_packages(build) + _apt_packages(runtime)
    assert "cmake" in packages and "ca-certificates" in packages
    found = subprocess.run(["apt-cache", "show", "--no-all-versions", *packages],
                           capture_output=True, text=True, timeout=60)
    known = set(re.findall(r"(?m)^Package: (\S+)$", found.stdout))
    assert set(packages) <= known, set(packages) - known


def test_runtime_package_script_names_installed_packages_of_the_worker():
    if not shutil.which("dpkg"):
        pytest.skip("not a Debian system")
    out = subprocess.run([str(DEPLOY / "runtime-packages.sh"), worker_binary()],
                         capture_output=True, text=True, timeout=60, check=True).stdout.split()
    assert {"libcurl4", "libssl3", "libc6"} <= set(out), out
    status = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Status}\n", *out],
                            capture_output=True, text=True, timeout=60).stdout
    installed = {line.split()[0] for line in status.splitlines() if "install ok installed" in line}
    assert set(out) <= installed, set(out) - installed


def test_dockerfile_configure_step_runs_on_its_build_context(tmp_path):
    """The build stage's COPY lines and cmake configure command, run here on a copy."""
    build, _ = _stages((DEPLOY / "Dockerfile").read_text())
    context = tmp_path / "src"
    context.mkdir()
    for src, dest in re.findall(r"(?m)^COPY (\S+) (\S+)$", build):
        target = context / dest.rstrip("/")
        if (ROOT / src).is_dir():
            shutil.copytree(ROOT / src, target)
        else:
            dst = target / Path(src).name if dest.endswith("/") else target
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / src, dst)
    configure = re.search(r"RUN (cmake -S \. -B build [^&]+)", build).group(1)
    result = subprocess.run(shlex.split(configure), cwd=context, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "epochcache_cli" in (context / "build" / "build.ninja").read_text()
