"""Every error cairn raises on purpose derives from CairnError, so callers can catch one type.

A `raise` of a builtin exception class (ValueError, RuntimeError...) anywhere in src/cairn
fails this test unless the allow-list below names the file and the class with the reason.
Re-raising (`raise`, `raise exc`) and exceptions from other libraries are not builtin
classes and pass.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "cairn"

# (path under src/cairn, exception class) -> why cairn raises the builtin class there.
ALLOWED: dict[tuple[str, str], str] = {
    ("compute/actor_handle.py", "AttributeError"): (
        "an actor handle's __getattr__ declining dunder names: Python's attribute protocol"
    ),
    ("compute/options.py", "NotImplementedError"): (
        "the unimplemented `_target` of the mixin that executors and their option views "
        "both implement: a programming error, never an outcome a user handles"
    ),
    ("compute/channel.py", "EOFError"): (
        "the end of a message stream, as multiprocessing's Connection.recv says it; caught "
        "inside compute, and imported by workers that do not import cairn"
    ),
}


def _builtin_exception(name: str) -> bool:
    value = getattr(builtins, name, None)
    return isinstance(value, type) and issubclass(value, BaseException)


def _bound_names(tree: ast.Module) -> set[str]:
    """Names a module binds itself (imports, classes, assignments): they shadow builtins."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
    return bound


def builtin_raises(path: Path) -> list[tuple[int, str]]:
    """(line, class name) of each `raise` of a builtin exception class in `path`."""
    tree = ast.parse(path.read_text(), str(path))
    bound = _bound_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        name = target.id if isinstance(target, ast.Name) else None
        if name is not None and name not in bound and _builtin_exception(name):
            found.append((node.lineno, name))
    return sorted(found)


def _findings() -> dict[tuple[str, str], list[int]]:
    found: dict[tuple[str, str], list[int]] = {}
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        for line, name in builtin_raises(path):
            found.setdefault((relative, name), []).append(line)
    return found


def test_no_builtin_exception_is_raised_outside_the_allow_list() -> None:
    unexplained = {
        f"{path}:{','.join(map(str, lines))} raises {name}"
        for (path, name), lines in _findings().items()
        if (path, name) not in ALLOWED
    }
    assert not unexplained, (
        "raise a CairnError subclass (with the builtin class as a second base where callers "
        "expect it), or add the place to ALLOWED with the reason:\n"
        + "\n".join(sorted(unexplained))
    )


def test_every_allowed_place_still_raises_it() -> None:
    stale = set(ALLOWED) - set(_findings())
    assert not stale, f"no longer raised; remove from ALLOWED: {sorted(stale)}"


def test_the_check_finds_builtin_raises_and_ignores_the_rest(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from concurrent.futures import TimeoutError\n"
        "class KeyError(Exception): ...\n"
        "def f(x):\n"
        "    if x == 1:\n"
        "        raise ValueError('bad')\n"
        "    if x == 2:\n"
        "        raise RuntimeError\n"
        "    if x == 3:\n"
        "        raise TimeoutError()\n"  # concurrent.futures', not the builtin
        "    if x == 4:\n"
        "        raise KeyError(x)\n"  # the module's own class
        "    try:\n"
        "        pass\n"
        "    except OSError as exc:\n"
        "        raise exc\n"
        "    except Exception:\n"
        "        raise\n"
    )
    assert builtin_raises(sample) == [(5, "ValueError"), (7, "RuntimeError")]
