"""The wheel ships only the product: the package directories pyproject.toml puts in the wheel hold
no test-server launchers or demo code, and every shipped module imports, and the documented
`python -m epochcache.cluster` runs, with the development package (devtools/epochcache_dev) out of
reach. Building the wheel compiles the C++ tree, so this checks what the wheel is made of instead."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEV_PACKAGE = REPO / "devtools" / "epochcache_dev"
# What only development code starts: S3/Azure emulators and the fault proxy.
DEV_ONLY = re.compile(r"minio|toxiproxy|azurite|epochcache_dev", re.IGNORECASE)


def _shipped_packages() -> list[Path]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    return [REPO / p for p in config["tool"]["scikit-build"]["wheel"]["packages"]]


def _shipped_modules() -> list[Path]:
    return sorted(f for pkg in _shipped_packages() for f in pkg.rglob("*.py"))


def test_the_wheel_packages_only_the_product_package():
    packages = _shipped_packages()
    assert packages == [REPO / "python" / "epochcache"], packages
    assert not any(DEV_PACKAGE.is_relative_to(p) or p.is_relative_to(DEV_PACKAGE.parent)
                   for p in packages)


def test_no_shipped_module_is_development_code():
    shipped = _shipped_modules()
    assert shipped, "no modules found in the shipped package"
    dev_names = {f.name for f in DEV_PACKAGE.glob("*.py")} - {"__init__.py"}
    assert dev_names, f"{DEV_PACKAGE} holds no modules"
    assert not dev_names & {f.name for f in shipped}
    offenders = {str(f.relative_to(REPO)): sorted({m.group(0).lower()
                                                   for m in DEV_ONLY.finditer(f.read_text())})
                 for f in shipped}
    assert {f: words for f, words in offenders.items() if words} == {}


def test_shipped_modules_import_without_the_development_package(tmp_path):
    native = pytest.importorskip("epochcache._native")
    # A copy of what the wheel holds: the package's Python files plus the built native module.
    site = tmp_path / "site"
    for package in _shipped_packages():
        for f in package.rglob("*.py"):
            dest = site / f.relative_to(package.parent)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(f.read_bytes())
    built = [native]
    try:
        from epochcache import _arrow  # built when pyarrow and Cython were found
    except ImportError:
        pass
    else:
        built.append(_arrow)
        # Installed, the module finds pyarrow's libraries beside it ($ORIGIN/../pyarrow).
        import pyarrow

        (site / "pyarrow").symlink_to(Path(pyarrow.__file__).parent)
    for module in built:
        (site / "epochcache" / Path(module.__file__).name).symlink_to(
            Path(module.__file__).resolve())

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    probe = textwrap.dedent(f"""
        import importlib, importlib.util, pkgutil, sys
        assert importlib.util.find_spec("epochcache_dev") is None, "development package on the path"
        import epochcache
        assert epochcache.__file__.startswith({str(site)!r}), epochcache.__file__
        names = sorted(m.name for m in pkgutil.iter_modules(epochcache.__path__))
        for name in names:
            importlib.import_module("epochcache." + name)
        print(" ".join(names))
    """)
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    imported = set(run.stdout.split())
    assert {"cluster", "filesystem", "local_worker", "ray", "_native"} <= imported, imported

    # The documented local-cluster command runs from the shipped files alone.
    cli = subprocess.run([sys.executable, "-m", "epochcache.cluster", "--help"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "epochcache.cluster" in cli.stdout
