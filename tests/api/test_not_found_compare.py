"""Images that are not there, named as the engine names them: the same docker CLI commands
against `pallet serve` and a private dockerd print the same words on the same streams with
the same exit code (`No such image: nosuch:latest` where it was asked as `nosuch`, a full
ID as `sha256:...`, save's name as given, push's error inside its progress stream)."""

from __future__ import annotations

import subprocess

import pytest

from tests.api.conftest import DOCKER_CLI
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)

pytestmark = [pytest.mark.docker, pytest.mark.server, pytest.mark.root]

FULL_ID = "0123456789abcdef" * 4

COMMANDS = [
    ("history", "nosuch"), ("tag", "nosuch", "other:1"), ("history", "nosuch:v2"),
    ("history", "abc123"), ("tag", "abc123", "other:1"), ("history", FULL_ID),
    ("history", f"sha256:{FULL_ID}"), ("history", "localhost:5000/team/nosuch"),
    ("rmi", "nosuch"), ("image", "inspect", "nosuch"), ("save", "nosuch"),
    ("create", "--pull", "never", "nosuch"), ("push", "nosuch"),
    ("push", "localhost:5000/team/nosuch:v1"),
]


def test_missing_images_are_named_as_dockerd_names_them(api, dockerd):  # noqa: F811
    differences = []
    for command in COMMANDS:
        ours = api.docker(*command)
        # the same CLI binary for both (the words of a 404 differ between CLI versions)
        theirs = subprocess.run([DOCKER_CLI, *command], capture_output=True, env=dockerd.env(),
                                timeout=120)
        if (ours.returncode, ours.stdout, ours.stderr) != \
                (theirs.returncode, theirs.stdout, theirs.stderr):
            differences.append(f"docker {' '.join(command)}:\n"
                               f"  dockerd     {theirs.returncode} {theirs.stdout!r} {theirs.stderr!r}\n"
                               f"  pallet serve {ours.returncode} {ours.stdout!r} {ours.stderr!r}")
    assert not differences, "\n".join(differences)
