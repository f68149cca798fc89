"""build's progress for the work around the steps, as BuildKit shows it: the context transfer
of a streamed context, the cache export and import with each layer's size and time."""

from __future__ import annotations

import io
import os
import re
import tarfile

import pytest

from tests.cli.ctr_helpers import pallet

pytestmark = [pytest.mark.root]


def _context_tar(size: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM busybox\nCOPY big /big\n"),
                           ("big", os.urandom(size))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_streamed_context_and_cache_export_import_lines(root, tmp_path):
    data = _context_tar(3 << 20)
    cache = tmp_path / "cache"
    result = pallet(root, "build", "--progress", "plain", "-t", "big:1", "--cache-to",
                    f"type=local,dest={cache}", "-", input=data, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    text = result.stderr.decode()
    size = f"{len(data) / 1024 / 1024:.2f}MB"
    assert re.search(rf"^#1 \[internal\] load build context\n#1 transferring context: "
                     rf"{re.escape(size)} \d+\.\ds done\n#1 DONE \d+\.\ds$", text, re.M), text
    number = re.search(r"^#(\d+) exporting cache to client directory$", text, re.M)
    assert number, text
    layers = re.findall(rf"^#{number.group(1)} writing layer sha256:[0-9a-f]{{64}} "
                        rf"([0-9.]+)MB \d+\.\ds done$", text, re.M)
    assert layers and float(layers[-1]) >= 3.0, text
    assert re.search(rf"^#{number.group(1)} writing cache manifest sha256:[0-9a-f]{{64}} done\n"
                     rf"#{number.group(1)} DONE", text, re.M), text
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    from tests.images import make_busybox_image
    make_busybox_image(fresh, "busybox:latest")
    again = pallet(fresh, "build", "--progress", "plain", "--cache-from",
                   f"type=local,src={cache}", "-", input=data, timeout=120)
    assert again.returncode == 0, again.stderr.decode()
    assert re.search(rf"^#\d+ importing cache manifest from {re.escape(str(cache))}\n"
                     rf"#\d+ DONE", again.stderr.decode(), re.M), again.stderr.decode()
