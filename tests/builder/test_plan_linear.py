"""Metadata steps cost what they add, not what the config already holds: a build file of
tens of thousands of LABEL/ENV/ARG lines plans and builds in linear time. The old planner
deep-copied the whole config into every step and hashed all of it into every step's key
(and the runner copied the history tuple at every step): 5,000 LABEL lines took 38 s, and
20,000 about 16 times that."""

from __future__ import annotations

import copy
import json

import pytest

from pallet.builder import cachekey
from pallet.builder.plan import BaseImage, plan
from pallet.builder.history import History
from pallet.grammar import parse
from tests.conftest import run_pallet

BASE_ID = "sha256:" + "cd" * 32
COUNT = 20_000


def _resolve(ref, span):
    return BaseImage(id=BASE_ID, config={"architecture": "amd64", "os": "linux",
                                         "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]}})


def _counting(monkeypatch, module, name):
    calls = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_metadata_steps_copy_nothing_and_key_only_their_change(monkeypatch):
    text = "FROM base\n" + "".join(f"LABEL l{i}=v{i}\nENV E{i}=${{A{max(i - 1, 0)}}}x\nARG A{i}=1\n"
                                   for i in range(COUNT // 3)) + "RUN true\n"
    copies = _counting(monkeypatch, copy, "deepcopy")
    built = plan(parse(text, "Dockerfile"), build_args={}, target=None, resolve_base=_resolve,
                 platform=None)
    steps = built.stages[0].steps
    assert len(steps) == 1 + 3 * (COUNT // 3) + 1
    # one copy of the base config, one per layer step (FROM, RUN) and the final one
    assert len(copies) <= 5
    assert all(step.config is None for step in steps[1:-1] if step.kind == "meta")
    final = steps[-1].config
    assert len(final["Labels"]) == COUNT // 3 and final["Env"][-1] == "E6665=1x"
    # each metadata step's canonical description stays small however long the file gets
    sizes = [len(cachekey.canonical(step.key_desc)) for step in steps if step.kind == "meta"]
    assert max(sizes) < 300


def test_history_is_shared_not_copied():
    base = History.of([{"created_by": "a"}, {"created_by": "b"}])
    longer = base.add({"created_by": "c"})
    assert [e["created_by"] for e in base] == ["a", "b"]
    assert [e["created_by"] for e in longer] == ["a", "b", "c"]
    assert [e["created_by"] for e in reversed(longer)] == ["c", "b", "a"] and len(longer) == 3
    deep = History()
    for i in range(200_000):  # a linked chain this long must iterate and free without recursion
        deep = deep.add({"i": i})
    assert len(deep) == 200_000 and next(reversed(deep)) == {"i": 199_999}
    del deep


@pytest.mark.root
@pytest.mark.timeout(120)  # the old code needs about ten minutes for this file
def test_twenty_thousand_labels_build(busybox_root, tmp_path):
    root = busybox_root
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox\n" + "".join(f"LABEL l{i}=v{i}\n" for i in range(COUNT)))
    built = run_pallet("build", "-q", "-t", "labels:1", "-f", str(context / "Dockerfile"),
                       str(context), root=root, timeout=110)
    assert built.returncode == 0, built.stderr
    inspected = run_pallet("image", "inspect", "labels:1", root=root)
    config = json.loads(inspected.stdout)[0]["Config"]
    assert len(config["Labels"]) == COUNT and config["Labels"]["l19999"] == "v19999"
    history = run_pallet("history", "-q", "labels:1", root=root)
    assert history.returncode == 0
