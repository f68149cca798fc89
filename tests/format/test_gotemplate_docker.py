"""The template engine against the real docker CLI, on the same objects: a private dockerd holds
a container; `docker inspect -f T` / `docker ps --format T` give the expected text, error and
exit code, and pallet's engine renders T over the very JSON docker reported for that object."""

from __future__ import annotations

import json

import pytest

from pallet.format.documents import inspect_output
from pallet.format.gotemplate import TemplateError
from pallet.format.kinds import HISTORY, IMAGES, PS, STATS, VOLUMES, NETWORKS, listing
from tests.dockerd import dockerd  # noqa: F401  (module-scoped fixture)
from tests.images import busybox_rootfs_tarball

pytestmark = [pytest.mark.docker, pytest.mark.server, pytest.mark.root]

INSPECT_CASES = [
    "{{.Name}}", "{{.State.Running}}", "{{.State.Pid}}", "{{.Config.Cmd}}", "{{.Config.Env}}",
    "{{range .Config.Env}}{{.}},{{end}}", "{{range $i, $e := .Config.Env}}{{$i}}:{{$e}} {{end}}",
    "{{json .Config.Labels}}", "{{.Config.Labels}}", '{{index .Config.Labels "a"}}',
    '{{index .Config.Labels "nope"}}', "{{.Config.Labels.nope}}", "{{index .Config.Env 0}}",
    "{{len .Config.Env}}", "{{.Config.Healthcheck}}", "{{.HostConfig.Binds}}",
    "{{.Config.Entrypoint}}", "{{.HostConfig.Tmpfs}}", "{{.HostConfig.LogConfig}}",
    "{{.Config.Volumes}}", "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
    "{{range .Mounts}}{{.Destination}} {{.Type}} {{.RW}}{{end}}", "{{with .State}}{{.Status}}{{end}}",
    "{{with .State.Health}}h{{else}}none{{end}}",
    '{{if .State.Running}}up{{else if eq .State.Status "created"}}created{{else}}other{{end}}',
    "{{$n := .Name}}{{$n}}-{{$n}}", "{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}",
    '{{printf "%s|%5d|%-4s|%q|%v|%x|%05.1f|%t" .Name 42 "ab" .Name .Config.Cmd 255 3.14159 true}}',
    '{{printf "%d %s" "x" 5}}', '{{printf "%d"}}', '{{printf "%d" 1 2}}',
    '{{print .Name 1 2 "x" 3}}', "{{println .Name 1}}", '{{.Name | printf "%q"}}',
    "{{.Name | len}}", "{{slice .Name 1}}", "{{slice .Config.Env 0 1}}",
    '{{eq .State.Status "created" "running"}}', "{{ne .State.Pid 0}}",
    '{{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1.5 2.5}}',
    "{{and .State.Running .Name}}|{{or .State.Running .Name}}|{{not .State.Running}}",
    '{{upper .Name}} {{lower "ABC"}} {{title "hello wide-world"}}', '{{join .Config.Cmd ","}}',
    '{{split "a:b:c" ":"}}', "{{pad .Name 2 1}}|{{truncate .Name 3}}|{{truncate .Name 30}}",
    "{{json .State.Running}} {{json .Config.Cmd}} {{json .Name}} {{json .Config.Labels.x}}",
    "{{json .HostConfig.LogConfig}}", "{{- .Name -}} \n {{- .Name}}",
    "{{/* comment */}}{{.Name}}", "a {{- /* trimmed */ -}} b",
    '{{range .Config.Cmd}}{{if eq . "sleep"}}{{continue}}{{end}}{{.}}{{end}}',
    "{{range .Config.Env}}{{.}}{{break}}{{end}}", "{{range .HostConfig.Binds}}x{{else}}empty{{end}}",
    "{{range 3}}{{.}}{{end}}", '{{define "n"}}[{{.}}]{{end}}{{template "n" .Name}}',
    '{{block "b" .Name}}<{{.}}>{{end}}',
    "{{3}} {{3.5}} {{1e6}} {{0x1F}} {{'a'}} {{-2}} {{true}} {{\"s\"}} {{`raw`}} {{1.5e-7}}",
    "{{(index .Config.Env 0)}}", "{{(.State).Status}}", '{{html "<a&b>"}} {{urlquery "a b&c"}}',
    '{{"line\\nbreak"}}', "{{.Config.Labels.x}}", "{{.State}}",
    # errors: docker's texts and exit codes
    "{{.Config.Foo}}", "{{foo}}", "{{if .Name}}", "{{end}}", "{{.Name", '{{"abc}}', "{{$y}}",
    "{{nil}}", "{{len 3}}", "{{range .Name}}{{end}}", "{{.Name.Foo}}", '{{template "x"}}',
    "{{else}}", "{{(1}}", "{{1)}}", "{{#}}", '{{eq 1 "a"}}', "{{lt true false}}",
    '{{index .Config.Cmd "x"}}', "{{index .Config.Env 9}}", "{{.State.Health.Status}}",
    "{{upper 3}}", "{{printf}}", '{{join .Name ","}}', '{{pad .Name "x" 1}}', "{{break}}",
    "{{.Name | 3}}", "{{index nil 1}}", "{{and}}", "{{slice .Name 3 1}}", "{{.Name 1}}",
    "{{with $x := 1}}{{end}}{{$x}}", "{{range $a, $b, $c := .Config.Env}}{{end}}",
    "{{.Config.Labels.a.b}}", '{{printf "%d" .Config.Foo}}', "{{3 4}}", "{{. 1}}",
]

PS_CASES = [
    "{{.Names}}", "{{.ID}}\\t{{.Image}}", "table {{.ID}}\\t{{.Names}}", "table",
    'table {{.Names}}\\t{{.Label "a"}}\\t{{.Label "com.x-y_z"}}', '{{.Label "a"}}|{{.Label "no"}}',
    "{{.Labels}}", "{{.Names | upper}}", "table {{.Names}} {{.Image}}", "{{.Command}}",
    '{{title .Names}}|{{pad .Names 2 3}}|{{truncate .Names 1}}|{{split .Labels ","}}',
    '{{join (split .Labels ",") ";"}}', "table {{.Names}}\\t{{upper .Image}}\\t{{json .Labels}}",
    'table {{.Names}}\\t{{.Names}}\\t{{$.Names}}{{range split .Labels ","}}<{{.}}>{{end}}',
    "table {{.State}}\\t{{.LocalVolumes}}\\t{{.Networks}}\\t{{.Mounts}}",
    "table {{.Size}}\\t{{.CreatedAt}}\\t{{.RunningFor}}\\t{{.Ports}}\\t{{.Command}}",
    "{{.Foo}}", "{{foo}}", "table {{.Names}}\\t{{.Foo}}", "{{index .Names 0}}",
    "{{slice .Names 0 1}}", "{{range .Names}}{{end}}", "{{.Names 1}}", "{{.Names.Foo}}",
    '{{.Label}}', '{{.Label 1}}',
]


@pytest.fixture(scope="module")
def engine(dockerd):  # noqa: F811
    dockerd.docker("import", "-c", 'CMD ["sh"]', "-c", "ENV A=1 B=two", "-c", "VOLUME /data",
                   "-c", "LABEL com.x=y", str(busybox_rootfs_tarball()), "tpl/busybox:1")
    dockerd.docker("create", "--network", "none", "--name", "tpl", "-l", "a=b",
                   "-l", "com.x-y_z=w", "tpl/busybox:1", "sleep", "1000")
    return dockerd


def _docker(engine, *args):
    result = engine.docker(*args, check=False)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def _inspect_ours(template: str, document: dict):
    try:
        text, errors = inspect_output(template, [document])
    except TemplateError as error:
        return error.exit_code, "", error.message + "\n"
    return (1 if errors else 0), text, "".join(e + "\n" for e in errors)


def test_inspect_templates_match_docker(engine):
    document = json.loads(_docker(engine, "inspect", "tpl")[1])[0]
    mismatches = []
    for template in INSPECT_CASES:
        theirs = _docker(engine, "inspect", "-f", template, "tpl")
        ours = _inspect_ours(template, document)
        if ours != theirs:
            mismatches.append((template, theirs, ours))
    assert not mismatches, "\n".join(map(repr, mismatches))
    # and the whole document with --format json is docker's JSON
    assert json.loads(_inspect_ours("json", document)[1]) == [document]


def _ps_row(engine) -> dict:
    row = json.loads(_docker(engine, "ps", "-a", "--filter", "name=tpl", "--format",
                             "{{json .}}")[1])
    labels = dict(item.split("=", 1) for item in row["Labels"].split(","))
    return {**row, "_labels": labels}


def _listing_ours(template: str, rows: list[dict], kind):
    try:
        return 0, listing(template, rows, kind), ""
    except TemplateError as error:
        return error.exit_code, "", error.message + "\n"


def test_ps_formats_match_docker(engine):
    row = _ps_row(engine)
    mismatches = []
    for template in PS_CASES:
        theirs = _docker(engine, "ps", "-a", "--filter", "name=tpl", "--format",
                         template.replace("\\t", "\t") if "table" not in template else template)
        ours = _listing_ours(template, [row], PS)
        if "RunningFor" in template or template == "table":
            # "2 seconds ago" moves under our feet and sets the column's width: the words only
            theirs = (theirs[0], theirs[1].split("\n")[0].split(), theirs[2])
            ours = (ours[0], ours[1].split("\n")[0].split(), ours[2])
        if ours != theirs:
            mismatches.append((template, theirs, ours))
    assert not mismatches, "\n".join(map(repr, mismatches))


@pytest.mark.parametrize("command, kind", [
    (("images",), IMAGES), (("volume", "ls"), VOLUMES), (("network", "ls"), NETWORKS),
    (("history", "tpl/busybox:1"), HISTORY)])
def test_listing_headers_match_docker(engine, command, kind):
    """Every field of the context as a table column: docker's header words, column layout and
    (for a field docker does not have) its error."""
    raw = _docker(engine, *command, "--format", "{{json .}}")[1].splitlines()
    rows = [json.loads(line) for line in raw]
    for field in sorted(set(kind.headers) | {"Nope"}):
        template = f"table {{{{.{field}}}}}\\t{{{{.{field}}}}}"
        theirs = _docker(engine, *command, "--format", template)
        ours = _listing_ours(template, rows, kind)
        if field in ("CreatedSince", "RunningFor"):  # "4 seconds ago" moves under our feet
            ours = (ours[0], ours[1].splitlines()[0].split(), ours[2])
            theirs = (theirs[0], theirs[1].splitlines()[0].split(), theirs[2])
        assert ours == theirs, (command, field)
    theirs = _docker(engine, *command)
    header = _listing_ours(None, rows, kind)[1].splitlines()[0]
    if "CreatedSince" in kind.default_table:
        # the CREATED column is as wide as "9 seconds ago" or "10 seconds ago" was when each
        # side ran: the header's words, not its spacing
        assert header.split() == theirs[1].splitlines()[0].split()
    else:
        assert header == theirs[1].splitlines()[0]


def test_stats_headers_match_docker(engine):
    engine.docker("run", "-d", "--network", "none", "--name", "tpl-run", "tpl/busybox:1",
                  "sleep", "1000")
    try:
        row = json.loads(_docker(engine, "stats", "--no-stream", "--format", "{{json .}}")[1])
        for field in sorted(STATS.headers) + ["Nope"]:
            template = f"table {{{{.{field}}}}}"
            theirs = _docker(engine, "stats", "--no-stream", "--format", template)
            ours = _listing_ours(template, [row], STATS)
            assert ours[0] == theirs[0] and ours[2] == theirs[2], field
            assert ours[1].splitlines()[:1] == theirs[1].splitlines()[:1], field
    finally:
        engine.docker("rm", "-f", "tpl-run", check=False)
