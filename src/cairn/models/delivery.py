"""Sending webhook deliveries: signed JSON POSTs, retried with backoff, every outcome recorded.

The deliveries are rows (`cairn.models.hooks`, the outbox). A sender claims due rows with a
compare-and-set on `next_attempt` (moving it a lease ahead) in one short transaction, POSTs
outside any transaction, and writes each outcome only if its claim still holds. Two senders,
in one process or many, therefore never send one delivery at the same time; a sender killed
mid-send leaves its claims to expire, and the delivery goes out again: delivery is at least
once, and receivers tell a repeat by the `X-Cairn-Delivery` header.

The registry never waits for a receiver: after committing a change that enqueued deliveries
it calls `kick`, which wakes (or starts) this process's sender thread for the store and
returns; the thread ends when nothing is left to send or retry. The
sender gives each hook its own worker thread, so a hook that hangs holds up only itself, and
a hook that fails gets one attempt per round (the rest of its batch waits for the next), so
its timeouts do not pile up.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import http.client
import importlib.metadata
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
import weakref
from dataclasses import dataclass
from itertools import groupby

import sqlalchemy as sa

from cairn.models.hooks import DeliveryStatus
from cairn.store import Store, schema

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Cairn-Signature"
EVENT_HEADER = "X-Cairn-Event"
DELIVERY_HEADER = "X-Cairn-Delivery"
USER_AGENT = f"cairn/{importlib.metadata.version('cairn')}"

REQUEST_TIMEOUT_S = 5.0  # for connecting, and for each read of the answer
MAX_ATTEMPTS = 16  # with the backoff below, about four hours of trying
FIRST_RETRY_S = 1.0
MAX_RETRY_S = 3600.0
JITTER = 0.1  # up to 10 % later, so receivers that come back are not hit all at once
HOOK_BATCH = 10  # deliveries of one hook claimed at a time
# A claim outlives the slowest batch that answers (each send within the timeout), so only a
# sender that died lets another send its deliveries again.
LEASE_S = 4 * HOOK_BATCH * REQUEST_TIMEOUT_S
EXIT_DRAIN_S = 2.0  # how long a process ending waits for its deliveries
ERROR_PAUSE_S = 5.0  # before a sender whose database failed tries again

_DUE = schema.hook_deliveries.c.status == DeliveryStatus.PENDING.value


@dataclass
class DeliveryReport:
    delivered: int = 0
    retried: int = 0  # attempts that failed and will be tried again
    failed: int = 0  # deliveries given up

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(
            self.delivered + other.delivered,
            self.retried + other.retried,
            self.failed + other.failed,
        )

    def __sub__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(
            self.delivered - other.delivered,
            self.retried - other.retried,
            self.failed - other.failed,
        )


def sign(secret: str, body: bytes) -> str:
    """The `X-Cairn-Signature` value of `body`: "sha256=" + hex HMAC-SHA256 keyed by `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """For receivers: whether `signature` (the `X-Cairn-Signature` header) is `body`'s signature
    under the hook's `secret`. Pass the raw request body, before any JSON parsing; the
    comparison takes the same time however much of the signature matches.

        if not verify(SECRET, request.body, request.headers["X-Cairn-Signature"]):
            return 401
    """
    return hmac.compare_digest(sign(secret, body), signature)


def backoff(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: 1, 2, 4 ... up to an hour."""
    delay = min(FIRST_RETRY_S * 2 ** (attempts - 1), MAX_RETRY_S)
    return delay * (1 + JITTER * random.random())


def deliver_due(store: Store, *, now: float | None = None) -> DeliveryReport:
    """Send every delivery due at `now` (default: the current time), each hook's on its own
    thread, and return once all are sent or rescheduled."""
    offset = 0.0 if now is None else now - time.time()
    batches = _claim(store, time.time() + offset)
    reports: list[DeliveryReport] = []
    errors: list[BaseException] = []

    def send(batch: list[_Claim]) -> None:
        try:
            reports.append(_send_batch(store, batch, offset))
        except BaseException as exc:  # the caller hears of it once every batch is done
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(batch,), daemon=True) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return sum(reports, DeliveryReport())


def kick(store: Store) -> None:
    """Have this process's sender for `store` send what is due; returns at once."""
    _sender(store).kick(store)


def drain(store: Store, timeout: float) -> DeliveryReport:
    """Send what is due now, waiting at most `timeout` seconds; returns what the sender did
    meanwhile. Deliveries still waiting for a retry stay pending for a later sender."""
    return _sender(store).drain(store, timeout)


@dataclass(frozen=True)
class _Claim:
    id: int
    hook_id: int
    url: str
    secret: str
    payload: str
    attempts: int
    due: float  # next_attempt before the claim, restored if the claim is let go untried
    lease: float  # next_attempt while claimed: the outcome is written only if it still is


def _claim(store: Store, now: float, skip: frozenset[int] = frozenset()) -> list[list[_Claim]]:
    """Claim up to HOOK_BATCH due deliveries of each hook not in `skip`, oldest first;
    returns them grouped by hook."""
    table, hooks = schema.hook_deliveries, schema.hooks
    rank = (
        sa.func.row_number().over(partition_by=table.c.hook_id, order_by=table.c.id).label("rank")
    )
    due = (
        sa.select(table.c.id, table.c.hook_id, table.c.payload, table.c.attempts)
        .add_columns(table.c.next_attempt, rank)
        .where(_DUE, table.c.next_attempt <= now, table.c.hook_id.not_in(skip))
        .subquery()
    )
    query = (
        sa.select(due, hooks.c.url, hooks.c.secret)
        .join(hooks, hooks.c.id == due.c.hook_id)
        .where(due.c.rank <= HOOK_BATCH)
        .order_by(due.c.hook_id, due.c.id)
    )
    lease = now + LEASE_S
    claimed = []
    with store.writer() as conn:
        for row in conn.execute(query).all():
            taken = conn.execute(
                table.update()
                .where(table.c.id == row.id, _DUE, table.c.next_attempt == row.next_attempt)
                .values(next_attempt=lease)
            ).rowcount
            if taken:
                claimed.append(
                    _Claim(
                        row.id,
                        row.hook_id,
                        row.url,
                        row.secret,
                        row.payload,
                        row.attempts,
                        row.next_attempt,
                        lease,
                    )
                )
    return [list(batch) for _, batch in groupby(claimed, key=lambda claim: claim.hook_id)]


def _send_batch(store: Store, batch: list[_Claim], offset: float) -> DeliveryReport:
    """Send one hook's claimed deliveries in order; after a failure, let the rest go untried
    (due as before) so a failing hook costs one attempt a round."""
    report = DeliveryReport()
    for index, claim in enumerate(batch):
        status, error = _post(claim)
        now = time.time() + offset
        values: dict = {"attempts": claim.attempts + 1, "response": status, "updated": now}
        if error is None:
            values.update(status=DeliveryStatus.DELIVERED.value, error=None)
            report.delivered += 1
        elif claim.attempts + 1 >= MAX_ATTEMPTS:
            values.update(status=DeliveryStatus.FAILED.value, error=error)
            report.failed += 1
        else:
            values.update(next_attempt=now + backoff(claim.attempts + 1), error=error)
            report.retried += 1
        with store.writer() as conn:
            conn.execute(_held(claim).values(**values))
            if error is not None:
                for untried in batch[index + 1 :]:
                    conn.execute(_held(untried).values(next_attempt=untried.due))
        if error is not None:
            break
    return report


def _held(claim: _Claim) -> sa.Update:
    """An update of `claim`'s row that changes nothing if its claim has lapsed (another sender
    took it over) or the delivery was given up meanwhile (its hook removed)."""
    table = schema.hook_deliveries
    return table.update().where(table.c.id == claim.id, _DUE, table.c.next_attempt == claim.lease)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would follow a redirect of a POST with a GET without the body.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _post(claim: _Claim) -> tuple[int | None, str | None]:
    """POST one delivery: (HTTP status or None, None if delivered else why not)."""
    body = claim.payload.encode()
    request = urllib.request.Request(
        claim.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: json.loads(claim.payload)["event"],
            DELIVERY_HEADER: str(claim.id),
            SIGNATURE_HEADER: sign(claim.secret, body),
        },
    )
    try:
        with _opener.open(request, timeout=REQUEST_TIMEOUT_S) as response:
            return response.status, None
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            where = exc.headers.get("Location", "elsewhere")
            return exc.code, f"HTTP {exc.code}: redirected to {where}; give the hook that URL"
        return exc.code, f"HTTP {exc.code}{_answer(exc)}"
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return None, f"no answer from {claim.url} within {REQUEST_TIMEOUT_S:g} s"
        return None, f"cannot reach {claim.url}: {exc.reason}"
    except TimeoutError:
        return None, f"no answer from {claim.url} within {REQUEST_TIMEOUT_S:g} s"
    except (OSError, http.client.HTTPException) as exc:  # the answer broke off or was garbled
        return None, f"bad answer from {claim.url}: {type(exc).__name__}: {exc}"


def _answer(error: urllib.error.HTTPError) -> str:
    """The start of an error answer's body, which often says what the receiver disliked."""
    try:
        with error:
            text = error.read(200).decode(errors="replace").strip()
    except (OSError, http.client.HTTPException):
        return ""
    return f": {text}" if text else ""


class _Sender:
    """One store's sender in this process: a thread that claims what is due and starts a
    worker per hook with something to send, then sleeps until the next retry or a kick.

    The thread ends once nothing is pending or in flight (the next kick starts another), and
    only the running thread holds the store, so a process that opens many stores keeps
    neither a thread nor the store of each after their deliveries are done."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._cond = threading.Condition()
        self._kicked = False
        self._busy: set[int] = set()  # hooks a worker is sending to
        self._rounds = 0  # rounds started
        self._settled = 0  # the last round after which nothing was due or in flight
        self._totals = DeliveryReport()
        self._thread: threading.Thread | None = None

    def kick(self, store: Store) -> None:
        with self._cond:
            self._kicked = True
            self._run(store)
            self._cond.notify_all()

    def drain(self, store: Store, timeout: float) -> DeliveryReport:
        with self._cond:
            before = self._totals
            self._kicked = True
            self._run(store)
            target = self._rounds + 1  # a round that starts after this kick
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._settled >= target, timeout=max(timeout, 0.0))
            return self._totals - before

    @property
    def settled(self) -> bool:
        """Nothing was due or in flight at the end of the last round, and no kick since."""
        with self._cond:
            return self._settled == self._rounds and not self._kicked

    def _run(self, store: Store) -> None:
        """Start the thread unless it runs (called holding the condition)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, args=(store,), name="cairn-hook-sender", daemon=True
            )
            self._thread.start()

    def _loop(self, store: Store) -> None:
        while True:
            with self._cond:
                self._kicked = False
                self._rounds += 1
                number = self._rounds
                busy = frozenset(self._busy)
            try:
                pause = self._round(store, number, busy)
            except Exception as exc:  # the database is away; the rows wait for it
                log.warning("cairn could not send webhook deliveries yet: %s", exc)
                pause = ERROR_PAUSE_S
            with self._cond:
                if pause is None and not self._kicked and not self._busy:
                    self._thread = None  # nothing pending: the next kick starts a thread
                    return
                self._cond.wait_for(lambda: self._kicked, timeout=pause)

    def _round(self, store: Store, number: int, busy: frozenset[int]) -> float | None:
        """Start workers for what is due; returns how long to sleep (None: nothing is
        pending but what the workers send)."""
        batches = _claim(store, time.time(), skip=busy)
        with self._cond:
            for batch in batches:
                self._busy.add(batch[0].hook_id)
                threading.Thread(
                    target=self._work, args=(store, batch), name="cairn-hook-send", daemon=True
                ).start()
            if batches:
                return 0.0  # claim again: a worker's hook may have more, others may be due
            waiting = frozenset(self._busy)
        table = schema.hook_deliveries
        with store.reader() as conn:
            next_due = conn.execute(
                sa.select(sa.func.min(table.c.next_attempt)).where(
                    _DUE, table.c.hook_id.not_in(waiting)
                )
            ).scalar()
        with self._cond:
            # Only if no hook was left out of `next_due`: a worker that finished since then
            # may have left its hook's next delivery due.
            if not waiting and (next_due is None or next_due > time.time()):
                self._settled = number
                self._cond.notify_all()
        return None if next_due is None else max(next_due - time.time(), 0.0)

    def _work(self, store: Store, batch: list[_Claim]) -> None:
        report = DeliveryReport()
        try:
            report = _send_batch(store, batch, 0.0)
        except Exception as exc:  # its claims lapse and another round sends them
            log.warning("cairn could not record a webhook delivery: %s", exc)
        finally:
            with self._cond:
                self._totals += report
                self._busy.discard(batch[0].hook_id)
                self._kicked = True
                self._cond.notify_all()


# Keyed weakly: a store nobody else holds any more takes its sender with it.
_senders: weakref.WeakKeyDictionary[Store, _Sender] = weakref.WeakKeyDictionary()
_senders_lock = threading.Lock()
_drain_registered = False


def _sender(store: Store) -> _Sender:
    global _drain_registered
    with _senders_lock:
        sender = _senders.get(store)
        if sender is None or sender.pid != os.getpid():  # a forked child has no threads
            if not _drain_registered:
                atexit.register(_drain_at_exit)
                _drain_registered = True
            sender = _senders[store] = _Sender()
        return sender


def _drain_at_exit() -> None:
    deadline = time.monotonic() + EXIT_DRAIN_S
    with _senders_lock:
        senders = [(store, s) for store, s in _senders.items() if s.pid == os.getpid()]
    # A settled sender has nothing to send now; asking its store again could only wait.
    for store, sender in senders:
        if not sender.settled:
            sender.drain(store, deadline - time.monotonic())
