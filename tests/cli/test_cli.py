"""The CLI front: version, help, global options and error presentation."""

from __future__ import annotations

import subprocess
import sys

from pallet.base.errors import PalletError, Span
from tests.conftest import run_pallet


def test_version_prints_the_package_version():
    from pallet import __version__

    result = run_pallet("--version")
    assert result.returncode == 0
    assert result.stdout.decode().strip() == f"pallet version {__version__}"


def test_help_lists_commands_and_global_options():
    result = run_pallet("--help")
    assert result.returncode == 0
    out = result.stdout.decode()
    assert "--root" in out and "--debug" in out


def test_unknown_command_is_a_usage_error_without_traceback():
    result = run_pallet("frobnicate")
    assert result.returncode == 2
    err = result.stderr.decode()
    assert "No such command 'frobnicate'" in err
    assert "Traceback" not in err


def test_help_does_not_import_heavy_modules():
    code = ("import sys; from pallet.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('lark', 'networkx', 'pyroute2', 'xxhash') if m in sys.modules]\n"
            "print('HEAVY:' + ','.join(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "HEAVY:"


def test_error_render_shows_location_caret_and_hint():
    span = Span(file="Dockerfile", line=3, column=5, end_line=3, end_column=7)
    error = PalletError("unknown flag: --frm", span=span, source_line="COPY --frm=a b c",
                        hint="did you mean --from?")
    text = error.render()
    lines = text.splitlines()
    assert lines[0] == "Dockerfile:3:5: unknown flag: --frm"
    assert lines[1].endswith("| COPY --frm=a b c")
    caret_line = lines[2]
    assert caret_line.index("^") == lines[1].index("COPY") + 4
    assert caret_line.count("^") == 3
    assert lines[3] == "hint: did you mean --from?"
