"""push and pull against a real registry (Debian's docker-registry), judged by skopeo and by a
private Docker engine pulling what pallet pushed and pushing what pallet pulls."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.cli.ctr_helpers import out, pallet
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)
from tests.images import make_busybox_image
from tests.registry import private_registry

pytestmark = [pytest.mark.server, pytest.mark.root]


@pytest.fixture
def registry(tmp_path):
    with private_registry(tmp_path / "registry") as running:
        yield running


@pytest.fixture
def pushed(tmp_path, registry):
    """(store root, reference, image ID): busybox pushed to the registry."""
    root = tmp_path / "store"
    image_id = make_busybox_image(root, "busybox:latest")
    reference = f"{registry.host}/team/bb:1"
    assert pallet(root, "tag", "busybox", reference).returncode == 0
    result = pallet(root, "push", reference)
    assert result.returncode == 0, result.stderr
    return root, reference, image_id, out(result)


def _skopeo(*args: str) -> dict:
    result = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_push_then_pull_into_a_fresh_store_gives_the_same_image(tmp_path, registry, pushed):
    root, reference, image_id, push_output = pushed
    lines = push_output.splitlines()
    assert lines[0] == f"The push refers to repository [{registry.host}/team/bb]"
    assert lines[1].endswith(": Preparing") and lines[2].endswith(": Pushed")
    digest = lines[-1].split("digest: ")[1].split()[0]
    assert lines[-1] == f"1: digest: {digest} size: {lines[-1].rsplit(' ', 1)[1]}"
    # skopeo, as the format judge: the manifest pallet pushed and the config it names
    inspected = _skopeo("inspect", "--tls-verify=false", f"docker://{reference}")
    assert inspected["Digest"] == digest
    config = _skopeo("inspect", "--config", "--tls-verify=false", f"docker://{reference}")
    assert config["rootfs"]["type"] == "layers"
    raw = _skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{reference}")
    assert raw["config"]["digest"] == image_id
    assert [layer["mediaType"] for layer in raw["layers"]] == \
        ["application/vnd.oci.image.layer.v1.tar+gzip"]   # compressed for the wire

    again = pallet(root, "push", reference)
    assert again.returncode == 0 and ": Layer already exists\n" in out(again)
    assert out(again).splitlines()[-1] == lines[-1]      # same bytes, same digest

    fresh = tmp_path / "fresh"
    pulled = pallet(fresh, "pull", reference)
    assert pulled.returncode == 0, pulled.stderr
    short = raw["layers"][0]["digest"][7:19]
    assert out(pulled).splitlines() == [
        "1: Pulling from team/bb",
        f"{short}: Pulling fs layer", f"{short}: Verifying Checksum",
        f"{short}: Download complete", f"{short}: Pull complete",
        f"Digest: {digest}",
        f"Status: Downloaded newer image for {reference}",
        reference]
    assert out(pallet(fresh, "image", "inspect", "-f", "{{.Id}}", reference)).strip() == image_id
    ran = pallet(fresh, "run", "--rm", reference, "echo", "pulled")
    assert ran.returncode == 0 and out(ran) == "pulled\n"
    up_to_date = pallet(fresh, "pull", "-q", reference)
    assert out(up_to_date) == reference + "\n"
    assert "Status: Image is up to date" in out(pallet(fresh, "pull", reference))
    by_digest = pallet(tmp_path / "third", "image", "pull", f"{registry.host}/team/bb@{digest}")
    assert by_digest.returncode == 0, by_digest.stderr


def test_pull_picks_the_platform_from_an_index(tmp_path, registry, pushed):
    from pallet.runtime.distribution.registry import RegistryClient

    _, reference, image_id, push_output = pushed
    digest = push_output.splitlines()[-1].split("digest: ")[1].split()[0]
    size = int(push_output.splitlines()[-1].rsplit(" ", 1)[1])
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [
                 {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": size,
                  "digest": digest, "platform": {"os": "linux", "architecture": "arm64"}},
                 {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": size,
                  "digest": digest, "platform": {"os": "linux", "architecture": "amd64"}}]}
    client = RegistryClient(registry.host, "team/bb", push=True)
    client.put_manifest("multi", json.dumps(index).encode(), index["mediaType"])
    fresh = tmp_path / "fresh"
    pulled = pallet(fresh, "pull", f"{registry.host}/team/bb:multi")
    assert pulled.returncode == 0, pulled.stderr
    assert out(pallet(fresh, "images", "-q", "--no-trunc")).split() == [image_id]
    refused = pallet(tmp_path / "arm", "pull", "--platform", "linux/s390x",
                     f"{registry.host}/team/bb:multi")
    assert refused.returncode != 0 and "s390x" in refused.stderr.decode()


def test_a_corrupt_blob_in_the_registry_fails_the_pull_and_stores_nothing(tmp_path, registry,
                                                                          pushed):
    _, reference, _, _ = pushed
    raw = _skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{reference}")
    layer = registry.blob_file(raw["layers"][0]["digest"])
    data = bytearray(layer.read_bytes())
    data[len(data) // 2] ^= 0xFF
    layer.write_bytes(bytes(data))
    fresh = tmp_path / "fresh"
    pulled = pallet(fresh, "pull", reference)
    assert pulled.returncode == 1
    assert "Traceback" not in pulled.stderr.decode()
    assert out(pallet(fresh, "images", "-aq")) == ""
    blobs = fresh / "oci/blobs/sha256"
    assert not blobs.exists() or list(blobs.iterdir()) == []
    check = out(pallet(fresh, "system", "check"))
    assert "0 problem(s), 0 leftover(s)" in check, check


@pytest.mark.docker
def test_docker_and_pallet_exchange_images_through_the_registry(tmp_path, registry, pushed,
                                                                dockerd):  # noqa: F811
    root, reference, image_id, _ = pushed
    # Docker pulls what pallet pushed (127.0.0.0/8 registries are plain HTTP for both).
    dockerd.docker("pull", reference)
    assert dockerd.docker("image", "inspect", "-f", "{{.Id}}", reference).stdout.decode().strip() \
        == image_id
    ran = dockerd.docker("run", "--rm", "--network", "none", reference, "echo", "from pallet")
    assert ran.stdout == b"from pallet\n"
    # pallet pulls what Docker pushed (Docker's own manifest and gzip layers).
    theirs = f"{registry.host}/team/bb:from-docker"
    dockerd.docker("tag", reference, theirs)
    dockerd.docker("push", theirs)
    fresh = tmp_path / "fresh"
    pulled = pallet(fresh, "pull", theirs)
    assert pulled.returncode == 0, pulled.stderr
    assert out(pallet(fresh, "image", "inspect", "-f", "{{.Id}}", theirs)).strip() == image_id
    dockerd.docker("rmi", reference, theirs)


@pytest.mark.docker
def test_registry_errors_read_as_dockers(tmp_path, registry, pushed, dockerd):  # noqa: F811
    root, reference, _, _ = pushed
    for args in (("pull", f"{registry.host}/team/bb:nope"),
                 ("pull", "127.0.0.1:9/team/bb:1"),
                 ("push", f"{registry.host}/team/absent:1")):
        theirs = dockerd.docker(*args, check=False)
        ours = pallet(tmp_path / "errors", *args)
        assert (ours.returncode, ours.stdout, ours.stderr.decode()) == \
            (theirs.returncode, theirs.stdout, theirs.stderr.decode()), args


def test_build_cache_travels_through_a_registry(tmp_path, registry):
    from tests.builder.conftest import write_tree

    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\n",
        "a.txt": "cached\n"})
    import shutil

    first, fresh = tmp_path / "first", tmp_path / "fresh"
    make_busybox_image(first, "busybox:latest")
    shutil.copytree(first, fresh, symlinks=True)   # the same base image, nothing built yet
    ref = f"{registry.host}/team/cache:main"
    # A cache the registry does not have yet is no error (the first CI run).
    built = pallet(first, "build", "-q", "--cache-from", f"type=registry,ref={ref}",
                   "--cache-to", f"type=registry,ref={ref}", str(context))
    assert built.returncode == 0, built.stderr
    raw = _skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}")
    assert raw["artifactType"] == "application/vnd.pallet.buildcache.v1"
    again = pallet(fresh, "build", "--progress", "plain", "--cache-from",
                   f"type=registry,ref={ref}", str(context))
    assert again.returncode == 0, again.stderr
    log = again.stderr.decode()
    # no step ran: the DONEs are the cache import's (#1), the FROM's and the context load's
    assert log.startswith(f"#1 importing cache manifest from {ref}\n"), log
    assert log.count("CACHED") == 2 and log.count("DONE") == 3, log
    assert "#3 [internal] load build context\n" in log, log
    assert out(pallet(fresh, "images", "-q", "--no-trunc")).split()[0] == \
        out(pallet(first, "images", "-q", "--no-trunc")).split()[0]
    refused = pallet(fresh, "build", "-q", "--cache-to", "type=registry", str(context))
    assert refused.returncode == 1 and "needs ref=" in refused.stderr.decode()


def test_login_lets_push_and_pull_through_a_registry_that_wants_credentials(tmp_path):
    from tests.conftest import run_pallet

    config = tmp_path / "docker-config"
    env = {"DOCKER_CONFIG": str(config)}
    root = tmp_path / "store"
    make_busybox_image(root, "busybox:latest")
    with private_registry(tmp_path / "locked", users={"alice": "s3cret"}) as locked:
        reference = f"{locked.host}/alice/bb:1"
        assert run_pallet("tag", "busybox", reference, root=root).returncode == 0
        anonymous = run_pallet("push", reference, root=root, env=env)
        assert anonymous.returncode == 1
        assert anonymous.stderr.decode().endswith(": no basic auth credentials\n")
        wrong = run_pallet("login", "-u", "alice", "--password-stdin", locked.host,
                           input=b"nope\n", env=env)
        assert wrong.returncode == 1 and wrong.stderr.decode() == (
            f"Error response from daemon: login attempt to http://{locked.host}/v2/ failed with "
            "status: 401 Unauthorized\n")   # Docker's words, checked against a dockerd
        assert not (config / "config.json").exists()       # nothing stored for a failed login
        right = run_pallet("login", "-u", "alice", "--password-stdin", locked.host,
                           input=b"s3cret\n", env=env)
        assert right.returncode == 0, right.stderr
        assert right.stdout == b"Login Succeeded\n"
        stored = json.loads((config / "config.json").read_text())
        assert stored["auths"][locked.host]["auth"] == "YWxpY2U6czNjcmV0"   # alice:s3cret
        assert (config / "config.json").stat().st_mode & 0o777 == 0o600
        assert run_pallet("push", reference, root=root, env=env).returncode == 0
        pulled = run_pallet("pull", reference, root=tmp_path / "fresh", env=env)
        assert pulled.returncode == 0, pulled.stderr
        logout = run_pallet("logout", locked.host, env=env)
        assert logout.stdout.decode() == f"Removing login credentials for {locked.host}\n"
        assert run_pallet("pull", reference, root=tmp_path / "again", env=env).returncode == 1
        assert run_pallet("logout", locked.host, env=env).stdout.decode() == \
            f"Not logged in to {locked.host}\n"


@pytest.mark.docker
def test_repo_digests_after_pull_and_push_read_as_dockers(tmp_path, registry, pushed,
                                                          dockerd):  # noqa: F811
    root, reference, _, push_output = pushed
    digest = push_output.splitlines()[-1].split("digest: ")[1].split()[0]
    repository = reference.rsplit(":", 1)[0]
    # after the push, pallet knows the image by the digest the registry stored
    assert json.loads(out(pallet(root, "image", "inspect", "-f", "{{json .RepoDigests}}",
                                 reference))) == [f"{repository}@{digest}"]
    fresh = tmp_path / "fresh"
    assert pallet(fresh, "pull", reference).returncode == 0
    dockerd.docker("pull", reference)
    for args in (("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}",
                  repository),
                 ("image", "inspect", "-f", "{{json .RepoDigests}} {{json .RepoTags}}", reference),
                 ("image", "inspect", "-f", "{{.Id}}", f"{repository}@{digest}"),
                 ("rmi", reference)):     # the tag, then its repository's digest name, then all
        theirs = dockerd.docker(*args, check=False)
        ours = pallet(fresh, *args)
        assert (ours.returncode, out(ours), ours.stderr.decode()) == \
            (theirs.returncode, theirs.stdout.decode(), theirs.stderr.decode()), args


def test_push_all_tags_pushes_every_tag_of_the_repository(tmp_path, registry, pushed):
    root, reference, _, _ = pushed
    repository = reference.rsplit(":", 1)[0]
    for tag in ("2", "latest"):
        assert pallet(root, "tag", "busybox", f"{repository}:{tag}").returncode == 0
    result = pallet(root, "push", "--all-tags", repository)
    assert result.returncode == 0, result.stderr
    summary = [line for line in out(result).splitlines() if ": digest: " in line]
    assert [line.split(":")[0] for line in summary] == ["1", "2", "latest"]
    listed = _skopeo("list-tags", "--tls-verify=false", f"docker://{repository}")
    assert sorted(listed["Tags"]) == ["1", "2", "latest"]
    refused = pallet(root, "push", "-a", reference)
    assert refused.returncode == 1 and "can't be used with --all-tags" in refused.stderr.decode()


def test_a_loopback_registry_that_speaks_only_tls_is_used_over_tls(tmp_path):
    # Docker's insecure-registry rule for 127.0.0.0/8: HTTPS without certificate checks first,
    # plain HTTP only when that fails. A TLS-only registry refuses plain HTTP, so this pull and
    # push can only succeed over TLS.
    root = tmp_path / "store"
    image_id = make_busybox_image(root, "busybox:latest")
    with private_registry(tmp_path / "tls", tls=True) as secure:
        reference = f"{secure.host}/team/bb:1"
        assert pallet(root, "tag", "busybox", reference).returncode == 0
        pushed = pallet(root, "push", reference)
        assert pushed.returncode == 0, pushed.stderr
        pulled = pallet(tmp_path / "fresh", "pull", reference)
        assert pulled.returncode == 0, pulled.stderr
        assert out(pallet(tmp_path / "fresh", "images", "-q", "--no-trunc")).split() == [image_id]


@pytest.mark.docker
def test_refused_credentials_read_as_dockers(tmp_path, dockerd):  # noqa: F811
    env = {"DOCKER_CONFIG": str(tmp_path / "docker-config")}
    with private_registry(tmp_path / "locked", users={"alice": "s3cret"}) as locked:
        for args in (("pull", f"{locked.host}/team/bb:1"),
                     ("login", "-u", "alice", "-p", "wrong", locked.host)):
            theirs = dockerd.docker(*args, check=False)
            from tests.conftest import run_pallet
            ours = run_pallet(*args, root=tmp_path / "store", env=env)
            assert (ours.returncode, ours.stdout, ours.stderr.decode()) == \
                (theirs.returncode, theirs.stdout, theirs.stderr.decode()), args
