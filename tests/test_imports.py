"""The import graph of the package stays one-way: no circles, no borrowed private names, and the
layers the README names (base <- grammar <- builder -> runtime, the fronts on top).

Circles: every import counts, module-level, inside a function (the lazy imports kept for start-up
time) or under TYPE_CHECKING. A lazy import only postpones the circle to run time; the seam is
wrong either way. The graph is read with ast (tests/importgraph.py), nothing is imported.
"""

from __future__ import annotations

from tests.importgraph import Edge, build_graph, cycles, modules

GRAPH = build_graph()

# What each layer may import of ours (itself included); the fronts (pallet.*) may import all.
# So grammar and runtime import only pallet.base, the builder never the fronts (pallet.commands,
# the CLI, the API server), and the runtime never the builder.
LAYERS = {
    "pallet.base": {"pallet.base"},
    "pallet.grammar": {"pallet.base", "pallet.grammar"},
    "pallet.runtime": {"pallet.base", "pallet.runtime"},
    "pallet.builder": {"pallet.base", "pallet.grammar", "pallet.runtime", "pallet.builder"},
}


def _layer(module: str) -> str:
    for layer in LAYERS:
        if module == layer or module.startswith(layer + "."):
            return layer
    return "pallet"


def test_the_walk_sees_every_package_and_its_imports():
    # a guard for the guard: a walker that found nothing would pass every test below
    names = modules()
    assert {"pallet.cli", "pallet.base.errors", "pallet.grammar.parser", "pallet.builder.build",
            "pallet.runtime.store.content", "pallet.runtime.container.monitor"} <= set(names)
    assert any(e.source == "pallet.runtime.image.images" and e.target == "pallet.runtime.store.content"
               and "Store" in e.names for e in GRAPH.edges)
    assert any(e.lazy for e in GRAPH.edges)


def test_the_cycle_finder_finds_a_circle_through_a_lazy_import():
    edges = [Edge("a", "b", (), 1, False), Edge("b", "c", (), 1, True), Edge("c", "a", (), 1, True),
             Edge("c", "d", (), 1, False)]
    assert cycles(edges) == [["a", "b", "c"]]


def test_no_import_circles():
    assert cycles(GRAPH.edges) == []


def test_no_private_name_is_imported_from_another_module():
    assert [f"{importer}:{line} takes {module}.{name}"
            for importer, module, name, line in GRAPH.private] == []


def test_layers_import_only_downwards():
    wrong = [f"{e.source}:{e.line} imports {e.target}" for e in GRAPH.edges
             if _layer(e.target) not in LAYERS.get(_layer(e.source), {_layer(e.target)})]
    assert wrong == []


def test_the_api_server_never_imports_the_cli_front():
    # The two fronts share the library, not each other: what the API needs of a CLI module
    # (a parser, a view) belongs in the library. The CLI may start the server (`pallet serve`).
    wrong = [f"{e.source}:{e.line} imports {e.target}" for e in GRAPH.edges
             if e.source.startswith("pallet.api") and
             (e.target == "pallet.commands" or e.target.startswith("pallet.commands.")
              or e.target == "pallet.cli")]
    assert any(e.source.startswith("pallet.api.") for e in GRAPH.edges)
    assert wrong == []
