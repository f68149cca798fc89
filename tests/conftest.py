"""Shared test fixtures: where the repository is, and a CLI runner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# A suite started in the background of a non-interactive shell (`.ci/run &`) inherits SIGINT
# ignored, and so would every child it starts: tests that press Ctrl-C on a pallet process
# would wait forever. A handled signal is reset to the default action in an exec'd child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Under --dist loadgroup every test marked xdist_group(NAME) must carry '@NAME' in its
    node id by now (xdist's worker adds it): that suffix is what keeps a group on one worker.
    A pytest whose node ids xdist cannot change would silently spread a group over both
    workers (two VM boots at once, a module fixture torn down between dependent tests): pytest
    9.2 keeps node ids in item._id, xdist 3.8 still writes item._nodeid; pyproject.toml pins
    pytest below 9.2 rather than this file writing pytest's private field."""
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        marks = list(item.iter_markers("xdist_group"))
        if marks and "@" not in item.nodeid:
            raise pytest.UsageError(
                f"{item.nodeid} is marked xdist_group({marks[0].args[0]!r}) but xdist could not "
                "group it under this pytest: install the pytest pyproject.toml asks for")


REPO = Path(__file__).resolve().parent.parent
PALLET = Path(sys.executable).parent / "pallet"


@pytest.fixture
def pallet_root(tmp_path: Path) -> Path:
    """A private, empty store for one test; its bridges and nftables table go afterwards."""
    root = tmp_path / "root"
    root.mkdir()
    yield root
    if (root / "network").exists():
        from tests.netutil import remove_store_network
        remove_store_network(root)


@pytest.fixture(autouse=True)
def _own_networks_go(request):
    """A test's stores under its tmp_path lose their networking when it ends, not at session end:
    default address pools are host-wide (31 of them), and leaked bridges of finished tests ran
    them out when several suites shared the machine."""
    # Asked for at set-up, so this fixture is torn down before tmp_path is.
    tmp_path = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if tmp_path is not None:
        from tests.netutil import remove_networks_under
        remove_networks_under(tmp_path)


@pytest.fixture(scope="session", autouse=True)
def _no_network_leftovers(tmp_path_factory):
    """Stores made elsewhere (module-scoped fixtures) lose their networking at the end too."""
    yield
    from tests.netutil import remove_networks_under
    remove_networks_under(tmp_path_factory.getbasetemp())


@pytest.fixture(autouse=True)
def _no_test_bridges(request):
    """Stores a test made under its own tmp_path (builds, copies of a store) lose their bridges
    and nftables table when it ends; a session would otherwise gather hundreds on the host.
    Module-scoped stores live elsewhere (tmp_path_factory) and go with the session."""
    own = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if own is not None:
        from tests.netutil import bridges_under, remove_store_network
        for root in set(bridges_under(own).values()):
            remove_store_network(Path(root))


def run_pallet(*args: str, root: Path | None = None, input: bytes | None = None,
               cwd: Path | None = None, env: dict[str, str] | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the installed `pallet` console script, as a user would."""
    argv = [str(PALLET)]
    if root is not None:
        argv += ["--root", str(root)]
    full_env = dict(os.environ)
    full_env.pop("PALLET_ROOT", None)
    if env:
        full_env.update(env)
    return subprocess.run(argv + list(args), input=input, capture_output=True, cwd=cwd,
                          env=full_env, timeout=timeout)
