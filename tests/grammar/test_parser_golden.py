"""Golden cases of our own (tests/grammar/golden/<case>/): what the BuildKit data leaves out.

Each case holds a ``Dockerfile`` and either ``dump`` (BuildKit's dump format) plus ``ast`` (the
typed AST, rendered below), or ``error`` (the rendered PalletError). The expected files were
written once by PALLET_REGEN_GOLDEN=1 and then checked by hand against the Dockerfile
reference; a change in output must be reviewed the same way.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from pallet.base.errors import PalletError, Span
from pallet.grammar import ast as A
from pallet.grammar import dump, parse, parse_syntax

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p for p in GOLDEN.iterdir() if p.is_dir())
REGEN = os.environ.get("PALLET_REGEN_GOLDEN") == "1"


def _value(value) -> str:
    if isinstance(value, Span):
        return f"{value.line}:{value.column}-{value.end_line}:{value.end_column}"
    if isinstance(value, A.Instruction):
        return "\n" + "\n".join("    " + line for line in render_instruction(value).splitlines())
    if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
        return "[" + ", ".join(_record(item) for item in value) + "]"
    if dataclasses.is_dataclass(value):
        return _record(value)
    return repr(value)


def _record(item) -> str:
    skip = {"raw", "word", "node"}
    fields = [f"{f.name}={_value(getattr(item, f.name))}" for f in dataclasses.fields(item)
              if f.name not in skip and getattr(item, f.name) not in (None, (), False)]
    return f"{type(item).__name__}({', '.join(fields)})"


def render_instruction(item: A.Instruction) -> str:
    lines = [f"{type(item).__name__} @{_value(item.span)} {item.source!r}"]
    for field in dataclasses.fields(item):
        if field.name in ("span", "source", "node"):
            continue
        value = getattr(item, field.name)
        if value in (None, (), False):
            continue
        lines.append(f"  {field.name} = {_value(value)}")
    return "\n".join(lines)


def render(bf: A.BuildFile) -> str:
    out = [f"directives = {[(d.name, d.value) for d in bf.directives]}", f"escape = {bf.escape!r}"]
    out += ["meta " + render_instruction(arg) for arg in bf.meta_args]
    for stage in bf.stages:
        out.append(f"stage {stage.index} name={stage.name!r} base={stage.base!r} "
                   f"platform={stage.platform!r} @{_value(stage.span)}")
        out += [render_instruction(item) for item in stage.instructions]
    return "\n".join(out) + "\n"


def _check(case: Path, name: str, actual: str) -> None:
    expected_file = case / name
    if REGEN:
        expected_file.write_text(actual, encoding="utf-8")
    assert expected_file.exists(), f"{expected_file} missing (run with PALLET_REGEN_GOLDEN=1)"
    assert actual == expected_file.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden_case(case):
    source = (case / "Dockerfile").read_bytes()
    if case.name.startswith("err-"):
        with pytest.raises(PalletError) as caught:
            parse(source, path="Dockerfile")
        assert caught.value.span is not None and caught.value.span.file == "Dockerfile"
        _check(case, "error", caught.value.render() + "\n")
        return
    tree = parse_syntax(source, path="Dockerfile")
    _check(case, "dump", dump(tree) + "\n")
    _check(case, "ast", render(parse(source, path="Dockerfile")))
