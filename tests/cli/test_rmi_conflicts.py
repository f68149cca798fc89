"""`rmi` of an image containers use: Docker 20.10's conflict rules and messages."""

from __future__ import annotations

import pytest

from tests.cli.ctr_helpers import out, pallet, remove_all_containers
from tests.images import make_busybox_image

pytestmark = pytest.mark.root


@pytest.fixture
def root(pallet_root):
    yield pallet_root
    remove_all_containers(pallet_root)


def test_rmi_by_id_of_an_image_a_running_container_uses_cannot_be_forced(root):
    image_id = make_busybox_image(root, "busybox:latest")
    short = image_id[7:19]
    started = pallet(root, "run", "-d", "busybox", "sleep", "300")
    assert started.returncode == 0, started.stderr
    container = out(started).strip()
    expected = (f"Error response from daemon: conflict: unable to delete {short} (cannot be "
                f"forced) - image is being used by running container {container[:12]}\n")
    for args in (("rmi", short), ("rmi", "-f", short), ("image", "rm", "-f", image_id)):
        refused = pallet(root, *args)
        assert refused.returncode == 1, args
        assert refused.stderr.decode() == expected, args
        assert refused.stdout == b""
    assert out(pallet(root, "images", "-q")).split() == [short]     # nothing was untagged
    # A second name does not turn the hard conflict into the soft "multiple repositories" one.
    assert pallet(root, "tag", "busybox", "other:1").returncode == 0
    assert pallet(root, "rmi", short).stderr.decode() == expected

    # Stopped, the same container is a soft conflict that -f overrides.
    assert pallet(root, "rmi", "other:1").returncode == 0
    assert pallet(root, "kill", container).returncode == 0
    assert pallet(root, "wait", container).returncode == 0
    refused = pallet(root, "rmi", short)
    assert refused.returncode == 1
    assert refused.stderr.decode() == (
        f"Error response from daemon: conflict: unable to delete {short} (must be forced) - "
        f"image is being used by stopped container {container[:12]}\n")
    forced = pallet(root, "rmi", "-f", short)
    assert forced.returncode == 0, forced.stderr
    # Docker deletes it (the stopped container keeps the layers, so no layer line follows)
    assert out(forced) == f"Untagged: busybox:latest\nDeleted: {image_id}\n"
    assert out(pallet(root, "images", "-aq")) == ""
    assert out(pallet(root, "ps", "-a", "--format", "{{.Image}}")) == f"{short}\n"
    assert pallet(root, "start", container).returncode == 0     # its layers are still there


def test_rmi_reports_each_failure_and_removes_the_rest(root):
    make_busybox_image(root, "busybox:latest")
    assert pallet(root, "tag", "busybox", "spare:1").returncode == 0
    result = pallet(root, "rmi", "nosuch:tag", "spare:1")
    assert result.returncode == 1
    assert out(result) == "Untagged: spare:1\n"
    assert result.stderr.decode() == "Error response from daemon: No such image: nosuch:tag\n"
