"""The wheels a machine is installed from, made here and copied over: pallet's own, built from
the source tree this pallet runs from, and its dependencies at exactly the versions installed
here.

Copied rather than fetched by the host: a host need not reach PyPI (the tests' namespace host
has no route out at all), the host runs the very code and versions that were tested here, and a
second create costs no download (the wheelhouse is cached under the machine storage path, the
dependencies by their pins, pallet's wheel by a digest of its source tree). Where the host's
Python differs from ours (another minor version, another architecture), the binary wheels do
not fit and its pip falls back to its index for those (provision.py decides).

pallet's wheel is built by pip (`pip wheel`, the project's own build backend) from a copy of the
source tree, so building never writes into the tree itself. The host installs them with pypa's
`installer` (run from its own wheel) into a venv made without pip: measured here, a venv with
pip plus `pip install` of the 13 wheels took 12-21 s on the loaded test machine, `venv
--without-pip` plus installer 2.6 s.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from dataclasses import dataclass
from pathlib import Path

from pallet.base.errors import PalletError

_SKIP = {".venv", ".git", "tests", "bench", "samples", "docs", "build", "dist", "__pycache__",
         ".pytest_cache", "contrib", "scripts"}


def python_tag() -> str:
    """The tag the host's python must match for these binary wheels: cp311-x86_64."""
    return f"cp{sys.version_info[0]}{sys.version_info[1]}-{os.uname().machine}"


def _requirements(name: str, seen: dict[str, str]) -> None:
    from packaging.requirements import Requirement
    for text in metadata.requires(name) or []:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        key = re.sub(r"[-_.]+", "-", requirement.name).lower()
        if key in seen:
            continue
        try:
            seen[key] = metadata.version(requirement.name)
        except metadata.PackageNotFoundError as error:
            raise PalletError(f"pallet's dependency {requirement.name} is not installed here: "
                              "cannot make the machine's wheels") from error
        _requirements(requirement.name, seen)


def dependency_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    _requirements("pallet", pins)
    return dict(sorted(pins.items()))


def source_tree() -> Path:
    """The project directory pallet is installed from (an editable or local-directory install)."""
    try:
        text = metadata.distribution("pallet").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        text = None
    url = json.loads(text).get("url", "") if text else ""
    if url.startswith("file://") and (Path(url[7:]) / "pyproject.toml").exists():
        return Path(url[7:])
    here = Path(__file__).resolve().parents[2]
    if (here / "pyproject.toml").exists():
        return here
    raise PalletError("cannot find pallet's source tree to build the wheel a machine installs",
                      hint="install pallet from a source checkout (pip install -e DIR)")


def _tree_digest(tree: Path) -> str:
    digest = hashlib.sha256()
    for top in sorted(os.listdir(tree)):
        if top in _SKIP or top.endswith(".egg-info"):
            continue
        for directory, subdirs, files in os.walk(tree / top):
            subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".pyc"):
                    continue
                path = Path(directory, name)
                stat = path.stat()
                digest.update(f"{path.relative_to(tree)}\0{stat.st_size}\0{stat.st_mtime_ns}\n"
                              .encode())
    return digest.hexdigest()[:16]


def _pip(*args: str, what: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q",
                             *args], capture_output=True, text=True)
    if result.returncode != 0:
        detail = " / ".join((result.stderr or result.stdout).strip().splitlines()[-4:])
        raise PalletError(f"{what} failed: {detail}")


def _publish(staging: Path, target: Path) -> None:
    """Rename into place; another pallet that got there first wins (same content)."""
    try:
        os.rename(staging, target)
    except OSError:
        if not target.is_dir():
            raise
        shutil.rmtree(staging, ignore_errors=True)


def _pallet_wheel(cache: Path) -> Path:
    tree = source_tree()
    target = cache / f"pallet-{_tree_digest(tree)}"
    found = sorted(target.glob("pallet-*.whl")) if target.is_dir() else []
    if found:
        return found[0]
    with tempfile.TemporaryDirectory(prefix="pallet-wheel-") as scratch:
        copy = Path(scratch) / "src"
        shutil.copytree(tree, copy, ignore=lambda directory, names: [
            n for n in names if n in _SKIP or n.endswith((".egg-info", ".pyc"))])
        built = Path(scratch) / "out"
        _pip("wheel", "--no-deps", "-w", str(built), str(copy), what="building pallet's wheel")
        wheel = next(built.glob("pallet-*.whl"))
        for old in cache.glob("pallet-*"):
            shutil.rmtree(old, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(dir=cache, prefix=".pallet-"))
        shutil.move(str(wheel), staging / wheel.name)
        _publish(staging, target)
    return next(target.glob("pallet-*.whl"))


def _dependency_wheels(cache: Path) -> list[Path]:
    pins = dependency_pins()
    key = hashlib.sha256(json.dumps([python_tag(), pins]).encode()).hexdigest()[:16]
    target = cache / f"deps-{key}"
    if not target.is_dir():
        staging = Path(tempfile.mkdtemp(dir=cache, prefix=".deps-"))
        try:
            # pip's cache and configured indexes answer; --only-binary: nothing to compile
            _pip("download", "--no-deps", "--only-binary=:all:", "-d", str(staging),
                 *[f"{name}=={version}" for name, version in pins.items()],
                 what="fetching pallet's dependencies as wheels")
            _publish(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return sorted(target.glob("*.whl"))


def _installer_wheel(cache: Path) -> Path:
    target = cache / "installer"
    found = sorted(target.glob("installer-*.whl")) if target.is_dir() else []
    if not found:
        staging = Path(tempfile.mkdtemp(dir=cache, prefix=".installer-"))
        try:
            _pip("download", "--no-deps", "--only-binary=:all:", "-d", str(staging),
                 "installer>=0.7", what="fetching pypa's installer")
            _publish(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        found = sorted(target.glob("installer-*.whl"))
    return found[-1]


@dataclass(frozen=True)
class Wheelhouse:
    pallet: Path
    dependencies: tuple[Path, ...]
    installer: Path     # pypa's installer, run from its wheel on the host (no pip there)

    @property
    def all(self) -> tuple[Path, ...]:
        return (self.pallet, *self.dependencies, self.installer)


def wheelhouse(cache: Path) -> Wheelhouse:
    cache.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Wheelhouse(_pallet_wheel(cache), tuple(_dependency_wheels(cache)),
                      _installer_wheel(cache))
