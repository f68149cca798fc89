"""A command's flags as data, and click's parsing of them without importing click.

The hottest commands (`run`, `exec`, `ps`, `build`) declare their flags here as plain tuples;
pallet/commands/clickspec.py makes the click command from the same declaration (help, the
remote client and every unusual argv go through click), and pallet/fastpath.py parses the
common argv with ``parse()`` below, which follows click's parser step by step (long options with
``=VALUE`` or a following word, bundled short flags, ``-xVALUE``, ``--``, a first positional
ending the options where the command allows no interspersed arguments). Anything click would
answer with a message, or convert in a way not mirrored here, makes ``parse`` return None and
the caller hands the whole argv to click: importing click and building the command tree costs
~15-20 ms of CPU, a fifth of `pallet exec`.
"""

from __future__ import annotations

FLAG, VALUE, MULTI, INT, CHOICE, OTHER = "flag", "value", "multi", "int", "choice", "other"


class Opt:
    """One option: its parameter name, its spellings, what it takes, its default, click's
    extra keywords (help, metavar, show_default, and for OTHER the click type's name)."""

    __slots__ = ("name", "decls", "kind", "default", "choices", "extra")

    def __init__(self, name: str, decls: tuple[str, ...], kind: str = VALUE, default=None, *,
                 choices: tuple[str, ...] = (), **extra) -> None:
        self.name, self.decls, self.kind, self.default = name, decls, kind, default
        self.choices, self.extra = choices, extra

    @property
    def takes_value(self) -> bool:
        return self.kind != FLAG


class Arg:
    """A positional argument: nargs 1 or -1 (the rest), required or not."""

    __slots__ = ("name", "nargs", "required", "extra")

    def __init__(self, name: str, nargs: int = 1, required: bool | None = None, **extra) -> None:
        self.name, self.nargs = name, nargs
        self.required = nargs == 1 if required is None else required
        self.extra = extra


class Spec:
    """A command's options and arguments in click's order (the order of its help), and its
    parsing settings."""

    def __init__(self, items: list[Opt | Arg], *, interspersed: bool = True,
                 help_names: tuple[str, ...] = ("-h", "--help")) -> None:
        self.items, self.interspersed = items, interspersed
        self.options = [item for item in items if isinstance(item, Opt)]
        self.arguments = [item for item in items if isinstance(item, Arg)]
        options = self.options
        self.long: dict[str, Opt] = {}
        self.short: dict[str, Opt] = {}
        for option in options:
            for decl in option.decls:
                if decl.startswith("-"):
                    # click's rule: one dash and one character is a short option
                    (self.short if len(decl) == 2 else self.long)[decl] = option
        # click drops a help name that an option already uses (run's -h is --hostname)
        self.help_names = tuple(n for n in help_names if n not in self.long and n not in self.short)


def parse(spec: Spec, args: list[str]) -> dict | None:
    """click's parameters for args (the values its callback would receive), or None where
    click would do anything else: print help or an error, or convert a value differently."""
    given: dict[str, object] = {}
    largs: list[str] = []
    rargs = list(args)
    while rargs:
        arg = rargs.pop(0)
        if arg == "--":
            break
        if arg[:1] == "-" and len(arg) > 1:
            if arg.split("=", 1)[0] in spec.help_names:
                return None
            long_opt, eq, explicit = arg.partition("=")
            option = spec.long.get(long_opt)
            if option is not None:
                if not option.takes_value:
                    if eq:
                        return None                  # "Option '--rm' does not take a value."
                    value = True
                elif eq:
                    value = explicit
                elif rargs:
                    value = rargs.pop(0)
                else:
                    return None                      # "Option '--name' requires an argument."
                if not _store(given, option, value):
                    return None
                continue
            if arg[:2] == "--":
                return None                          # "No such option"
            for index, char in enumerate(arg[1:], start=2):
                option = spec.short.get("-" + char)
                if option is None or "-" + char in spec.help_names:
                    return None
                if not option.takes_value:
                    if not _store(given, option, True):
                        return None
                    continue
                if index < len(arg):
                    value = arg[index:]
                elif rargs:
                    value = rargs.pop(0)
                else:
                    return None
                if not _store(given, option, value):
                    return None
                break
        elif spec.interspersed:
            largs.append(arg)
        else:
            rargs.insert(0, arg)
            break
    positional = largs + rargs
    params: dict[str, object] = {}
    for option in spec.options:
        if option.name in given:
            value = given[option.name]
            params[option.name] = tuple(value) if option.kind == MULTI else value
        elif option.kind == FLAG:
            params[option.name] = False
        elif option.kind == MULTI or option.extra.get("multiple"):
            params[option.name] = ()
        else:
            params[option.name] = option.default
    for argument in spec.arguments:
        if argument.nargs == -1:
            params[argument.name] = tuple(positional)
            positional = []
            if argument.required and not params[argument.name]:
                return None                          # "Missing argument"
        elif positional:
            params[argument.name] = positional.pop(0)
        elif argument.required:
            return None
        else:
            params[argument.name] = None
    if positional:
        return None                                  # "Got unexpected extra argument"
    return params


def _store(given: dict, option: Opt, value) -> bool:
    """Record one occurrence as click converts it; False where click's conversion is not
    mirrored (or fails): the caller then leaves the argv to click."""
    kind = option.kind
    if kind == MULTI:
        given.setdefault(option.name, []).append(value)
        return True
    if kind == INT:
        text = value.strip()
        if not (text.lstrip("-").isdigit() and text.lstrip("-").isascii()) or text.count("-") > 1:
            return False
        value = int(text)
    elif kind == CHOICE:
        if value not in option.choices:
            return False
    elif kind == OTHER:
        return False
    given[option.name] = value
    return True
