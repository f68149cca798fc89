"""docs/architecture.md stays true with the code: every package it must describe is named, and
every module or folder it names exists."""

from __future__ import annotations

import re

from tests.importgraph import REPO, package_dirs

DOC = (REPO / "docs" / "architecture.md").read_text()


def test_every_package_is_described():
    for package, folder in package_dirs().items():
        relative = folder.relative_to(REPO).as_posix()
        top = relative.split("/")[0]
        named = f"`{relative}/`" in DOC or f"`{relative.split('/', 1)[-1]}/`" in DOC
        assert named or package in DOC, f"{package} ({relative}/) is not in docs/architecture.md"
        assert f"`{top}/`" in DOC


def test_every_module_the_page_names_exists():
    named = set(re.findall(r"`((?:base|grammar|builder|runtime|pallet)/[\w/]+\.(?:py|lark))`", DOC))
    named |= {f"{m.group(1)}/{m.group(2)}" for m in re.finditer(
        r"`(base|grammar|builder|runtime/\w+|pallet/\w+)/`[^`\n]*`(\w+\.py)`", DOC)}
    assert len(named) > 20
    missing = sorted(path for path in named if not (REPO / path).exists()
                     and not (REPO / "grammar" / path.split("/")[-1]).exists())
    assert missing == []


def test_the_cache_key_formula_is_where_the_page_says():
    assert "builder/cachekey.py" in DOC
    assert "key(step) = xxh3_128(" in (REPO / "builder" / "cachekey.py").read_text()
