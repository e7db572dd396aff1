"""Webhooks against real HTTP receivers on 127.0.0.1: signatures, retries with backoff, slow
and failing hooks, two senders at once, and deliveries that outlive their process."""

from __future__ import annotations

import gc
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import weakref
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from cairn.errors import InvalidValueError, NotFoundError
from cairn.models import audit
from cairn.models.delivery import (
    LEASE_S,
    MAX_ATTEMPTS,
    MAX_RETRY_S,
    SIGNATURE_HEADER,
    DeliveryReport,
    deliver_due,
    drain,
    kick,
    verify,
)
from cairn.models.hooks import (
    Delivery,
    DeliveryStatus,
    HookEvent,
    add_hook,
    deliveries,
    enqueue,
    list_hooks,
    remove_hook,
)
from cairn.store import Store, get_store, schema
from cairn.store.events import read_events

WAIT_S = 30  # bound on every wait for a receiver; reached only when something is broken


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST and answers the scripted statuses in
    turn (the last one from then on). With `hold`, it answers only once `hold` is set."""

    def __init__(self, *statuses: int, hold: threading.Event | None = None) -> None:
        self.statuses = list(statuses or (200,))
        self.hold = hold
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.got = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                receiver.got.set()
                if receiver.hold is not None:
                    receiver.hold.wait(WAIT_S)
                statuses = receiver.statuses
                status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "4")
                self.end_headers()
                self.wfile.write(b"fine" if status < 300 else b"nope")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def delivery_ids(self) -> list[int]:
        return [int(headers["X-Cairn-Delivery"]) for headers, _ in self.requests]


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(
    request: pytest.FixtureRequest, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> Store:
    if request.param == "postgres":
        monkeypatch.setenv("CAIRN_STORE", request.getfixturevalue("pg_url"))
    return get_store()


def announce(store: Store, kind: HookEvent = HookEvent.VERSION, version: int = 1) -> list[int]:
    """What the registry does on a change: its audit event and deliveries in one transaction."""
    with store.writer() as conn:
        event = audit.record(
            conn, audit.Action.REGISTER, audit.model_subject("digits", version), after=version
        )
        return enqueue(conn, event, kind, {"name": "digits", "version": version})


def delivery(store: Store, delivery_id: int) -> Delivery:
    (found,) = [d for d in deliveries(store=store, limit=1000) if d.id == delivery_id]
    return found


def events_about(store: Store, subject: str) -> list:
    with store.reader() as conn:
        return read_events(conn, subject)


def count(store: Store, table: sa.Table) -> int:
    with store.reader() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/hook", "localhost:8000", "", "http://", "/hook", "https://host:99999/"],
)
def test_a_url_that_is_not_http_is_refused_and_nothing_is_written(
    workspace: Path, url: str
) -> None:
    store = get_store()
    with pytest.raises(InvalidValueError, match=r"give an http:// or https:// URL"):
        add_hook(url)
    assert count(store, schema.hooks) == 0
    assert count(store, schema.events) == 0


@pytest.mark.parametrize(
    "url",
    ["http://example.com/a hook", "http://example.com/\nhook", " http://example.com/hook",
     "http://example.com/hook\x00", "http://exa\u200bmple.com/hook"],
)  # fmt: skip
def test_a_url_with_whitespace_or_control_characters_is_refused(workspace: Path, url: str):
    with pytest.raises(InvalidValueError, match="whitespace or a control character"):
        add_hook(url)
    assert count(get_store(), schema.hooks) == 0


@pytest.mark.parametrize("events", [["alias", "deploy"], "version,nope", [], 3, [1], [None]])
def test_unknown_or_no_events_are_refused_with_the_known_ones(workspace: Path, events) -> None:
    with pytest.raises(InvalidValueError, match="alias, version"):
        add_hook("https://example.com/hook", events)
    assert count(get_store(), schema.hooks) == 0
    assert count(get_store(), schema.events) == 0


@pytest.mark.parametrize("secret", [b"bytes", 42, "", "x" * 129])
def test_a_secret_that_is_not_short_text_is_refused(workspace: Path, secret: object) -> None:
    with pytest.raises(InvalidValueError, match="a hook secret must be 1 to 128 characters"):
        add_hook("https://example.com/hook", secret=secret)
    assert count(get_store(), schema.hooks) == 0


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "10"])
def test_a_delivery_limit_below_one_is_refused(store: Store, limit: object) -> None:
    # PostgreSQL refuses LIMIT -1 with a DataError; the caller gets the reason instead.
    with pytest.raises(InvalidValueError, match="limit must be a whole number >= 1"):
        deliveries(limit=limit, store=store)


def test_a_delivery_is_posted_signed_to_the_hooks_of_its_event(store: Store) -> None:
    with Receiver() as versions, Receiver() as aliases:
        hook, secret = add_hook(versions.url, "version", store=store)
        add_hook(aliases.url, [HookEvent.ALIAS], store=store)
        assert {h.url: h.events for h in list_hooks(store=store)} == {
            versions.url: {HookEvent.VERSION},
            aliases.url: {HookEvent.ALIAS},
        }
        (delivery_id,) = announce(store)

        assert deliver_due(store) == DeliveryReport(delivered=1)

    assert aliases.requests == []
    ((headers, body),) = versions.requests
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == expected
    assert verify(secret, body, headers[SIGNATURE_HEADER])
    assert not verify(secret + "x", body, headers[SIGNATURE_HEADER])
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Cairn-Event"] == "version"
    assert headers["X-Cairn-Delivery"] == str(delivery_id)
    assert headers["User-Agent"].startswith("cairn/")
    sent = json.loads(body)
    (registered,) = events_about(store, audit.model_subject("digits", 1))
    assert sent == {
        "event": "version",
        "action": "register",
        "subject": "model/digits/1",
        "actor": registered.actor,
        "ts": registered.ts,
        "event_id": registered.id,
        "name": "digits",
        "version": 1,
    }
    with store.reader() as conn:
        stored = conn.execute(sa.select(schema.hook_deliveries.c.payload)).scalar()
    assert stored.encode() == body  # the stored payload is exactly what was signed and sent

    done = delivery(store, delivery_id)
    assert (done.hook_id, done.status, done.attempts, done.response, done.error) == (
        hook.id,
        DeliveryStatus.DELIVERED,
        1,
        200,
        None,
    )
    added, _ = events_about(store, audit.HOOKS_SUBJECT)
    assert added.action == audit.Action.HOOK_ADD
    assert added.detail["after"] == {"id": hook.id, "url": versions.url, "events": ["version"]}
    assert secret not in json.dumps(added.detail)


def test_a_failing_receiver_is_retried_with_growing_backoff_until_it_answers(
    store: Store,
) -> None:
    with Receiver(500, 500, 200) as receiver:
        add_hook(receiver.url, store=store)
        (delivery_id,) = announce(store, HookEvent.ALIAS)

        assert deliver_due(store) == DeliveryReport(retried=1)
        first = delivery(store, delivery_id)
        assert (first.status, first.attempts, first.response) == (DeliveryStatus.PENDING, 1, 500)
        assert first.error == "HTTP 500: nope"
        assert deliver_due(store, now=first.updated) == DeliveryReport()  # not due yet

        assert deliver_due(store, now=first.next_attempt) == DeliveryReport(retried=1)
        second = delivery(store, delivery_id)
        assert (second.status, second.attempts, second.response) == (
            DeliveryStatus.PENDING,
            2,
            500,
        )

        assert deliver_due(store, now=second.next_attempt) == DeliveryReport(delivered=1)
        third = delivery(store, delivery_id)

    assert (third.status, third.attempts, third.response, third.error) == (
        DeliveryStatus.DELIVERED,
        3,
        200,
        None,
    )
    first_wait = first.next_attempt - first.updated
    second_wait = second.next_attempt - second.updated
    assert 1 <= first_wait < 2 <= second_wait < 4
    assert receiver.delivery_ids == [delivery_id] * 3
    assert len({body for _, body in receiver.requests}) == 1


def test_after_max_attempts_a_delivery_fails_and_is_not_tried_again(workspace: Path) -> None:
    store = get_store()
    with Receiver(503) as receiver:
        add_hook(receiver.url, store=store)
        add_hook(closed_port_url(), store=store)
        answered, unreachable = announce(store)
        now = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            report = deliver_due(store, now=now)
            last = attempt == MAX_ATTEMPTS
            assert report == DeliveryReport(retried=0 if last else 2, failed=2 if last else 0)
            now = max(delivery(store, i).next_attempt for i in (answered, unreachable))

        assert deliver_due(store, now=now + 10 * MAX_RETRY_S) == DeliveryReport()
    assert len(receiver.requests) == MAX_ATTEMPTS
    for delivery_id in (answered, unreachable):
        gone = delivery(store, delivery_id)
        assert (gone.status, gone.attempts) == (DeliveryStatus.FAILED, MAX_ATTEMPTS)
    assert delivery(store, answered).error == "HTTP 503: nope"
    assert delivery(store, unreachable).error.startswith("cannot reach http://127.0.0.1:")


def test_a_hanging_hook_holds_up_neither_the_caller_nor_other_hooks(workspace: Path) -> None:
    store = get_store()
    release = threading.Event()
    with Receiver(hold=release) as hanging, Receiver() as healthy:
        add_hook(hanging.url, store=store)
        add_hook(healthy.url, store=store)
        stuck, fine = announce(store)  # the hanging hook's delivery is the older one
        try:
            kick(store)
            # The hanging receiver answers nothing until released below, so a kick that sent
            # (and waited) itself would have come back with that attempt failed.
            assert delivery(store, stuck).attempts == 0
            assert hanging.got.wait(WAIT_S)
            assert healthy.got.wait(WAIT_S)
            # The healthy hook got its delivery while the hanging one's attempt is unfinished.
            assert delivery(store, stuck).attempts == 0
            assert delivery(store, stuck).status == DeliveryStatus.PENDING
        finally:
            release.set()
        drain(store, WAIT_S)

    for delivery_id in (stuck, fine):
        assert delivery(store, delivery_id).status == DeliveryStatus.DELIVERED
    assert (hanging.delivery_ids, healthy.delivery_ids) == ([stuck], [fine])


def test_two_senders_at_once_send_each_delivery_once(store: Store) -> None:
    with Receiver() as receiver:
        for _ in range(3):
            add_hook(receiver.url, store=store)
        sent = [i for version in range(1, 16) for i in announce(store, version=version)]
        senders = [Store(os.environ["CAIRN_STORE"], os.environ["CAIRN_BLOBS"]) for _ in range(2)]
        start = threading.Barrier(2)
        reports = [DeliveryReport(), DeliveryReport()]

        def send(index: int) -> None:
            start.wait()
            while (report := deliver_due(senders[index])) != DeliveryReport():
                reports[index] += report

        threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for sender in senders:
            sender.engine.dispose()

    assert len(sent) == 45
    assert Counter(receiver.delivery_ids) == Counter(sent)  # each exactly once
    assert sum(reports, DeliveryReport()) == DeliveryReport(delivered=45)
    assert {d.status for d in deliveries(store=store, limit=100)} == {DeliveryStatus.DELIVERED}


def test_removing_a_hook_gives_up_its_pending_deliveries(store: Store) -> None:
    hook, _ = add_hook(closed_port_url(), store=store)
    (delivery_id,) = announce(store)

    assert remove_hook(hook.id, store=store) == hook

    gone = delivery(store, delivery_id)
    assert (gone.status, gone.error, gone.attempts) == (DeliveryStatus.FAILED, "hook removed", 0)
    assert deliveries(status="pending", store=store) == []
    assert list_hooks(store=store) == []
    assert announce(store, version=2) == []
    assert deliver_due(store) == DeliveryReport()
    with pytest.raises(NotFoundError, match="hooks ls"):
        remove_hook(hook.id, store=store)
    actions = [e.action for e in events_about(store, audit.HOOKS_SUBJECT)]
    assert actions == [audit.Action.HOOK_ADD, audit.Action.HOOK_REMOVE]


ENQUEUE_AND_EXIT = """
import os, sys
from cairn.models import audit, delivery
from cairn.models.hooks import HookEvent, enqueue
from cairn.store import get_store

store = get_store()
with store.writer() as conn:
    event = audit.record(conn, audit.Action.REGISTER, "model/digits/1", after=1)
    (delivery_id,) = enqueue(conn, event, HookEvent.VERSION, {"name": "digits", "version": 1})
print(delivery_id, flush=True)
if sys.argv[1] == "kick":
    delivery.kick(store)  # and a normal exit, which waits briefly for the sender
elif sys.argv[1] == "crash":
    os._exit(0)  # no exit handlers: the delivery stays a pending row
else:
    delivery.deliver_due(store)  # claims it, then hangs on the receiver until killed
"""


def run_child(mode: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", ENQUEUE_AND_EXIT, mode], stdout=subprocess.PIPE, text=True
    )


def child_delivery(mode: str) -> int:
    """Run a child that enqueues a delivery and ends as `mode` says; its delivery's id."""
    child = run_child(mode)
    delivery_id = int(child.stdout.readline())
    assert child.wait(WAIT_S) == 0
    return delivery_id


def test_a_short_script_that_kicks_sends_its_delivery_before_it_exits(workspace: Path) -> None:
    with Receiver() as receiver:
        add_hook(receiver.url)
        delivery_id = child_delivery("kick")
    assert receiver.delivery_ids == [delivery_id]
    assert delivery(get_store(), delivery_id).status == DeliveryStatus.DELIVERED


def test_a_delivery_outlives_a_crash_before_sending(workspace: Path) -> None:
    with Receiver() as receiver:
        add_hook(receiver.url)
        delivery_id = child_delivery("crash")
        assert receiver.requests == []
        assert deliver_due(get_store()) == DeliveryReport(delivered=1)
    assert receiver.delivery_ids == [delivery_id]


def test_a_sender_killed_mid_send_leaves_its_claim_to_lapse(workspace: Path) -> None:
    release = threading.Event()
    store = get_store()
    with Receiver(hold=release) as receiver:
        add_hook(receiver.url)
        child = run_child("hang")
        try:
            delivery_id = int(child.stdout.readline())
            assert receiver.got.wait(WAIT_S)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(WAIT_S)
            release.set()
        claimed = delivery(store, delivery_id)
        assert (claimed.status, claimed.attempts) == (DeliveryStatus.PENDING, 0)
        assert deliver_due(store) == DeliveryReport()  # still claimed by the dead sender
        assert deliver_due(store, now=claimed.next_attempt) == DeliveryReport(delivered=1)
    assert claimed.next_attempt - claimed.updated >= LEASE_S
    assert receiver.delivery_ids == [delivery_id, delivery_id]  # at least once: sent again


def test_registering_and_moving_aliases_post_signed_deliveries(store: Store) -> None:
    """Through the public registry API: each change enqueues its delivery in its own
    transaction and kicks the sender, whose POSTs arrive signed; a move to where the alias
    already points announces nothing."""
    from sklearn.dummy import DummyClassifier

    from cairn import models

    model = DummyClassifier().fit([[0], [1]], [0, 1])
    with Receiver() as receiver:
        _, secret = models.add_hook(receiver.url, store=store)
        models.register("digits", model, owner="alice", store=store)
        models.set_alias("digits", "production", 1, reason="first", store=store)
        models.set_alias("digits", "production", 1, store=store)  # already there: a no-op
        models.delete_alias("digits", "production", reason="retired", store=store)
        drain(store, WAIT_S)
        sent = sorted(receiver.requests, key=lambda request: json.loads(request[1])["event_id"])

    bodies = [json.loads(body) for _, body in sent]
    assert [(b["event"], b["action"], b["subject"]) for b in bodies] == [
        ("version", "register", "model/digits/1"),
        ("alias", "alias.set", "model/digits"),
        ("alias", "alias.delete", "model/digits"),
    ]
    assert bodies[0]["version"] == 1
    assert {k: bodies[1][k] for k in ("alias", "previous", "version")} == {
        "alias": "production", "previous": None, "version": 1
    }  # fmt: skip
    assert (bodies[2]["previous"], bodies[2]["version"]) == (1, None)
    for headers, body in sent:
        assert verify(secret, body, headers[SIGNATURE_HEADER])
    assert {d.status for d in deliveries(store=store)} == {DeliveryStatus.DELIVERED}


def test_a_sender_ends_when_its_work_is_done_and_keeps_no_store(workspace: Path) -> None:
    """A process that opens many stores does not keep a thread, or the store, for each."""
    before = set(threading.enumerate())
    with Receiver() as receiver:
        store = Store(os.environ["CAIRN_STORE"], os.environ["CAIRN_BLOBS"])
        add_hook(receiver.url, store=store)
        (first,) = announce(store)
        kick(store)
        assert receiver.got.wait(WAIT_S)
        senders = [
            t for t in threading.enumerate() if t not in before and t.name.startswith("cairn")
        ]
        for thread in senders:
            thread.join(WAIT_S)
        assert [t.name for t in senders if t.is_alive()] == []
        assert delivery(store, first).status == DeliveryStatus.DELIVERED
        gone = weakref.ref(store)
        store.engine.dispose()
        del store
        gc.collect()
        assert gone() is None
        assert {t for t in threading.enumerate() if t.name.startswith("cairn")} <= before

        again = get_store()  # the next kick starts a sender again
        receiver.got.clear()
        (second,) = announce(again, version=2)
        kick(again)
        assert receiver.got.wait(WAIT_S)
    assert receiver.delivery_ids == [first, second]
