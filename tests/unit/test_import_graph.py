"""The import graph of ``stc_gpu`` has no cycle: between files, or between top-level packages.

Every ``import`` counts, at module level and inside functions. A name imported from a package's
``__init__`` counts as an import of the submodule that defines it (an ``__init__`` re-exporting
its own modules is not a cycle).
"""
from __future__ import annotations

import ast
from pathlib import Path

import stc_gpu

ROOT = Path(stc_gpu.__file__).parent


def _module_names() -> dict[str, Path]:
    names = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


MODULES = _module_names()


def _imported(tree: ast.AST, module: str, is_package: bool):
    """(module, name or None) pairs of every import in ``tree``, relative ones resolved."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[:len(package) - node.level + 1]
                base = ".".join(package + ([base] if base else []))
            for alias in node.names:
                yield base, alias.name


def _re_exports() -> dict[tuple[str, str], str]:
    """(package, name) -> the submodule of that package its ``__init__`` imports it from."""
    out = {}
    for module, path in MODULES.items():
        if path.name != "__init__.py":
            continue
        for source, name in _imported(ast.parse(path.read_text()), module, True):
            if name and source.startswith(module + ".") and source in MODULES:
                out[module, name] = source
    return out


def _graph() -> dict[str, set[str]]:
    """Module -> the stc_gpu modules it imports (package ``__init__`` edges to its own
    submodules left out)."""
    re_exports = _re_exports()
    graph = {}
    for module, path in MODULES.items():
        is_package = path.name == "__init__.py"
        edges = set()
        for source, name in _imported(ast.parse(path.read_text()), module, is_package):
            if not source.startswith("stc_gpu"):
                continue
            target = source
            if name and f"{source}.{name}" in MODULES:
                target = f"{source}.{name}"
            elif name and (source, name) in re_exports:
                target = re_exports[source, name]
            if target not in MODULES or target == module:
                continue
            if is_package and target.startswith(module + "."):
                continue  # an __init__ re-exporting its own modules
            edges.add(target)
        graph[module] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one node (Tarjan)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _package(module: str) -> str:
    """The top-level package (``stc_gpu.probe``) or top-level module (``stc_gpu.cli``)."""
    return ".".join(module.split(".")[:2])


def test_the_checker_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_files():
    assert _cycles(_graph()) == []


def test_no_import_cycle_between_packages():
    packages: dict[str, set[str]] = {}
    for module, targets in _graph().items():
        packages.setdefault(_package(module), set()).update(
            _package(t) for t in targets if _package(t) != _package(module))
    assert _cycles(packages) == []


def test_the_vocabulary_is_a_leaf_and_its_names_are_defined_once():
    """``stc_gpu.vocabulary`` imports no stc_gpu module, and no other module assigns its names."""
    import stc_gpu.vocabulary as vocabulary

    assert _graph()["stc_gpu.vocabulary"] == set()
    names = {name for name in vars(vocabulary) if name.isupper()}
    for module, path in MODULES.items():
        if module == "stc_gpu.vocabulary":
            continue
        assigned = {target.id for node in ast.parse(path.read_text()).body
                    if isinstance(node, (ast.Assign, ast.AnnAssign))
                    for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                    if isinstance(target, ast.Name)}
        assert not assigned & names, f"{module} defines {sorted(assigned & names)} again"
