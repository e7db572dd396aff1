"""Versioned datasets: values and file sets, by version or by moment, with diffs."""

from cairn.datasets.files import FileSet
from cairn.datasets.versions import (
    DatasetInfo,
    add,
    diff,
    get,
    history,
    list_datasets,
    load,
    save,
    value_of,
)

__all__ = [
    "DatasetInfo",
    "FileSet",
    "add",
    "diff",
    "get",
    "history",
    "list_datasets",
    "load",
    "save",
    "value_of",
]
