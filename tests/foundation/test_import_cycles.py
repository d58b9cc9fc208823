"""No import cycles among our modules, counting typing-only and function-local imports.

import-linter checks the layers between packages; a cycle between two modules of one package (or through
``if TYPE_CHECKING:``) passes its contracts, so this test walks grimp's module graph itself.
"""

from __future__ import annotations

import sys

import grimp


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component: list[str] = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for module in sorted(graph.modules):
            if module not in index:
                visit(module)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_no_import_cycles() -> None:
    graph = grimp.build_graph("server", "agent", "cades", "common", "demo", exclude_type_checking_imports=False)
    cycles = _cycles(graph)
    chains = []
    for component in cycles:
        first, *rest = component
        for other in rest:
            chain = graph.find_shortest_chain(importer=first, imported=other)
            back = graph.find_shortest_chain(importer=other, imported=first)
            if chain and back:
                chains.append(" -> ".join(chain) + " -> ... -> " + " -> ".join(back[1:]))
                break
    assert cycles == [], "import cycles:\n" + "\n".join(chains or map(str, cycles))
