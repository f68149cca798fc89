"""`pallet build` and `pallet check` on build files past a limit: a clear error naming the
file (and line), exit status 1, no traceback, nothing built. Before, a UTF-16 or non-UTF-8
build file was an internal UnicodeDecodeError in `build`, and deep `${...}` nesting a
RecursionError."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_pallet

pytestmark = pytest.mark.root

NESTED = "${A:-" * 5000 + "x" + "}" * 5000


@pytest.mark.parametrize(("data", "place", "message"), [
    ("FROM busybox\nRUN echo hi\n".encode("utf-16"), "1:1", "is UTF-16 encoded"),
    (b"FROM busybox\nLABEL a=caf\xe9\n", "2:12", "file is not valid UTF-8"),
    (f"FROM busybox\nENV A={NESTED}\n".encode(), "2:1", "ENV: ${...} nested more than 100"),
    (b"FROM busybox\n" + b"LABEL a=b\n" * (2 * 1024 * 1024), "1:1", "is larger than 16 MiB"),
], ids=["utf16", "latin1", "nesting", "size"])
def test_build_and_check_refuse_with_a_located_error(root, tmp_path, data, place, message):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_bytes(data)
    built = run_pallet("build", "-q", "-t", "limits:1", str(context), root=root)
    err = built.stderr.decode()
    assert built.returncode == 1 and f"Dockerfile:{place}: " in err and message in err, err[:2000]
    assert "Traceback" not in err and "internal error" not in err and len(err) < 4000
    assert run_pallet("image", "inspect", "limits:1", root=root).returncode != 0
    checked = run_pallet("check", str(context))
    out = checked.stdout.decode()
    assert checked.returncode == 1 and f"Dockerfile:{place}: error: " in out and message in out


def test_build_file_on_stdin_is_decoded_strictly(root, tmp_path):
    built = run_pallet("build", "-q", "-f", "-", str(tmp_path), root=root,
                       input=b"FROM busybox\nLABEL a=\xff\n")
    err = built.stderr.decode()
    assert built.returncode == 1 and "Dockerfile:2:9: file is not valid UTF-8" in err
    assert "Traceback" not in err


def test_utf8_bom_is_dropped_and_the_build_works(root, tmp_path: Path):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_bytes(b"\xef\xbb\xbfFROM busybox\nLABEL a=b\n")
    built = run_pallet("build", "-q", "-t", "bom:1", str(context), root=root)
    assert built.returncode == 0, built.stderr
