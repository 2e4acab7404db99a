"""The package's import graph: no cycle, and no import from a lower layer up to a higher one.

Every `import` and `from ... import` in seq2seq/ counts, those inside functions included, read
with `ast` (nothing is imported to find them).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "seq2seq"

# Bottom first. A module may import its own unit (seq2seq.<unit>...) and the units of lower
# layers only: never a higher layer, never a sibling of its own layer.
LAYERS = (
    ("errors",),
    ("paths", "words"),
    ("device", "hparams", "markdown", "leftovers", "metrics", "diversity", "plots", "batching",
     "tokenizer"),
    ("models",),
    ("config",),
    ("decoding", "data", "runs", "teacher_forcing"),
    ("relevance",),
    ("checkpoint",),
    ("mmi",),
    ("training", "comparison", "conversation"),
    ("web", "pretrained"),
)
LAYER = {unit: index for index, units in enumerate(LAYERS) for unit in units}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The seq2seq modules `path` imports: a `from X import name` counts as X.name when that is
    a module (a submodule imported by name), else as X."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
    return {name for name in found if name in modules}


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: imported_modules(path, modules) - {name} for name, path in paths.items()}


def unit(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_unit_has_a_layer():
    units = {unit(name) for name in import_graph()} - {None}
    assert units <= LAYER.keys(), f"place these in LAYERS: {sorted(units - LAYER.keys())}"


def test_no_import_runs_up_or_sideways():
    wrong = []
    for module, imports in sorted(import_graph().items()):
        for target in sorted(imports):
            if unit(module) is None or unit(target) in (unit(module), None):
                continue
            if LAYER[unit(target)] >= LAYER[unit(module)]:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return path[path.index(module) :] + [module]
        if module in done:
            return None
        for target in sorted(graph[module]):
            cycle = visit(target, path + [module])
            if cycle:
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        assert visit(module, []) is None
