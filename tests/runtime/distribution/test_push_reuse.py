"""push sends a layer's bytes once: a layer it gzipped for one push is found by its recorded
digest on the next (already there, or mounted from another repository of the same registry,
as `docker push` does), and a multi-layer image goes up several layers at once."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli.ctr_helpers import out, pallet
from tests.images import make_busybox_image
from tests.registry import private_registry

pytestmark = [pytest.mark.server, pytest.mark.root]


@pytest.fixture
def registry(tmp_path):
    with private_registry(tmp_path / "registry") as running:
        yield running


def _linked(registry, repository: str, digest: str) -> bool:
    return (registry.storage / "docker/registry/v2/repositories" / repository / "_layers"
            / "sha256" / digest[7:] / "link").is_file()


def _layers(reference: str) -> list[str]:
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                          f"docker://{reference}"], capture_output=True, text=True, check=True)
    return [layer["digest"] for layer in json.loads(raw.stdout)["layers"]]


def test_a_second_repository_of_the_registry_gets_the_layer_by_a_mount(tmp_path, registry):
    root = tmp_path / "store"
    make_busybox_image(root, "busybox:latest")
    first, second = f"{registry.host}/team/one:1", f"{registry.host}/other/two:1"
    for reference in (first, second):
        assert pallet(root, "tag", "busybox", reference).returncode == 0
    pushed = pallet(root, "push", first)
    assert pushed.returncode == 0, pushed.stderr
    assert ": Pushed\n" in out(pushed)
    [digest] = _layers(first)
    again = pallet(root, "push", second)
    assert again.returncode == 0, again.stderr
    assert ": Mounted from team/one\n" in out(again), out(again)
    assert ": Pushed\n" not in out(again)
    assert _layers(second) == [digest]
    assert _linked(registry, "other/two", digest)
    pulled = pallet(tmp_path / "fresh", "pull", second)      # the mounted blob serves a pull
    assert pulled.returncode == 0, pulled.stderr


def test_another_registry_gets_the_same_blob(tmp_path, registry):
    root = tmp_path / "store"
    make_busybox_image(root, "busybox:latest")
    here = f"{registry.host}/team/one:1"
    assert pallet(root, "tag", "busybox", here).returncode == 0
    assert pallet(root, "push", here).returncode == 0
    with private_registry(tmp_path / "second") as other:
        there = f"{other.host}/team/one:1"
        assert pallet(root, "tag", "busybox", there).returncode == 0
        pushed = pallet(root, "push", there)
        assert pushed.returncode == 0, pushed.stderr
        assert ": Pushed\n" in out(pushed)           # that registry had nothing: bytes sent
        assert _layers(there) == _layers(here)       # the same compression, the same digest


def test_an_image_of_several_layers_goes_up_whole(tmp_path: Path, registry):
    from tests.builder.conftest import write_tree

    root = tmp_path / "store"
    make_busybox_image(root, "busybox:latest")
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY a /a\nCOPY b /b\nCOPY c /c\nCMD [\"cat\", \"/a\"]\n",
        "a": "a" * 100000, "b": "b" * 200000, "c": "c"})
    reference = f"{registry.host}/team/layers:1"
    assert pallet(root, "build", "-q", "-t", reference, str(context)).returncode == 0
    pushed = pallet(root, "push", reference)
    assert pushed.returncode == 0, pushed.stderr
    assert out(pushed).count(": Pushed\n") == 4
    fresh = tmp_path / "fresh"
    assert pallet(fresh, "pull", reference).returncode == 0
    ran = pallet(fresh, "run", "--rm", "--network", "none", reference)
    assert ran.returncode == 0 and out(ran) == "a" * 100000
