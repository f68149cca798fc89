"""The package's import graph, read from the source with ast (nothing is imported).

Every ``import``/``from ... import`` statement counts, wherever it stands: at module level, inside
a function (the lazy imports kept for start-up time) or under ``if TYPE_CHECKING:``. A lazy import
still says "this module needs that one"; a circle hidden behind one is the same wrong seam, only
found later at run time.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Edge:
    """One import statement's target, as seen from the importing module."""
    source: str          # importing module
    target: str          # imported module (a module of ours, resolved)
    names: tuple[str, ...]  # names taken from it by `from target import ...` (empty for `import`)
    line: int
    lazy: bool           # inside a function body


def package_dirs() -> dict[str, Path]:
    """Import name -> folder, as pyproject.toml maps them for the install."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = config.get("package-dir", {})
    dirs = {}
    for package in config["packages"]:
        head = max((p for p in mapped if package == p or package.startswith(p + ".")),
                   key=len, default=None)
        base = REPO / mapped[head] if head else REPO / package.split(".")[0]
        rest = package[len(head) + 1:] if head and package != head else ""
        dirs[package] = base.joinpath(*rest.split(".")) if rest else base
    return dirs


def modules() -> dict[str, Path]:
    """Every module of ours: dotted name -> file."""
    found = {}
    for package, folder in package_dirs().items():
        for path in folder.glob("*.py"):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found[name] = path
    return found


def _resolve(module: str, level: int, current: str, is_package: bool) -> str:
    if not level:
        return module
    parts = current.split(".")
    if not is_package:
        parts = parts[:-1]
    parts = parts[: len(parts) - (level - 1)]
    return ".".join(parts + ([module] if module else []))


class _Walker(ast.NodeVisitor):
    def __init__(self, name: str, is_package: bool, ours: dict[str, Path]):
        self.name, self.is_package, self.ours = name, is_package, ours
        self.depth = 0
        self.edges: list[Edge] = []
        self.module_aliases: dict[str, str] = {}   # local name -> module of ours
        self.private_uses: list[tuple[str, str, int]] = []  # (module, attribute, line)

    def _function(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def _add(self, target: str, names: tuple[str, ...], line: int) -> None:
        if target in self.ours and target != self.name:
            self.edges.append(Edge(self.name, target, names, line, self.depth > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, (), node.lineno)
            if alias.asname and alias.name in self.ours:
                self.module_aliases[alias.asname] = alias.name

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _resolve(node.module or "", node.level, self.name, self.is_package)
        plain = []
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            if submodule in self.ours:      # `from package import module`
                self._add(submodule, (), node.lineno)
                self.module_aliases[alias.asname or alias.name] = submodule
            else:
                plain.append(alias.name)
        if plain:
            self._add(base, tuple(plain), node.lineno)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if (isinstance(node.value, ast.Name) and node.value.id in self.module_aliases
                and _private(node.attr)):
            self.private_uses.append((self.module_aliases[node.value.id], node.attr, node.lineno))
        self.generic_visit(node)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@dataclass(frozen=True)
class Graph:
    edges: tuple[Edge, ...]
    private: tuple[tuple[str, str, str, int], ...]   # (importer, module, name, line)


def build_graph() -> Graph:
    ours = modules()
    edges, private = [], []
    for name, path in sorted(ours.items()):
        walker = _Walker(name, path.stem == "__init__", ours)
        walker.visit(ast.parse(path.read_text(), str(path)))
        edges += walker.edges
        for edge in walker.edges:
            private += [(name, edge.target, n, edge.line) for n in edge.names if _private(n)]
        private += [(name, module, attr, line) for module, attr, line in walker.private_uses
                    if module != name]
    return Graph(tuple(edges), tuple(private))


def cycles(edges) -> list[list[str]]:
    """Each group of modules that import each other, directly or round a longer loop."""
    import networkx

    graph = networkx.DiGraph((edge.source, edge.target) for edge in edges)
    return sorted(sorted(group) for group in networkx.strongly_connected_components(graph)
                  if len(group) > 1)
