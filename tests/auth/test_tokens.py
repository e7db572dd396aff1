"""Grants, attenuation, expiry, forgery, rotation and revocation, checked by a real verifier."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from biscuit_auth import Biscuit, BiscuitBuilder, BlockBuilder, KeyPair, PublicKey

from cairn.auth import (
    Operation,
    ResourceKind,
    Right,
    Verifier,
    attenuate,
    grant,
    init,
    inspect,
    public_key,
    revoke,
)
from cairn.auth.keys import key_file
from cairn.errors import AuthError, ForbiddenError, InvalidValueError
from cairn.store import get_store
from cairn.store.events import read_events

READ, WRITE, PREDICT = Operation.READ, Operation.WRITE, Operation.PREDICT
MODEL, EXPERIMENT, DATASET = ResourceKind.MODEL, ResourceKind.EXPERIMENT, ResourceKind.DATASET


@pytest.fixture
def root(workspace: Path) -> str:
    return init()


def verifier(clock_offset: float = 0.0) -> Verifier:
    return Verifier(get_store(), clock=lambda: time.time() + clock_offset)


def test_rights_parse_into_closed_sets() -> None:
    right = Right.parse("predict:model/digits")
    assert (right.operation, right.kind, right.pattern) == (PREDICT, MODEL, "digits")
    assert str(Right.parse("read:experiment/*")) == "read:experiment/*"
    for bad in ("predict", "fly:model/x", "read:person/x", "read:model/", "read:model/a\\b"):
        with pytest.raises(InvalidValueError):
            Right.parse(bad)


def test_grant_allows_its_rights_and_forbids_others(root: str) -> None:
    token = grant("alice", ["predict:model/digits", "read:experiment/*"], "30d")
    v = verifier()
    principal = v.authorize(token, PREDICT, MODEL, "digits")
    assert principal.subject == "alice"
    assert v.authorize(token, READ, EXPERIMENT, "any name at all").subject == "alice"
    for request in [
        (WRITE, MODEL, "digits"),
        (PREDICT, MODEL, "digits2"),
        (PREDICT, DATASET, "digits"),
        (READ, MODEL, "digits"),
    ]:
        with pytest.raises(ForbiddenError):
            v.authorize(token, *request)
    # A cached refusal is still a refusal.
    with pytest.raises(ForbiddenError):
        v.authorize(token, WRITE, MODEL, "digits")


def test_wildcards_match_runs_of_characters(root: str) -> None:
    token = grant("bob", ["read:dataset/fraud-*-v*"], "1h")
    v = verifier()
    v.authorize(token, READ, DATASET, "fraud-eu-v2")
    v.authorize(token, READ, DATASET, "fraud--v")
    for name in ("fraud-eu", "xfraud-eu-v2", "fraud.eu-v2"):
        with pytest.raises(ForbiddenError):
            v.authorize(token, READ, DATASET, name)


def test_attenuation_narrows_and_cannot_widen(root: str) -> None:
    token = grant("alice", ["read:experiment/*", "predict:model/digits"], "30d")
    narrowed = attenuate(token, ["read:experiment/ex-*"], ttl="1h", subject="device-7")
    v = verifier()
    assert v.authorize(narrowed, READ, EXPERIMENT, "ex-1").subjects == ("alice", "device-7")
    for request in [(READ, EXPERIMENT, "other"), (PREDICT, MODEL, "digits")]:
        with pytest.raises(ForbiddenError):
            v.authorize(narrowed, *request)
    with pytest.raises(InvalidValueError, match="does not grant"):
        attenuate(narrowed, ["read:experiment/*"])
    with pytest.raises(InvalidValueError, match="outlives"):
        attenuate(narrowed, ttl="2h")
    # The original token keeps its rights.
    v.authorize(token, PREDICT, MODEL, "digits")


def test_a_crafted_block_claiming_more_fails(root: str) -> None:
    token = grant("alice", ["read:experiment/ex-*"], "1h")
    parsed = Biscuit.from_base64(token, PublicKey(f"ed25519/{root}"))
    wider = BlockBuilder(
        'right("admin", "model", "*", "^.*$"); right("read", "experiment", "*", "^.*$");'
    )
    crafted = parsed.append(wider).to_base64()
    v = verifier()
    for request in [
        (Operation.ADMIN, MODEL, "x"),
        (READ, EXPERIMENT, "other"),
        (READ, EXPERIMENT, "ex-1"),
    ]:
        with pytest.raises(AuthError, match="earlier blocks do not grant"):
            v.authorize(crafted, *request)
    # Without declarations a later block still cannot add a right: Biscuit's policy reads
    # rights from the first block only.
    sneaky = parsed.append(BlockBuilder("check if true;")).to_base64()
    with pytest.raises(ForbiddenError):
        v.authorize(sneaky, Operation.ADMIN, MODEL, "x")


def test_delegation_depth_is_bounded(root: str) -> None:
    token = grant("alice", ["read:model/*"], "1h", delegate_depth=1)
    once = attenuate(token, subject="device-7")
    verifier().authorize(once, READ, MODEL, "m")
    with pytest.raises(AuthError, match="not be delegated"):
        attenuate(once, subject="device-8")
    # Appending past the depth by hand makes the token untrustworthy.
    parsed = Biscuit.from_base64(once, PublicKey(f"ed25519/{root}"))
    twice = parsed.append(BlockBuilder('subject("device-8");')).to_base64()
    with pytest.raises(AuthError, match="delegated 1 more time"):
        verifier().authorize(twice, READ, MODEL, "m")


def test_expiry_uses_the_verifiers_clock(root: str) -> None:
    token = grant("alice", ["read:model/*"], "1s")
    verifier().authorize(token, READ, MODEL, "m")
    with pytest.raises(AuthError, match="expired"):
        verifier(clock_offset=5).authorize(token, READ, MODEL, "m")
    # A cached decision does not outlive the token: the same verifier, its clock moved on.
    offset = [0.0]
    v = Verifier(get_store(), clock=lambda: time.time() + offset[0])
    narrowed = attenuate(grant("bob", ["read:model/*"], "1h"), ttl="1s")
    v.authorize(narrowed, READ, MODEL, "m")
    offset[0] = 5
    with pytest.raises(AuthError, match="expired"):
        v.authorize(narrowed, READ, MODEL, "m")


def test_forged_and_malformed_tokens_are_refused(root: str) -> None:
    other = KeyPair()
    builder = BiscuitBuilder('right("read", "model", "*", "^.*$"); subject("mallory");')
    forged = builder.build(other.private_key).to_base64()
    v = verifier()
    with pytest.raises(AuthError, match="not signed by a key"):
        v.authorize(forged, READ, MODEL, "m")
    token = grant("alice", ["read:model/*"], "1h")
    flipped = token[:40] + ("A" if token[40] != "A" else "B") + token[41:]
    for bad in ("", "not a token", flipped, token[:-10]):
        with pytest.raises(AuthError):
            v.authorize(bad, READ, MODEL, "m")


def test_rotation_keeps_the_old_key_within_grace(root: str) -> None:
    old_token = grant("alice", ["read:model/*"], "30d")
    new = init(rotate=True, grace=7 * 86_400)
    assert public_key() == new != root
    new_token = grant("alice", ["read:model/*"], "30d")
    verifier().authorize(old_token, READ, MODEL, "m")
    verifier().authorize(new_token, READ, MODEL, "m")
    later = verifier(clock_offset=8 * 86_400)
    later.authorize(new_token, READ, MODEL, "m")
    with pytest.raises(AuthError, match="not signed by a key"):
        later.authorize(old_token, READ, MODEL, "m")
    # Rotating without grace refuses the old key at once.
    init(rotate=True)
    with pytest.raises(AuthError, match="not signed by a key"):
        verifier().authorize(new_token, READ, MODEL, "m")


def test_private_key_file_is_private_and_not_overwritten(root: str) -> None:
    path = key_file()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    before = path.read_text()
    with pytest.raises(AuthError, match="exists"):
        init()
    assert path.read_text() == before
    assert public_key() == root


def test_inspect_shows_blocks_and_revocation(root: str) -> None:
    token = grant("alice", ["read:experiment/*"], "30d", delegate_depth=2)
    narrowed = attenuate(token, ["read:experiment/ex-*"], ttl="1h", subject="device-7")
    info = inspect(narrowed)
    assert info.subjects == ("alice", "device-7") and info.subject == "device-7"
    assert [list(map(str, b.rights)) for b in info.blocks] == [
        ["read:experiment/*"],
        ["read:experiment/ex-*"],
    ]
    assert info.expires is not None and info.expires <= time.time() + 3600
    assert info.remaining_depth == 1
    assert info.trusted and not info.revoked and not info.problems
    assert len(info.revocation_ids) == 2
    revoked_id = revoke(narrowed, reason="lost")
    assert revoked_id == info.revocation_ids[-1]
    assert inspect(narrowed).revoked
    assert not inspect(token).revoked  # the parent it was narrowed from stays valid
    with get_store().reader() as conn:
        events = read_events(conn, f"auth/token/{revoked_id}")
    assert [e.action for e in events] == ["auth.revoke"]
    assert events[0].detail["reason"] == "lost"


def test_revoking_a_parent_revokes_what_was_narrowed_from_it(root: str) -> None:
    token = grant("alice", ["read:model/*"], "1h")
    narrowed = attenuate(token, subject="device-7")
    v = Verifier(get_store(), poll_seconds=0)
    v.authorize(narrowed, READ, MODEL, "m")
    revoke(inspect(token).revocation_ids[0])
    for t in (token, narrowed):
        with pytest.raises(AuthError, match="revoked"):
            v.authorize(t, READ, MODEL, "m")


def test_revocation_reaches_another_process_within_two_seconds(root: str) -> None:
    token = grant("alice", ["predict:model/digits"], "1h")
    child = f"""
import sys, time
from cairn.auth import Verifier, Operation, ResourceKind
from cairn.errors import AuthError
from cairn.store import get_store
v = Verifier(get_store())
token = {token!r}
v.authorize(token, Operation.PREDICT, ResourceKind.MODEL, "digits")
print("ready", flush=True)
sys.stdin.readline()  # revoked now
start = time.monotonic()
while time.monotonic() - start < 10:
    try:
        v.authorize(token, Operation.PREDICT, ResourceKind.MODEL, "digits")
    except AuthError:
        print(f"refused {{time.monotonic() - start:.3f}}", flush=True)
        sys.exit(0)
sys.exit("still allowed after 10 s")
"""
    proc = subprocess.Popen(
        [sys.executable, "-c", child],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        revoke(token)
        proc.stdin.write("\n")
        proc.stdin.flush()
        line = proc.stdout.readline().split()
        assert proc.wait(timeout=15) == 0, line
    finally:
        proc.kill()
    assert line[0] == "refused" and float(line[1]) < 2.0


def test_cached_decisions_are_fast(root: str) -> None:
    token = attenuate(grant("alice", ["read:experiment/*"], "1h"), ["read:experiment/ex-*"])
    v = verifier()
    v.authorize(token, READ, EXPERIMENT, "ex-1")
    n = 20_000
    start = time.perf_counter()
    for _ in range(n):
        v.authorize(token, READ, EXPERIMENT, "ex-1")
    per_call = (time.perf_counter() - start) / n
    assert per_call < 50e-6, per_call


def test_grant_refuses_bad_input(root: str) -> None:
    with pytest.raises(InvalidValueError):
        grant("alice", [], "1h")
    with pytest.raises(InvalidValueError):
        grant('al"ice', ["read:model/*"], "1h")
    with pytest.raises(InvalidValueError, match="duration"):
        grant("alice", ["read:model/*"], "soon")
    with pytest.raises(InvalidValueError):
        grant("alice", ["read:model/*"], "1h", delegate_depth=-1)


def test_grant_without_a_key_says_what_to_do(workspace: Path) -> None:
    with pytest.raises(AuthError, match="cairn auth init"):
        grant("alice", ["read:model/*"], "1h")
