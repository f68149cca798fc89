"""The grammar's LALR parser: built by lark once per grammar version, cached privately."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from pallet.grammar import parser as P
from pallet.grammar import tables
from pallet.grammar.lines import scan
from tests.grammar import BUILDKIT_DATA

PROBE = ("import sys; from pallet.grammar import tables; from pallet.grammar.parser import "
         "INSTRUCTION_RULES, parse_syntax; parse_syntax('FROM a\\nRUN b\\n'); "
         "print(tables.load(INSTRUCTION_RULES + ('rest',)).source, 'lark' in sys.modules)")


def probe(cache_home: Path) -> str:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home))
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_first_process_builds_later_ones_load_without_lark(tmp_path):
    assert probe(tmp_path) == "built True"
    assert probe(tmp_path) == "cache False"
    directory = tmp_path / "pallet"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    (cached,) = directory.glob("buildfile-*.lalr")
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600


def test_corrupt_cache_is_rebuilt(tmp_path):
    probe(tmp_path)
    (cached,) = (tmp_path / "pallet").glob("buildfile-*.lalr")
    cached.write_bytes(b"not a code object")
    assert probe(tmp_path) == "built True"
    assert probe(tmp_path) == "cache False"


def test_cache_directory_writable_by_others_is_not_used(tmp_path):
    (tmp_path / "pallet").mkdir(mode=0o700)
    os.chmod(tmp_path / "pallet", 0o777)
    assert probe(tmp_path) == "built True"
    assert probe(tmp_path) == "built True"
    assert list((tmp_path / "pallet").iterdir()) == []


def test_parser_is_loaded_once_per_process():
    assert P.grammar() is P.grammar()


def _documents() -> list[str]:
    data = BUILDKIT_DATA / "testfiles"
    golden = Path(__file__).parent / "golden"
    texts = []
    for path in sorted(data.glob("*/Dockerfile")) + sorted(p for p in golden.glob("*/Dockerfile")
                                                     if not p.parent.name.startswith("err-")):
        scanned = scan(path.read_bytes(), str(path), P._heredoc_finder(str(path)))
        texts.append("\n".join(line.text for line in scanned.lines) + "\n")
    return texts


def _shape(value):
    if isinstance(value, tuple):
        return (value[0], [_shape(child) for child in value[1]])
    if isinstance(value, list):
        return [_shape(child) for child in value]
    if hasattr(value, "children"):  # a Tree of a helper rule
        return (str(value.data), [_shape(child) for child in value.children])
    return (value.type, str(value), value.line, value.column)


def test_cached_parser_equals_a_fresh_lark_parser():
    from lark import Lark, Transformer

    class Collect(Transformer):
        def start(self, children):
            return children

    for rule in P.INSTRUCTION_RULES + ("rest",):
        setattr(Collect, rule, lambda self, children, _rule=rule: (_rule, children))
    fresh = Lark(tables.GRAMMAR.read_text(), transformer=Collect(), **tables.OPTIONS)
    documents = _documents()
    assert len(documents) == 33 + 6
    for document in documents:
        assert _shape(P.grammar().parse(document)) == _shape(fresh.parse(document)), document
