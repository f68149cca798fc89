"""Hostile build files and contexts, tried as an attacker would: each must end in a clear error
or Docker's result, quickly, with nothing written outside the image being built."""

from __future__ import annotations

import pytest

from tests.builder.conftest import build_image, flatten, write_tree

pytestmark = pytest.mark.root

STALLING = "*a*a*a*a*a*a*a*a*a*a*a*a*"  # 12 stars: ~n^12 steps for a backtracking regex


@pytest.mark.timeout(120)
def test_copy_from_a_stage_with_a_stalling_wildcard_finishes(busybox_root, tmp_path):
    # COPY --from sources are matched against the stage's names (trees_from_view): the old
    # per-component regex ran for hours on one 250-character name.
    long_a, long_b = "a" * 250, "a" * 249 + "b"
    context = write_tree(tmp_path / "ctx", {
        "Dockerfile": f"FROM busybox AS src\nCOPY data/ /data/\n"
                      f"FROM busybox\nCOPY --from=src /data/{STALLING}b /out/\n",
        f"data/{long_a}": "no", f"data/{long_b}": "yes"})
    build_image(busybox_root, context, tags=("wild:1",))
    files = flatten(busybox_root, "wild:1")
    assert f"/out/{long_b}" in files and f"/out/{long_a}" not in files
