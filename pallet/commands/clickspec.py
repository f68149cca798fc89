"""click commands made from pallet.argspec declarations, so the fast path (pallet/fastpath.py)
and click read one list of flags and can never drift apart."""

from __future__ import annotations

from pathlib import Path

import click

from pallet.argspec import CHOICE, FLAG, INT, MULTI, Arg, Spec

# OTHER options name their click type here (a type the fast path leaves to click)
TYPES = {
    "float": float,
    "file-path": click.Path(dir_okay=False, path_type=Path),
    "file-name": click.Path(dir_okay=False),
    "unprocessed": click.UNPROCESSED,
}


def params(spec: Spec) -> list[click.Parameter]:
    made: list[click.Parameter] = []
    for option in spec.items:
        extra = dict(option.extra)
        if "type" in extra:
            extra["type"] = TYPES[extra["type"]]
        if isinstance(option, Arg):
            made.append(click.Argument([option.name], nargs=option.nargs,
                                       required=option.required, **extra))
            continue
        if option.kind == FLAG:
            extra["is_flag"] = True
        elif option.kind == MULTI:
            extra["multiple"] = True
        elif option.kind == INT:
            extra["type"] = int
        elif option.kind == CHOICE:
            extra["type"] = click.Choice(list(option.choices))
        if option.default is not None:
            extra["default"] = option.default
        made.append(click.Option([*option.decls, option.name], **extra))
    return made


def command(name: str, spec: Spec, run, help_text: str, **context_settings) -> click.Command:
    """A click command for spec whose callback is run(root, **params)."""
    parameters = params(spec)
    if not spec.interspersed:
        context_settings["allow_interspersed_args"] = False

    @click.pass_context
    def callback(ctx: click.Context, **values) -> None:
        run(ctx.obj["root"], **values)

    return click.Command(name, params=parameters, callback=callback, help=help_text,
                         context_settings=context_settings or None)
