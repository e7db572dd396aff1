"""An object named by an importable path, `module:QualName`, so a payload (or a stored gate)
can say which class or function rebuilds it without pickling it."""

from __future__ import annotations

import importlib

from cairn.errors import FlavorError


def class_path(cls: type) -> str:
    """`module:QualName` of `cls`, or a FlavorError if another process could not import it."""
    path = f"{cls.__module__}:{cls.__qualname__}"
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        raise FlavorError(f"class {path} cannot be imported by another process")
    try:
        found = import_class(path)
    except FlavorError as exc:
        raise FlavorError(f"class {path} cannot be imported again: {exc}") from None
    if found is not cls:
        raise FlavorError(f"{path} names another class than {cls!r}")
    return path


def import_path(path: str) -> object:
    """What `module:QualName` names; ImportError or AttributeError if nothing."""
    module_name, _, qualname = path.partition(":")
    found: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def import_class(path: str) -> type:
    """The class `module:QualName` names."""
    try:
        found = import_path(path)
    except (ImportError, AttributeError) as exc:
        raise FlavorError(f"cannot import {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(found, type):
        raise FlavorError(f"{path} is not a class")
    return found
