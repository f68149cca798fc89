"""`pallet check`: diagnostics with file:line:col, source line, caret and hint; exit codes."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO, run_pallet


def write(directory: Path, name: str, text: str | bytes) -> Path:
    path = directory / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_clean_file_exits_zero(tmp_path):
    write(tmp_path, "Dockerfile", 'FROM alpine\nCOPY . /app\nCMD ["/app/run"]\n')
    result = run_pallet("check", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == f"{tmp_path}/Dockerfile: no problems found"


def test_sample_project_checks_clean():
    result = run_pallet("check", str(REPO / "samples" / "hello"))
    assert result.returncode == 0 and b"no problems found" in result.stdout


def test_containerfile_is_the_fallback(tmp_path):
    write(tmp_path, "Containerfile", "FROM alpine\nRUNN x\n")
    result = run_pallet("check", ".", cwd=tmp_path)
    assert result.returncode == 1
    assert "Containerfile:2:1: error: unknown instruction: RUNN" in result.stdout.decode()


def test_errors_and_warnings_with_caret_and_hints(tmp_path):
    write(tmp_path, "Dockerfile",
          "FROM alpine AS Build\nCOPPY . /app\nCOPY --chwon=1 a b\nCMD npm start\n"
          "FROM $BASE\nFROM alpine AS build\n")
    result = run_pallet("check", "-f", str(tmp_path / "Dockerfile"))
    out = result.stdout.decode()
    assert result.returncode == 1
    f = str(tmp_path / "Dockerfile")
    assert (f"{f}:2:1: error: unknown instruction: COPPY\n"
            "    2 | COPPY . /app\n"
            "      | ^^^^^\n"
            "hint: did you mean COPY?\n") in out
    assert (f"{f}:3:6: error: unknown flag: --chwon\n"
            "    3 | COPY --chwon=1 a b\n"
            "      |      ^^^^^^^^^\n"
            "hint: did you mean --chown?\n") in out
    assert f"{f}:1:16: warning: Stage name 'Build' should be lowercase (StageNameCasing)" in out
    assert f"{f}:4:1: warning: JSON arguments recommended for CMD" in out
    assert 'hint: use the exec (JSON) form: CMD ["npm", "start"]' in out
    assert f"{f}:5:6: warning: FROM argument 'BASE' is not declared (UndefinedArgInFrom)" in out
    assert f"{f}:6:1: error: duplicate stage name 'build'" in out
    assert out.rstrip().endswith(f"{f}: 3 errors, 3 warnings")
    assert result.stderr == b""


def test_warnings_alone_exit_zero_and_check_directive_skips(tmp_path):
    write(tmp_path, "Dockerfile", "FROM alpine\nMAINTAINER me\nCMD run me\n")
    result = run_pallet("check", str(tmp_path))
    assert result.returncode == 0
    out = result.stdout.decode()
    assert "(MaintainerDeprecated)" in out and "(JSONArgsRecommended)" in out
    write(tmp_path, "Dockerfile",
          "# check=skip=JSONArgsRecommended\nFROM alpine\nMAINTAINER me\nCMD run me\n")
    out = run_pallet("check", str(tmp_path)).stdout.decode()
    assert "(MaintainerDeprecated)" in out and "JSONArgsRecommended" not in out


def test_check_error_true_turns_warnings_into_errors(tmp_path):
    write(tmp_path, "Dockerfile", "# check=error=true\nFROM alpine\nCMD run me\n")
    result = run_pallet("check", str(tmp_path))
    assert result.returncode == 1
    assert "error: JSON arguments recommended" in result.stdout.decode()


def test_stdin(tmp_path):
    result = run_pallet("check", "-f", "-", input=b"FROM alpine\nRUN --mnt=x true\n")
    assert result.returncode == 1
    assert "<stdin>:2:5: error: unknown flag: --mnt" in result.stdout.decode()


def test_missing_file_and_context_are_one_line_errors(tmp_path):
    result = run_pallet("check", str(tmp_path / "nope"))
    assert result.returncode == 1
    assert result.stderr.decode().startswith("Error: build context")
    result = run_pallet("check", str(tmp_path))
    assert result.returncode == 1 and b"no Dockerfile or Containerfile" in result.stderr
    result = run_pallet("check", "-f", str(tmp_path / "missing"))
    assert result.returncode == 1 and b"cannot read build file" in result.stderr
    assert b"Traceback" not in result.stderr


def test_bad_inputs_exit_one_with_located_error(tmp_path):
    cases = {
        "utf8": (b"FROM a\nRUN \xff\n", ":2:5: error: file is not valid UTF-8"),
        "binary": (b"\x00\x01\x02", ":1:1: error: file contains a NUL byte"),
        "empty": (b"", ":1:1: error: file with no instructions"),
        "heredoc": (b"FROM a\nRUN <<EOF\nx\n", ":2:1: error: unterminated heredoc"),
        "fromless": (b"ARG X\n", ":1:1: error: no FROM instruction"),
        "longline": (b"FROM a\nRUN " + b"x" * (10 * 1024 * 1024) + b"\n",
                     ":2:1: error: line 2 is longer than the maximum"),
    }
    for name, (data, expected) in cases.items():
        path = write(tmp_path, name, data)
        result = run_pallet("check", "-f", str(path), timeout=30)
        out = result.stdout.decode()
        assert result.returncode == 1, name
        assert f"{path}{expected}" in out, (name, out)
        assert b"Traceback" not in result.stderr and len(out) < 4000


def test_a_build_file_linked_to_a_host_file_is_read_inside_the_context(tmp_path):
    # A cloned repository's Dockerfile -> /etc/shadow: the old check printed the host file's
    # first line in its diagnostic. The link is followed inside the context, as Docker does.
    secret = write(tmp_path, "host-secret", "TOPSECRET-LINE\n")
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").symlink_to(secret)
    result = run_pallet("check", str(context))
    assert result.returncode != 0 and b"TOPSECRET" not in result.stdout + result.stderr
    inside = context / str(secret).lstrip("/")
    inside.parent.mkdir(parents=True)
    inside.write_text("FROM alpine\nRUNN x\n")      # the context's own file of that name
    result = run_pallet("check", str(context))
    assert result.returncode == 1 and b"RUNN" in result.stdout

