"""The package's shape: the course's flow, one way down, no cycles, modules of one job.

Layers, lowest first: the infrastructure (``paths``, ``storage``, ``runtime``, ``devices``,
``validation``), then
``data`` -> ``models`` -> ``training`` -> ``fewshot``; on top the faces ``viz``,
``widgets``, ``exercises``, ``cli`` and ``notebook``. A module may import its own layer
or lower ones; nothing below the faces imports a face. Imports inside functions count
too (they are still dependencies).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fewshot_utils"

LAYERS = {
    "fewshot_utils": 0,
    "fewshot_utils.paths": 0,
    "fewshot_utils.storage": 0,
    "fewshot_utils.runtime": 0,
    "fewshot_utils.devices": 0,
    "fewshot_utils.validation": 0,
    "fewshot_utils.data": 1,
    "fewshot_utils.models": 2,
    "fewshot_utils.training": 3,
    "fewshot_utils.fewshot": 4,
    "fewshot_utils.viz": 5,
    "fewshot_utils.widgets": 6,
    "fewshot_utils.exercises": 6,
    "fewshot_utils.notebook": 7,
    "fewshot_utils.cli": 7,
    "fewshot_utils.__main__": 8,
}
FACES = (
    "fewshot_utils.viz",
    "fewshot_utils.widgets",
    "fewshot_utils.exercises",
    "fewshot_utils.cli",
)
#: The most lines a module may have; where one idea needs more, it is named here with why.
MAX_LINES = 450
LONGER = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path) -> set[str]:
    """The ``fewshot_utils`` modules a file imports (submodules resolved), anywhere in it."""
    names = set(modules())
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("fewshot_utils")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fewshot_utils"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in names else node.module)
    return found


def layer(module: str) -> int:
    best = max(
        (prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")),
        key=len,
    )
    return LAYERS[best]


def test_every_module_has_a_layer():
    for module in modules():
        assert layer(module) is not None, module


@pytest.mark.parametrize("module", sorted(modules()))
def test_imports_go_one_way_down(module):
    path = modules()[module]
    for target in imported(path):
        if target == module or module == "fewshot_utils" and target == "fewshot_utils.runtime":
            continue
        assert layer(target) <= layer(module), (
            f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)}): "
            "a lower layer must not depend on a higher one"
        )


def test_nothing_below_the_faces_imports_a_face():
    for module, path in modules().items():
        if layer(module) >= 5:
            continue
        faces = [t for t in imported(path) if t.startswith(FACES)]
        assert not faces, f"{module} imports the face(s) {faces}"


def test_no_import_cycles():
    graph = {module: imported(path) - {module} for module, path in modules().items()}
    # A package imports its own submodules in __init__; that is not a cycle with them.
    for module in graph:
        graph[module] = {t for t in graph[module] if not t.startswith(module + ".")}
    visiting, done = set(), set()

    def visit(node, trail):
        if node in done:
            return
        assert node not in visiting, "import cycle: " + " -> ".join([*trail, node])
        visiting.add(node)
        for target in sorted(graph.get(node, ())):
            visit(target, [*trail, node])
        visiting.discard(node)
        done.add(node)

    for module in sorted(graph):
        visit(module, [])


def test_modules_are_small():
    for module, path in modules().items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        limit = LONGER.get(module, MAX_LINES)
        assert lines <= limit, f"{module} has {lines} lines (at most {limit})"
