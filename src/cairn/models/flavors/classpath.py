"""A class named by an importable path, `module:QualName`, so a payload can say which class
rebuilds it without pickling the class."""

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


def import_class(path: str) -> type:
    """The class `module:QualName` names."""
    module_name, _, qualname = path.partition(":")
    try:
        found: object = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise FlavorError(f"cannot import {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(found, type):
        raise FlavorError(f"{path} is not a class")
    return found
