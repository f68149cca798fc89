"""The ctypes system-call wrappers: real calls, errors from errno."""

from __future__ import annotations

import errno
import os
import socket

import pytest

from pallet.runtime.isolation import linux

pytestmark = pytest.mark.root


def _in_child(body) -> int:
    """Run body() in a forked child; return its exit code (never runs our cleanup)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = body()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_mount_error_carries_errno_and_target(tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(OSError) as raised:
        linux.mount("tmpfs", missing, "tmpfs")
    assert raised.value.errno == errno.ENOENT
    assert str(missing) in str(raised.value)


def test_umount_of_a_non_mount_is_einval(tmp_path):
    with pytest.raises(OSError) as raised:
        linux.umount2(tmp_path)
    assert raised.value.errno == errno.EINVAL


def test_unshare_uts_and_sethostname_affect_only_the_child():
    host = socket.gethostname()

    def body() -> int:
        linux.unshare(linux.CLONE_NEWUTS)
        linux.sethostname("pallet-uts-test")
        return 0 if socket.gethostname() == "pallet-uts-test" else 3

    assert _in_child(body) == 0
    assert socket.gethostname() == host


def test_private_tmpfs_mount_is_invisible_to_the_host(tmp_path):
    target = tmp_path / "mnt"
    target.mkdir()

    def body() -> int:
        linux.unshare(linux.CLONE_NEWNS)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
        linux.mount("tmpfs", target, "tmpfs")
        (target / "f").write_text("x")
        linux.umount2(target, linux.MNT_DETACH)
        return 0 if not (target / "f").exists() else 4

    assert _in_child(body) == 0
    assert str(target) not in open("/proc/self/mountinfo").read()


def test_setns_back_into_our_own_mount_namespace():
    def body() -> int:
        own = os.open("/proc/self/ns/mnt", os.O_RDONLY)
        before = os.readlink("/proc/self/ns/mnt")
        linux.unshare(linux.CLONE_NEWNS)
        changed = os.readlink("/proc/self/ns/mnt") != before
        linux.setns(own, linux.CLONE_NEWNS)
        return 0 if changed and os.readlink("/proc/self/ns/mnt") == before else 5

    assert _in_child(body) == 0


def test_pivot_root_rejects_a_non_mount_point(tmp_path):
    def body() -> int:
        linux.unshare(linux.CLONE_NEWNS)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
        try:
            linux.pivot_root(tmp_path, tmp_path)
        except OSError as error:
            return 0 if error.errno in (errno.EINVAL, errno.EBUSY) and "pivot_root" in str(error) else 6
        return 7

    assert _in_child(body) == 0


def test_prctl_no_new_privs_and_capability_bounding_set():
    def body() -> int:
        if linux.prctl(linux.PR_GET_NO_NEW_PRIVS) != 0:
            return 8
        linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
        linux.prctl(linux.PR_CAPBSET_DROP, 12)  # CAP_NET_ADMIN
        ok = linux.prctl(linux.PR_GET_NO_NEW_PRIVS) == 1 and linux.prctl(linux.PR_CAPBSET_READ, 12) == 0
        return 0 if ok else 9

    assert _in_child(body) == 0
    assert linux.prctl(linux.PR_GET_NO_NEW_PRIVS) == 0
    assert linux.last_capability() >= 40
