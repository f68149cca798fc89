"""GET /events through the docker CLI and the SDK: what the library records (the CLI's actions
too, so a container made by `pallet run` shows up), since/until and filters, a live stream."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.conftest import run_pallet

pytestmark = [pytest.mark.server, pytest.mark.root]


def test_events_replay_with_since_until_and_filters(api):
    start = time.time()
    api.docker("run", "--rm", "--name", "evented", "busybox", "true", check=True)
    # the CLI and the server share the store: the CLI's actions are events too
    assert run_pallet("volume", "create", "from-the-cli", root=api.root).returncode == 0
    end = time.time() + 1
    lines = api.docker("events", "--since", f"{start:.3f}", "--until", f"{end:.3f}",
                       "--format", "{{json .}}", check=True).stdout.decode().splitlines()
    events = [json.loads(line) for line in lines]
    actions = [(e["Type"], e["Action"]) for e in events]
    assert ("container", "create") in actions and ("container", "die") in actions
    assert ("container", "destroy") in actions and ("volume", "create") in actions
    only = api.docker("events", "--since", f"{start:.3f}", "--until", f"{end:.3f}",
                      "--filter", "type=volume", "--format", "{{.Actor.ID}}", check=True)
    assert only.stdout.decode().split() == ["from-the-cli"]
    # dockerd does not validate the keys of /events' filters: one it does not know matches
    # every event (tests/cli/test_events_docker.py checks that against a private dockerd)
    unknown = api.docker("events", "--since", f"{start:.3f}", "--until", f"{end:.3f}",
                         "--filter", "colour=red", "--format", "{{json .}}", check=True)
    assert unknown.stdout.decode().splitlines() == lines


def test_sdk_event_stream_sees_what_happens_now(api):
    client = api.client(version="auto")
    stream = client.events(decode=True, filters={"type": "container"})
    seen = []

    def collect() -> None:
        for event in stream:
            seen.append(event)
            if event["Action"] == "destroy":
                return

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    time.sleep(0.5)
    client.containers.run("busybox", ["true"], remove=True, name="live-one")
    reader.join(timeout=30)
    stream.close()
    assert [e["Action"] for e in seen][:1] == ["create"]
    assert seen[-1]["Action"] == "destroy"
    assert {e["Actor"]["Attributes"]["name"] for e in seen} == {"live-one"}
