"""`__init__.py` files only gather names: the implementation lives in modules named for it."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "cairn"
METADATA = {"__all__", "__version__"}


def implementation_in(source: str) -> list[str]:
    """What a package's `__init__` holds beyond its docstring, imports and `__all__`."""
    found = []
    for index, node in enumerate(ast.parse(source).body):
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if all(isinstance(t, ast.Name) and t.id in METADATA for t in targets):
                continue
        name = getattr(node, "name", None) or type(node).__name__
        found.append(f"line {node.lineno}: {name}")
    return found


def test_package_inits_only_reexport() -> None:
    found = {
        path.relative_to(SRC).as_posix(): implementation_in(path.read_text())
        for path in sorted(SRC.rglob("__init__.py"))
    }
    found = {path: what for path, what in found.items() if what}
    assert not found, f"move into a module named for it: {found}"


def test_the_check_tells_reexports_from_code() -> None:
    source = (
        '"""Doc."""\n'
        "from __future__ import annotations\n"
        "from cairn.store.store import Store\n"
        "__all__ = ['Store']\n"
        "__version__ = '1'\n"
        "_cache = {}\n"
        "def get_store(): ...\n"
        "class Thing: ...\n"
    )
    assert implementation_in(source) == ["line 6: Assign", "line 7: get_store", "line 8: Thing"]
