"""The management groups offer what docker's do: `pallet container|image|network|volume
--help` lists docker's command names (docker's own CLI is asked), each alias and group entry
is the very click command of the top-level one, and an unknown subcommand gets docker's text
and exit code."""

from __future__ import annotations

import click
import pytest

from tests.cli.ctr_helpers import out, pallet
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)

GROUPS = ("container", "image", "network", "volume")


def _listed(help_text: str) -> list[str]:
    names, inside = [], False
    for line in help_text.splitlines():
        if line.strip().endswith("Commands:"):
            inside = True
            continue
        if inside and not line.strip():
            if names:
                inside = False
            continue
        if inside:
            names.append(line.split()[0])
    return sorted(names)


# (the docker CLI hides what the engine's API version lacks, e.g. swarm's `volume update`: a
# private dockerd of the version the tests compare with is asked)


@pytest.mark.docker
@pytest.mark.server
@pytest.mark.parametrize("group", GROUPS)
def test_group_lists_dockers_commands(tmp_path, dockerd, group):  # noqa: F811
    theirs = _listed(dockerd.docker(group, "--help").stdout.decode())
    ours = _listed(out(pallet(tmp_path, group, "--help")))
    assert theirs and ours == theirs


@pytest.mark.docker
@pytest.mark.server
@pytest.mark.parametrize("group", GROUPS)
def test_unknown_subcommand_as_docker(tmp_path, dockerd, group):  # noqa: F811
    theirs = dockerd.docker(group, "frobnicate", check=False)
    ours = pallet(tmp_path, group, "frobnicate")
    assert ours.returncode == theirs.returncode == 1
    assert ours.stderr.decode() == theirs.stderr.decode().replace("docker", "pallet")


def test_aliases_are_the_same_commands():
    from pallet.cli import cli
    from pallet.commands import GROUP_ALIASES, GROUP_COMMANDS
    context = click.Context(cli)
    top = {name: cli.get_command(context, name) for name in cli.list_commands(context)}
    same_as_top = {("container", "ls"): "ps", ("container", "rm"): "rm",
                   ("image", "ls"): "images", ("image", "rm"): "rmi"}
    for group_name, aliases in GROUP_ALIASES.items():
        group = top[group_name]
        for alias, name in aliases.items():
            assert group.get_command(context, alias) is group.get_command(context, name)
            if (group_name, name) in same_as_top:
                assert group.get_command(context, alias) is top[same_as_top[group_name, name]]
    for group_name, entries in GROUP_COMMANDS.items():
        group = top[group_name]
        for name in entries:
            assert group.get_command(context, name) is top[name], (group_name, name)


@pytest.mark.root
def test_container_group_runs_commit_diff_update_stats(root):
    pallet(root, "run", "-d", "--network", "none", "--name", "grp", "busybox", "sh", "-c",
           "echo x > /made; sleep 60")
    try:
        assert "A /made" in out(pallet(root, "container", "diff", "grp")).splitlines()
        assert pallet(root, "container", "update", "--pids-limit", "50", "grp").returncode == 0
        assert out(pallet(root, "inspect", "-f", "{{.HostConfig.PidsLimit}}", "grp")) == "50\n"
        stats = pallet(root, "container", "stats", "--no-stream", "--format", "{{.Name}}", "grp")
        assert out(stats) == "grp\n"
        assert pallet(root, "container", "commit", "grp", "grp/committed:1").returncode == 0
        assert out(pallet(root, "image", "list", "-q", "grp/committed")).strip()
        assert out(pallet(root, "container", "list", "-q", "--filter", "name=grp")).strip()
        assert pallet(root, "container", "remove", "-f", "grp").returncode == 0
        assert pallet(root, "image", "remove", "grp/committed:1").returncode == 0
    finally:
        pallet(root, "rm", "-f", "grp")
