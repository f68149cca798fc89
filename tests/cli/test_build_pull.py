"""build --pull: every base image is pulled before it is used, as docker build --pull does (it
used to be accepted and ignored with a warning)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builder.conftest import write_tree
from tests.cli.ctr_helpers import out, pallet
from tests.images import make_busybox_image
from tests.registry import private_registry

pytestmark = [pytest.mark.server, pytest.mark.root]


def _has(root: Path, reference: str, path: str) -> bool:
    from pallet.builder.layerview import LayeredView
    from pallet.runtime.image.images import resolve_image
    from pallet.runtime.image.layers import layer_dirs
    from pallet.runtime.store.content import Store
    store = Store.open(root)
    return LayeredView(layer_dirs(store, resolve_image(store, reference))).read_text(path) is not None


def test_pull_fetches_the_base_and_picks_up_a_newer_one(tmp_path):
    with private_registry(tmp_path / "registry") as registry:
        base = f"{registry.host}/team/base:1"
        publisher = tmp_path / "publisher"
        make_busybox_image(publisher)
        out(pallet(publisher, "tag", "busybox", base))
        out(pallet(publisher, "push", base))

        builder = tmp_path / "builder"
        context = write_tree(tmp_path / "ctx", {"Dockerfile": f"FROM {base}\nRUN echo hi > /hi\n"})
        missing = pallet(builder, "build", "-q", "-t", "app:1", str(context))
        assert missing.returncode != 0 and b"not found locally" in missing.stderr
        out(pallet(builder, "build", "-q", "--pull", "-t", "app:1", str(context)))
        assert _has(builder, "app:1", "/hi") and not _has(builder, "app:1", "/v2")

        # the registry's base moves on
        newer = write_tree(tmp_path / "newer", {"Dockerfile": "FROM busybox\nRUN echo 2 > /v2\n"})
        out(pallet(publisher, "build", "-q", "-t", base, str(newer)))
        out(pallet(publisher, "push", base))

        out(pallet(builder, "build", "-q", "-t", "app:2", str(context)))
        assert not _has(builder, "app:2", "/v2")      # without --pull: the local base
        result = pallet(builder, "build", "--pull", "-t", "app:3", str(context))
        assert result.returncode == 0, result.stderr
        assert b"no registry client" not in result.stderr
        assert _has(builder, "app:3", "/v2") and _has(builder, "app:3", "/hi")


def test_pull_of_an_unreachable_registry_fails_the_build(tmp_path):
    root = tmp_path / "store"
    make_busybox_image(root, "127.0.0.1:9/team/base:1")
    context = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM 127.0.0.1:9/team/base:1\n"})
    assert pallet(root, "build", "-q", str(context)).returncode == 0
    result = pallet(root, "build", "-q", "--pull", str(context))
    assert result.returncode != 0 and b"127.0.0.1:9" in result.stderr
