"""What the engine knows of itself and the host, in Docker's `version` and `info` layout.

    engine_version(api_version, min_api_version) -> dict     (GET /version, `version`)
    engine_info(root) -> dict                                (GET /info, `info`)

Both fronts serialise these documents as they are; the fields follow the Engine API's
SystemVersion and SystemInfo definitions, with Go's zero values where pallet has nothing to say.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path

ENGINE_NAME = "pallet"
ARCH_NAMES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
              "s390x": "s390x", "riscv64": "riscv64"}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("pallet")
    except PackageNotFoundError:
        return "0.0.0"


def _os_release() -> tuple[str, str]:
    values = {}
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key] = value.strip().strip('"')
    except OSError:
        pass
    return values.get("PRETTY_NAME", "Linux"), values.get("VERSION_ID", "")


def engine_version(api_version: str, min_api_version: str) -> dict:
    kernel = platform.release()
    arch = ARCH_NAMES.get(platform.machine(), platform.machine())
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    version = _version()
    return {
        "Platform": {"Name": f"{ENGINE_NAME} {version}"},
        "Components": [{"Name": "Engine", "Version": version, "Details": {
            "ApiVersion": api_version, "MinAPIVersion": min_api_version, "Os": "linux",
            "Arch": arch, "KernelVersion": kernel, "GitCommit": "", "GoVersion": runtime,
            "BuildTime": "", "Experimental": "false"}}],
        "Version": version, "ApiVersion": api_version, "MinAPIVersion": min_api_version,
        "GitCommit": "", "GoVersion": runtime, "Os": "linux", "Arch": arch,
        "KernelVersion": kernel, "BuildTime": "",
    }


def _cgroup_version() -> str:
    try:
        with open("/proc/self/mountinfo") as handle:
            for line in handle:
                fields = line.split(" - ", 1)
                if len(fields) == 2 and fields[0].split()[4] == "/sys/fs/cgroup":
                    return "2" if fields[1].startswith("cgroup2") else "1"
    except OSError:
        pass
    return "1"


def _memory_total() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _engine_id(root: Path) -> str:
    """A stable identity for this store (Docker keeps one in engine-id)."""
    path = root / "engine-id"
    try:
        return path.read_text().strip()
    except OSError:
        pass
    import uuid
    identity = str(uuid.uuid4())
    from pallet.runtime.store.content import scratch_dir
    try:
        temporary = scratch_dir(root) / "engine-id"   # swept if we are killed before the link
        temporary.write_text(identity)
        os.link(temporary, path)   # the first writer wins
        temporary.unlink()
    except FileExistsError:
        temporary.unlink()
        return path.read_text().strip()
    except OSError:
        pass
    return identity


def _counts(root: Path) -> dict:
    from pallet.base.errors import PalletError
    from pallet.runtime.container.lifecycle import refreshed
    from pallet.runtime.container.state import ContainerStore
    from pallet.runtime.image.images import list_images
    from pallet.runtime.store.content import Store

    store = ContainerStore(root)
    records = refreshed(store)
    running = sum(1 for r in records if r.state.get("Running") and not r.state.get("Paused"))
    paused = sum(1 for r in records if r.state.get("Paused"))
    try:
        images = len(list_images(Store.open(root)))
    except PalletError:
        images = 0
    return {"Containers": len(records), "ContainersRunning": running, "ContainersPaused": paused,
            "ContainersStopped": len(records) - running - paused, "Images": images}


def engine_info(root: Path) -> dict:
    root = Path(root)
    os_name, os_version = _os_release()
    cgroup_version = _cgroup_version()
    version = _version()
    return {
        "ID": _engine_id(root), **_counts(root),
        "Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"],
                    "Authorization": [], "Log": ["json-file"]},
        "MemoryLimit": True, "SwapLimit": True, "KernelMemory": False,
        "KernelMemoryTCP": False, "CpuCfsPeriod": True, "CpuCfsQuota": True,
        "CPUShares": True, "CPUSet": False, "PidsLimit": True, "OomKillDisable": False,
        "IPv4Forwarding": Path("/proc/sys/net/ipv4/ip_forward").exists() and
        Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1",
        "BridgeNfIptables": False, "BridgeNfIp6tables": False,
        "Debug": False, "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": len(os.listdir("/proc/self/task")),
        "SystemTime": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs", "CgroupVersion": cgroup_version,
        "NEventsListener": 0, "KernelVersion": platform.release(),
        "OperatingSystem": os_name, "OSVersion": os_version, "OSType": "linux",
        "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"AllowNondistributableArtifactsCIDRs": [],
                           "AllowNondistributableArtifactsHostnames": [],
                           "InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {
                               "docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": True,
                                             "Official": True}},
                           "Mirrors": []},
        "NCPU": os.cpu_count() or 1, "MemTotal": _memory_total(), "GenericResources": [],
        "DockerRootDir": str(root), "HttpProxy": os.environ.get("HTTP_PROXY", ""),
        "HttpsProxy": os.environ.get("HTTPS_PROXY", ""), "NoProxy": os.environ.get("NO_PROXY", ""),
        "Name": socket.gethostname(), "Labels": [], "ExperimentalBuild": False,
        "ServerVersion": version,
        "Runtimes": {ENGINE_NAME: {"path": ENGINE_NAME}}, "DefaultRuntime": ENGINE_NAME,
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                  "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        # Containers outlive the engine's front (each has its own monitor), as with
        # Docker's live-restore.
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "",
        "ContainerdCommit": {"ID": "", "Expected": ""}, "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": [], "Warnings": [],
    }
