"""A new volume is filled from the image's content at its path, read inside the image's
layers: an image's symlink never makes pallet copy host files into the volume."""

from __future__ import annotations

import os

import pytest

from tests.builder.conftest import write_tree
from tests.cli.ctr_helpers import out, pallet

pytestmark = pytest.mark.root


@pytest.mark.parametrize("absolute", [True, False], ids=["absolute", "dotdot"])
def test_a_volume_under_an_image_symlink_never_copies_host_files(root, tmp_path, absolute):
    # Before: the layer's /lnk -> HOSTDIR was followed on the host and HOSTDIR/sub/key was
    # copied into the new volume, readable in the container.
    secret = tmp_path / "host-secret"
    (secret / "sub").mkdir(parents=True)
    (secret / "sub" / "key").write_text("HOST SECRET\n")
    link = str(secret) if absolute else "../../../../../../../.." + str(secret)
    context = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY links/ /\n"
                                                          "VOLUME /lnk/sub\n"})
    (context / "links").mkdir()
    os.symlink(link, context / "links" / "lnk")
    assert pallet(root, "build", "-q", "-t", "vol:1", str(context), timeout=300).returncode == 0
    shown = pallet(root, "run", "--rm", "vol:1", "sh", "-c", "cat /lnk/sub/key; ls -A /lnk/sub")
    assert "HOST SECRET" not in out(shown)
    assert out(shown).strip() == ""
    assert (secret / "sub" / "key").read_text() == "HOST SECRET\n"


def test_a_volume_starts_with_the_images_content_whiteouts_applied(root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nRUN mkdir -p /data/d && echo a > /data/a && echo b > /data/b"
                      " && echo x > /data/d/x && chown 7:8 /data/a && chmod 750 /data\n"
                      "RUN rm /data/b && rm -rf /data/d && mkdir /data/d && echo y > /data/d/y"
                      " && echo c > /data/c\nVOLUME /data\n"})
    assert pallet(root, "build", "-q", "-t", "vold:1", str(context), timeout=300).returncode == 0
    shown = pallet(root, "run", "--rm", "vold:1", "sh", "-c",
                   "cd /data && find . | sort && stat -c '%n %u:%g %a' a . && cat a c d/y")
    assert out(shown).split("\n") == [".", "./a", "./c", "./d", "./d/y",
                                      "a 7:8 644", ". 0:0 750", "a", "c", "y", ""]
