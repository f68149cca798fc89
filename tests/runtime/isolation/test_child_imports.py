"""The container's set-up never imports a module once the image's files are its root.

After pivot_root (and in an exec, after setns into the container's mounts) Python's module
search path names the image's files: an `import socket` there would run an image's
/usr/lib/python3.11/socket.py with every privilege the set-up still holds (before the
capabilities, seccomp and the user are dropped). The steps' modules import what they use at
their top, before the fork, and the child refuses any import after pivot_root.
"""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import PALLET


def _imports(function) -> list[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append(node.module or ".")
    return found


def test_no_step_imports_after_pivot_root_or_in_an_exec():
    from pallet.runtime.container.execute import EXEC_STEPS
    from pallet.runtime.isolation import rootfs
    from pallet.runtime.isolation.child import CHILD_STEPS
    after_pivot = CHILD_STEPS[CHILD_STEPS.index(rootfs.pivot_into_rootfs):]
    offenders = {f"{step.__module__}.{step.__name__}": _imports(step)
                 for step in (*after_pivot, *EXEC_STEPS) if _imports(step)}
    assert offenders == {}


PLANT = ('open("/PLANTED-RAN", "w").write("the image\'s module ran in the set-up")\n'
         'raise ImportError("planted")\n')


@pytest.mark.root
def test_an_images_socket_module_never_runs_in_run_t_or_exec_t(tmp_path):
    """An image that carries socket.py in every directory of this interpreter's search path:
    run -t --network none and exec -t (the steps that use socket) work and never run it."""
    root = tmp_path / "store"
    from tests.images import make_busybox_image
    make_busybox_image(root, "busybox:latest")
    directories = sorted({p for p in sys.path if p.startswith("/") and not p.endswith(".zip")})
    script = " && ".join(f"mkdir -p {d} && cp /plant.py {d}/socket.py" for d in directories)
    (tmp_path / "plant.py").write_text(PLANT)

    def pallet(*args, tty=False):
        argv = [str(PALLET), "--root", str(root), *args]
        if tty:   # a terminal of its own: -t needs one on stdin
            argv = ["script", "-qec", " ".join(argv), "/dev/null"]
        return subprocess.run(argv, capture_output=True, timeout=120)

    assert pallet("create", "--name", "planter", "--network", "none", "busybox", "sh", "-c",
                  f"{script} && sleep 300").returncode == 0
    assert pallet("cp", str(tmp_path / "plant.py"), "planter:/plant.py").returncode == 0
    assert pallet("start", "planter").returncode == 0
    try:
        deadline = __import__("time").time() + 20
        while pallet("exec", "planter", "test", "-f",
                     f"{directories[-1]}/socket.py").returncode != 0:
            assert __import__("time").time() < deadline, "the plant never finished"
        assert pallet("commit", "planter", "planted:1").returncode == 0
        ran = pallet("run", "--rm", "-t", "--network", "none", "planted:1", "echo", "ok", tty=True)
        assert ran.returncode == 0 and b"ok" in ran.stdout, ran.stdout + ran.stderr
        executed = pallet("exec", "-t", "planter", "echo", "ok", tty=True)
        assert executed.returncode == 0 and b"ok" in executed.stdout, executed.stdout
        assert not os.path.exists("/PLANTED-RAN")
        assert pallet("exec", "planter", "test", "-e", "/PLANTED-RAN").returncode == 1
        probe = pallet("run", "--rm", "--network", "none", "planted:1", "test", "-e",
                       "/PLANTED-RAN")
        assert probe.returncode == 1
    finally:
        pallet("rm", "-f", "planter")


def test_the_set_up_refuses_any_import_after_pivot_root():
    """The guard the child installs after pivot_root: an import sys.modules cannot answer
    fails with a clear error (run in a child process: the guard is for forked children)."""
    code = textwrap.dedent("""
        import sys
        from pallet.runtime.isolation import process
        process.refuse_imports()
        import os                        # already loaded: answered from sys.modules
        try:
            import this_module_is_not_loaded_anywhere
        except ImportError as error:
            print(error)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("the container's set-up may not import "
                                  "this_module_is_not_loaded_anywhere"), done.stdout
