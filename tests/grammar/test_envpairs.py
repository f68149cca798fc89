"""ENV/LABEL/ARG pair lists: splitting (checked against BuildKit's `env` parser case) and
expansion."""

from __future__ import annotations

import json
import re

import pytest

from pallet.base.errors import PalletError
from pallet.grammar.envpairs import Pair, expand_pairs, parse_pairs, split_words
from pallet.grammar.substitution import SubstitutionError
from tests.grammar import BUILDKIT_DATA

ENV_CASE = BUILDKIT_DATA / "testfiles" / "env"
_GO_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _single_line_env_cases() -> list:
    """Pair each one-line `ENV ...` of the case with its dump line (a list of key, value,
    separator triples, quotes and escapes kept)."""
    source = (ENV_CASE / "Dockerfile").read_bytes().decode().split("\n")
    dumps = (ENV_CASE / "result").read_bytes().decode().split("\n")
    instructions = [line for line in source if line and not line.startswith("#")]
    cases = []
    for number, (line, dump) in enumerate(zip(instructions, dumps), start=1):
        if not line.startswith("ENV ") or line.endswith("\\"):
            continue  # the multi-line ENV needs the parser's continuation joining
        args = [json.loads(s) for s in _GO_STRING.findall(dump)]
        triples = [tuple(args[i:i + 3]) for i in range(0, len(args), 3)]
        cases.append(pytest.param(line[4:], triples, id=f"{number}:{line}"))
    return cases


ENV_CASES = _single_line_env_cases()


def test_the_env_case_yields_its_single_line_instructions():
    assert len(ENV_CASES) == 14


@pytest.mark.parametrize(("text", "triples"), ENV_CASES)
def test_parse_pairs_matches_buildkit_dump(text, triples):
    pairs = parse_pairs(text, instruction="ENV")
    assert [(p.key, p.value, "" if p.legacy else "=") for p in pairs] == triples


@pytest.mark.parametrize(("text", "value"), [
    ('name="value value1"', "value value1"),
    ("name=value\\ value2", "value value2"),
    ("name=\"value'quote space'value2\"", "value'quote space'value2"),
    ("name='value\"double quote\"value2'", 'value"double quote"value2'),
    ('name="a\\"b"', 'a"b'),
    ("name=\"a\\'b\"", "a\\'b"),
    ("name='a\\'b''", "a\\b"),
    ("name='a\\\"b'", 'a\\"b'),
    ("name=\"''\"", "''"),
    ("name value with  spaces", "value with  spaces"),
])
def test_expand_pairs_removes_quotes_and_escapes(text, value):
    expanded = expand_pairs(parse_pairs(text, instruction="ENV"), {})
    assert expanded.pairs == (Pair(key="name", value=value, legacy=" " in text.split("=")[0]),)


def test_unterminated_single_quote_after_escape_is_an_error():
    # 'a\' is a whole single-quoted word (no escapes inside), so the final ' is unterminated.
    with pytest.raises(SubstitutionError):
        expand_pairs(parse_pairs("name='a\\'b'", instruction="ENV"), {})


def test_all_pairs_of_one_instruction_see_the_same_scope():
    expanded = expand_pairs(parse_pairs("a=2 b=$a c=${z:-d}", instruction="ENV"), {"a": "1"})
    assert expanded.pairs == (Pair("a", "2"), Pair("b", "1"), Pair("c", "d"))
    assert expanded.used == frozenset({"a", "z"})
    assert expanded.unset == frozenset({"z"})


def test_keys_are_expanded_too():
    expanded = expand_pairs(parse_pairs("${p}_x=1", instruction="LABEL"), {"p": "org"})
    assert expanded.pairs == (Pair("org_x", "1"),)


def test_arg_pairs_allow_bare_names_and_keep_values_raw():
    pairs = parse_pairs('a b="x y" c=', instruction="ARG")
    assert pairs == (Pair("a", None), Pair("b", '"x y"'), Pair("c", ""))
    assert expand_pairs(pairs, {}).pairs == (Pair("a", None), Pair("b", "x y"), Pair("c", ""))


@pytest.mark.parametrize(("text", "instruction", "message"), [
    ("", "ENV", "ENV requires at least one argument"),
    ("   ", "LABEL", "LABEL requires at least one argument"),
    ("foo", "ENV", "ENV must have two arguments"),
    ("a=1 b", "LABEL",
     "Syntax error - can't find = in \"b\". Must be of the form: name=value"),
    ("=x", "ENV", "ENV names can not be blank"),
])
def test_parse_pairs_errors_use_buildkit_messages(text, instruction, message):
    with pytest.raises(PalletError) as caught:
        parse_pairs(text, instruction=instruction)
    assert caught.value.message == message


@pytest.mark.parametrize(("text", "words"), [
    ("a b  c", ("a", "b", "c")),
    ('a="x y" b', ('a="x y"', "b")),
    ("a='x \\' b", ("a='x \\'", "b")),
    ('a="x \\" y" b', ('a="x \\" y"', "b")),
    ("a\\ b c", ("a\\ b", "c")),
    ('a="" ""', ('a=""', '""')),
    ('a="unterminated x', ('a="unterminated x',)),
    ("a\\", ("a",)),
])
def test_split_words_keeps_quotes_and_escapes(text, words):
    assert split_words(text) == words


def test_split_words_with_backtick_escape():
    assert split_words("a=x` y b") == ("a=x`", "y", "b")
    assert split_words("a=x` y b", escape="`") == ("a=x` y", "b")
