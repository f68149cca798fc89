"""Definition keys (builder/defkeys.py, the rule in builder/cachekey.py): a fresh root that
imports a mode=min cache of a two-stage build runs neither stage, and gives the same image."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.builder.conftest import write_tree
from tests.images import make_busybox_image

pytestmark = pytest.mark.root

TWO_STAGES = """\
FROM busybox AS build
COPY src /src
RUN cat /src/a.txt /src/b.txt > /joined
RUN wc -c /joined > /size
FROM busybox
COPY --from=build /joined /size /out/
RUN cat /out/size > /summary
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "ctx", {"Dockerfile": TWO_STAGES, "src/a.txt": "alpha\n",
                                         "src/b.txt": "beta\n"})


@pytest.fixture
def roots(tmp_path: Path):
    """(the CI run that made the cache, a fresh runner): the same base image, nothing built."""
    first = tmp_path / "first"
    make_busybox_image(first)
    fresh = tmp_path / "fresh"
    shutil.copytree(first, fresh, symlinks=True)
    yield first, fresh
    from tests.netutil import remove_store_network
    for root in (first, fresh):
        if (root / "network").exists():
            remove_store_network(root)


def build_image(root: Path, context: Path, **request):
    """The cache is the subject here: RUN steps need no network (no bridge, no address pool)."""
    from tests.builder.conftest import build_image as build
    return build(root, context, network="none", **request)


def _ran(log: str) -> list[str]:
    """The titles of the steps that ran (not CACHED), FROM lines left out."""
    titles = {}
    ran = []
    for line in log.splitlines():
        number, _, rest = line.partition(" ")
        if rest.startswith("["):
            titles[number] = rest
        elif rest == "DONE" or rest.startswith("DONE "):
            title = titles.get(number, "")
            if "RUN" in title or "COPY" in title:
                ran.append(title)
    return ran


def test_fresh_root_with_a_min_cache_runs_no_step_and_gives_the_same_image(
        roots, project, tmp_path):
    first, fresh = roots
    cache = tmp_path / "cache"
    made, _ = build_image(first, project, cache_to=(f"type=local,dest={cache}",))
    result, log = build_image(fresh, project, cache_from=(f"type=local,src={cache}",))
    assert result.stats["executed"] == 0, log
    assert result.stats["cached"] == 2, log          # the final stage's COPY --from and RUN
    assert "[build" not in log, log                  # the build stage is not even looked at
    assert result.image_id == made.image_id
    # nothing ran on them, so the cached layers stay packed (unpacked when a step needs them)
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.store.content import Store
    store = Store.open(fresh)
    diff_ids = resolve_image(store, result.image_id).diff_ids
    assert not any((store.layers / d.split(":")[1]).exists() for d in diff_ids[1:])


def test_a_changed_file_the_build_stage_reads_runs_both_stages(roots, project, tmp_path):
    first, fresh = roots
    cache = tmp_path / "cache"
    build_image(first, project, cache_to=(f"type=local,dest={cache}",))
    (project / "src" / "b.txt").write_text("gamma!\n")
    result, log = build_image(fresh, project, cache_from=(f"type=local,src={cache}",))
    assert result.stats["executed"] == 5, log        # 3 steps of build, 2 of the final stage
    assert len(_ran(log)) == 5, log


def test_a_touch_and_a_fresh_clone_still_hit(roots, project, tmp_path):
    first, fresh = roots
    cache = tmp_path / "cache"
    made, _ = build_image(first, project, cache_to=(f"type=local,dest={cache}",))
    clone = tmp_path / "clone"
    shutil.copytree(project, clone)                  # new inodes and mtimes, same bytes
    os.utime(clone / "src" / "a.txt", (1, 1))
    result, log = build_image(fresh, clone, cache_from=(f"type=local,src={cache}",))
    assert result.stats["executed"] == 0, log
    assert result.image_id == made.image_id


def test_the_cache_of_the_consumer_hits_by_content_once_the_read_stage_has_run(
        roots, project, tmp_path):
    """A second, unrelated reader forces the build stage to run: the first reader then
    hits by its content key (the definition key is not needed), with the same image."""
    first, fresh = roots
    cache = tmp_path / "cache"
    made, _ = build_image(first, project, cache_to=(f"type=local,dest={cache}",),
                          no_cache_filter=())
    result, log = build_image(fresh, project, cache_from=(f"type=local,src={cache}",),
                              no_cache_filter=("build",))
    assert result.stats["executed"] == 3, log        # the build stage, asked not to use cache
    assert result.stats["cached"] == 2, log          # the final stage, by content
    assert result.image_id == made.image_id


def test_a_bind_mount_from_a_stage_is_keyed_by_that_stage_s_definition(roots, tmp_path):
    first, fresh = roots
    project = write_tree(tmp_path / "bind", {
        "Dockerfile": "FROM busybox AS build\nCOPY a /a\nRUN cat /a /a > /twice\n"
                      "FROM busybox\nRUN --mount=type=bind,from=build,target=/b cp /b/twice /got\n",
        "a": "one\n"})
    cache = tmp_path / "cache"
    made, _ = build_image(first, project, cache_to=(f"type=local,dest={cache}",))
    result, log = build_image(fresh, project, cache_from=(f"type=local,src={cache}",))
    assert result.stats["executed"] == 0, log
    assert result.image_id == made.image_id
    (project / "a").write_text("two\n")
    changed, log = build_image(fresh, project, cache_from=(f"type=local,src={cache}",))
    assert changed.stats["executed"] == 3, log
    assert changed.image_id != made.image_id


@pytest.mark.server
def test_the_registry_cache_behaves_the_same(roots, project, tmp_path):
    from tests.registry import private_registry

    first, fresh = roots
    with private_registry(tmp_path / "registry") as registry:
        spec = f"type=registry,ref={registry.host}/ci/cache:main"
        made, _ = build_image(first, project, cache_to=(spec,))
        result, log = build_image(fresh, project, cache_from=(spec,))
        assert result.stats["executed"] == 0, log
        assert result.image_id == made.image_id
        (project / "src" / "a.txt").write_text("changed\n")
        changed, log = build_image(fresh, project, cache_from=(spec,))
        assert changed.stats["executed"] == 5, log
