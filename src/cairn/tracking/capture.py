"""What a run ran with: its code (git commit, branch, uncommitted diff, untracked files) and
its environment.

Both are stored as JSON blobs, content-addressed, so a hundred runs from one checkout and
one virtualenv share two blobs. Packages are read once per process; git is asked per run,
because a notebook's code changes between runs.

Untracked files (what `git ls-files --others --exclude-standard` lists: not ignored, not
added) are part of the code a run ran: an uncommitted script, a config file. Each one is
stored as a blob, smallest first, until `CAIRN_UNTRACKED_LIMIT` bytes (10 MiB unless set)
are spent; the rest are listed with their digest and size only, so a reproduction can tell
whether what is at their path now is what the run had. Symlinks are recorded as their link
text and never followed; `.cairn/` folders are skipped.
"""

from __future__ import annotations

import functools
import json
import mmap
import os
import platform
import re
import shutil
import socket
import stat
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

import psutil
import sqlalchemy as sa

from cairn.config import DIRNAME as WORKSPACE_DIRNAME
from cairn.config import current_user
from cairn.errors import CairnError
from cairn.store import Store, schema
from cairn.store.blobs import digest_of

GIT_TIMEOUT_S = 10
UNTRACKED_LIMIT_ENV = "CAIRN_UNTRACKED_LIMIT"
DEFAULT_UNTRACKED_LIMIT = 10 << 20
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


class UntrackedLimitError(CairnError, ValueError):
    """A `CAIRN_UNTRACKED_LIMIT` that is not a size."""


def untracked_limit() -> int:
    """How many bytes of untracked files a run stores: `CAIRN_UNTRACKED_LIMIT` as bytes or
    with a binary unit (`512KB`, `10MB`, `1.5GiB`; K, M and G are powers of 1024)."""
    text = os.environ.get(UNTRACKED_LIMIT_ENV)
    if text is None:
        return DEFAULT_UNTRACKED_LIMIT
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([kmg]?)(?:i?b)?\s*", text.lower())
    if match is None:
        raise UntrackedLimitError(
            f"{UNTRACKED_LIMIT_ENV}={text!r} is not a size: give bytes (10485760) or a size "
            "with a unit (512KB, 10MB, 1GB)"
        )
    return int(float(match[1]) * _SIZE_UNITS[match[2] or ""])


def capture_code(cwd: Path | None = None) -> dict | None:
    """The git state of the working directory, or None outside a git checkout. Its
    `untracked` lists the untracked files' paths; `capture_code_record` stores them."""
    cwd = (cwd or Path.cwd()).resolve()
    top_text = _git(cwd, "rev-parse", "--show-toplevel")
    if top_text is None:
        return None
    top = top_text.strip()
    commit = _git(cwd, "rev-parse", "HEAD")
    diff = _git(cwd, "diff", "HEAD", "--binary") if commit else None
    # From the top: run in a subfolder, ls-files would list only that folder's files.
    listed = _git(Path(top), "ls-files", "--others", "--exclude-standard", "-z") or ""
    untracked = [
        path
        for path in listed.split("\0")
        # A trailing slash is a nested repository, whose files are its own git's business.
        if path and not path.endswith("/") and WORKSPACE_DIRNAME not in path.split("/")
    ]
    return {
        "repo": top,
        "commit": commit.strip() if commit else None,
        "branch": (_git(cwd, "rev-parse", "--abbrev-ref", "HEAD") or "").strip() or None,
        "remote": (_git(cwd, "config", "--get", "remote.origin.url") or "").strip() or None,
        "dirty": bool(diff) or bool(untracked),
        "diff": diff or "",
        "untracked": untracked,
        # What `cairn runs reproduce` re-runs, from the same folder of the repository.
        "argv": _argv(top, cwd),
        "cwd": os.path.relpath(cwd, top),
    }


def capture_code_record(store: Store, cwd: Path | None = None) -> str | None:
    """Capture the code, store its untracked files within the limit and the record itself;
    returns the record's blob digest (None outside a git checkout). The record's blob links
    to the files' blobs, so garbage collection keeps them as long as a run uses it."""
    code = capture_code(cwd)
    if code is None:
        return None
    entries, contents = _untracked_entries(Path(code["repo"]), code["untracked"], untracked_limit())
    code["untracked"] = entries
    record = to_json_bytes(code)
    if contents:
        # A recorded blob's bytes are there (they are written before the row): on S3 this
        # saves a request per file for every run of an unchanged checkout.
        with store.reader() as conn:
            recorded = set(
                conn.execute(
                    sa.select(schema.blobs.c.digest).where(
                        schema.blobs.c.digest.in_(list(contents))
                    )
                ).scalars()
            )
        for digest, data in contents.items():
            if digest not in recorded:
                store.blobs.put(data)
    record_digest = store.blobs.put(record)
    store.record_blobs(
        [(d, len(data), "bytes", {}) for d, data in contents.items()]
        + [(record_digest, len(record), "json", {})],
        links=[(record_digest, d) for d in contents],
    )
    return record_digest


def _untracked_entries(
    top: Path, paths: list[str], limit: int
) -> tuple[list[dict], dict[str, bytes]]:
    """The record's entry of each untracked file, and the contents to store by digest."""
    entries: list[dict] = []
    regular: list[tuple[int, str]] = []
    for path in paths:
        try:
            info = os.lstat(top / path)
        except OSError:  # removed since git listed it
            continue
        if stat.S_ISLNK(info.st_mode):
            entries.append({"path": path, "symlink": os.readlink(top / path)})
        elif stat.S_ISREG(info.st_mode):
            regular.append((info.st_size, path))
        # Anything else (a FIFO, a socket) has no content to keep, and reading a FIFO blocks.
    contents: dict[str, bytes] = {}
    budget = limit
    for listed_size, path in sorted(regular):  # smallest first: the most files within the limit
        entry = _file_entry(top, path, budget if listed_size <= budget else -1)
        if entry is None:
            continue
        if entry["stored"]:
            contents[entry["digest"]] = entry.pop("data")
            budget -= entry["size"]
        entries.append(entry)
    return sorted(entries, key=lambda e: e["path"]), contents


def _file_entry(top: Path, path: str, budget: int) -> dict | None:
    """A regular file's entry: with its bytes under "data" if it fits in `budget` (-1: it
    does not), else its digest only. None if it is no longer a regular file."""
    f = _open_regular(top / path)
    if f is None:
        return None
    with f:
        info = os.fstat(f.fileno())
        entry = {"path": path, "mode": stat.S_IMODE(info.st_mode)}
        if info.st_size <= budget:
            data = f.read()
            if len(data) <= budget:  # it may have grown since it was listed
                digest = digest_of(data)
                return {**entry, "digest": digest, "size": len(data), "stored": True, "data": data}
        return {**entry, "digest": _digest_of_open(f), "size": info.st_size, "stored": False}


def file_digest(path: Path) -> str | None:
    """The blob digest of the regular file at `path`, None if there is none (a symlink there
    is not followed): how a reproduction checks an untracked file the run only listed."""
    f = _open_regular(path)
    if f is None:
        return None
    with f:
        return _digest_of_open(f)


def _open_regular(path: Path) -> BinaryIO | None:
    try:
        # O_NOFOLLOW: a symlink is not followed, even one that replaced a listed file since;
        # O_NONBLOCK: opening a FIFO does not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    f = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        f.close()
        return None
    return f


# Files too large to store are hashed once per process and version (inode, size, times):
# every step of a pipeline is a run that captures the code again.
_digests_by_version: dict[tuple, str] = {}


def _digest_of_open(f: BinaryIO) -> str:
    """The blob digest of an open file's content, hashed from a map of it on all cores."""
    info = os.fstat(f.fileno())
    key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    digest = _digests_by_version.get(key)
    if digest is None:
        if info.st_size == 0:
            digest = digest_of(b"")
        else:
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
                digest = digest_of(view)
        _digests_by_version[key] = digest
    return digest


def _git(cwd: Path, *args: str) -> str | None:
    try:
        # surrogateescape: file names and diffs in other encodings survive, byte for byte.
        out = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            encoding="utf-8",
            errors="surrogateescape",
            timeout=GIT_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def _argv(top: str, cwd: Path) -> list[str]:
    """This process's command line after the interpreter. Under `python -m pkg.mod` sys.argv
    holds the module's file instead of `-m pkg.mod`; run as a file, relative imports break."""
    args = [_relative(arg, top, cwd) for arg in sys.argv[1:]]
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    # A folder or zip run as a script has a spec too, named plain "__main__".
    if spec is not None and spec.name != "__main__" and sys.argv[:1] not in (["-c"], [""]):
        return ["-m", spec.name.removesuffix(".__main__"), *args]
    return [_relative(sys.argv[0], top, cwd) if sys.argv else "", *args]


def _relative(arg: str, top: str, cwd: Path) -> str:
    """A path inside the repository made relative to the working folder, which a
    reproduction re-creates at the same place in its worktree."""
    path = Path(arg)
    if path.is_absolute() and path.exists() and path.resolve().is_relative_to(top):
        relative = os.path.relpath(path.resolve(), cwd)
        return relative if relative.startswith("..") else f"./{relative}"
    return arg


@functools.cache
def capture_environment() -> dict:
    """Python, packages, OS and hardware of this process: the same for every run in it."""
    memory = psutil.virtual_memory().total
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "packages": _packages(),
        "os": {
            "system": platform.system(),
            "release": platform.release(),
            "platform": platform.platform(),
        },
        "cpu": {
            "model": _cpu_model(),
            "logical": psutil.cpu_count(),
            "physical": psutil.cpu_count(logical=False),
            "machine": platform.machine(),
        },
        "memory_bytes": memory,
        "gpus": _gpus(),
    }


def process_identity() -> dict:
    """Who and where: stored on the run row itself, queried often."""
    # The user is read each time: CAIRN_USER may change within a process, and the audit log
    # reads it each time too.
    return {**_identity_of(os.getpid()), "user": current_user()}


@functools.cache
def _identity_of(pid: int) -> dict:  # by pid: a forked child is another process
    return {
        "host": socket.gethostname(),
        "pid": pid,
        "pid_started": psutil.Process().create_time(),
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
    }


def to_json_bytes(value: dict) -> bytes:
    return json.dumps(value, sort_keys=True).encode()


def _packages() -> dict[str, str]:
    found = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[name.lower()] = dist.version
    return dict(sorted(found.items()))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _gpus() -> list[dict]:
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    gpus = []
    for line in out.stdout.strip().splitlines():
        name, memory, driver = (part.strip() for part in line.split(","))
        gpus.append({"name": name, "memory": memory, "driver": driver})
    return gpus
