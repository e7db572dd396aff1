"""Opt-in capture of a run's stdout and stderr: written through, and saved when it ends."""

from __future__ import annotations

import io
import sys
from typing import TextIO


class _Tee(io.TextIOBase):
    def __init__(self, original: TextIO, sink: io.StringIO) -> None:
        self.original = original
        self.sink = sink

    def write(self, text: str) -> int:
        self.sink.write(text)
        return self.original.write(text)

    def flush(self) -> None:
        self.original.flush()

    def isatty(self) -> bool:
        return self.original.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", "utf-8")


class OutputCapture:
    def __init__(self) -> None:
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self._originals = (sys.stdout, sys.stderr)

    @classmethod
    def start(cls) -> OutputCapture:
        capture = cls()
        sys.stdout = _Tee(sys.stdout, capture.stdout)  # type: ignore[assignment]
        sys.stderr = _Tee(sys.stderr, capture.stderr)  # type: ignore[assignment]
        return capture

    def stop(self) -> tuple[str, str]:
        """Put the streams back; what was written to (stdout, stderr) meanwhile."""
        sys.stdout, sys.stderr = self._originals
        return self.stdout.getvalue(), self.stderr.getvalue()
