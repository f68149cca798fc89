"""Live progress of local work that moves bytes, on a pseudo-terminal the test opens: `export`
draws "Exporting - N" while the tar is still being written (its reader is held back, so the
count must move while the output is short of the end), `cp` draws docker cp's "Copying from/to
container - N[/TOTAL]" lines before the copy is in place and ends on docker's single line
"Successfully copied SIZE to DEST"; off a terminal, and with -q, nothing is printed."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest

from tests.cli.ctr_helpers import pallet
from tests.ptyrun import final_screen, frames, run_in_pty

pytestmark = [pytest.mark.root]

MB = 1_000_000
FILES = 3        # 3 x 10 MB of random data in the container


@pytest.fixture
def filled(root: Path) -> Path:
    made = pallet(root, "run", "--network", "none", "--name", "filled", "busybox", "sh", "-c",
                  f"mkdir /big && for i in $(seq {FILES}); do "
                  "head -c 10000000 /dev/urandom > /big/f$i; done")
    assert made.returncode == 0, made.stderr
    return root


def _pallet_argv(root: Path, *args: str) -> list[str]:
    import sys
    return [str(Path(sys.executable).parent / "pallet"), "--root", str(root), *args]


def _counts(raw: bytes, action: str) -> list[float]:
    units = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}
    found = []
    for frame in frames(raw):
        match = re.fullmatch(rf"{action} - ([\d.]+)(B|kB|MB|GB)(/.*)?", frame)
        if match:
            found.append(float(match[1]) * units[match[2]])
    return found


def test_export_counts_bytes_while_the_archive_is_written(filled: Path, tmp_path: Path):
    fifo = tmp_path / "export.fifo"
    os.mkfifo(fifo)
    taken = []

    def slow_reader():            # ~20 MB/s: the export cannot end before ~1.5 s
        with open(fifo, "rb") as source:
            while chunk := source.read(256 * 1024):
                taken.append(len(chunk))
                time.sleep(0.0125)

    reader = threading.Thread(target=slow_reader)
    reader.start()
    run = run_in_pty(_pallet_argv(filled, "export", "-o", str(fifo), "filled"),
                     on_chunk=lambda: sum(taken))
    reader.join()
    assert run.returncode == 0, run.raw
    total = sum(taken)
    assert total > FILES * 10 * MB
    live = [(seen, data) for _, data, seen in run.chunks if b"Exporting - " in data]
    # counts were drawn while the reader had not yet taken the whole archive, and they grew
    assert any(seen < total - 5 * MB for seen, _ in live), [s for s, _ in live]
    counts = _counts(run.raw, "Exporting")
    assert len(counts) >= 3 and counts == sorted(counts) and counts[-1] > 10 * MB, counts
    assert frames(run.raw)[0] == "Preparing to export"
    assert final_screen(run.raw) == []        # erased: docker export prints nothing


def test_cp_draws_dockers_lines_before_the_copy_is_in_place(filled: Path, tmp_path: Path):
    out = tmp_path / "out"
    run = run_in_pty(_pallet_argv(filled, "cp", "filled:/big", str(out)),
                     on_chunk=lambda: out.exists())
    assert run.returncode == 0, run.raw
    assert sorted(p.name for p in out.iterdir()) == [f"f{i}" for i in range(1, FILES + 1)]
    early = [data for _, data, in_place in run.chunks
             if b"Copying from container - " in data and not in_place]
    assert early, run.chunks
    drawn = frames(run.raw)
    assert drawn[0] == "Preparing to copy"
    # the unpacking knows its total: "N/30MB"
    assert any(re.fullmatch(r"Copying from container - [\d.]+[kMG]?B/30(\.\d+)?MB", f)
               for f in drawn), drawn
    assert final_screen(run.raw) == [f"Successfully copied 30MB to {out}"]

    back = run_in_pty(_pallet_argv(filled, "cp", str(out), "filled:/again"))
    assert back.returncode == 0, back.raw
    assert _counts(back.raw, "Copying to container")
    assert final_screen(back.raw) == ["Successfully copied 30MB to filled:/again"]
    quiet = run_in_pty(_pallet_argv(filled, "cp", "-q", "filled:/big/f1", str(tmp_path / "q")))
    assert quiet.returncode == 0 and quiet.raw == b"", quiet.raw


def test_off_a_terminal_cp_and_export_print_nothing_but_the_data(filled: Path, tmp_path: Path):
    copied = pallet(filled, "cp", "filled:/big/f1", str(tmp_path / "f1"))
    assert copied.returncode == 0 and copied.stdout == copied.stderr == b""
    exported = pallet(filled, "export", "-o", str(tmp_path / "e.tar"), "filled")
    assert exported.returncode == 0 and exported.stdout == exported.stderr == b""


def test_build_shows_the_context_transfer_live(root: Path, tmp_path: Path):
    # a 3 GB sparse file: reading it takes a while but writes nothing; the RUN false after the
    # first COPY ends the build before anything copies it (the context is read before the
    # first COPY of it, as BuildKit sends it before its first use)
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nCOPY small /small\nRUN false\n"
                                        "COPY big /big\n")
    (context / "small").write_text("s")
    with open(context / "big", "wb") as big:
        big.truncate(3 * 1000 * MB)
    run = run_in_pty(_pallet_argv(root, "build", "--progress", "tty", "--network", "none",
                                  str(context)))
    assert run.returncode != 0      # the RUN false
    drawn = frames(run.raw)
    live = [i for i, f in enumerate(drawn)
            if re.fullmatch(r"=> => transferring context: [\d.]+[kMG]B \d+\.\ds", f)]
    done = [i for i, f in enumerate(drawn)
            if re.fullmatch(r"=> => transferring context: 2\.79GB \d+\.\ds done", f)]
    assert live and done and live[0] < done[0], drawn
    assert "=> [internal] load build context" in " ".join(drawn)


def test_build_plain_shows_the_context_transfer_once(root: Path, tmp_path: Path):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nCOPY . /app\n")
    (context / "data").write_bytes(b"x" * 2048)
    built = pallet(root, "build", "--progress", "plain", "--network", "none", str(context))
    assert built.returncode == 0, built.stderr
    log = built.stderr.decode()
    size = 2048 + len("FROM busybox\nCOPY . /app\n")
    assert re.search(r"^#2 \[internal\] load build context\n#2 transferring context: "
                     rf"{size / 1024:.2f}kB \d+\.\ds done\n#2 DONE \d+\.\ds$", log, re.M), log
    again = pallet(root, "build", "--progress", "plain", "--network", "none", str(context))
    # unchanged files cost a stat: nothing is read again
    assert "#2 transferring context: 0B " in again.stderr.decode(), again.stderr


def test_build_shows_a_large_layer_being_written_live(root: Path, tmp_path: Path):
    # 40 MB of random data gzipped (incompressible: the slow case) takes a second or more
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox\nRUN head -c 40000000 /dev/urandom > /blob\nRUN echo small > /s\n")
    run = run_in_pty(_pallet_argv(root, "build", "--progress", "tty", "--network", "none",
                                  "--compression", "gzip", str(context)))
    assert run.returncode == 0, run.raw
    drawn = frames(run.raw)
    live = [i for i, f in enumerate(drawn)
            if re.fullmatch(r"=> => writing layer [\d.]+[kMG]?B \d+\.\ds", f)]
    done = [i for i, f in enumerate(drawn)
            if re.fullmatch(r"=> => writing layer sha256:[0-9a-f]{64} 38\.\d\dMB \d+\.\ds done", f)]
    assert live and len(done) == 1 and live[0] < done[0], drawn
    plain = pallet(root, "build", "--progress", "plain", "--no-cache", "--network", "none",
                   str(context))
    log = plain.stderr.decode()
    # off a terminal only the final line, and only for the large layer (not for /s)
    assert len(re.findall(r"^#\d+ writing layer sha256:[0-9a-f]{64} 38\.\d\dMB \d+\.\ds done$",
                          log, re.M)) == 1, log
    assert "writing layer" not in log.split("RUN echo small")[1], log
