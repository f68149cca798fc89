"""SIGKILL in the middle of a write: whatever the killed process had half made (the temporary
of an atomic write, a container or volume being created or removed) is gone after the next
command, and nothing half-made is ever visible. Each writer below is killed at the exact point
that matters by a stand-in for os.replace/os.fsync/os.link/os.rmdir that SIGKILLs it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.cli.ctr_helpers import out, pallet

pytestmark = pytest.mark.root

PRELUDE = textwrap.dedent("""
    import os, shutil, signal, sys
    from pathlib import Path
    root = Path(sys.argv[1])
    arg = sys.argv[2]
    def die(*_args, **_kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
""")

WRITERS = {
    # a monitor or a CLI recording container state
    "container state": """
        from pallet.runtime.container.state import ContainerStore
        store = ContainerStore(root)
        os.replace = die
        store.update_state(arg, Status="exited")
    """,
    # create: killed writing its files (the old code left a half container directory)
    "container create": """
        from pallet.runtime.container.request import CreateRequest
        from pallet.runtime.container.lifecycle import create_container
        os.replace = die
        create_container(root, CreateRequest(image="busybox", command=("true",)))
    """,
    # rm: killed while deleting (the old code left containers/.removing-ID)
    "container rm": """
        from pallet.runtime.container.lifecycle import remove_container
        from pallet.runtime.container.state import ContainerStore
        os.rmdir = die   # the first directory removed: the files under it are gone already
        remove_container(ContainerStore(root), arg)
    """,
    "volume create": """
        from pallet.runtime.volume.store import create_volume
        os.fsync = die   # volume.json written, not yet renamed into place
        create_volume(root, "halfmade")
    """,
    "volume rm": """
        from pallet.runtime.volume.store import create_volume, remove_volume
        create_volume(root, "doomed")
        os.rmdir = die
        remove_volume(root, "doomed")
    """,
    # a build cache record, the stat cache and a GC root: the builder's atomic writes
    "build cache record": """
        from pallet.builder.cache import write_json_atomic
        from pallet.runtime.store.content import Store
        Store.open(root)
        os.replace = die
        write_json_atomic(root / "cache" / "records" / "ab" / "x.json", {"k": 1})
    """,
    "engine id": """
        from pallet.runtime import info
        os.link = die
        info._engine_id(root)
    """,
}


def _leftovers(root: Path) -> list[str]:
    """What a killed writer could leave: temporaries, staging and trash anywhere in the
    store, a container or volume directory without its document, and tmp/ entries."""
    found = []
    for current, dirs, files in os.walk(root):
        for name in dirs + files:
            if name.startswith((".tmp-", ".new-", ".removing-", ".engine-id.")):
                found.append(os.path.join(current, name))
    for kind, document in (("containers", "config.json"), ("volumes", "volume.json")):
        base = root / kind
        if base.is_dir():
            found += [str(p) for p in base.iterdir()
                      if p.is_dir() and not (p / document).exists()]
    if (root / "tmp").is_dir():
        found += [str(p) for p in (root / "tmp").iterdir()]
    return found


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_write_killed_half_way_leaves_nothing_after_the_next_command(root, writer):
    cid = out(pallet(root, "create", "busybox", "true")).strip()
    script = PRELUDE + textwrap.dedent(WRITERS[writer])
    killed = subprocess.run([sys.executable, "-c", script, str(root), cid], timeout=60,
                            capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()
    listed = pallet(root, "ps", "-a", "-q", "--no-trunc")   # the next command
    assert listed.returncode == 0, listed.stderr
    assert _leftovers(root) == []
    if writer == "container rm":
        assert cid not in out(listed)   # renamed out of sight before the deletion began
    else:
        assert out(listed).split() == [cid]
