"""Random grants and chains of attenuation against a model of what they may allow.

The model is written here, apart from cairn: a request (operation, kind, name) is allowed by a
chain when every block that declares rights has one with the same operation and kind whose
pattern matches the name, `*` standing for any run of characters. Attenuation may only narrow:
a right is covered by an earlier one when its pattern, read as plain text, matches the
earlier pattern. Each example grants a token, attenuates it a random number of times, tries
widening steps (which must be refused) and asks a real Verifier.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest
from biscuit_auth import Biscuit, BlockBuilder, PublicKey
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cairn.auth import (
    Operation,
    ResourceKind,
    Right,
    Verifier,
    attenuate,
    grant,
    init,
    inspect,
    revoke,
)
from cairn.auth.tokens import EXPIRY_CHECK, _declare_rights, _rights_check, _rights_params
from cairn.errors import AuthError, ForbiddenError, InvalidValueError
from cairn.store import get_store

# Few letters, so that random names and patterns meet; "." and "é" go through the escaping of
# patterns into Biscuit's regular expressions.
ALPHABET = "ab.é"
RESERVED = (".", "..")  # not names
# Whole minutes: expiries are whole seconds and a chain is made within a second or two, so
# the block with the shortest TTL is the one that expires first.
TTLS = st.integers(1, 60 * 24 * 30).map(lambda minutes: minutes * 60)
# One workspace and root key serve all the examples of a test; each example makes its own
# tokens, and revocation ids are unique to a token.
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# How often a request is asked when a busy machine cut the verifier's Datalog run short.

Request = tuple[Operation, ResourceKind, str]


@pytest.fixture
def root(workspace: Path) -> str:
    return init()


def glob(pattern: str, name: str) -> bool:
    """Whether `name` is `pattern` with each `*` replaced by some run of characters."""
    head, star, rest = pattern.partition("*")
    if not star:
        return name == pattern
    if not name.startswith(head):
        return False
    tail = name[len(head) :]
    return any(glob(rest, tail[i:]) for i in range(len(tail) + 1))


def matches(rights: Iterable[Right], operation: Operation, kind: ResourceKind, name: str) -> bool:
    return any(
        r.operation is operation and r.kind is kind and glob(r.pattern, name) for r in rights
    )


def model_allows(blocks: Iterable[tuple[Right, ...]], request: Request) -> bool:
    """Every block that declares rights has one that matches: the intersection."""
    return all(not rights or matches(rights, *request) for rights in blocks)


def model_covers(earlier: tuple[Right, ...], right: Right) -> bool:
    return matches(earlier, right.operation, right.kind, right.pattern)


def valid_pattern(text: str) -> bool:
    return bool(text) and text not in RESERVED


PATTERNS = st.text(ALPHABET + "*", min_size=1, max_size=5).filter(valid_pattern)
RIGHTS = st.builds(Right, st.sampled_from(Operation), st.sampled_from(ResourceKind), PATTERNS)
# What a `*` of a right may become in a narrower one.
FILLS = st.sampled_from(["*", "", "a", "é", "b*", "*.", "a*b", "**"])


def filled(pattern: str, fills: Iterable[str]) -> str:
    """`pattern` with its wildcards replaced, in order, by `fills`."""
    parts = pattern.split("*")
    return parts[0] + "".join(fill + part for fill, part in zip(fills, parts[1:], strict=True))


@st.composite
def narrowed(draw: st.DrawFn, right: Right) -> Right:
    """`right` with each wildcard replaced by text that may hold wildcards: never wider."""
    fills = [draw(FILLS) for _ in range(right.pattern.count("*"))]
    pattern = filled(right.pattern, fills)
    return Right(right.operation, right.kind, pattern if valid_pattern(pattern) else right.pattern)


@st.composite
def step_rights(draw: st.DrawFn, current: tuple[Right, ...]) -> tuple[Right, ...]:
    """Rights for an attenuation of a token that grants `current`: none (the block narrows no
    right), or a few, each narrowed from `current` or, one time in three, drawn anew (a
    widening, when `current` does not cover it)."""
    if draw(st.integers(0, 3)) == 0:
        return ()
    narrower = st.sampled_from(current).flatmap(narrowed)
    candidates = st.one_of(narrower, narrower, RIGHTS)
    return tuple(dict.fromkeys(draw(st.lists(candidates, min_size=1, max_size=3))))


@dataclass(frozen=True)
class Link:
    """One token of a chain and what the model says of it."""

    token: str
    blocks: tuple[tuple[Right, ...], ...]  # each block's declared rights
    ttl: int  # the shortest TTL of its blocks
    # The earliest (time + ttl) of its blocks, with each block's time taken just before and
    # just after it was made: the token expires within [earliest[0] - 1, earliest[1]].
    earliest: tuple[float, float]

    def allows(self, request: Request) -> bool:
        return model_allows(self.blocks, request)

    @property
    def rights(self) -> tuple[Right, ...]:
        """The rights a next block must stay within: the last ones declared."""
        return next(rights for rights in reversed(self.blocks) if rights)

    def extended(self, make: Callable[[], str], rights: tuple[Right, ...], ttl: int | None) -> Link:
        """The link `make` makes by appending a block with `rights` and `ttl`."""
        token, earliest = timed(make, ttl or 0)
        blocks = (*self.blocks, rights)
        if ttl is None:
            return Link(token, blocks, self.ttl, self.earliest)
        soonest = (min(self.earliest[0], earliest[0]), min(self.earliest[1], earliest[1]))
        return Link(token, blocks, min(self.ttl, ttl), soonest)


def timed(make: Callable[[], str], ttl: int) -> tuple[str, tuple[float, float]]:
    """The token `make` makes, and `ttl` after the times just before and just after."""
    before = time.time()
    token = make()
    return token, (before + ttl, time.time() + ttl)


@dataclass
class Chain:
    links: list[Link]
    refused: list[Right] = field(default_factory=list)  # rights attenuate refused as wider

    @property
    def last(self) -> Link:
        return self.links[-1]


def build_chain(data: st.DataObject) -> Chain:
    """A grant and a random run of attenuations of it. A step that asks for more than its
    token holds (a right not covered, a longer life) must be refused; it is then taken again
    without what was too much."""
    rights = tuple(dict.fromkeys(data.draw(st.lists(RIGHTS, min_size=1, max_size=4))))
    ttl = data.draw(TTLS)
    token, earliest = timed(partial(grant, "owner", rights, ttl), ttl)
    chain = Chain([Link(token, (rights,), ttl, earliest)])
    for i in range(data.draw(st.integers(0, 4))):
        last, subject = chain.last, f"device-{i}"
        rights = data.draw(step_rights(last.rights))
        ttl = data.draw(st.none() | TTLS)
        ttl = None if ttl == last.ttl else ttl  # the same life again, a second later: too long
        wider = [r for r in rights if not model_covers(last.rights, r)]
        longer = ttl is not None and ttl > last.ttl
        if wider or longer:
            with pytest.raises(InvalidValueError, match="does not grant" if wider else "outlives"):
                attenuate(last.token, rights, ttl, subject)
            chain.refused += wider
            rights = tuple(r for r in rights if r not in wider)
            ttl = None if longer else ttl
        make = partial(attenuate, last.token, rights, ttl, subject)
        chain.links.append(last.extended(make, rights, ttl))
    return chain


def instance(right: Right, fills: Iterable[str] | None = None) -> Request:
    """A request `right` allows: its wildcards filled with `fills` (by default, nothing)."""
    fills = [""] * right.pattern.count("*") if fills is None else fills
    return right.operation, right.kind, filled(right.pattern, fills) or "a"


def requests_for(data: st.DataObject, chain: Chain) -> list[Request]:
    """Requests each right of the chain, granted or refused, allows (its wildcards filled
    with random text), the same names for another operation or kind, and a few at random."""
    rights = [r for link in chain.links for block in link.blocks for r in block] + chain.refused
    fill = st.text(ALPHABET, max_size=2)
    asked: list[Request] = []
    for right in dict.fromkeys(rights):
        fills = [data.draw(fill) for _ in range(right.pattern.count("*"))]
        operation, kind, name = instance(right, fills)
        asked += [
            (operation, kind, name),
            (data.draw(st.sampled_from(Operation)), kind, name),
            (operation, data.draw(st.sampled_from(ResourceKind)), name),
        ]
    names = st.text(ALPHABET, min_size=1, max_size=4)
    anything = st.tuples(st.sampled_from(Operation), st.sampled_from(ResourceKind), names)
    asked += data.draw(st.lists(anything, max_size=4))
    return list(dict.fromkeys(asked))


def allowed(verifier: Verifier, token: str, request: Request) -> bool:
    try:
        verifier.authorize(token, *request)
    except ForbiddenError:
        return False
    return True


@SETTINGS
@given(data=st.data())
def test_a_chain_allows_only_what_every_block_allows(root: str, data: st.DataObject) -> None:
    chain = build_chain(data)
    verifier = Verifier(get_store())
    requests = requests_for(data, chain)
    for request in requests:
        for link in chain.links:
            assert allowed(verifier, link.token, request) == link.allows(request), (request, link)
    # Seen with --hypothesis-show-statistics: how much of the space the examples reach.
    event(f"attenuations: {len(chain.links) - 1}")
    event(f"a widening refused: {bool(chain.refused)}")
    several = sum(map(chain.last.allows, requests)) > 1
    event(f"the last token allows more than one request: {several}")


def crafted(link: Link, root: str, declared: tuple[Right, ...], checked: tuple[Right, ...]) -> str:
    """`link`'s token with a block appended by hand, as a holder running cairn's own block
    writer without its covering check would: declaring `declared`, checking that requests
    match `checked`, and an expiry a year later than the token's."""
    block = BlockBuilder("")
    if declared:
        _declare_rights(block, declared)
    block.add_code(_rights_check(checked), _rights_params(checked))
    later = dt.datetime.fromtimestamp(int(link.earliest[1]) + 365 * 86_400, dt.timezone.utc)
    block.add_code(EXPIRY_CHECK + ";", {"expires": later})
    parsed = Biscuit.from_base64(link.token, PublicKey(f"ed25519/{root}"))
    return parsed.append(block).to_base64()


@SETTINGS
@given(data=st.data())
def test_a_later_block_claiming_more_never_widens(root: str, data: st.DataObject) -> None:
    chain = build_chain(data)
    last = chain.last
    # Rights the token holds and others, most of them wider than it holds.
    claims = st.lists(st.one_of(RIGHTS, st.sampled_from(last.rights)), min_size=1, max_size=3)
    checked = tuple(dict.fromkeys(data.draw(claims)))
    declared = data.draw(st.sampled_from([(), last.rights, checked]))
    token = crafted(last, root, declared, checked)
    verifier = Verifier(get_store())
    requests = requests_for(data, chain) + [instance(r) for r in checked]
    if not all(model_covers(last.rights, r) for r in declared):
        for request in requests:
            with pytest.raises(AuthError, match="earlier blocks do not grant"):
                verifier.authorize(token, *request)
        return
    for request in requests:
        expected = last.allows(request) and matches(checked, *request)
        assert allowed(verifier, token, request) == expected, request
    # Its later expiry does not lengthen the token's life either.
    assert inspect(token).expires == inspect(last.token).expires


@SETTINGS
@given(data=st.data())
def test_a_chain_expires_at_its_shortest_ttl(root: str, data: st.DataObject) -> None:
    chain = build_chain(data)
    for link in chain.links:
        expires = inspect(link.token).expires
        assert link.earliest[0] - 1 <= expires <= link.earliest[1], (link.ttl, link.earliest)
    # The verifier's clock agrees: the last token works up to that second and not after.
    last = chain.last
    request = instance(last.rights[0])
    assert last.allows(request)
    expires = inspect(last.token).expires
    Verifier(get_store(), clock=lambda: expires - 1).authorize(last.token, *request)
    with pytest.raises(AuthError, match="expired"):
        Verifier(get_store(), clock=lambda: expires + 1).authorize(last.token, *request)


@SETTINGS
@given(data=st.data())
def test_revoking_a_token_refuses_every_token_derived_from_it(
    root: str, data: st.DataObject
) -> None:
    chain = build_chain(data)
    last = chain.last
    request = instance(last.rights[0])  # allowed by every token of the chain
    verifier = Verifier(get_store(), poll_seconds=0)
    for link in chain.links:
        verifier.authorize(link.token, *request)  # decisions cached before the revocation
    k = data.draw(st.integers(0, len(chain.links) - 1))
    revoked = chain.links[k].token
    revoke(inspect(revoked).revocation_ids[-1] if data.draw(st.booleans()) else revoked)
    # Attenuation is offline: a revoked token can still be narrowed, to no avail.
    after = attenuate(last.token, subject="after-revocation")
    for i, token in enumerate([link.token for link in chain.links] + [after]):
        if i < k:
            verifier.authorize(token, *request)
        else:
            with pytest.raises(AuthError, match="revoked"):
                verifier.authorize(token, *request)
