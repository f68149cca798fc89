"""base/codecache.py: dataclasses' generated methods are compiled once and reused, privately."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

# A fresh interpreter: installs the cache as the CLI's entry point does, defines a frozen dataclass, checks that it behaves
# as a dataclass, and prints how many method sources were compiled (by compile, or by exec).
PROBE = r"""
import builtins, dataclasses, sys
from pallet.base.codecache import install_dataclass_cache
install_dataclass_cache()
compiled = []
real_compile, real_exec = builtins.compile, builtins.exec
def counting_compile(source, *args, **kwargs):
    compiled.append(source)
    return real_compile(source, *args, **kwargs)
def counting_exec(source, *args):
    if isinstance(source, str):  # exec compiles it
        compiled.append(source)
    return real_exec(source, *args)
builtins.compile, builtins.exec = counting_compile, counting_exec
@dataclasses.dataclass(frozen=True)
class Probe:
    name: str
    size: int = 3
builtins.compile, builtins.exec = real_compile, real_exec
p = Probe("a")
assert p == Probe("a", 3) and hash(p) == hash(Probe("a")) and repr(p) == "Probe(name='a', size=3)"
try:
    p.name = "b"
except dataclasses.FrozenInstanceError:
    pass
else:
    raise SystemExit("not frozen")
assert dataclasses.replace(p, size=4).size == 4
print(len(compiled))
"""


def probe(cache_home: Path, **extra_env: str) -> int:
    env = dict(os.environ)
    env.pop("PALLET_NO_CODE_CACHE", None)
    env.update(XDG_CACHE_HOME=str(cache_home), **extra_env)
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


def cache_file(cache_home: Path) -> Path:
    (path,) = (cache_home / "pallet").glob("dataclasses-*-__main__.marshal")
    return path


def test_second_process_compiles_no_dataclass_method(tmp_path):
    first = probe(tmp_path)
    assert first >= 4  # __init__, __repr__, __eq__, __hash__, frozen __setattr__/__delattr__
    assert probe(tmp_path) == 0
    assert stat.S_IMODE(cache_file(tmp_path).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "pallet").stat().st_mode) == 0o700


def test_corrupt_cache_file_is_ignored_and_replaced(tmp_path):
    probe(tmp_path)
    cache_file(tmp_path).write_bytes(b"\x00not marshal")
    assert probe(tmp_path) >= 4
    assert probe(tmp_path) == 0


def test_cache_file_writable_by_others_is_not_loaded(tmp_path):
    probe(tmp_path)
    os.chmod(cache_file(tmp_path), 0o666)
    assert probe(tmp_path) >= 4


def test_cache_directory_writable_by_others_is_not_used(tmp_path):
    (tmp_path / "pallet").mkdir(mode=0o700)
    os.chmod(tmp_path / "pallet", 0o777)
    assert probe(tmp_path) >= 4
    assert probe(tmp_path) >= 4
    assert list((tmp_path / "pallet").iterdir()) == []


def test_switch_to_turn_it_off(tmp_path):
    probe(tmp_path)
    assert probe(tmp_path, PALLET_NO_CODE_CACHE="1") >= 4
