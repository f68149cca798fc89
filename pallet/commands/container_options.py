"""The `run`/`create` flags and their parsing into CreateRequest (Docker's spellings and errors)."""

from __future__ import annotations

from pathlib import Path

from pallet.argspec import FLAG, MULTI, OTHER, VALUE, Arg, Opt
from pallet.base.errors import PalletError
from pallet.commands.flags import duration_flag, size_flag
from pallet.base.go_values import int_flag
from pallet.commands.env_flags import expand_env, read_env_file  # noqa: F401 (re-export)
from pallet.runtime.container.mount_specs import parse_mount, parse_tmpfs, parse_volume
from pallet.commands.network_options import NETWORK_FLAGS, network_fields
from pallet.runtime.network.hostentries import extra_host, is_ip

# run's and create's flags (pallet.argspec: the fast path and click read this one list)
CREATE_FLAGS = [
    Opt("detach", ("-d", "--detach"), FLAG, help="Run container in background and print container ID"),
    Opt("interactive", ("-i", "--interactive"), FLAG, help="Keep STDIN open even if not attached"),
    Opt("tty", ("-t", "--tty"), FLAG, help="Allocate a pseudo-TTY"),
    Opt("auto_remove", ("--rm",), FLAG, help="Automatically remove the container when it exits"),
    Opt("name", ("--name",), help="Assign a name to the container"),
    Opt("env", ("-e", "--env"), MULTI, help="Set environment variables"),
    Opt("env_file", ("--env-file",), OTHER, type="file-name", multiple=True, help="Read in a file of environment variables"),
    Opt("workdir", ("-w", "--workdir"), help="Working directory inside the container"),
    Opt("user", ("-u", "--user"), help="Username or UID (format: <name|uid>[:<group|gid>])"),
    Opt("entrypoint", ("--entrypoint",), help="Overwrite the default ENTRYPOINT of the image"),
    Opt("hostname", ("-h", "--hostname"), help="Container host name"),
    Opt("volumes", ("-v", "--volume"), MULTI, help="Bind mount a volume"),
    Opt("mounts", ("--mount",), MULTI, help="Attach a filesystem mount to the container"),
    Opt("volumes_from", ("--volumes-from",), MULTI, help="Mount volumes from the specified container(s)"),
    Opt("tmpfs", ("--tmpfs",), MULTI, help="Mount a tmpfs directory"),
    Opt("read_only", ("--read-only",), FLAG, help="Mount the container's root filesystem as read only"),
    Opt("init", ("--init",), FLAG, help="Run an init inside the container that forwards signals and reaps processes"),
    Opt("memory", ("-m", "--memory"), help="Memory limit"),
    Opt("memory_swap", ("--memory-swap",), help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap"),
    Opt("cpus", ("--cpus",), help="Number of CPUs"),
    Opt("pids_limit", ("--pids-limit",), help="Tune container pids limit (set -1 for unlimited)"),
    Opt("cap_add", ("--cap-add",), MULTI, help="Add Linux capabilities"),
    Opt("cap_drop", ("--cap-drop",), MULTI, help="Drop Linux capabilities"),
    Opt("privileged", ("--privileged",), FLAG, help="Give extended privileges to this container"),
    Opt("security_opt", ("--security-opt",), MULTI, help="Security Options"),
    Opt("stop_signal", ("--stop-signal",), help="Signal to stop the container"),
    Opt("stop_timeout", ("--stop-timeout",), help="Timeout (in seconds) to stop a container"),
    Opt("restart", ("--restart",), VALUE, "no", help="Restart policy to apply when a container exits"),
    Opt("labels", ("-l", "--label"), MULTI, help="Set meta data on a container"),
    Opt("ulimit", ("--ulimit",), MULTI, help="Ulimit options"),
    Opt("health_cmd", ("--health-cmd",), help="Command to run to check health"),
    Opt("health_interval", ("--health-interval",), help="Time between running the check (ms|s|m|h)"),
    Opt("health_timeout", ("--health-timeout",), help="Maximum time to allow one check to run (ms|s|m|h)"),
    Opt("health_start_period", ("--health-start-period",), help="Start period for the container to initialize (ms|s|m|h)"),
    Opt("health_retries", ("--health-retries",), help="Consecutive failures needed to report unhealthy"),
    Opt("no_healthcheck", ("--no-healthcheck",), FLAG, help="Disable any container-specified HEALTHCHECK"),
    *NETWORK_FLAGS,
    Arg("image"),
    Arg("command", nargs=-1, type="unprocessed"),
]


def _parse_ulimit(text: str):
    """go-units ParseUlimit, with its texts."""
    from pallet.base.go_values import parse_int
    from pallet.runtime.isolation.process import RLIMITS
    from pallet.runtime.isolation.spec import Ulimit

    def bad(message: str) -> PalletError:
        return PalletError(f'invalid argument "{text}" for "--ulimit" flag: {message}', exit_code=125)

    name, has_value, values = text.partition("=")
    if not has_value:
        raise bad(f"invalid ulimit argument: {text}")
    if name not in RLIMITS:
        raise bad(f"invalid ulimit type: {name}")
    limits = values.split(":")
    if len(limits) > 2:
        raise bad(f"too many limit value arguments - {values}, can only have up to two, "
                  "`soft[:hard]`")
    try:
        hard = parse_int(limits[1]) if len(limits) == 2 else None
        soft = parse_int(limits[0])
    except ValueError as error:
        raise bad(str(error)) from None
    hard = soft if hard is None else hard
    if hard != -1 and soft > hard:
        raise bad(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
    return Ulimit(name=name, soft=soft, hard=hard)


def _cpus(text: str | None) -> float | None:
    """--cpus: a rational number of CPUs, in nano-CPUs exactly; 0 means no limit (Docker)."""
    import os

    from pallet.base.go_values import parse_rational
    if text is None:
        return None
    try:
        value = parse_rational(text)
    except ValueError as error:
        raise PalletError(f'invalid argument "{text}" for "--cpus" flag: {error}',
                          exit_code=125) from None
    if (value * 10 ** 9).denominator != 1:
        raise PalletError(f'invalid argument "{text}" for "--cpus" flag: value is too precise',
                          exit_code=125)
    count = os.cpu_count() or 1
    if value == 0:
        return None
    if value < 0 or value > count or value * 100 < 1:
        # Docker's daemon allows (0, 0.01) and then fails in the cgroup write; refused here
        raise PalletError(f"Range of CPUs is from 0.01 to {float(count):.2f}, as there are only "
                          f"{count} CPUs available", exit_code=125)
    return float(value)


def _label(text: str) -> tuple[str, str]:
    key, _, value = text.partition("=")
    if not key.strip():
        raise PalletError(f'invalid argument "{text}" for "-l, --label" flag: invalid label '
                          f"'{text}': empty name", exit_code=125)
    return key, value


def create_options(params: dict):
    """click's parsed params -> CreateRequest, raising Docker's messages for bad values."""
    from pallet.runtime.container.request import CreateRequest
    from pallet.runtime.isolation.spec import normalize_capability

    env = []
    for path in params["env_file"]:
        env += read_env_file(path)
    env += expand_env(params["env"])
    memory = size_flag(params["memory"], "-m, --memory") if params["memory"] else None
    if memory is not None and memory < 6 * 1024 * 1024:
        raise PalletError("Minimum memory limit allowed is 6MB", exit_code=125)
    swap = None
    if params["memory_swap"]:
        swap = -1 if params["memory_swap"] == "-1" else size_flag(params["memory_swap"], "--memory-swap")
        if memory is None:
            raise PalletError("You should always set the Memory limit when using Memoryswap limit, "
                              "see usage", exit_code=125)
        if swap != -1 and swap < memory:
            raise PalletError("Minimum memoryswap limit should be larger than memory limit, see usage",
                              exit_code=125)
    cpus = _cpus(params["cpus"])
    for field, caps in (("CapAdd", params["cap_add"]), ("CapDrop", params["cap_drop"])):
        for cap in caps:
            try:
                normalize_capability(cap)
            except ValueError:
                shown = cap.upper() if cap.upper().startswith("CAP_") else "CAP_" + cap.upper()
                raise PalletError(f'invalid {field}: unknown capability: "{shown}"',
                                  exit_code=125) from None
    no_new_privs, seccomp, security_opt = _security_opts(params["security_opt"])
    extra_hosts = tuple(extra_host(host) for host in params["add_host"])
    for server in params["dns"]:
        if not is_ip(server):
            raise PalletError(f'invalid argument "{server}" for "--dns" flag: IP address is not '
                              f"correctly formatted: {server}", exit_code=125)
    labels = dict(_label(label) for label in params["labels"])
    if params["workdir"] and not params["workdir"].startswith("/"):
        raise PalletError(f"the working directory '{params['workdir']}' is invalid, it needs to "
                          "be an absolute path", exit_code=125)
    volumes = [parse_volume(v) for v in params["volumes"]]
    volumes += [parse_mount(m) for m in params["mounts"]]
    volumes += [parse_tmpfs(t) for t in params["tmpfs"]]
    if params["stop_signal"]:
        from pallet.runtime.container.lifecycle import parse_signal
        try:
            parse_signal(params["stop_signal"])
        except PalletError as error:
            raise PalletError(error.message, exit_code=125) from None
    healthcheck = _health_options(params)
    return CreateRequest(
        image=params["image"], command=tuple(params["command"]), entrypoint=params["entrypoint"],
        name=params["name"], env=tuple(env), workdir=params["workdir"], user=params["user"],
        hostname=params["hostname"], tty=params["tty"], interactive=params["interactive"],
        volumes=tuple(volumes), readonly_rootfs=params["read_only"],
        memory=memory, memory_swap=swap, cpus=cpus,
        pids_limit=int_flag(params["pids_limit"], "--pids-limit"),
        cap_add=tuple(params["cap_add"]), cap_drop=tuple(params["cap_drop"]),
        privileged=params["privileged"], no_new_privileges=no_new_privs, seccomp=seccomp,
        security_opt=security_opt, init=params["init"],
        auto_remove=params["auto_remove"], restart=params["restart"], labels=labels,
        extra_hosts=extra_hosts, dns=tuple(server.strip() for server in params["dns"]),
        ulimits=tuple(_parse_ulimit(u) for u in params["ulimit"]),
        stop_signal=params["stop_signal"],
        stop_timeout=int_flag(params["stop_timeout"], "--stop-timeout"),
        healthcheck=healthcheck, volumes_from=tuple(params.get("volumes_from") or ()),
        # run -d -i: nobody is attached, so a client that detaches must not close stdin
        stdin_once=False if params.get("detach") else None, **network_fields(params))


def _security_opts(values: tuple[str, ...]) -> tuple[bool, str, tuple[str, ...]]:
    """--security-opt: no-new-privileges[:true|false] and seccomp=unconfined|builtin|PROFILE.json,
    with Docker's rules and words (the CLI's for the form, the daemon's for unknown keys). The
    profile file is read here and recorded as seccomp=<compact JSON>, as Docker's CLI sends it,
    and checked now, so a bad one leaves no container behind. Returns (no_new_privs, seccomp,
    the options as HostConfig.SecurityOpt records them)."""
    no_new_privs, seccomp, recorded = False, "default", []
    for opt in values:
        key, sep, value = opt.partition("=")
        if not sep:
            key, sep, value = opt.partition(":")
        if (not sep or not value) and key != "no-new-privileges":
            raise PalletError(f'Invalid --security-opt: "{opt}"', exit_code=125)
        if key == "no-new-privileges" and value in ("", "true", "false"):
            no_new_privs = value != "false"
        elif key == "seccomp":
            seccomp = _seccomp_profile(value)
            if seccomp not in ("default", "unconfined"):
                opt = f"seccomp={seccomp}"
        else:
            raise PalletError(f'invalid --security-opt 2: "{opt}"', exit_code=125)
        recorded.append(opt)
    return no_new_privs, seccomp, tuple(recorded)


def _seccomp_profile(value: str) -> str:
    if value in ("unconfined", "builtin"):
        return "default" if value == "builtin" else value
    import json

    from pallet.runtime.isolation import seccomp
    try:
        text = Path(value).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror.lower() if isinstance(error, OSError) else "not UTF-8 text"
        raise PalletError(f"opening seccomp profile ({value}) failed: open {value}: {reason}",
                          exit_code=125) from error
    try:
        compact = json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    except (ValueError, RecursionError) as error:
        raise PalletError(f"compacting json for seccomp profile ({value}) failed: {error}",
                          exit_code=125) from error
    from pallet.runtime.isolation.spec import bounding_set
    seccomp.resolve(seccomp.parse(compact), frozenset(f"CAP_{c}" for c in bounding_set()))
    return compact


def _health_options(params: dict) -> dict | None:
    given = {}
    if params["no_healthcheck"]:
        if params["health_cmd"]:
            raise PalletError("--no-healthcheck conflicts with --health-* options", exit_code=125)
        return {"Test": ["NONE"]}
    if params["health_cmd"]:
        given["Test"] = ["CMD-SHELL", params["health_cmd"]]
    for flag, key in (("health_interval", "Interval"), ("health_timeout", "Timeout"),
                      ("health_start_period", "StartPeriod")):
        if params[flag] is not None:
            name = "--" + flag.replace("_", "-")
            given[key] = duration_flag(params[flag], name)
            if given[key] < 0:
                raise PalletError(f"{name} cannot be negative", exit_code=125)
    retries = int_flag(params["health_retries"], "--health-retries")
    if retries is not None:
        if retries < 0:
            raise PalletError("--health-retries cannot be negative", exit_code=125)
        given["Retries"] = retries
    return given or None
