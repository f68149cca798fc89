"""BuildKit's own parser test data (tests/grammar/buildkit, vendored), run byte for byte."""

from __future__ import annotations

import pytest

from pallet.base.errors import PalletError
from pallet.grammar import dump, parse_syntax
from tests.grammar import BUILDKIT_DATA

DATA = BUILDKIT_DATA
POSITIVE = sorted(p for p in (DATA / "testfiles").iterdir() if p.is_dir())
NEGATIVE = sorted(p for p in (DATA / "testfiles-negative").iterdir() if p.is_dir())


def test_the_data_set_is_complete():
    assert len(POSITIVE) == 33
    assert len(NEGATIVE) == 4


@pytest.mark.parametrize("case", POSITIVE, ids=lambda p: p.name)
def test_positive_case_dumps_byte_identical(case):
    source = (case / "Dockerfile").read_bytes()
    expected = (case / "result").read_bytes().decode("utf-8")
    tree = parse_syntax(source, path=str(case / "Dockerfile"))
    assert dump(tree) + "\n" == expected


@pytest.mark.parametrize("case", NEGATIVE, ids=lambda p: p.name)
def test_negative_case_raises_a_located_error(case):
    path = str(case / "Dockerfile")
    with pytest.raises(PalletError) as caught:
        parse_syntax((case / "Dockerfile").read_bytes(), path=path)
    assert caught.value.span is not None
    assert caught.value.span.file == path
    assert caught.value.span.line >= 1


def test_negative_cases_fail_for_buildkits_reasons():
    reasons = {
        "empty_dockerfile": "file with no instructions",
        "only_comments": "file with no instructions",
        "env_no_value": "ENV must have two arguments",
        "shykes-nested-json": "arrays must be comprised of strings only",
    }
    for case in NEGATIVE:
        with pytest.raises(PalletError) as caught:
            parse_syntax((case / "Dockerfile").read_bytes())
        assert reasons[case.name] in caught.value.message


def test_instruction_line_numbers_match_buildkit():
    tree = parse_syntax((DATA / "testfile-line" / "Dockerfile").read_bytes())
    assert [(node.span.line, node.span.end_line) for node in tree.nodes] == [
        (5, 5), (11, 12), (17, 31)]
    assert tree.nodes[0].span.line == 5 and tree.nodes[-1].span.end_line == 31


# The typed parse (BuildKit's instructions layer on top) rejects these positive line-level
# cases for the same reasons BuildKit's instructions.Parse does; every other case must also
# dump byte-identical from the typed BuildFile.
TYPED_REJECTS = {
    "flags": "unknown flag: --user",
    "health": "HEALTHCHECK requires at least one argument",
    "jeztah-invalid-json-json-inside-string": "no build stage in context",
    "jeztah-invalid-json-json-inside-string-double": "no build stage in context",
    "jeztah-invalid-json-single-quotes": "no build stage in context",
    "jeztah-invalid-json-unterminated-bracket": "no build stage in context",
    "jeztah-invalid-json-unterminated-string": "no build stage in context",
    "json": "no build stage in context",
}


@pytest.mark.parametrize("case", POSITIVE, ids=lambda p: p.name)
def test_positive_case_through_the_typed_parser(case):
    from pallet.grammar import parse

    source = (case / "Dockerfile").read_bytes()
    if case.name in TYPED_REJECTS:
        with pytest.raises(PalletError) as caught:
            parse(source)
        assert TYPED_REJECTS[case.name] in caught.value.message
        assert caught.value.span is not None
    else:
        expected = (case / "result").read_bytes().decode("utf-8")
        assert dump(parse(source)) + "\n" == expected
