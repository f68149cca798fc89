"""diff, commit, stats, update and system df through the stock docker CLI."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.server, pytest.mark.root]


def test_diff_and_commit(api):
    api.docker("run", "--name", "changer", "busybox", "sh", "-c",
               "echo new > /added.txt && rm /bin/vi && echo x >> /etc/profile", check=True)
    changes = api.docker("diff", "changer", check=True).stdout.decode().splitlines()
    assert "A /added.txt" in changes and "D /bin/vi" in changes and "C /etc" in changes
    image_id = api.docker("commit", "-m", "by the api", "-c", "CMD [\"cat\", \"/added.txt\"]",
                          "changer", "committed:1", check=True).stdout.decode().strip()
    assert image_id.startswith("sha256:")
    assert api.docker("run", "--rm", "committed:1", check=True).stdout == b"new\n"
    history = api.docker("history", "--format", "{{.Comment}}", "committed:1", check=True)
    assert history.stdout.decode().splitlines()[0] == "by the api"


def test_stats_update_and_system_df(api):
    api.docker("run", "-d", "--name", "busy", "--memory", "64m", "busybox", "sleep", "300",
               check=True)
    stats = api.docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}",
                       "busy", check=True).stdout.decode().split()
    assert stats[0] == "busy" and stats[-1] == "1"
    assert stats[3] == "64MiB"
    api.docker("update", "--memory", "96m", "--memory-swap", "192m", "busy", check=True)
    limit = json.loads(api.docker("inspect", "-f", "{{json .HostConfig.Memory}}", "busy",
                                  check=True).stdout)
    assert limit == 96 * 1024 * 1024
    usage = api.docker("system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}",
                       check=True).stdout.decode().splitlines()
    assert "Images 1 1" in usage and "Containers 1 1" in usage
