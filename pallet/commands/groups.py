"""docker's management groups (`container`, `image`, `network`, `volume`, `builder`): the
commands their module adds, the ones pallet.commands.GROUP_COMMANDS names (imported only when
named, so `pallet container ls` pays for no other command), and docker's aliases
(GROUP_ALIASES: `container list` and `container ps` are `container ls`). An alias or a group
entry is the same click command as the top-level one, never a copy; aliases stay out of the
help's list, as docker's do."""

from __future__ import annotations

import importlib

import click

from pallet.base.errors import PalletError


# docker's usage line for a group whose cobra Use names a COMMAND (the others show the bare name)
USAGE_SUFFIX = {"volume": " COMMAND"}


class UnknownCommand(PalletError):
    bare = True


class ManagementGroup(click.Group):
    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from pallet.commands import GROUP_ALIASES, GROUP_COMMANDS
        cmd_name = GROUP_ALIASES.get(self.name, {}).get(cmd_name, cmd_name)
        command = super().get_command(ctx, cmd_name)
        entry = GROUP_COMMANDS.get(self.name, {}).get(cmd_name)
        if command is None and entry is not None:
            command = getattr(importlib.import_module(entry[0]), entry[1])
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        from pallet.commands import GROUP_COMMANDS
        return sorted(set(super().list_commands(ctx)) | set(GROUP_COMMANDS.get(self.name, {})))

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            # docker's words and exit code for a subcommand it does not have
            path = ctx.command_path
            usage = path + USAGE_SUFFIX.get(self.name, "")
            raise UnknownCommand(f"pallet: unknown command: {path} {name}\n\nUsage:  {usage}\n\n"
                                 f"Run '{path} --help' for more information")
        return super().resolve_command(ctx, args)
