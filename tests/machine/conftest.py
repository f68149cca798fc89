"""A machine provisioned once per module on a namespace host (tests/sshhost.py).

The namespace shares this machine's filesystem, so the install goes to a short prefix of the
test's own (/tmp/pm-<hex>: the server's socket path must stay under 108 bytes) and its links to
a directory of the test's own standing for /usr/local/bin (--pallet-link-dir; `docker` is not
linked there, this host has one); sshd puts PREFIX/bin first on the sessions' PATH so Docker's
ssh:// clients find the installed `docker` stand-in before this host's docker. The machine
record, contexts and wheel cache live in a DOCKER_CONFIG of the module's own.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import run_pallet
from tests.sshhost import SshHost, ssh_host

SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Machine:
    name: str
    host: SshHost
    prefix: str
    config: Path          # DOCKER_CONFIG

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_CONFIG": str(self.config)}

    @property
    def directory(self) -> Path:
        return self.config / "machine" / "machines" / self.name

    def pallet(self, *args: str, timeout: float = 300, **kwargs):
        return run_pallet(*args, env={**self.env, **kwargs.pop("env", {})}, timeout=timeout,
                          **kwargs)

    link_dir: str = "none"

    def create_args(self, name: str | None = None, prefix: str | None = None) -> list[str]:
        return ["machine", "create", "--driver", "generic",
                "--generic-ip-address", self.host.address,
                "--generic-ssh-key", str(self.host.key),
                "--pallet-prefix", prefix or self.prefix, "--pallet-link-dir", self.link_dir,
                name or self.name]


def new_prefix() -> str:
    return f"/tmp/pm-{os.urandom(4).hex()}"


def remove_prefix(prefix: str) -> None:
    """What a failed test left under a prefix: mounts detached first, never crossed."""
    from pallet.base.files import remove_tree
    from pallet.runtime.store.scratch import detach_mounts_under
    if os.path.exists(prefix):
        detach_mounts_under(Path(prefix))
        remove_tree(prefix, one_device=True, ignore_errors=True)


@pytest.fixture(scope="session")
def machine_config(tmp_path_factory) -> Path:
    """One DOCKER_CONFIG for the session's machines (each has its own name): the wheel cache
    in it is built once."""
    return tmp_path_factory.mktemp("docker-config")


@pytest.fixture(scope="module")
def remote():
    """The namespace host, PREFIX/bin first on its sessions' PATH (one prefix per module)."""
    prefix = new_prefix()
    links = f"{prefix}-links"
    with ssh_host(set_env={"PATH": f"{prefix}/bin:{links}:{SESSION_PATH}"}) as host:
        host.prefix, host.links = prefix, links
        yield host
    remove_prefix(prefix)
    shutil.rmtree(links, ignore_errors=True)


@pytest.fixture(scope="module")
def machine(remote, machine_config) -> Machine:
    """`machine create` against the namespace host, from scratch, once for the module."""
    made = Machine(name=f"m{os.urandom(2).hex()}", host=remote, prefix=remote.prefix,
                   config=machine_config, link_dir=remote.links)
    result = made.pallet(*made.create_args(), timeout=900)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    yield made
    if made.directory.exists():
        made.pallet("machine", "rm", "-f", made.name)
