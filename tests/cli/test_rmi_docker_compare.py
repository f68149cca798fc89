"""`rmi` side by side with a real Docker engine: the same three-layer image in both, the same
commands, the same stdout, stderr and exit codes (container IDs replaced by a placeholder)."""

from __future__ import annotations

import pytest

from tests.cli.ctr_helpers import out, pallet, remove_all_containers
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)
from tests.images import make_busybox_image

pytestmark = [pytest.mark.docker, pytest.mark.server, pytest.mark.root]


@pytest.fixture
def both(dockerd, tmp_path):  # noqa: F811
    """(pallet store root, docker engine), each holding multi:1 (busybox + two layers)."""
    root = tmp_path / "store"
    make_busybox_image(root, "busybox:latest")
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n")
    built = pallet(root, "build", "-q", "-t", "multi:1", str(context))
    assert built.returncode == 0, built.stderr
    assert pallet(root, "rmi", "busybox").returncode == 0   # multi:1 keeps the base layer
    archive = tmp_path / "multi.tar"
    assert pallet(root, "save", "-o", str(archive), "multi:1").returncode == 0
    dockerd.docker("load", "-i", str(archive))
    yield root, dockerd
    remove_all_containers(root)
    for leftover in dockerd.docker("ps", "-aq").stdout.decode().split():
        dockerd.docker("rm", "-f", leftover)
    dockerd.docker("rmi", "-f", "multi:1", "other:1", check=False)


def run_both(both, *args: str, ids: dict[str, str] | None = None) -> tuple:
    """Run args in both; return (ours, theirs) as (exit code, stdout, stderr) with each tool's
    container IDs (ids: placeholder -> (ours, theirs)) replaced."""
    root, engine = both
    results = []
    for index, result in enumerate((pallet(root, *args), engine.docker(*args, check=False))):
        text = [result.stdout.decode(), result.stderr.decode()]
        for placeholder, pair in (ids or {}).items():
            text = [t.replace(pair[index], placeholder) for t in text]
        results.append((result.returncode, *text))
    return tuple(results)


def test_rmi_of_a_multi_layer_image_deletes_it_and_its_layers_as_docker_does(both):
    ours, theirs = run_both(both, "rmi", "multi:1")
    assert ours == theirs
    assert ours[0] == 0 and ours[1].count("Deleted: sha256:") == 4   # the image and 3 layers


def test_rmi_conflicts_force_and_missing_images_as_docker_does(both):
    root, engine = both
    ours_id = out(pallet(root, "create", "--name", "held", "multi:1", "true")).strip()
    theirs_id = engine.docker("create", "--name", "held", "multi:1", "true").stdout.decode().strip()
    ids = {"<ctr>": (ours_id[:12], theirs_id[:12])}
    image_id = out(pallet(root, "image", "inspect", "-f", "{{.Id}}", "multi:1")).strip()
    for args in (("tag", "multi:1", "other:1"),
                 ("rmi", image_id),                    # two names: must be forced
                 ("rmi", "other:1"),                   # another name remains: untag only
                 ("rmi", "multi:1"),                   # last name, a container uses it
                 ("rmi", "nosuch"),                    # 404, fatal
                 ("rmi", "-f", "nosuch", "docker.io/library/nosuch:2"),   # 404s, -f: exit 0
                 ("rmi", "-f", "multi:1"),             # stopped user: untag and delete
                 ("images", "-aq"),
                 ("ps", "-a", "--format", "{{.Image}} {{.Names}}"),
                 ("rmi", "-f", image_id),              # gone already
                 ("start", "-a", "held")):             # the container kept its layers
        ours, theirs = run_both(both, *args, ids=ids)
        assert ours == theirs, args
