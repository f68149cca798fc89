"""What real-world build files showed side by side with docker: `WORKDIR /app/` is kept as
written (Docker stores `/app/`; only relative paths are cleaned), and every step of a stage
gets its progress line (ENV/ARG/LABEL steps were counted in `[base n/N]` but not printed)."""

from __future__ import annotations

import re

import pytest

from tests.builder.conftest import build_image, image_config, read_file, write_tree

pytestmark = pytest.mark.root

DOCKERFILE = """FROM busybox AS base
ENV A=1
ARG B=2
WORKDIR /app/
LABEL x=y
RUN pwd > /pwd && echo $A$B > /ab
EXPOSE 80
USER root
"""


def test_absolute_workdir_is_kept_as_written_and_relative_is_cleaned(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {"Dockerfile": DOCKERFILE})
    build_image(busybox_root, context, tags=("meta:1",))
    config = image_config(busybox_root, "meta:1")
    assert config["config"]["WorkingDir"] == "/app/"
    assert "WORKDIR /app/" in [h.get("created_by") for h in config["history"]]
    assert read_file(busybox_root, "meta:1", "/pwd") == "/app\n"
    relative = write_tree(tmp_path / "rel", {
        "Dockerfile": "FROM busybox\nWORKDIR /app/\nWORKDIR ./sub//dir/\nRUN pwd > /pwd\n"})
    build_image(busybox_root, relative, tags=("meta:2",))
    assert image_config(busybox_root, "meta:2")["config"]["WorkingDir"] == "/app/sub/dir"
    assert read_file(busybox_root, "meta:2", "/pwd") == "/app/sub/dir\n"


def test_every_step_gets_its_progress_line(busybox_root, tmp_path):
    context = write_tree(tmp_path / "ctx", {"Dockerfile": DOCKERFILE})
    for attempt in ("first", "cached"):
        _, log = build_image(busybox_root, context, tags=("meta:1",))
        numbers = [int(n) for n in re.findall(r"^#\d+ \[base (\d+)/8\]", log, re.M)]
        assert numbers == list(range(1, 9)), (attempt, log)
        assert "[base 2/8] ENV A=1" in log and "[base 3/8] ARG B=2" in log
