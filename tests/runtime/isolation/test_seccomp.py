"""Seccomp in the isolation core: Docker's default profile on every container, what it refuses
from inside a real container (a static probe makes the raw system calls), where it is loaded,
custom profiles in Docker's format, and the resolution rules (caps/arches/minKernel, args)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pallet.runtime.isolation import seccomp
from pallet.runtime.isolation.core import ContainerSpec, Mount, StartError, run_container
from tests.runtime.ctr_fixtures import busybox_lower, layer_dirs, leftovers  # noqa: F401
from tests.runtime.seccomp_probe import parse, probe  # noqa: F401

pytestmark = pytest.mark.root

DENY_MKDIR = json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]})


def run(lower: Path, dirs: tuple[Path, Path], probe_path: Path, *argv: str,
        **fields) -> tuple[int, str]:
    upper, work = dirs
    out: list[bytes] = []
    spec = ContainerSpec(rootfs_lowerdirs=(lower,), upper_dir=upper, work_dir=work, argv=argv,
                         env=("PATH=/bin",),
                         mounts=(Mount(type="bind", source=str(probe_path), target="/probe",
                                       readonly=True),), **fields)
    status = run_container(spec, stdout=out.append, stderr=out.append)
    return status.code, b"".join(out).decode()


def probes(lower, dirs, probe_path, calls: list[str], **fields) -> dict[str, str]:
    script = "; ".join(f"/probe {call}" for call in calls)
    _, output = run(lower, dirs, probe_path, "sh", "-c", script, **fields)
    return parse(output)


CALLS = ["unshare-user", "clone-user", "clone-plain", "clone3", "keyctl", "add_key",
         "userns-mount", "personality 6", "personality 8", "socket 40", "socket 38",
         "socket 1", "getpid"]


def test_default_profile_refuses_what_dockers_refuses(busybox_lower, layer_dirs, probe):
    found = probes(busybox_lower, layer_dirs, probe, CALLS)
    # several probes print under one name (personality, socket): check them one by one below
    assert found["unshare-user"] == "EPERM"          # user namespaces: CAP_SYS_ADMIN only
    assert found["clone-user"] == "EPERM"            # clone's namespace flags are filtered
    assert found["clone-plain"] == "ok"              # ... a plain fork is not
    assert found["clone3"] == "ENOSYS"               # so libc falls back to clone
    assert found["keyctl"] == "EPERM" and found["add_key"] == "EPERM"
    assert found["unshare-user-mnt"] == "EPERM" and "userns-mount" not in found
    assert found["getpid"] == "ok"
    one = lambda call: probes(busybox_lower, layer_dirs, probe, [call])  # noqa: E731
    assert one("personality 6") == {"personality": "EPERM"}   # a non-default persona
    assert one("personality 8") == {"personality": "ok"}      # PER_LINUX32 is allowed
    assert one("socket 40") == {"socket": "EPERM"}            # AF_VSOCK
    assert one("socket 1") == {"socket": "ok"}                # AF_UNIX
    code, status = run(busybox_lower, layer_dirs, probe, "grep", "^Seccomp:", "/proc/self/status")
    assert code == 0 and status.split() == ["Seccomp:", "2"]


def test_unconfined_and_privileged_containers_have_no_filter(busybox_lower, layer_dirs, probe):
    for fields in ({"seccomp": "unconfined"}, {"privileged": True},
                   {"privileged": True, "seccomp": DENY_MKDIR}):  # Docker: privileged wins
        found = probes(busybox_lower, layer_dirs, probe, ["keyctl", "unshare-user"], **fields)
        assert found == {"keyctl": "ok", "unshare-user": "ok"}, fields
        _, status = run(busybox_lower, layer_dirs, probe, "grep", "^Seccomp:", "/proc/self/status",
                        **fields)
        assert status.split() == ["Seccomp:", "0"], fields


def test_capability_gated_entries_follow_cap_add(busybox_lower, layer_dirs, probe):
    found = probes(busybox_lower, layer_dirs, probe, ["unshare-user", "clone3", "keyctl"],
                   cap_add=("SYS_ADMIN",))
    # with CAP_SYS_ADMIN unshare and clone3 are allowed; keyctl is refused for everyone
    assert found == {"unshare-user": "ok", "clone3": "EINVAL", "keyctl": "EPERM"}


def test_a_custom_profile_in_dockers_format(busybox_lower, layer_dirs, probe):
    found = probes(busybox_lower, layer_dirs, probe, ["mkdir /tmp/x", "keyctl"], seccomp=DENY_MKDIR)
    assert found == {"mkdir": "EPERM", "keyctl": "ok"}  # its default action is allow


def test_filter_is_loaded_for_other_users_with_and_without_no_new_privs(busybox_lower,
                                                                        layer_dirs, probe):
    # without no_new_privs loading needs CAP_SYS_ADMIN, which uid 1000 no longer has at exec:
    # the filter goes in before the user switch, as runc does
    for no_new_privileges in (False, True):
        code, output = run(busybox_lower, layer_dirs, probe, "sh", "-c",
                           "id -u; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; /probe keyctl",
                           user="1000", no_new_privileges=no_new_privileges)
        lines = output.split("\n")
        assert code == 1 and lines[0] == "1000", output
        assert f"NoNewPrivs:\t{int(no_new_privileges)}" in lines
        assert "Seccomp:\t2" in lines and "keyctl=EPERM" in lines


def test_init_and_its_command_run_under_the_filter(busybox_lower, layer_dirs, probe):
    code, output = run(busybox_lower, layer_dirs, probe, "sh", "-c",
                       "grep ^Seccomp: /proc/1/status /proc/self/status", init=True)
    assert code == 0 and output.count("Seccomp:\t2") == 2


def test_a_bad_profile_is_a_start_error_and_leaves_nothing(busybox_lower, layer_dirs, probe):
    upper, work = layer_dirs
    bad = {"defaultAction": "SCMP_ACT_NOPE"}
    with pytest.raises(StartError) as raised:
        run(busybox_lower, layer_dirs, probe, "true", seccomp=json.dumps(bad))
    assert raised.value.exit_code == 125
    assert raised.value.message == "string SCMP_ACT_NOPE is not a valid action for seccomp"
    with pytest.raises(StartError) as raised:
        run(busybox_lower, layer_dirs, probe, "true", seccomp='{"defaultAction": 1}')
    assert raised.value.message.startswith("Decoding seccomp profile failed: defaultAction")
    assert not leftovers(upper, work) and os.listdir(upper) == []


# -- resolution rules (dockerd's) and compilation (runc's) ------------------------------------

def _names(resolved: seccomp.Resolved) -> set[str]:
    return {name for rule in resolved.rules if rule.action == "SCMP_ACT_ALLOW"
            for name in rule.names}


def test_resolution_follows_caps_arches_and_kernel():
    profile = seccomp.parse(seccomp.DEFAULT_PROFILE.read_text())
    plain = seccomp.resolve(profile, frozenset({"CAP_CHOWN"}), machine="x86_64", release="6.1.0")
    admin = seccomp.resolve(profile, frozenset({"CAP_SYS_ADMIN"}), machine="x86_64",
                            release="6.1.0")
    assert "mount" not in _names(plain) and "mount" in _names(admin)
    assert "arch_prctl" in _names(plain) and "set_tls" not in _names(plain)  # amd64 only
    arm = seccomp.resolve(profile, frozenset(), machine="aarch64", release="6.1.0")
    assert "set_tls" in _names(arm) and "arch_prctl" not in _names(arm)
    assert arm.architectures == ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM")
    assert plain.architectures == ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32")
    old = seccomp.resolve(profile, frozenset(), machine="x86_64", release="4.4.0")
    assert "ptrace" in _names(plain) and "ptrace" not in _names(old)  # minKernel 4.8
    clone3 = [r for r in plain.rules if r.names == ("clone3",)]
    assert [(r.action, r.errno) for r in clone3] == [("SCMP_ACT_ERRNO", 38)]
    assert not [r for r in admin.rules if r.action == "SCMP_ACT_ERRNO"]  # excluded by the cap
    masked = [r for r in plain.rules if r.names == ("clone",) and r.conditions]
    assert [c.op for c in masked[0].conditions] == ["SCMP_CMP_MASKED_EQ"]


def test_profile_errors_use_dockers_words():
    both = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
            "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}
    with pytest.raises(seccomp.ProfileError, match="'architectures' and 'archMap' were specified"):
        seccomp.resolve(both, frozenset())
    names = {"defaultAction": "SCMP_ACT_ERRNO",
             "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}
    with pytest.raises(seccomp.ProfileError, match="'name' and 'names' were specified"):
        seccomp.resolve(names, frozenset())
    with pytest.raises(seccomp.ProfileError, match="not a valid operator"):
        seccomp.resolve({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}, frozenset())
    with pytest.raises(seccomp.ProfileError, match="^Decoding seccomp profile failed"):
        seccomp.parse("[1, 2")


def test_conditions_on_one_argument_are_alternatives(busybox_lower, layer_dirs, probe):
    # runc's rule: two conditions on the same argument become two rules (either value passes)
    profile = json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 0, "value": 6, "op": "SCMP_CMP_EQ"},
                  {"index": 0, "value": 7, "op": "SCMP_CMP_EQ"}]}]})
    for value, expected in (("6", "EACCES"), ("7", "EACCES"), ("8", "ok")):
        found = probes(busybox_lower, layer_dirs, probe, [f"personality {value}"], seccomp=profile)
        assert found == {"personality": expected}, value


COUNT_IMPORTS = """
import sys
from pallet.runtime.isolation import seccomp
from pallet.runtime.isolation.spec import ContainerSpec
spec = ContainerSpec(rootfs_lowerdirs=(), upper_dir="/u", work_dir="/w", argv=("true",))
program = seccomp.program_for(spec)
print(len(program.bpf), "pyseccomp" in sys.modules)
"""


def test_compiled_filters_are_cached_privately(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", COUNT_IMPORTS], env=env, capture_output=True,
                           text=True, check=True).stdout.split() for _ in range(2)]
    assert runs[0][1] == "True" and runs[1][1] == "False"  # the second run never compiles
    assert runs[0][0] == runs[1][0] and int(runs[0][0]) % 8 == 0
    [cached] = (tmp_path / "pallet").glob("seccomp-*.bpf")
    assert cached.stat().st_mode & 0o777 == 0o600
    # a file whose recorded profile differs (or that others could write) is not used
    cached.chmod(0o666)
    third = subprocess.run([sys.executable, "-c", COUNT_IMPORTS], env=env, capture_output=True,
                           text=True, check=True).stdout.split()
    assert third[1] == "True"
