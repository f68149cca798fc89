"""The fast path (pallet/fastpath.py) runs `run`, `exec`, `ps` and `build` without click: for
every argv it takes, the command must receive exactly what click would give it, and whatever it
leaves to click must look exactly as before.

- parsing: pallet.argspec.parse against click's own parse of the same command (the click
  command made from the same flag list) over hand-picked argv and a seeded random mix of the
  commands' spellings, values, bundles, "--" and junk;
- whole commands: the console script (fast path) and `python -m pallet` (always click) print
  the same and exit the same for good and bad argv, and the fast path imports no click.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import click
import pytest

from pallet.argspec import parse
from pallet.fastpath import COMMANDS

CASES = {
    "exec": [
        ["c", "true"], ["-it", "c", "sh"], ["-e", "A=1", "--env=B=2", "-eC=3", "c", "env"],
        ["-u", "1:1", "-w", "/tmp", "c", "pwd"], ["-d", "c", "sleep", "1"],
        ["--detach-keys", "ctrl-a", "-ti", "c", "sh"], ["c", "ls", "-l", "--", "-x"],
        ["--", "c", "true"], ["--privileged", "c", "id"], ["-e", "-x", "c", "true"],
        ["-itd", "c", "x"], ["-ie", "A", "c", "x"], ["-e=A", "c", "x"], ["c", "-it"],
    ],
    "ps": [
        [], ["-a"], ["-aq"], ["-qa", "--no-trunc"], ["--format", "{{.Names}}"],
        ["--format={{json .}}"], ["-f", "status=exited", "--filter", "name=x"], ["-n", "3"],
        ["-n", "-1"], ["--last=2"], ["-n3"], ["-l"], ["-a", "--format", "table {{.ID}}"],
        ["-n", " 4 "],
    ],
    "run": [
        ["busybox"], ["--rm", "busybox", "true"], ["--rm", "--network", "none", "busybox", "true"],
        ["-d", "--name", "x", "busybox", "sleep", "1"], ["-it", "busybox", "sh"],
        ["-e", "A=1", "-v", "/a:/b", "-p", "80:80", "-p8080:80", "busybox"], ["--net=host", "b"],
        ["-h", "host", "busybox"], ["-hhost", "b"], ["--restart", "always", "busybox"],
        ["busybox", "--rm"], ["--", "busybox", "-x"], ["-dit", "busybox"],
        ["-l", "a=b", "--label", "c", "busybox"], ["-m", "64m", "--cpus", "1", "busybox"],
        ["--detach-keys", "ctrl-a", "-w", "/", "-u", "0", "--entrypoint", "", "busybox"],
        ["--read-only", "--init", "--tmpfs", "/t", "--mount", "type=tmpfs,dst=/m", "b"],
        ["--cap-add", "ALL", "--security-opt", "no-new-privileges", "--ulimit", "n=1", "b"],
    ],
    "build": [
        ["."], ["-q", "."], [".", "-q"], ["-t", "a:b", "--tag=c", "-f", "F", "ctx"],
        ["--network", "none", "--progress=plain", "."], ["--build-arg", "A=1", "-m", "64m", "."],
        ["--no-cache", "--pull", "--target", "t", "--label", "l=1", "-"], ["-qt", "x", "."],
        ["--compression", "zstd", "--secret", "id=s,src=f", "--allow", "network.host", "."],
        ["--cache-to", "type=local,dest=d", "--cache-from", "type=local,src=d", "."],
        [".", "--", "-x"][:2], ["--", "."], ["--add-host", "h:1.2.3.4", "--reproducible", "."],
    ],
}
# left to click: help, errors, and conversions argspec does not mirror
REFUSED = {
    "exec": [[], ["c"], ["-h"], ["--help"], ["--bogus", "c", "x"], ["-x", "c", "true"],
             ["--detach=1", "c", "x"], ["-e"], ["-ih", "c", "x"], ["--env"]],
    "ps": [["-h"], ["extra"], ["-n", "x"], ["-n", "+3"], ["-n"], ["--all=yes"], ["-a", "--",
           "x"], ["--last", "1.5"], ["-z"]],
    "run": [[], ["--help"], ["-h"], ["--env-file", "f", "busybox"], ["--bogus", "busybox"],
            ["--rm=1", "busybox"], ["-x", "busybox"], ["--name"], ["-dx", "b"]],
    "build": [[], ["-h", "."], [".", "--help"], ["--network", "bridge", "."], ["a", "b"],
              ["--progress", "Plain", "."], ["--iidfile", "f", "."], ["--cpus", "1", "."],
              ["-q"], ["--bogus", "."]],
}
JUNK = ["c", "x", "--", "-", "-z", "--bogus", "=", "a=b", "-n", "-1", "1", "--help", "-h", "",
        " 2", "--format", "{{.ID}}", "-e", "--env=", "--rm"]


def click_command(name: str) -> click.Command:
    from pallet.cli import cli
    context = click.Context(cli, info_name="pallet", obj={})
    return cli.get_command(context, name)


def click_params(name: str, argv: list[str]) -> dict | None:
    """What click hands the command's callback, or None where it prints help or an error."""
    command = click_command(name)
    try:
        context = command.make_context(name, list(argv))
    except (click.exceptions.Exit, click.ClickException):
        return None
    return dict(context.params)


def spellings(name: str) -> list[str]:
    import importlib
    spec = importlib.import_module(COMMANDS[name][0]).SPEC
    words = [decl for option in spec.options for decl in option.decls]
    return words + [f"{decl}=v" for decl in words if decl.startswith("--")] + \
        ["-" + "".join(d[1] for d in words if len(d) == 2)[:3]]


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_fast_parse_is_clicks_parse(name, capsys):
    import importlib
    spec = importlib.import_module(COMMANDS[name][0]).SPEC
    for argv in CASES[name]:
        fast = parse(spec, argv)
        assert fast is not None, argv                 # the common forms take the fast path
        assert fast == click_params(name, argv), argv
    for argv in REFUSED[name]:
        assert parse(spec, argv) is None, argv
    rng = random.Random(15)
    words = spellings(name) + JUNK
    taken = 0
    for _ in range(1500):
        argv = [rng.choice(words) for _ in range(rng.randint(0, 6))]
        fast = parse(spec, argv)
        if fast is not None:
            taken += 1
            assert fast == click_params(name, argv), argv
    assert taken > 100          # the mix exercised the fast parser, not only its refusals
    capsys.readouterr()


def test_the_click_commands_are_made_from_the_fast_paths_flag_lists():
    import importlib
    for name, (module, _) in COMMANDS.items():
        spec = importlib.import_module(module).SPEC
        command = click_command(name)
        assert [p.name for p in command.params if p.name != "help"] == \
            [item.name for item in spec.items], name
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                option = spec.long.get(param.opts[0]) or spec.short.get(param.opts[0])
                assert sorted(param.opts + param.secondary_opts) == sorted(option.decls), name


def _click_path(root, *args, **kwargs) -> subprocess.CompletedProcess:
    """`python -m pallet` goes straight to pallet.cli: click parses everything."""
    env = dict(os.environ)
    env.pop("PALLET_ROOT", None)
    return subprocess.run([sys.executable, "-m", "pallet", "--root", str(root), *args],
                          capture_output=True, env=env, timeout=120, **kwargs)


def _same(root, *args, mask=None) -> subprocess.CompletedProcess:
    from tests.conftest import run_pallet
    fast, slow = run_pallet(*args, root=root), _click_path(root, *args)
    shown = [(r.returncode, r.stdout, r.stderr) for r in (fast, slow)]
    if mask is not None:
        shown = [(code, mask(out), mask(err)) for code, out, err in shown]
    assert shown[0] == shown[1], args
    return fast


def _imports(root, *args) -> set[str]:
    from tests.conftest import run_pallet
    result = run_pallet(*args, root=root, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0, result.stderr
    return {line.rsplit("|", 1)[1].strip() for line in result.stderr.decode().splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


@pytest.mark.root
def test_run_exec_ps_and_build_print_and_exit_alike_on_both_paths(pallet_root):
    import re
    import signal

    from tests.cli.ctr_helpers import out, pallet
    from tests.conftest import run_pallet
    from tests.images import make_busybox_image
    make_busybox_image(pallet_root, "busybox:latest")
    started = pallet(pallet_root, "run", "-d", "--network", "none", "--name", "web", "busybox",
                     "sleep", "600")
    assert started.returncode == 0, started.stderr
    made = pallet(pallet_root, "create", "--network", "none", "--name", "red", "busybox", "echo",
                  "\x1b[31mred\x1b[0m")
    assert made.returncode == 0, made.stderr
    try:
        assert out(_same(pallet_root, "exec", "web", "echo", "hi")) == "hi\n"
        assert _same(pallet_root, "exec", "web", "sh", "-c",
                     "echo out; echo err >&2; exit 3").returncode == 3
        assert out(_same(pallet_root, "exec", "-e", "A=1", "-eB=2", "web", "sh", "-c",
                         "echo $A$B")) == "12\n"
        for bad in (["nope", "true"], ["-w", "rel", "web", "true"], ["--bogus", "web", "true"],
                    ["web"], ["--detach-keys", "ctrl-xyz", "web", "true"], ["red", "true"],
                    ["-u", "nosuchuser", "web", "true"], ["-it", "web", "sh"]):
            assert _same(pallet_root, "exec", *bad).returncode != 0, bad
        assert _same(pallet_root, "--root", "/etc/passwd", "exec", "web", "true").returncode == 2
        ages = re.compile(rb"(Less than a second|About a minute|\d+ (second|minute)s?)")
        assert b"web" in _same(pallet_root, "ps", mask=lambda text: ages.sub(b"N", text)).stdout
        assert _same(pallet_root, "ps", "-a", "--format", "{{.Command}}").stdout.count(b"\x1b") == 0
        for args in (["-aq"], ["-a", "--format", "table {{.ID}}\t{{.Names}}\t{{.State}}"],
                     ["-n", "x"], ["--filter", "bogus=1"], ["-a", "--format", "{{.Nope}}"],
                     ["extra"], ["--last", "1", "--format", "{{.Names}}"]):
            _same(pallet_root, "ps", *args)
        assert out(_same(pallet_root, "run", "--rm", "--network", "none", "busybox", "echo",
                         "hi")) == "hi\n"
        assert _same(pallet_root, "run", "--rm", "--network=none", "-e", "X=4", "busybox", "sh",
                     "-c", "echo $X >&2; exit $X").returncode == 4
        for bad in (["--cpus", "x", "busybox"], ["-w", "rel", "busybox"], ["--bogus", "busybox"],
                    [], ["--name", "web", "--network", "none", "busybox"], ["-it", "busybox"],
                    ["--rm", "--network", "none", "busybox", "/nonexistent"],
                    ["--network", "none", "-p", "bad", "busybox"], ["-m", "1k", "busybox"]):
            assert _same(pallet_root, "run", *bad).returncode != 0, bad
        made = [run_pallet("run", "-d", "--network", "none", "busybox", "true", root=pallet_root),
                _click_path(pallet_root, "run", "-d", "--network", "none", "busybox", "true")]
        assert [len(out(result)) for result in made] == [65, 65]
        assert [result.stderr for result in made] == [b"", b""]
        context = pallet_root.parent / "ctx"
        context.mkdir()
        (context / "Dockerfile").write_text("FROM busybox\nCOPY a /a\nRUN cat /a\n")
        (context / "a").write_text("a\n")
        built = _same(pallet_root, "build", "-q", str(context))      # the second one is cached
        assert out(built).startswith("sha256:") and built.stderr == b""
        for bad in (["-q", str(context / "nope")], ["-q", "-f", "nope", str(context)],
                    ["--network", "bridge", str(context)], ["-q", "--target", "x", str(context)],
                    ["-q", "--build-arg", "A", "-t", "Bad:Tag", str(context)]):
            assert _same(pallet_root, "build", *bad).returncode != 0, bad
        # what click's main does around a command: a closed stdout pipe, and Ctrl-C
        results = []
        for argv in ([str(_pallet_script()), "--root", str(pallet_root)],
                     [sys.executable, "-m", "pallet", "--root", str(pallet_root)]):
            child = subprocess.Popen([*argv, "ps", "-a"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
            child.stdout.close()
            results.append((child.wait(timeout=60), child.stderr.read()))
            child.stderr.close()
        assert results[0] == results[1] == (1, b"")
        results = []
        for argv in ([str(_pallet_script()), "--root", str(pallet_root)],
                     [sys.executable, "-m", "pallet", "--root", str(pallet_root)]):
            child = subprocess.Popen([*argv, "exec", "web", "sh", "-c", "echo ready; sleep 3"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert child.stdout.readline() == b"ready\n"
            child.send_signal(signal.SIGINT)
            results.append((child.wait(timeout=60), child.stdout.read(), child.stderr.read()))
            child.stdout.close()
            child.stderr.close()
        assert results[0] == results[1] == (130, b"", b"\nAborted.\n")
        for args in (["exec", "web", "true"], ["ps", "-a"],
                     ["run", "--rm", "--network", "none", "busybox", "true"],
                     ["build", "-q", str(context)]):
            loaded = _imports(pallet_root, *args)
            assert "pallet.fastpath" in loaded and "click" not in loaded, args
    finally:
        pallet(pallet_root, "rm", "-f", "web", "red",
               *out(pallet(pallet_root, "ps", "-aq", "--no-trunc")).split())


def _pallet_script():
    from tests.conftest import PALLET
    return PALLET
