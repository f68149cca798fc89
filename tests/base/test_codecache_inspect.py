"""base/codecache.py imports dataclasses with a stand-in for inspect (its one use: the
__doc__ of a dataclass without a docstring). The stand-in must stay invisible: the same
__doc__ as plain dataclasses gives, the real inspect for every other importer, and no use of
inspect in dataclasses beyond signature (a Python update adding one fails here first)."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys

import pytest

PROBE = """
import sys
from pallet.base.codecache import install_dataclass_cache
install_dataclass_cache()
import dataclasses
print("inspect" in sys.modules)

@dataclasses.dataclass(frozen=True)
class Documented:
    '''Has its own docstring.'''
    x: int

print("inspect" in sys.modules, Documented.__doc__)

@dataclasses.dataclass
class Plain:
    x: int
    y: "list[str]" = dataclasses.field(default_factory=list)
    z: str = "a"

print("inspect" in sys.modules, Plain.__doc__)
import inspect
print(hasattr(inspect, "getsource"), inspect is sys.modules["inspect"])
"""

PLAIN = """
import dataclasses

@dataclasses.dataclass
class Plain:
    x: int
    y: "list[str]" = dataclasses.field(default_factory=list)
    z: str = "a"

print(Plain.__doc__)
"""


def test_dataclasses_uses_nothing_of_inspect_but_signature():
    if sys.version_info[:2] != (3, 11):
        pytest.fail("the stand-in is made for 3.11's dataclasses; check the new one's uses")
    with open(dataclasses.__file__, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == "inspect"}
    assert used == {"signature"}


def test_inspect_loads_only_for_a_class_without_a_docstring_and_docs_stay_the_same():
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                           check=True, env={"XDG_CACHE_HOME": "/nonexistent"})
    plain = subprocess.run([sys.executable, "-c", PLAIN], capture_output=True, text=True,
                           check=True)
    lines = probe.stdout.splitlines()
    assert lines[0] == "False"
    assert lines[1] == "False Has its own docstring."
    assert lines[2] == f"True {plain.stdout.strip()}"
    assert plain.stdout.startswith("Plain(x: int, y: 'list[str]' = <factory>, z: str = 'a')")
    assert lines[3] == "True True"
