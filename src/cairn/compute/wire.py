"""How values cross a process boundary: cloudpickle, with large buffers in shared memory.

Pickle protocol 5 hands out the raw buffers of NumPy arrays (and anything else exposing
`PickleBuffer`) instead of copying them into the pickle. Buffers of a megabyte or more are
copied once into a file in /dev/shm, and only the file's name travels through the pipe; the
receiver maps it, so the array it rebuilds points straight at the shared pages.

Only the standard library and cloudpickle are imported: worker processes import this module
before anything else, and their start-up time is part of every executor's start.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import os
import pickle
import tempfile

import cloudpickle

SHARED_MIN_BYTES = 1 << 20
SHM_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
_counter = itertools.count()

Segment = tuple[str, int]  # path, size


def dumps(value: object) -> tuple[bytes, tuple[Segment, ...]]:
    """The pickle of `value` and the shared-memory segments holding its large buffers.

    The caller owns the segments: `unlink` them once the receiver has loaded them.
    """
    large: list[pickle.PickleBuffer] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        if buffer.raw().nbytes < SHARED_MIN_BYTES:
            return True  # small: stays inside the pickle
        large.append(buffer)
        return False

    data = cloudpickle.dumps(value, protocol=5, buffer_callback=out_of_band)
    segments = []
    try:
        for buffer in large:
            segments.append(_write_segment(buffer.raw()))
    except BaseException:
        unlink(segments)
        raise
    return data, tuple(segments)


def loads(data: bytes, segments: tuple[Segment, ...] = (), *, unlink_after: bool = False) -> object:
    buffers = [_map_segment(path, size) for path, size in segments]
    if unlink_after:
        unlink(segments)
    return pickle.loads(data, buffers=buffers)


def unlink(segments: tuple[Segment, ...] | list[Segment]) -> None:
    for path, _ in segments:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _write_segment(raw: memoryview) -> Segment:
    path = os.path.join(SHM_DIR, f"cairn-{os.getpid()}-{next(_counter)}")
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    try:
        os.ftruncate(fd, raw.nbytes)
        with mmap.mmap(fd, raw.nbytes) as shared:
            shared[:] = raw
    finally:
        os.close(fd)
    return path, raw.nbytes


def _map_segment(path: str, size: int) -> memoryview:
    fd = os.open(path, os.O_RDWR)
    try:
        # The mapping outlives the file descriptor and the name; the value holds it alive.
        return memoryview(mmap.mmap(fd, size))
    finally:
        os.close(fd)
