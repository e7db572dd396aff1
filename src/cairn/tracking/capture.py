"""What a run ran with: its code (git commit, branch, uncommitted diff) and its environment.

Both are stored as JSON blobs, content-addressed, so a hundred runs from one checkout and
one virtualenv share two blobs. Packages are read once per process; git is asked per run,
because a notebook's code changes between runs.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import psutil

GIT_TIMEOUT_S = 10


def capture_code(cwd: Path | None = None) -> dict | None:
    """The git state of the working directory, or None outside a git checkout."""
    cwd = cwd or Path.cwd()

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout if out.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is None:
        return None
    commit = git("rev-parse", "HEAD")
    diff = git("diff", "HEAD", "--binary") if commit else None
    untracked = git("ls-files", "--others", "--exclude-standard") or ""
    return {
        "repo": top.strip(),
        "commit": commit.strip() if commit else None,
        "branch": (git("rev-parse", "--abbrev-ref", "HEAD") or "").strip() or None,
        "remote": (git("config", "--get", "remote.origin.url") or "").strip() or None,
        "dirty": bool(diff) or bool(untracked.strip()),
        "diff": diff or "",
        "untracked": untracked.split(),
        # What `cairn runs reproduce` re-runs: the script and the folder, relative to the repo.
        "argv": [_relative(arg, top.strip()) for arg in sys.argv],
        "cwd": os.path.relpath(cwd.resolve(), top.strip()),
    }


def _relative(arg: str, top: str) -> str:
    """A path inside the repository made relative to it, so it can be found in a worktree."""
    path = Path(arg)
    if path.is_absolute() and path.exists() and path.resolve().is_relative_to(top):
        return "./" + path.resolve().relative_to(top).as_posix()
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
    return dict(_identity_of(os.getpid()))


@functools.cache
def _identity_of(pid: int) -> dict:  # by pid: a forked child is another process
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = None
    return {
        "user": user,
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
