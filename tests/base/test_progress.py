"""pallet.base.progress: the events, the metered stream and dockerd's JSON lines."""

from __future__ import annotations

import io
import json

from pallet.base.progress import (Bytes, Collect, Meter, Note, State, json_line, json_message,
                                  progress_text)


def test_progress_text_is_docker_jsonprogress_string():
    # JSONProgress.String(): int(current/total*100)/2 '=' then '>', 50 wide, HumanSize %.4g
    assert progress_text(1048576, 16787078) == \
        "[===>" + " " * 47 + "]  1.049MB/16.79MB"
    assert progress_text(1048576, 16787078, width=110) == " 1.049MB/16.79MB"   # no bar
    assert progress_text(16787078, 16787078, width=111) == "[" + "=" * 50 + ">]  16.79MB/16.79MB"
    assert progress_text(0, 0) == ""
    assert progress_text(532, 0) == "    532B"                      # total unknown
    assert progress_text(2000, 1000, width=80) == "     2kB"        # wonky current: no total
    assert progress_text(999_950, 10**9, width=80) == "  1000kB/1GB"


def test_json_lines_are_dockerds_bytes():
    # what dockerd 20.10 writes for the same three kinds (Go's encoding/json: > is \u003e)
    assert json_line(Bytes("0123456789ab", "Downloading", 1048576, 16787078)) == (
        b'{"status":"Downloading","progressDetail":{"current":1048576,"total":16787078},'
        b'"progress":"[===\\u003e' + b" " * 47 + b']  1.049MB/16.79MB","id":"0123456789ab"}\r\n')
    assert json_line(State("0123456789ab", "Pull complete")) == \
        b'{"status":"Pull complete","progressDetail":{},"id":"0123456789ab"}\r\n'
    assert json_line(Note("latest", "Pulling from library/busybox")) == \
        b'{"status":"Pulling from library/busybox","id":"latest"}\r\n'
    assert json_line(Note("", "Digest: sha256:ab")) == b'{"status":"Digest: sha256:ab"}\r\n'
    assert json_message(Bytes("", "Importing", 5, 0)) == {
        "status": "Importing", "progressDetail": {"current": 5}, "progress": "      5B"}
    assert json.loads(json_line(Bytes("x", "Pushing", 1, 2)))["progressDetail"] == \
        {"current": 1, "total": 2}


def test_meter_reports_as_dockerd_throttles_and_always_the_last_count():
    sink = Collect()
    data = bytes(10 << 20)
    meter = Meter(io.BytesIO(data), sink, "l", "Extracting", len(data))
    while meter.read(64 << 10):
        pass
    counts = [event.current for event in sink.events]
    assert counts[-1] == len(data)                      # the end is always reported
    assert len(counts) <= 3                             # ten a second at most: a fast read
    assert all(isinstance(e, Bytes) and e.total == len(data) for e in sink.events)


def test_meter_piece_splits_big_reads_and_passes_writes():
    sink = Collect()
    meter = Meter(io.BytesIO(bytes(1000)), sink, "l", "Downloading", 1000, piece=100)
    assert len(meter.read(1 << 20)) == 100
    out = io.BytesIO()
    writer = Meter(out, sink, "w", "Saving layer", 10)
    writer.write(b"0123456789")
    writer.finish()
    assert out.getvalue() == b"0123456789" and sink.events[-1] == Bytes("w", "Saving layer", 10, 10)
