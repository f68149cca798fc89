"""Image commands through the installed CLI: images, tag, rmi, image inspect, history, prune."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import run_pallet
from tests.images import busybox_rootfs_tarball, make_busybox_image


def out(result) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def test_import_prints_the_image_id_and_images_lists_it(pallet_root: Path):
    image_id = out(run_pallet("import", str(busybox_rootfs_tarball()), "busybox:1",
                              "--change", 'CMD ["sh"]', root=pallet_root)).strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
    lines = out(run_pallet("images", root=pallet_root)).splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
    row = re.split(r"\s{2,}", lines[1])
    assert row[:3] == ["busybox", "1", image_id[7:19]]
    assert row[3].endswith("ago") and row[4].endswith("MB")
    # columns line up the way docker's tabwriter does (min width 10, padding 3)
    assert lines[0].index("TAG") == lines[1].index("1") == len("REPOSITORY") + 3


def test_tag_adds_a_name_and_rmi_untags_then_deletes(pallet_root: Path):
    image_id = make_busybox_image(pallet_root)
    assert out(run_pallet("tag", "busybox", "localhost:5000/team/app:1.2", root=pallet_root)) == ""
    listing = out(run_pallet("images", "--format", "{{.Repository}}:{{.Tag}}", root=pallet_root))
    assert sorted(listing.split()) == ["busybox:latest", "localhost:5000/team/app:1.2"]
    assert out(run_pallet("images", "-q", root=pallet_root)).split() == [image_id[7:19]]
    refused = run_pallet("rmi", image_id[7:19], root=pallet_root)
    assert refused.returncode == 1
    assert "image is referenced in multiple repositories" in refused.stderr.decode()
    assert out(run_pallet("rmi", "localhost:5000/team/app:1.2", root=pallet_root)) == \
        "Untagged: localhost:5000/team/app:1.2\n"
    (layer,) = json.loads(out(run_pallet("image", "inspect", "busybox", root=pallet_root)))[0][
        "RootFS"]["Layers"]   # one layer: its chain ID is its diff ID
    assert out(run_pallet("rmi", "busybox", root=pallet_root)) == \
        f"Untagged: busybox:latest\nDeleted: {image_id}\nDeleted: {layer}\n"
    assert out(run_pallet("images", "-q", root=pallet_root)) == ""
    assert list((pallet_root / "oci/blobs/sha256").iterdir()) == []
    assert list((pallet_root / "layers").iterdir()) == []


def test_inspect_gives_docker_shaped_json(pallet_root: Path):
    image_id = make_busybox_image(pallet_root, changes=('CMD ["sh"]', "ENV A=1 B=two",
                                                        "EXPOSE 8080", "WORKDIR /root"))
    document = json.loads(out(run_pallet("image", "inspect", "busybox:latest", root=pallet_root)))
    assert len(document) == 1
    image = document[0]
    assert image["Id"] == image_id and image["RepoTags"] == ["busybox:latest"]
    assert image["Config"]["Cmd"] == ["sh"] and image["Config"]["Env"] == ["A=1", "B=two"]
    assert image["Config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert image["Config"]["WorkingDir"] == "/root"
    assert image["Os"] == "linux" and image["Architecture"] == "amd64"
    assert image["RootFS"]["Type"] == "layers" and len(image["RootFS"]["Layers"]) == 1
    assert image["Size"] > 1_000_000
    formatted = out(run_pallet("image", "inspect", "-f", "{{.Id}} {{json .Config.Cmd}}",
                               image_id[7:15], root=pallet_root))
    assert formatted == f'{image_id} ["sh"]\n'


def test_missing_image_is_dockers_error_and_exit_1(pallet_root: Path):
    result = run_pallet("image", "inspect", "nothere", root=pallet_root)
    assert result.returncode == 1
    assert result.stderr.decode().startswith("Error: No such image: nothere")
    assert "Traceback" not in result.stderr.decode()


def test_upper_case_reference_is_refused_and_nothing_is_written(pallet_root: Path):
    result = run_pallet("import", str(busybox_rootfs_tarball()), "BusyBox:1", root=pallet_root)
    assert result.returncode == 1
    assert "invalid reference format: repository name must be lowercase" in result.stderr.decode()
    assert json.loads((pallet_root / "oci/index.json").read_text())["manifests"] == []
    assert list((pallet_root / "oci/blobs/sha256").iterdir()) == []


def test_history_shows_layers_newest_first(pallet_root: Path):
    image_id = make_busybox_image(pallet_root)
    lines = out(run_pallet("history", "busybox", root=pallet_root)).splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    assert lines[1].startswith(image_id[7:19])
    assert "Imported from busybox-rootfs.tar" in lines[1]
    assert out(run_pallet("history", "-q", "busybox", root=pallet_root)).split() == [image_id[7:19]]


def test_retag_leaves_a_dangling_image_that_prune_removes(pallet_root: Path):
    first = make_busybox_image(pallet_root, changes=('CMD ["sh"]',))
    second = make_busybox_image(pallet_root, changes=('CMD ["true"]',))
    assert first != second
    rows = out(run_pallet("images", root=pallet_root)).splitlines()[1:]
    assert any(row.startswith("<none>") and first[7:19] in row for row in rows)
    dangling = out(run_pallet("images", "-q", "-f", "dangling=true", root=pallet_root)).split()
    assert dangling == [first[7:19]]
    pruned = out(run_pallet("image", "prune", "-f", root=pallet_root))
    assert f"deleted: {first}" in pruned and "Total reclaimed space:" in pruned
    assert out(run_pallet("images", "-q", root=pallet_root)).split() == [second[7:19]]


def test_import_from_stdin_with_changes(pallet_root: Path):
    data = busybox_rootfs_tarball().read_bytes()
    result = run_pallet("import", "-", "piped:1", "-c", "CMD echo hi", "-c", "ENTRYPOINT [\"/bin/sh\", \"-c\"]",
                        "-c", "USER nobody", "-c", "LABEL a=b c=\"d e\"", "-c", "VOLUME /data",
                        "-c", "STOPSIGNAL SIGINT", "-m", "from a pipe", root=pallet_root, input=data)
    assert result.returncode == 0, result.stderr.decode()
    image = json.loads(out(run_pallet("image", "inspect", "piped:1", root=pallet_root)))[0]
    config = image["Config"]
    assert config["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert config["Entrypoint"] == ["/bin/sh", "-c"]
    assert config["User"] == "nobody" and config["Labels"] == {"a": "b", "c": "d e"}
    assert config["Volumes"] == {"/data": {}} and config["StopSignal"] == "SIGINT"
    history = out(run_pallet("history", "--format", "{{.Comment}}", "piped:1", root=pallet_root))
    assert history == "from a pipe\n"


def test_import_with_an_unknown_change_instruction_fails_before_storing(pallet_root: Path):
    result = run_pallet("import", str(busybox_rootfs_tarball()), "x:1", "-c", "RUN rm -rf /",
                        root=pallet_root)
    assert result.returncode == 1
    assert result.stderr.decode().startswith("Error: run is not a valid change command")
    assert list((pallet_root / "oci/blobs/sha256").iterdir()) == []


def test_import_of_a_missing_file(pallet_root: Path):
    result = run_pallet("import", "/nonexistent/rootfs.tar", root=pallet_root)
    assert result.returncode == 1
    assert "open /nonexistent/rootfs.tar: no such file or directory" in result.stderr.decode()


def test_rmi_refuses_an_image_a_container_uses_unless_forced(pallet_root: Path):
    image_id = make_busybox_image(pallet_root)
    container = pallet_root / "containers" / ("c0ffee" * 10 + "abcd")
    container.mkdir(parents=True)
    (container / "config.json").write_text(json.dumps({"Image": image_id}))
    refused = run_pallet("rmi", "busybox", root=pallet_root)
    assert refused.returncode == 1
    assert (f'conflict: unable to remove repository reference "busybox" (must force) - container '
            f'c0ffeec0ffee is using its referenced image {image_id[7:19]}') in refused.stderr.decode()
    # Forced, Docker deletes the image all the same (a real container keeps its own layers:
    # tests/cli/test_rmi_docker_compare.py); this stand-in names no layers, so they go too.
    forced = out(run_pallet("rmi", "-f", "busybox", root=pallet_root)).splitlines()
    assert forced[:2] == ["Untagged: busybox:latest", f"Deleted: {image_id}"] and len(forced) == 3
    assert out(run_pallet("images", "-aq", root=pallet_root)) == ""
    df = out(run_pallet("system", "df", root=pallet_root)).splitlines()
    assert df[1].split()[:3] == ["Images", "0", "0"]


def test_image_group_offers_save_load_import(tmp_path: Path):
    image_id = make_busybox_image(tmp_path / "a")
    assert run_pallet("image", "save", "-o", str(tmp_path / "x.tar"), "busybox",
                      root=tmp_path / "a").returncode == 0
    loaded = run_pallet("image", "load", "-i", str(tmp_path / "x.tar"), root=tmp_path / "b")
    assert out(loaded) == "Loaded image: busybox:latest\n"
    imported = out(run_pallet("image", "import", str(busybox_rootfs_tarball()), "again:1",
                              root=tmp_path / "b")).strip()
    assert imported.startswith("sha256:")
    assert out(run_pallet("image", "ls", "-q", "busybox", root=tmp_path / "b")).strip() == image_id[7:19]
    helptext = out(run_pallet("image", "--help"))
    for name in ("history", "import", "inspect", "load", "ls", "prune", "rm", "save", "tag"):
        assert f"  {name} " in helptext


def test_rmi_and_prune_keep_layers_the_build_cache_records(pallet_root: Path):
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.store.content import Store
    make_busybox_image(pallet_root)
    store = Store.open(pallet_root)
    layer = resolve_image(store, "busybox").layers[0]
    diff_id = resolve_image(store, "busybox").diff_ids[0]
    from pallet.builder.cache import CacheRecord, CacheRecords, LayerRef
    records = CacheRecords(store)
    records.put(CacheRecord(key="ab" * 16, layer=LayerRef(
        digest=layer.digest, diff_id=diff_id, size=layer.size, media_type=layer.media_type),
        config={}, history={}))
    out(run_pallet("rmi", "busybox", root=pallet_root))
    assert store.has_blob(layer.digest) and (store.layers / diff_id[7:]).is_dir()
    check = out(run_pallet("system", "check", root=pallet_root))
    assert "0 problem(s), 0 leftover(s)" in check
    records.remove("ab" * 16)
    out(run_pallet("system", "prune", "-f", root=pallet_root))
    assert not store.has_blob(layer.digest) and not (store.layers / diff_id[7:]).exists()
