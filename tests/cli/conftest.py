"""Fixtures shared by the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.ctr_helpers import remove_all_containers
from tests.images import make_busybox_image


@pytest.fixture
def root(pallet_root: Path) -> Path:
    """A private store holding busybox:latest; the containers a test leaves are removed."""
    make_busybox_image(pallet_root, "busybox:latest")
    yield pallet_root
    remove_all_containers(pallet_root)
