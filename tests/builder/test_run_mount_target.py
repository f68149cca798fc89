"""A relative `RUN --mount` target is joined to the WORKDIR in effect, as BuildKit does
(`docker init`'s Python template mounts `source=requirements.txt,target=requirements.txt`).
It used to crash the build with an internal ValueError."""

from __future__ import annotations

import pytest

from pallet.base.errors import PalletError
from pallet.builder.plan import BaseImage, plan
from pallet.grammar import parse
from tests.builder.conftest import build_image, flatten, read_file, write_tree


def _resolve(ref, span):
    return BaseImage(id="sha256:" + "ef" * 32,
                     config={"architecture": "amd64", "os": "linux", "config": {"Env": []}})


def _mounts(text):
    built = plan(parse(text, "Dockerfile"), build_args={}, target=None, resolve_base=_resolve,
                 platform=None)
    return [m for step in built.stages[0].steps if step.run for m in step.run.mounts]


def test_relative_targets_join_the_workdir_and_are_cleaned():
    mounts = _mounts("FROM base\nWORKDIR /app\n"
                     "RUN --mount=type=bind,source=req.txt,target=req.txt "
                     "--mount=type=cache,target=./cache/../pip/ "
                     "--mount=type=tmpfs,target=/abs/dir true\n"
                     "WORKDIR sub\nRUN --mount=type=bind,target=../x true\n")
    assert [m.target for m in mounts] == ["/app/req.txt", "/app/pip", "/abs/dir", "/app/x"]
    # BuildKit's default cache id is the target as written, cleaned (not joined)
    assert mounts[1].id == "pip"


def test_without_workdir_a_relative_target_is_under_the_root():
    (mount,) = _mounts("FROM base\nRUN --mount=type=bind,target=ctx true\n")
    assert mount.target == "/ctx"


@pytest.mark.parametrize("target", ["/", ".", "a/.."])
def test_a_target_that_is_the_root_is_refused_with_buildkits_message(target):
    with pytest.raises(PalletError) as caught:
        _mounts(f"FROM base\nRUN --mount=type=bind,target={target} true\n")
    assert caught.value.message == 'invalid mount target "/"'
    assert caught.value.span.line == 2


@pytest.mark.root
def test_docker_init_python_template_mount_builds_and_reads_the_file(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {
        "requirements.txt": "flask==3.0\n",
        "Dockerfile": "FROM busybox\nWORKDIR /app\n"
                      "RUN --mount=type=bind,source=requirements.txt,target=requirements.txt \\\n"
                      "    cat requirements.txt > /installed.txt && pwd >> /installed.txt\n"})
    build_image(busybox_root, context, tags=("init:1",))
    assert read_file(busybox_root, "init:1", "/installed.txt") == "flask==3.0\n/app\n"
    # the mount point is not left in the layer
    assert "/app/requirements.txt" not in flatten(busybox_root, "init:1")
