"""BuildKit's parser unit tests (parser_heredoc_test.go, json_test.go, parser_test.go,
line_parsers_test.go, directives_test.go), ported case by case to pallet's parser."""

from __future__ import annotations

import pytest

from pallet.base.errors import PalletError
from pallet.grammar import parse, parse_syntax
from pallet.grammar.heredoc import chomp, openers_in_line, parse_opener
from pallet.grammar.parser import NOT_STRING_ARRAY, parse_json_array
from pallet.grammar.words import parse_name_val, parse_words

HEREDOC_FILE = """
FROM alpine:3.6

ENV NAME=me

RUN ls

USER <<INVALID
INVALID

RUN <<EMPTY
EMPTY

RUN 3<<EMPTY2
EMPTY2

RUN "<<NOHEREDOC"

RUN <<INDENT
\tfoo
\tbar
INDENT

RUN <<-UNINDENT
\tbaz
\tquux
UNINDENT

RUN <<-UNINDENT2
\tbaz
\tquux
\tUNINDENT2

RUN <<-EXPAND
\texpand $NAME
EXPAND

RUN <<-'NOEXPAND'
\tdon't expand $NAME
NOEXPAND

RUN <<COPY
echo hello world
echo foo bar
COPY

RUN <<COMMENT
# internal comment
echo hello world
echo foo bar # trailing comment
COMMENT

RUN --mount=type=cache,target=/foo <<MOUNT
echo hello
MOUNT

COPY <<FILE1 <<FILE2 /dest
content 1
FILE1
content 2
FILE2

COPY <<EOF /quotes
"foo"
'bar'
EOF

COPY <<X <<Y /dest
Y
X
X
Y

RUN <<COMPLEX python3
print('hello world')
COMPLEX

COPY <<file.txt /dest
hello world
file.txt

RUN <<eo'f'
echo foo
eof

RUN <<eo\\'f
echo foo
eo'f

RUN <<'e'o\\'f
echo foo
eo'f

RUN <<'one two'
echo bar
one two

RUN <<$EOF
$EOF

RUN <<  EOF
EOF

RUN <<  EOF  > foo
EOF
\t"""

# (name, body, expand, chomp, fd) per instruction after FROM, as in parser_heredoc_test.go.
EXPECTED = [
    [],                                   # ENV NAME=me
    [],                                   # RUN ls
    [],                                   # USER <<INVALID
    [],                                   # INVALID
    [("EMPTY", "", True, False, None)],
    [("EMPTY2", "", True, False, 3)],
    [],                                   # RUN "<<NOHEREDOC"
    [("INDENT", "\tfoo\n\tbar\n", True, False, None)],
    [("UNINDENT", "\tbaz\n\tquux\n", True, True, None)],
    [("UNINDENT2", "\tbaz\n\tquux\n", True, True, None)],
    [("EXPAND", "\texpand $NAME\n", True, True, None)],
    [("NOEXPAND", "\tdon't expand $NAME\n", False, True, None)],
    [("COPY", "echo hello world\necho foo bar\n", True, False, None)],
    [("COMMENT", "# internal comment\necho hello world\necho foo bar # trailing comment\n",
      True, False, None)],
    [("MOUNT", "echo hello\n", True, False, None)],
    [("FILE1", "content 1\n", True, False, None), ("FILE2", "content 2\n", True, False, None)],
    [("EOF", "\"foo\"\n'bar'\n", True, False, None)],
    [("X", "Y\n", True, False, None), ("Y", "X\n", True, False, None)],
    [("COMPLEX", "print('hello world')\n", True, False, None)],
    [("file.txt", "hello world\n", True, False, None)],
    [("eof", "echo foo\n", False, False, None)],
    [("eo'f", "echo foo\n", True, False, None)],
    [("eo'f", "echo foo\n", False, False, None)],
    [("one two", "echo bar\n", False, False, None)],
    [("$EOF", "", True, False, None)],
    [("EOF", "", True, False, None)],
    [("EOF", "", True, False, None)],
]


def test_heredocs_are_extracted_like_buildkit():
    tree = parse_syntax(HEREDOC_FILE)
    nodes = tree.nodes[1:]
    assert len(nodes) == len(EXPECTED)
    for node, expected in zip(nodes, EXPECTED):
        got = [(h.name, h.body, h.expand, h.chomp, h.fd) for h in node.heredocs]
        assert got == expected, node.source


def test_json_form_never_takes_heredocs():
    tree = parse_syntax('\nFROM alpine:3.6\n\nRUN ["whoami"]\nRUN ["<<EOF"]\nRUN ["<<\'EOF\'"]\n\t')
    assert [node.heredocs for node in tree.nodes[1:]] == [(), (), ()]


def test_chomp_removes_leading_tabs_of_every_line():
    assert chomp("\thello\n\tworld\n") == "hello\nworld\n"


@pytest.mark.parametrize("word", ["<<EOF", "<<'EOF'", '<<"EOF"', "<<-EOF", "<<-'EOF'", '<<-"EOF"',
                                  '<<EO"F"', "<< EOF", "<<- EOF"])
def test_valid_heredoc_words(word):
    assert parse_opener(word).name == "EOF"


@pytest.mark.parametrize("word", ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"'])
def test_invalid_heredoc_words_are_errors(word):
    with pytest.raises(PalletError):
        parse_opener(word)


@pytest.mark.parametrize("word", ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"])
def test_words_that_are_not_heredocs(word):
    assert parse_opener(word) is None


@pytest.mark.parametrize("line, names", [
    # BuildKit's lexer glues only whitespace right after "<<" to the next word, so in a whole
    # line "<<- EOF" splits into "<<-" and "EOF" and opens no heredoc (its Go test for this
    # line passes vacuously: it only loops over the heredocs found).
    ("RUN <<EOF", ["EOF"]), ("RUN <<-EOF", ["EOF"]), ("RUN <<- EOF", []),
    ("RUN << -EOF", ["-EOF"]), ("RUN <<'EOF'", ["EOF"]), ("RUN 4<<EOF", ["EOF"]),
    ("RUN <<EOF <<EOF2", ["EOF", "EOF2"]), ("RUN '<<EOF'", []), ('RUN "<<EOF"', []),
])
def test_heredocs_from_line(line, names):
    assert [opener.name for opener in openers_in_line(line)] == names


def test_heredoc_fd_and_onbuild_heredoc():
    tree = parse_syntax("FROM a\nONBUILD RUN 4<<EOF cat /dev/fd/4\nhi\nEOF\n")
    onbuild = tree.nodes[1]
    assert onbuild.child.heredocs[0].fd == 4 and onbuild.child.heredocs[0].body == "hi\n"
    typed = parse("FROM a\nONBUILD RUN <<EOF\nhi\nEOF\n").stages[0].instructions[0]
    assert typed.expression == "RUN <<EOF\nhi\nEOF"
    assert typed.trigger.heredocs[0].body == "hi\n"


def test_unterminated_heredoc_is_a_located_error():
    with pytest.raises(PalletError, match="unterminated heredoc") as caught:
        parse_syntax("FROM a\nRUN <<EOF\necho never closed\n")
    assert caught.value.span.line == 2


def test_heredoc_copy_sources_and_chomped_content():
    copy = parse("FROM a\nCOPY <<-A a.txt <<B /dst/\n\tone\n\tA\ntwo\nB\n").stages[0].instructions[0]
    assert copy.sources == ("a.txt",)
    assert [(h.name, h.content) for h in copy.heredocs] == [("A", "one\n"), ("B", "two\n")]
    assert copy.span.end_line == 6


def test_heredoc_as_copy_destination_is_an_error():
    with pytest.raises(PalletError, match="heredoc as a destination"):
        parse("FROM a\nCOPY x <<EOF\nEOF\n")


def test_crlf_heredoc_body_keeps_line_endings_but_terminator_matches():
    tree = parse_syntax(b"FROM a\r\nRUN <<EOF\r\necho hi\r\nEOF\r\n")
    assert tree.nodes[1].heredocs[0].body == "echo hi\r\n"


VALID_JSON = {
    "[]": [], '[""]': [""], '["a"]': ["a"], '["a","b"]': ["a", "b"], '[ "a", "b" ]': ["a", "b"],
    '[\t"a",\t"b"\t]': ["a", "b"],
    '["abc 123", "♥", "☃", "\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0000"]':
        ["abc 123", "♥", "☃", '" \\ / \b \f \n \r \t \x00'],
}
INVALID_STRING_ARRAYS = ['["a",42,"b"]', '["a",123.456,"b"]', '["a",{},"b"]', '["a",{"c": "d"},"b"]',
                         '["a",["c"],"b"]', '["a",true,"b"]', '["a",false,"b"]', '["a",null,"b"]']
NOT_JSON = ['["a" "b"]', "['a']", '["a",]', '["a"] x', '["\\x"]', '[NaN]', '["a\v"]', "[", '"a"']


@pytest.mark.parametrize("text", sorted(VALID_JSON))
def test_valid_json_arrays_of_strings(text):
    assert parse_json_array(text) == VALID_JSON[text]


@pytest.mark.parametrize("text", INVALID_STRING_ARRAYS)
def test_json_arrays_with_non_strings_are_errors(text):
    with pytest.raises(ValueError, match=NOT_STRING_ARRAY):
        parse_json_array(text)


@pytest.mark.parametrize("text", NOT_JSON)
def test_invalid_json_is_not_an_array(text):
    assert parse_json_array(text) is None


@pytest.mark.parametrize("text, words", [
    ("foo", ["foo"]), ("foo bar", ["foo", "bar"]), ("foo\\ bar", ["foo\\ bar"]),
    ("foo=bar", ["foo=bar"]), ("foo bar 'abc xyz'", ["foo", "bar", "'abc xyz'"]),
    ('foo bar "abc xyz"', ["foo", "bar", '"abc xyz"']), ("àöû", ["àöû"]),
    ('föo bàr "âbc xÿz"', ["föo", "bàr", '"âbc xÿz"']),
])
def test_parse_words(text, words):
    assert parse_words(text, "\\") == words


def test_name_val_old_and_new_format():
    assert parse_name_val("foo bar", "LABEL", "\\") == ["foo", "bar", ""]
    assert parse_name_val("foo=bar thing=star", "LABEL", "\\") == [
        "foo", "bar", "=", "thing", "star", "="]
    with pytest.raises(ValueError, match="ENV must have two arguments"):
        parse_name_val("foo", "ENV", "\\")


def test_empty_continuation_lines_are_recorded():
    tree = parse_syntax("\nFROM alpine:3.6\n\nRUN something \\\n\n    following \\\n\n    more\n\n"
                        "RUN another \\\n\n    thing\nRUN non-indented \\\n# this is a comment\n"
                        "   after-comment\n\nRUN indented \\\n    # this is an indented comment\n"
                        "    comment\n\t")
    flagged = [node for node in tree.nodes if node.empty_continuation_lines]
    assert [node.source for node in flagged] == ["RUN something     following     more",
                                                 "RUN another     thing"]
    assert flagged[0].empty_continuation_lines == (5, 7)


def test_line_longer_than_64k_is_an_error():
    label = "a" * (64 * 1024)
    with pytest.raises(PalletError, match="longer than the maximum of 65535 bytes") as caught:
        parse_syntax(f"\n\t\tFROM image\n\t\tLABEL test={label}\n")
    assert caught.value.span.line == 3


def test_directives_escape_and_case_insensitive_names():
    tree = parse_syntax("#escape=\\\n# key = FOO bar\n\n# smth\nFROM a\n")
    assert [(d.name, d.value) for d in tree.directives] == [("escape", "\\")]
    tree = parse_syntax("# EScape=`\n# KEY = FOO bar\nFROM a\nRUN a `\n  b\n")
    assert [(d.name, d.value) for d in tree.directives] == [("escape", "`")]
    assert tree.nodes[1].args == ("a   b",)


def test_directives_syntax_and_check_with_trailing_text():
    tree = parse_syntax("# syntax = docker/dockerfile:1 // opts\n#check = skip=all\nFROM a\n")
    assert [(d.name, d.value, d.span.line) for d in tree.directives] == [
        ("syntax", "docker/dockerfile:1 // opts", 1), ("check", "skip=all", 2)]


def test_directives_stop_at_the_first_other_line():
    tree = parse_syntax("# comment\n# escape=`\nFROM a\nRUN a \\\n b\n")
    assert tree.directives == () and tree.escape == "\\"
    assert tree.nodes[1].args == ("a  b",)
    tree = parse_syntax("FROM a\n# syntax=x\n")
    assert tree.directives == ()


@pytest.mark.parametrize("text, message", [
    ("# escape=\\\n# escape=`\nFROM a\n", "only one escape parser directive"),
    ("# syntax=a\n# SYNTAX=b\nFROM a\n", "only one syntax parser directive"),
    ("# escape=x\nFROM a\n", "invalid escape token"),
])
def test_directive_errors(text, message):
    with pytest.raises(PalletError, match=message) as caught:
        parse_syntax(text)
    assert caught.value.span.line in (1, 2)


def test_bom_is_dropped_and_directive_still_seen():
    tree = parse_syntax(b"\xef\xbb\xbf# syntax = myfrontend\nFROM busybox\n")
    assert tree.directives[0].value == "myfrontend"


def test_heredoc_detection_when_a_shell_line_ends_with_a_bracket():
    tree = parse_syntax("FROM a\nRUN cat <<EOF | grep ]\n[x]\nEOF\nCOPY [\"<<EOF\", \"/x\"]\n")
    run, copy = tree.nodes[1:]
    assert run.heredocs[0].body == "[x]\n" and not run.json_form
    assert copy.heredocs == () and copy.json_form


def test_onbuild_with_flags_still_reads_its_heredoc_body():
    tree = parse_syntax("FROM a\nONBUILD --x RUN <<EOF\nbody\nEOF\nRUN next\n")
    assert [node.name for node in tree.nodes] == ["from", "onbuild", "run"]
    assert tree.nodes[1].child.heredocs[0].body == "body\n"


def test_directive_span_points_at_the_name():
    tree = parse_syntax("  #  syntax = x   \nFROM a\n")
    span = tree.directives[0].span
    assert (span.line, span.column, span.end_column) == (1, 6, 15)


# instructions/parse_test.go (current semantics: ARG takes several names)
@pytest.mark.parametrize("keyword", ["MAINTAINER", "WORKDIR", "USER", "STOPSIGNAL"])
def test_commands_exactly_one_argument(keyword):
    with pytest.raises(PalletError, match=f"{keyword} requires exactly one argument"):
        parse(f"FROM a\n{keyword}\n")


@pytest.mark.parametrize("keyword", ["ENV", "LABEL", "ONBUILD", "HEALTHCHECK", "EXPOSE", "VOLUME"])
def test_commands_at_least_one_argument(keyword):
    with pytest.raises(PalletError, match=f"{keyword} requires at least one argument"):
        parse(f"FROM a\n{keyword}\n")


@pytest.mark.parametrize("keyword", ["ADD", "COPY"])
def test_commands_no_destination_argument(keyword):
    with pytest.raises(PalletError, match=f"{keyword} requires at least two arguments"):
        parse(f"FROM a\n{keyword} arg1\n")


@pytest.mark.parametrize("keyword", ["ENV", "LABEL"])
def test_commands_blank_names(keyword):
    with pytest.raises(PalletError, match=f"{keyword} names can not be blank"):
        parse(f"FROM a\n{keyword} =arg2\n")


def test_healthcheck_cmd_shell_form():
    check = parse("FROM a\nHEALTHCHECK CMD hello world\n").stages[0].instructions[0]
    assert check.command.exec_form is False and check.command.args == ("hello world",)


def test_healthcheck_interval_minimum():
    with pytest.raises(PalletError, match="cannot be less than 1ms"):
        parse("FROM a\nHEALTHCHECK --interval=50ns CMD true\n")
    assert parse("FROM a\nHEALTHCHECK --interval=1ms CMD true\n").stages[0].instructions[0].interval == 10**6


@pytest.mark.parametrize("text, message", [
    ("COPY\t\n\t\tquux \\\n      bar", "COPY requires at least two arguments"),
    ("ONBUILD FROM scratch", "FROM isn't allowed as an ONBUILD trigger"),
    ("ONBUILD MAINTAINER docker.io", "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("MAINTAINER --boo joe@example.com", "unknown flag: --boo"),
    ("ONBUILD ONBUILD RUN touch foobar", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("foo bar", "unknown instruction: foo"),
])
def test_instruction_error_cases(text, message):
    with pytest.raises(PalletError) as caught:
        parse("FROM a\n" + text)
    assert message in caught.value.message


@pytest.mark.parametrize("platform, ok", [
    ("invalid", False), ("linux/amd64", True), ("linux/arm64/v8", True), ("windows/amd64", True),
    ("arm64", True), ("linux", True), ("linux/amd64/v2/extra", False), ("$BUILDPLATFORM", True),
    ("linux/toaster", False),
])
def test_from_platform_is_validated_unless_it_holds_a_variable(platform, ok):
    text = f"FROM --platform={platform} busybox\n"
    if ok:
        assert parse(text).stages[0].platform == platform
    else:
        with pytest.raises(PalletError, match="invalid platform"):
            parse(text)


def test_lines_of_only_escape_characters_are_no_instruction():
    tree = parse_syntax("FROM a\n\\\n\\\n   \\\nRUN x\n")
    assert [node.name for node in tree.nodes] == ["from", "run"]
