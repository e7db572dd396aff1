"""Each layer imports only itself and the layers below it (docs/architecture.md, Layers).

Every import in src/cairn counts, at module level or inside a function, under
TYPE_CHECKING or not: a deferred import is still a dependency. `cairn/__init__.py` and
`__main__.py` assemble the public API from every layer and are exempt; the public API is the
layer between serve and demo.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "cairn"

# Lowest first; the packages and modules on one line are one layer.
LAYERS: list[tuple[str, ...]] = [
    ("config", "errors", "states", "atomic", "readable"),
    ("codecs",),
    ("store",),
    ("tracking",),
    ("compute",),
    ("lineage",),
    ("datasets",),
    ("timetravel",),
    ("pipeline",),
    ("reproduce",),
    ("tuning",),
    ("rl",),
    ("models",),
    ("auth",),
    ("serve",),
    ("ui",),
    ("mlflow",),
    ("cairn",),  # the public API (`import cairn`), assembled from every layer above
    ("demo",),
    ("cli",),
]
LEVEL = {part: level for level, parts in enumerate(LAYERS) for part in parts}
TOP = "cairn"  # `import cairn`, or `from cairn import x` for an x that is not a module
EXEMPT = {"__init__.py", "__main__.py"}


def module_name(path: Path) -> str:
    parts = ["cairn", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    return (SRC / relative).with_suffix(".py").exists() or (SRC / relative).is_dir()


def imported_modules(source: str, package: str) -> set[str]:
    """The cairn modules `source` (a module of `package`) imports, absolute or relative,
    anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            for alias in node.names:
                candidate = f"{origin}.{alias.name}"
                found.add(candidate if _is_module(candidate) else origin)
    return {name for name in found if name == TOP or name.startswith(TOP + ".")}


def imports_of(path: Path) -> set[str]:
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return imported_modules(path.read_text(), package)


def layer_of(module: str) -> str:
    """The layer entry a module belongs to: `cairn.store.blobs` -> `store`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else TOP


def violations() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.parent == SRC and path.name in EXEMPT:
            continue
        here = layer_of(module_name(path))
        for imported in sorted(imports_of(path)):
            there = layer_of(imported)
            if there == here:
                continue
            if LEVEL[there] > LEVEL[here]:
                relative = path.relative_to(SRC).as_posix()
                found.append(f"{relative} ({here}) imports {imported} ({there})")
    return found


def test_every_module_is_in_a_layer() -> None:
    tops = {
        layer_of(module_name(p))
        for p in SRC.rglob("*.py")
        if p.name not in EXEMPT or p.parent != SRC
    }
    assert tops <= set(LEVEL), f"add these to LAYERS: {sorted(tops - set(LEVEL))}"


def test_layers_import_only_downwards() -> None:
    found = violations()
    assert not found, "imports of a higher layer:\n" + "\n".join(found)


def test_the_check_sees_deferred_relative_and_top_level_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import json\n"
        "from cairn.store import schema\n"
        "from ..codecs.registry import decode\n"
        "from . import run\n"
        "if TYPE_CHECKING:\n"
        "    from cairn.lineage.graph import Node\n"
        "def f():\n"
        "    import cairn.pipeline.step\n"
        "    from cairn import datasets, load\n"
    )
    assert imported_modules(source, "cairn.tracking") == {
        "cairn.store.schema",
        "cairn.codecs.registry",
        "cairn.tracking.run",
        "cairn.lineage.graph",
        "cairn.pipeline.step",
        "cairn.datasets",
        "cairn",  # `load` is the public API's, not a module
    }
    assert module_name(SRC / "store" / "blobs.py") == "cairn.store.blobs"
    assert module_name(SRC / "store" / "__init__.py") == "cairn.store"
