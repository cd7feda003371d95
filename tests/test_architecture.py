"""The import graph: layers import only their own or lower layers, and nothing imports in a
circle. Read from the source with ``ast`` (function-level imports count too)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "diskkit"

# Bottom up; docs/architecture.md draws the same map. A module not listed is an error, so a
# new top-level module has to be placed here deliberately.
LAYERS = [
    ("foundation", {"errors", "units", "report", "progress", "reproducible", "structs",
                    "guid", "i18n", "blockdev", "fileio", "hostfiles", "signatures"}),
    ("container", {"vhd", "vhdx", "vmdk"}),
    ("partition map", {"part"}),
    ("image", {"image"}),
    ("filesystem", {"fat", "ntfs", "filesystems"}),
    ("windows", {"windows", "drivers"}),
    ("operation", {"ops", "htmlreport"}),
    ("boot layout", {"boot"}),
    ("workflow", {"ramos", "synth", "testing"}),
    ("cli", {"cli", "__main__"}),
]
LAYER_OF = {name: rank for rank, (_, names) in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _bound_names(path: Path) -> set[str]:
    """Names a module's top level binds (imports, definitions, assignments)."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """diskkit modules ``name`` imports (``from . import x`` names submodule ``x`` when it is
    one, else the package; a name neither provides is an optional module not present)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "diskkit"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "diskkit":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in known:
                    found.add(sub)
                elif target not in known or alias.name in _bound_names(known[target]):
                    found.add(target)
    return {m for m in found if m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_module_has_a_layer():
    areas = {_area(m) for m in _modules()} - {""}
    assert areas <= set(LAYER_OF), f"place these in LAYERS: {sorted(areas - set(LAYER_OF))}"


def test_no_import_from_a_higher_layer():
    upward = []
    for module, targets in _graph().items():
        if not _area(module):
            continue
        for target in targets:
            if _area(target) and LAYER_OF[_area(target)] > LAYER_OF[_area(module)]:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports from a higher layer:\n" + "\n".join(sorted(upward))


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [module, target]))
            elif target not in state:
                visit(target, path + [module])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_packages_only_reexport():
    """A package's __init__ never imports at its bottom (shadowing a submodule with a name)."""
    for module, path in _modules().items():
        if path.name != "__init__.py":
            continue
        body = ast.parse(path.read_text(encoding="utf-8")).body
        seen_code = False
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                assert not seen_code, f"{module}: import after code (line {node.lineno})"
            elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) \
                    and not (isinstance(node, ast.Assign) and any(
                        isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)):
                seen_code = True
