"""Writing a file so that readers see all of it or none of it: a temporary file in the same
folder, renamed into place (a rename within one file system is atomic on POSIX)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX = ".tmp-"  # folders that hold such files skip names starting with it


def write_atomically(
    path: str | os.PathLike, data: bytes | str | Callable[[BinaryIO], object], *, mode: int = 0o644
) -> Path:
    """Write `data` (bytes, text as UTF-8, or a function given the open binary file) to
    `path` atomically, with permission bits `mode`; returns the path. On any failure the
    temporary file is removed and `path` is untouched."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
