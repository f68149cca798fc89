"""Image endpoints through the stock docker CLI and the SDK: images (filters), inspect,
history, tag, rmi, prune, save/load; each response validated against the spec (conftest)."""

from __future__ import annotations

import json

import pytest

from tests.images import make_busybox_image

pytestmark = [pytest.mark.server, pytest.mark.root]


def test_images_lists_what_the_store_holds(api):
    result = api.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", check=True)
    lines = result.stdout.decode().split()
    assert lines[0] == "busybox:latest"
    api.docker("tag", "busybox", "example.com/team/tool:1.0", check=True)
    listed = api.docker("images", "--format", "{{.Repository}}:{{.Tag}}", check=True)
    assert sorted(listed.stdout.decode().split()) == ["busybox:latest",
                                                      "example.com/team/tool:1.0"]


def test_image_filters_reference_label_dangling_and_bad_keys(api):
    make_busybox_image(api.root, "labelled:1", changes=('CMD ["sh"]', "LABEL tier=gold"))
    make_busybox_image(api.root, "", changes=('CMD ["sh"]', "LABEL tier=none"))  # dangling
    names = lambda *args: sorted(api.docker("images", *args, "--format",
                                            "{{.Repository}}:{{.Tag}}", check=True)
                                 .stdout.decode().split())
    assert names("--filter", "reference=busy*") == ["busybox:latest"]
    assert names("--filter", "label=tier=gold") == ["labelled:1"]
    assert names("--filter", "label=tier") == ["<none>:<none>", "labelled:1"]
    assert names("--filter", "dangling=true") == ["<none>:<none>"]
    result = api.docker("images", "--filter", "colour=blue")
    assert result.returncode != 0
    assert b"invalid filter 'colour'" in result.stderr
    status, _, body = api.request("GET", "/v1.44/images/json?filters=%7Bnot-json")
    assert status == 400 and "invalid filter" in json.loads(body)["message"]


def test_inspect_and_history_of_an_image(api):
    document = json.loads(api.docker("image", "inspect", "busybox", check=True).stdout)[0]
    assert document["RepoTags"] == ["busybox:latest"]
    assert document["Config"]["Cmd"] == ["sh"]
    assert document["Os"] == "linux"
    history = api.docker("history", "--no-trunc", "--format", "{{.ID}} {{.Comment}}",
                         "busybox", check=True).stdout.decode().splitlines()
    assert history[0].startswith(document["Id"])
    assert "Imported from busybox-rootfs.tar" in history[0]
    missing = api.docker("image", "inspect", "nosuch:tag")
    assert missing.returncode == 1
    assert b"No such image: nosuch:tag" in missing.stderr


def test_rmi_and_its_conflicts(api):
    api.docker("tag", "busybox", "second:name", check=True)
    result = api.docker("rmi", "second:name", check=True)
    assert result.stdout.decode().strip() == "Untagged: second:name"
    api.docker("tag", "busybox", "second:name", check=True)
    refused = api.docker("rmi", api.docker("images", "-q", "busybox").stdout.decode().strip())
    assert refused.returncode == 1
    assert b"image is referenced in multiple repositories" in refused.stderr
    assert b"409" not in refused.stderr   # Docker's CLI shows the message, not the status
    gone = api.docker("rmi", "nosuch")
    assert gone.returncode == 1 and b"No such image: nosuch" in gone.stderr


def test_save_and_load_round_trip(api, tmp_path):
    archive = tmp_path / "busybox.tar"
    api.docker("save", "-o", str(archive), "busybox", check=True)
    assert archive.stat().st_size > 1_000_000
    image_id = api.docker("images", "-q", "--no-trunc", "busybox").stdout.decode().strip()
    api.docker("rmi", "busybox", check=True)
    assert api.docker("images", "-q").stdout.strip() == b""
    loaded = api.docker("load", "-i", str(archive), check=True)
    assert loaded.stdout.decode().strip() == "Loaded image: busybox:latest"
    assert api.docker("images", "-q", "--no-trunc", "busybox").stdout.decode().strip() == image_id
    bad = api.docker("load", input=b"this is not a tar archive" * 100)
    assert bad.returncode != 0
    assert b"not a tar archive" in bad.stderr
    assert api.docker("images", "-q", "--no-trunc").stdout.decode().split() == [image_id]


def test_image_prune_removes_dangling_only(api):
    dangling = make_busybox_image(api.root, "", changes=('CMD ["sh"]', "LABEL x=1"))
    result = api.docker("image", "prune", "-f", check=True)
    assert f"deleted: {dangling}" in result.stdout.decode()
    assert api.docker("images", "-q").stdout.decode().split() != []
    assert api.docker("images", "-q", "--filter", "dangling=true").stdout.strip() == b""


def test_sdk_images(api):
    client = api.client(version="auto")
    image = client.images.get("busybox")
    assert image.tags == ["busybox:latest"]
    assert image.attrs["Config"]["Cmd"] == ["sh"]
    assert [i.tags for i in client.images.list()] == [["busybox:latest"]]
    assert image.tag("sdk/tagged", "v2") is True
    assert "sdk/tagged:v2" in client.images.get("sdk/tagged:v2").tags
    chunks = b"".join(image.save())
    assert len(chunks) > 1_000_000
    assert client.api.history("busybox")[0]["Id"] == image.id
    client.images.remove("sdk/tagged:v2")
    import docker.errors
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("sdk/tagged:v2")


def test_push_pull_and_distribution_inspect_with_a_local_registry(api, tmp_path):
    from tests.registry import private_registry
    with private_registry(tmp_path / "registry") as registry:
        target = f"{registry.host}/team/bb:1"
        api.docker("tag", "busybox", target, check=True)
        pushed = api.docker("push", target, check=True).stdout.decode()
        assert "digest: sha256:" in pushed
        status, _, body = api.request("GET", f"/v1.44/distribution/{target}/json")
        assert status == 200
        document = json.loads(body)
        assert document["Descriptor"]["digest"] in pushed
        assert document["Platforms"][0]["os"] == "linux"
        api.docker("rmi", target, check=True)
        api.docker("pull", target, check=True)
        assert api.docker("images", "-q", target).stdout.strip()
        status, _, body = api.request("GET", f"/v1.44/distribution/{registry.host}/no/such:1/json")
        assert status == 401 and json.loads(body)["message"]
