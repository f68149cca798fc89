"""pallet check's analysis (grammar/lint.py): each warning rule, error collection, directives."""

from __future__ import annotations

import pytest

from pallet.grammar.lint import check


def rules(text: str) -> list[tuple[str, str | None, int]]:
    report = check(text, "Dockerfile")
    return [(d.severity, d.rule, d.span.line) for d in report.diagnostics]


@pytest.mark.parametrize("text, rule, line", [
    ("FROM a\nCMD run it\n", "JSONArgsRecommended", 2),
    ("FROM a\nENTRYPOINT exec app\n", "JSONArgsRecommended", 2),
    ("FROM a AS Builder\n", "StageNameCasing", 1),
    ("FROM a as b\n", "FromAsCasing", 1),
    ("FROM a\nrun x\nRUN y\nRUN z\n", "ConsistentInstructionCasing", 2),
    ("FROM a\nMAINTAINER me\n", "MaintainerDeprecated", 2),
    ("FROM a\nENV K v\n", "LegacyKeyValueFormat", 2),
    ("FROM a\nLABEL k v\n", "LegacyKeyValueFormat", 2),
    ("FROM $IMG\n", "UndefinedArgInFrom", 1),
    ("FROM a\nCMD [\"a\"]\nCMD [\"b\"]\n", "MultipleInstructionsDisallowed", 2),
    ("FROM a\nWORKDIR app\n", "WorkdirRelativePath", 2),
    ("FROM a\nARG DB_PASSWORD\n", "SecretsUsedInArgOrEnv", 2),
    ("FROM a\nRUN a \\\n\n b\n", "NoEmptyContinuation", 3),
])
def test_each_warning_rule(text, rule, line):
    assert ("warning", rule, line) in rules(text)


@pytest.mark.parametrize("text", [
    'FROM a AS b\nCMD ["x"]\n',
    "ARG IMG=alpine\nFROM $IMG\nFROM ${BUILDPLATFORM}\n",
    "FROM a\nWORKDIR /srv\nWORKDIR app\n",
    "FROM a\nARG PUBLIC_KEY\nENV VERSION=1\n",
    "from a as b\nrun x\n",
])
def test_clean_files_have_no_diagnostics(text):
    assert rules(text) == []


def test_all_errors_are_collected_in_file_order():
    report = check("FROM a\nRUNN x\nCOPY --x=1 a b\nHEALTHCHECK CMD\nFROM a AS s\nFROM b AS s\n",
                   "Dockerfile")
    assert [(d.span.line, d.message) for d in report.errors] == [
        (2, "unknown instruction: RUNN"), (3, "unknown flag: --x"),
        (4, "Missing command after HEALTHCHECK CMD"), (6, "duplicate stage name 's'")]
    assert all(d.source_line for d in report.errors)


def test_fatal_syntax_error_is_the_only_diagnostic():
    report = check("FROM a\nRUN <<EOF\n", "Dockerfile")
    assert [d.message.split(":")[0] for d in report.diagnostics] == ["unterminated heredoc"]


def test_undefined_arg_hint_suggests_a_declared_one():
    report = check("ARG VERSION=1\nFROM alpine:$VERSON\n", "Dockerfile")
    (warning,) = report.warnings
    assert warning.hint == "did you mean VERSION?" and warning.span.column == 6


def test_check_directive_skip_all_and_error():
    assert rules("# check=skip=all\nFROM a\nMAINTAINER x\n") == []
    assert rules("# check=skip=MaintainerDeprecated;error=true\nFROM a\nMAINTAINER x\nCMD a\n") == [
        ("error", "JSONArgsRecommended", 4)]
