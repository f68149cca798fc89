"""`pallet build` and `pallet builder prune` as a user runs them (COPY-only build files)."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import pytest

from tests.builder.conftest import write_tree
from tests.conftest import run_pallet

pytestmark = pytest.mark.root


@pytest.fixture
def context(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY hello.txt /hello.txt\nCMD [\"cat\", \"/hello.txt\"]\n",
        "hello.txt": "hello\n"})


def test_quiet_prints_only_the_id_and_iidfile_matches(root, context, tmp_path):
    iid = tmp_path / "iid"
    result = run_pallet("build", "-q", "-t", "hello:1", "--iidfile", str(iid), str(context),
                        root=root)
    assert result.returncode == 0, result.stderr
    image_id = result.stdout.decode().strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    assert iid.read_text() == image_id
    assert result.stderr == b""
    listing = run_pallet("images", root=root).stdout.decode()
    assert "hello" in listing and image_id[7:19] in listing


def test_plain_progress_marks_cached_steps(root, context):
    first = run_pallet("build", "--progress", "plain", "-t", "hello:1", str(context), root=root)
    assert first.returncode == 0, first.stderr
    second = run_pallet("build", "--progress", "plain", "-t", "hello:1", str(context), root=root)
    log = second.stderr.decode()
    assert "COPY hello.txt /hello.txt" in log and "CACHED" in log
    assert "naming to docker.io/library/hello:1 done" in log


def test_build_file_from_stdin_and_context_from_a_tar(root, context):
    dockerfile = b"FROM busybox\nCOPY hello.txt /from-stdin\n"
    result = run_pallet("build", "-q", "-f", "-", str(context), root=root, input=dockerfile)
    assert result.returncode == 0, result.stderr
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        tar.add(context / "Dockerfile", arcname="Dockerfile")
        tar.add(context / "hello.txt", arcname="hello.txt")
    result = run_pallet("build", "-q", "-t", "tarctx:1", "-", root=root, input=data.getvalue())
    assert result.returncode == 0, result.stderr


def test_user_errors_are_one_paragraph_without_traceback(root, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_pallet("build", str(empty), root=root)
    assert result.returncode == 1
    err = result.stderr.decode()
    assert err.startswith("Error: failed to read dockerfile") and "Traceback" not in err
    bad = write_tree(tmp_path / "bad", {"Dockerfile": "FROM busybox\nCOPY nope /x\n"})
    result = run_pallet("build", "-t", "bad:1", str(bad), root=root)
    assert result.returncode == 1
    err = result.stderr.decode()
    assert "Dockerfile:2:1" in err and "file not found in build context" in err
    assert "COPY nope /x" in err and "^" in err
    result = run_pallet("build", "--target", "nostage", str(bad), root=root)
    assert result.returncode == 1 and "failed to reach build target" in result.stderr.decode()
    result = run_pallet("build", "-t", "Bad:Tag!", str(bad), root=root)
    assert result.returncode == 1 and "Traceback" not in result.stderr.decode()
    assert "COPY" not in result.stderr.decode()  # refused before building
    missing = write_tree(tmp_path / "missing", {"Dockerfile": "FROM nosuchimage:1\n"})
    result = run_pallet("build", str(missing), root=root)
    assert result.returncode == 1 and "not found locally" in result.stderr.decode()


def test_cache_export_then_import_into_a_fresh_root(root, context, tmp_path):
    import shutil
    fresh = tmp_path / "fresh"
    shutil.copytree(root, fresh, symlinks=True)  # the same base image, nothing built yet
    cache_dir = tmp_path / "cache"
    first = run_pallet("build", "-q", "--cache-to", f"type=local,dest={cache_dir}", str(context),
                       root=root)
    assert first.returncode == 0, first.stderr
    index = json.loads((cache_dir / "index.json").read_text())
    assert index["manifests"][0]["artifactType"] == "application/vnd.pallet.buildcache.v1"
    second = run_pallet("build", "--progress", "plain", "--cache-from",
                        f"type=local,src={cache_dir}", str(context), root=fresh)
    assert second.returncode == 0, second.stderr
    assert "CACHED" in second.stderr.decode()
    log = second.stderr.decode()
    # #1 is the cache import (BuildKit's "importing cache manifest from"), then DONE: the
    # FROM, the context load and the CMD (a metadata step, done at once); no step executed
    assert f"#1 importing cache manifest from {cache_dir}\n#1 DONE" in log, log
    assert re.findall(r"^#\d+ DONE", log, re.M) == ["#1 DONE", "#2 DONE", "#3 DONE",
                                                     "#5 DONE"], log
    assert "#3 [internal] load build context\n#3 transferring context: " in log
    assert "#4 [stage-0 2/3] COPY hello.txt /hello.txt\n#4 CACHED" in log


def test_builder_prune_removes_records_and_reports(root, context):
    assert run_pallet("build", "-q", str(context), root=root).returncode == 0
    before = run_pallet("builder", "du", root=root).stdout.decode()
    assert "Records:\t1" in before
    result = run_pallet("builder", "prune", "-a", "-f", root=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().startswith("Total reclaimed space:")
    assert "Records:\t0" in run_pallet("builder", "du", root=root).stdout.decode()
    rebuilt = run_pallet("build", "--progress", "plain", str(context), root=root)
    assert rebuilt.returncode == 0 and "CACHED" not in rebuilt.stderr.decode()


def test_cache_to_mode_min_exports_only_the_final_stage_steps(root, tmp_path):
    context = write_tree(tmp_path / "multi", {
        "Dockerfile": "FROM busybox AS side\nCOPY a /a\nFROM busybox\nCOPY --from=side /a /b\n",
        "a": "a"})
    counts = {}
    for mode in ("min", "max"):
        dest = tmp_path / f"cache-{mode}"
        result = run_pallet("build", "-q", "--cache-to", f"type=local,dest={dest},mode={mode}",
                            str(context), root=root)
        assert result.returncode == 0, result.stderr
        index = json.loads((dest / "index.json").read_text())
        manifest_digest = index["manifests"][0]["digest"].split(":")[1]
        manifest = json.loads((dest / "blobs" / "sha256" / manifest_digest).read_text())
        config = json.loads((dest / "blobs" / "sha256" / manifest["config"]["digest"]
                             .split(":")[1]).read_text())
        aliases = [r for r in config["records"] if "content_key" in r["extra"]]
        counts[mode] = (len(config["records"]) - len(aliases), len(aliases))
    # the steps' records; the one alias is COPY --from's under its definition key
    assert counts == {"min": (1, 1), "max": (2, 1)}
