"""`pallet build` for click (help, the remote client, every argv the fast path leaves to
click): made from build_command.py's flag list, running its function."""

from __future__ import annotations

from pallet.commands.build_command import HELP, SPEC, build_command, build_request  # noqa: F401
from pallet.commands.clickspec import command

build = command("build", SPEC, build_command, HELP, help_option_names=["-h", "--help"])
