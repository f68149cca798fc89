"""A build never writes, links, chowns or chmods outside the layer it is building: COPY, ADD,
WORKDIR and the build context from stdin, through symlinks and hard links an attacker chose."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from pallet.base.errors import PalletError
from pallet.builder.build import build
from pallet.builder.request import BuildRequest, ContextSource
from tests.builder.conftest import build_image, flatten, read_file, write_tree

pytestmark = pytest.mark.root


def _host_dir(tmp_path: Path) -> Path:
    """A host directory the build must never touch; its listing is checked afterwards."""
    host = tmp_path / "host-only"
    host.mkdir()
    (host / "victim").write_text("host file\n")
    os.chmod(host / "victim", 0o644)
    return host


def _untouched(host: Path) -> None:
    assert sorted(os.listdir(host)) == ["victim"]
    st = os.stat(host / "victim")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_nlink) == (0o644, 0, 0, 1)
    assert (host / "victim").read_text() == "host file\n"


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, content in members:
            info.size = len(content) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(content) if info.isreg() else None)
    return data.getvalue()


def _member(name: str, content: bytes = b"", **attrs) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, content


def test_copy_parents_through_a_context_symlink_writes_in_the_image_not_on_the_host(
        busybox_root, tmp_path):
    # Issue 16's case: a/lnk is a symlink to a host directory; the first source copies it
    # (as a symlink), the second writes a/lnk/pwn through it. Before: pwn landed on the host.
    host = _host_dir(tmp_path)
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY --parents a x/./a/lnk/pwn /dest/\n",
        "a/f": "f", "x/a/lnk/pwn": "PWNED"})
    os.chmod(context / "x" / "a" / "lnk" / "pwn", 0o4755)
    os.symlink(str(host), context / "a" / "lnk")
    build_image(busybox_root, context, tags=("parents:1",))
    _untouched(host)
    files = flatten(busybox_root, "parents:1")
    assert files["/dest/a/lnk"] == ("symlink", 0o777, 0, 0, str(host))
    # the write followed the link as the image's filesystem does: to the image's own path
    assert read_file(busybox_root, "parents:1", f"{host}/pwn") == "PWNED"


@pytest.mark.parametrize("target", ["ABS", "../../../../../../../../ABS"])
def test_copy_add_and_workdir_through_image_symlinks_stay_in_the_image(
        busybox_root, tmp_path, target):
    host = _host_dir(tmp_path)
    link_target = target.replace("ABS", str(host).lstrip("/") if target != "ABS" else str(host))
    archive = _tar([_member("from-tar", b"tar content")])
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY links/ /\n"
                      "COPY f /lnk/copied\nADD bundle.tar /lnk/\n"
                      "WORKDIR /lnk/work\nCOPY f new-in-workdir\n",
        "f": "copied", "bundle.tar": archive})
    (context / "links").mkdir()
    os.symlink(link_target, context / "links" / "lnk")
    build_image(busybox_root, context, tags=("through:1",))
    _untouched(host)
    files = flatten(busybox_root, "through:1")
    inside = str(host)
    assert files[f"{inside}/copied"][0] == "file"
    assert files[f"{inside}/from-tar"][0] == "file"
    assert files[f"{inside}/work"][0] == "dir"
    assert files[f"{inside}/work/new-in-workdir"][0] == "file"


@pytest.mark.parametrize("linkname", ["ABS", "../../../../../../../../ABS"])
def test_add_of_an_archive_with_an_outside_hard_link_touches_no_host_file(
        busybox_root, tmp_path, linkname):
    # Before: ADD linked the host file into the layer, then --chown/the member header changed
    # the host file's owner and mode (setuid, uid 4242).
    host = _host_dir(tmp_path)
    victim = str(host / "victim")
    archive = _tar([_member("ok", b"fine"),
                    _member("stolen", type=tarfile.LNKTYPE, mode=0o4777, uid=4242, gid=4242,
                            linkname=linkname.replace("ABS", victim.lstrip("/")
                                                      if linkname != "ABS" else victim))])
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nADD --chown=4242:4242 evil.tar /opt/\n",
        "evil.tar": archive})
    with pytest.raises(PalletError, match="hard link"):
        build_image(busybox_root, context, tags=("evil:1",))
    _untouched(host)


def test_add_keeps_hard_links_between_members_of_the_same_archive(busybox_root, tmp_path):
    archive = _tar([_member("pkg/a", b"shared", mode=0o755),
                    _member("pkg/b", type=tarfile.LNKTYPE, linkname="pkg/a"),
                    _member("pkg/dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3,
                            mode=0o666)])
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nADD --chown=7:8 a.tar /opt/\n", "a.tar": archive})
    build_image(busybox_root, context, tags=("links:1",))
    files = flatten(busybox_root, "links:1")
    assert files["/opt/pkg/a"][:4] == ("file", 0o755, 7, 8)
    assert files["/opt/pkg/b"] == files["/opt/pkg/a"]
    assert files["/opt/pkg/dev"][:4] == ("other", 0o666, 7, 8)


def test_add_refuses_writing_through_a_symlink_of_its_own_archive(busybox_root, tmp_path):
    host = _host_dir(tmp_path)
    archive = _tar([_member("lnk", type=tarfile.SYMTYPE, linkname=str(host)),
                    _member("lnk/planted", b"evil")])
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nADD evil.tar /\n", "evil.tar": archive})
    with pytest.raises(PalletError, match="written through the symlink 'lnk'"):
        build_image(busybox_root, context)
    _untouched(host)


@pytest.mark.parametrize("linkname", ["ABS", "../../../../../../../../ABS"])
def test_a_tar_context_on_stdin_with_an_outside_hard_link_touches_no_host_file(
        busybox_root, tmp_path, linkname):
    host = _host_dir(tmp_path)
    victim = str(host / "victim")
    archive = _tar([_member("Dockerfile", b"FROM busybox\nCOPY . /ctx/\n"),
                    _member("stolen", type=tarfile.LNKTYPE, mode=0o4777, uid=4242,
                            linkname=linkname.replace("ABS", victim.lstrip("/")
                                                      if linkname != "ABS" else victim))])
    with pytest.raises(PalletError, match="hard link"):
        build(BuildRequest(context=ContextSource(stream=io.BytesIO(archive))),
              root=busybox_root, progress_stream=io.StringIO(), progress="plain")
    _untouched(host)


def test_a_tar_context_on_stdin_builds(busybox_root, tmp_path):
    archive = _tar([_member("Dockerfile", b"FROM busybox\nCOPY . /ctx/\n"),
                    _member("dir/a", b"A"), _member("dir/b", type=tarfile.LNKTYPE,
                                                    linkname="dir/a")])
    result = build(BuildRequest(context=ContextSource(stream=io.BytesIO(archive)),
                                tags=("stdin:1",)),
                   root=busybox_root, progress_stream=io.StringIO(), progress="plain")
    assert result.image_id
    assert read_file(busybox_root, "stdin:1", "/ctx/dir/b") == "A"


@pytest.mark.parametrize("target", ["ABS", "../../../../../../../../ABS"])
def test_run_mount_targets_through_image_symlinks_stay_in_the_container(
        busybox_root, tmp_path, target):
    host = _host_dir(tmp_path)
    link_target = str(host) if target == "ABS" else target.replace("ABS", str(host).lstrip("/"))
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY links/ /\n"
                      "RUN --mount=type=bind,source=f,target=/lnk/sub/f "
                      "--mount=type=tmpfs,target=/lnk/tmp cat /lnk/sub/f > /seen\n",
        "f": "mounted\n"})
    (context / "links").mkdir()
    os.symlink(link_target, context / "links" / "lnk")
    build_image(busybox_root, context, tags=("mnt:1",))
    _untouched(host)
    assert read_file(busybox_root, "mnt:1", "/seen") == "mounted\n"
