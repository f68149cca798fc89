"""`pallet exec`: its flags (pallet.argspec: the fast path and click read the same list) and
the command itself, click-free so the fast path runs it without importing click."""

from __future__ import annotations

import os
import sys

from pallet.argspec import FLAG, MULTI, Arg, Opt, Spec
from pallet.base.errors import PalletError
from pallet.commands.attach_session import BareError

HELP = "Execute a command in a running container"

SPEC = Spec([
    Opt("detach", ("-d", "--detach"), FLAG, help="Detached mode: run command in the background"),
    Opt("interactive", ("-i", "--interactive"), FLAG, help="Keep STDIN open even if not attached"),
    Opt("tty", ("-t", "--tty"), FLAG, help="Allocate a pseudo-TTY"),
    Opt("env", ("-e", "--env"), MULTI, help="Set environment variables"),
    Opt("env_file", ("--env-file",), MULTI, help="Read in a file of environment variables"),
    Opt("user", ("-u", "--user"), help="Username or UID (format: <name|uid>[:<group|gid>])"),
    Opt("workdir", ("-w", "--workdir"), help="Working directory inside the container"),
    Opt("privileged", ("--privileged",), FLAG, help="Give extended privileges to the command"),
    Opt("detach_keys", ("--detach-keys",),
        help="Override the key sequence for detaching a container"),
    Arg("container_ref", metavar="CONTAINER"),
    Arg("command", nargs=-1, required=True, type="unprocessed"),
], interspersed=False)


def exec_command(root, *, detach, interactive, tty, env, env_file, user, workdir, privileged,
                 detach_keys, container_ref, command) -> None:
    from pallet.commands.env_flags import expand_env, read_env_file
    given = []
    try:
        for path in env_file:
            given += read_env_file(path)
        given += expand_env(env)
        # -e NAME without a value in our environment unsets NAME in the process (docker
        # hands the bare name to the daemon, whose merge drops it)
        given += [name for name in env if "=" not in name and name not in os.environ]
    except PalletError as error:
        raise BareError(error.message, exit_code=1) from None
    from pallet.runtime.container.lifecycle import get
    from pallet.runtime.container.execute import exec_spec
    from pallet.commands.attach_session import detach_sequence
    record = get(root, container_ref)
    if tty and interactive and not detach and not os.isatty(0):
        raise BareError("the input device is not a TTY", exit_code=1)
    if not record.state.get("Running"):
        raise PalletError(f"container {record.id} is not running")
    if record.state.get("Paused"):
        raise PalletError(f"container {record.id} is paused, unpause the container before exec")
    keys = detach_sequence(detach_keys, exec_=True)
    if workdir is not None and not workdir.startswith("/"):   # runc's check, after the lookup
        from pallet.commands.echo import echo
        echo("OCI runtime exec failed: exec failed: Cwd must be an absolute path: unknown")
        sys.exit(126)
    spec, base = exec_spec(record, command, env=given, user=user, workdir=workdir, tty=tty,
                           privileged=privileged)
    from pallet.commands.exec_streams import run_exec
    code = run_exec(root, record, spec, base, detach=detach, interactive=interactive,
                    keys=keys)
    if code:
        sys.exit(code)
