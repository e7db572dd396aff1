"""Refused requests as audit events: who, what, why, written off the hot path and
rate-limited per token, so a flood of refused requests cannot fill the store.

The first denial of a token in a window is queued at once; the ones after it in the same
window are only counted, and written as one event when the window ends. Requests without a
token share one window. Past `max_tokens` tokens in their window, the others share one
more, so a flood of made-up tokens writes no more than a handful of events either.

The event loop only takes a lock, reads a dict and appends to a deque. One writer thread
reads the tokens (who they claim to be), and writes the queued events in one transaction.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from biscuit_auth import BiscuitValidationError, UnverifiedBiscuit

from cairn.auth.blocks import read_chain
from cairn.auth.rights import Operation, ResourceKind
from cairn.errors import AuthError, CairnError, InvalidValueError
from cairn.states import TextEnum
from cairn.store import Store
from cairn.store.events import write_event

log = logging.getLogger("cairn.serve")

WINDOW_S = 10.0
MAX_TOKENS = 1_000  # tokens with a window of their own at one time
ANONYMOUS = "anonymous"
_NO_TOKEN = ""
_OTHERS = "\0others"  # the window shared by the tokens past MAX_TOKENS


class DenialAction(TextEnum):
    UNAUTHENTICATED = "serve.denied.unauthenticated"  # 401: no token, or one not trusted
    FORBIDDEN = "serve.denied.forbidden"  # 403: a valid token without the right


@dataclass(frozen=True)
class Denial:
    token: str | None
    operation: Operation
    kind: ResourceKind
    name: str
    forbidden: bool
    why: str
    ts: float

    @property
    def resource(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass
class _Window:
    opened: float
    last: Denial
    suppressed: int = 0  # denials after the first one, not written yet


class DenialLog:
    """`record` from the event loop; a writer thread writes, every `flush_s`."""

    def __init__(
        self,
        store: Store,
        *,
        window_s: float = WINDOW_S,
        max_tokens: int = MAX_TOKENS,
        flush_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window_s <= 0 or flush_s <= 0 or max_tokens < 1:
            raise InvalidValueError("window_s, flush_s and max_tokens must be positive")
        self.store = store
        self.window_s, self.max_tokens, self.flush_s = window_s, max_tokens, flush_s
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._queue: deque[tuple[Denial, int]] = deque()  # (denial, denials it stands for)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cairn-denials", daemon=True)
        self._thread.start()

    def record(self, denial: Denial) -> None:
        key = _NO_TOKEN if denial.token is None else denial.token
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None and len(self._windows) >= self.max_tokens:
                key, window = _OTHERS, self._windows.get(_OTHERS)
            if window is not None and now - window.opened < self.window_s:
                window.suppressed += 1
                window.last = denial
                return
            if window is not None and window.suppressed:
                self._queue.append((window.last, window.suppressed))
            self._windows[key] = _Window(now, denial)
            self._queue.append((denial, 1))

    def close(self, timeout: float = 10.0) -> None:
        """Write every open window's count and everything queued, then stop the writer."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self._end_windows(everything=False)
            self._write()
        self._end_windows(everything=True)
        self._write()

    def _end_windows(self, *, everything: bool) -> None:
        now = self._clock()
        with self._lock:
            ended = [
                key
                for key, window in self._windows.items()
                if everything or now - window.opened >= self.window_s
            ]
            for key in ended:
                window = self._windows.pop(key)
                if window.suppressed:
                    self._queue.append((window.last, window.suppressed))

    def _write(self) -> None:
        batch = []
        while self._queue:
            batch.append(self._queue.popleft())
        if not batch:
            return
        try:
            with self.store.writer() as conn:
                for denial, count in batch:
                    write_event(conn, *_event(denial, count), ts=denial.ts)
        except CairnError as exc:
            log.error("%d denial event(s) not written: %s", len(batch), exc)
        except Exception:
            log.exception("%d denial event(s) not written", len(batch))


def _event(denial: Denial, count: int) -> tuple[str, DenialAction, str, dict]:
    """(actor, action, subject, detail) of the event for `denial` standing for `count`."""
    detail: dict = {
        "why": denial.why,
        "request": f"{denial.operation}:{denial.resource}",
        "denials": count,  # this one and those like it its window did not write
    }
    actor = ANONYMOUS
    claimed = _claimed(denial.token)
    if claimed is not None:
        subject, token_id = claimed
        detail["token_id"] = token_id
        if denial.forbidden:  # the token was verified: its subject is who asked
            actor = subject
        else:
            detail["claimed_subject"] = subject
    action = DenialAction.FORBIDDEN if denial.forbidden else DenialAction.UNAUTHENTICATED
    return actor, action, denial.resource, detail


def _claimed(token: str | None) -> tuple[str, str] | None:
    """The subject and revocation id a token names, read without checking its signature."""
    if token is None:
        return None
    try:
        chain = read_chain(UnverifiedBiscuit.from_base64(token))
    except (BiscuitValidationError, ValueError, TypeError, AuthError):
        return None
    return chain.subject, chain.revocation_ids[-1]
