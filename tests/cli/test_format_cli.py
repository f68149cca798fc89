"""--format and inspect -f through the CLI: Go templates, the table directive, Docker's errors."""

from __future__ import annotations

import pytest

from tests.cli.ctr_helpers import out, pallet

pytestmark = [pytest.mark.root]


def test_inspect_range_over_env(root):
    created = pallet(root, "create", "--name", "fmt-env", "-e", "A=1", "-e", "B=two", "busybox", "true")
    assert created.returncode == 0, created.stderr
    shown = pallet(root, "inspect", "-f", "{{range .Config.Env}}{{.}};{{end}}", "fmt-env")
    assert shown.returncode == 0, shown.stderr
    assert out(shown) == "A=1;B=two;\n"
    shown = pallet(root, "inspect", "-f", '{{if not .State.Running}}{{.Name | printf "%q"}}{{end}}',
                   "fmt-env")
    assert out(shown) == '"/fmt-env"\n'


def test_inspect_template_errors(root):
    pallet(root, "create", "--name", "fmt-err", "busybox", "true")
    bad = pallet(root, "inspect", "-f", "{{nosuch .Name}}", "fmt-err")
    assert bad.returncode == 64 and out(bad) == ""
    assert bad.stderr.decode() == 'template parsing error: template: :1: function "nosuch" not defined\n'
    past = pallet(root, "inspect", "-f", "{{index .Config.Cmd 5}}", "fmt-err")
    assert past.returncode == 1
    assert past.stderr.decode() == ('template parsing error: template: :1:2: executing "" at '
                                    '<index .Config.Cmd 5>: error calling index: index out of '
                                    'range: 5\n')


def test_images_table_directive_has_one_header(root):
    pallet(root, "tag", "busybox", "other:2")
    shown = pallet(root, "images", "--format", "table {{.Repository}}\\t{{.Tag}}")
    assert shown.returncode == 0, shown.stderr
    assert out(shown).splitlines() == ["REPOSITORY   TAG", "busybox      latest", "other        2"]
    bad = pallet(root, "images", "--format", "{{.Nope}}")
    assert bad.returncode == 1
    assert "can't evaluate field Nope in type *formatter.imageContext" in bad.stderr.decode()


def test_ps_table_and_label_method(root):
    pallet(root, "create", "--name", "fmt-ps", "-l", "com.example.tier=db", "busybox", "true")
    shown = pallet(root, "ps", "-a", "--format",
                   'table {{.Names}}\\t{{.Label "com.example.tier"}}\\t{{.State}}')
    assert shown.returncode == 0, shown.stderr
    assert out(shown).splitlines() == ["NAMES     tier      STATE", "fmt-ps    db        created"]
    bad = pallet(root, "ps", "--format", "{{.Nope}}")   # no container listed: still checked
    assert bad.returncode == 1
    assert bad.stderr.decode().startswith("failed to execute template: template: :1:2: ")
