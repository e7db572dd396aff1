"""A token read back: what each of its blocks declares, and what the chain amounts to.

cairn writes its declarations as facts (`subject`, `right`, `delegate_depth`) next to the
checks that enforce them, and reads them back from Biscuit's printed Datalog. What is read
back decides nothing alone: Biscuit's checks enforce rights and expiry. It lets the verifier
refuse a chain whose later block claims more than an earlier one grants, bound the delegation
depth, and keep a cached decision no longer than the earliest expiry any check names.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from biscuit_auth import Biscuit, UnverifiedBiscuit

from cairn.auth.rights import Right, uncovered
from cairn.errors import InvalidValueError

_SUBJECT = re.compile(r'^subject\("([^"]*)"\);$', re.MULTILINE)
_RIGHT = re.compile(r'^right\("([^"]*)", "([^"]*)", "([^"]*)", "[^"]*"\);$', re.MULTILINE)
_DEPTH = re.compile(r"^delegate_depth\((\d+)\);$", re.MULTILINE)
_CHECK = re.compile(r"^(?:check|reject) .*$", re.MULTILINE)
# Any date a check compares against with `<=` counts as an expiry: a token only ever
# expires earlier for a date read this way, never later.
_BEFORE = re.compile(r"<= (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))")


@dataclass(frozen=True)
class Block:
    index: int
    revocation_id: str
    subject: str | None
    rights: tuple[Right, ...]  # declared; empty: the block narrows no right
    delegate_depth: int | None  # how many blocks may follow this one
    expires: float | None
    checks: tuple[str, ...]


@dataclass(frozen=True)
class Chain:
    """What a token's blocks amount to, taken in order."""

    blocks: tuple[Block, ...]
    problems: tuple[str, ...]  # why the chain cannot be trusted, if it cannot

    @property
    def subject(self) -> str:
        return self.subjects[-1]

    @property
    def subjects(self) -> tuple[str, ...]:
        named = tuple(b.subject for b in self.blocks if b.subject is not None)
        return named or ("?",)

    @property
    def rights(self) -> tuple[Right, ...]:
        """The rights of the last block that declares any (earlier ones cover them)."""
        return next((b.rights for b in reversed(self.blocks) if b.rights), ())

    @property
    def expires(self) -> float | None:
        dates = [b.expires for b in self.blocks if b.expires is not None]
        return min(dates) if dates else None

    @property
    def remaining_depth(self) -> int | None:
        """How many more blocks may be appended; None when no block bounds it."""
        last = len(self.blocks) - 1
        left = [
            b.delegate_depth - (last - b.index) for b in self.blocks if b.delegate_depth is not None
        ]
        return min(left) if left else None

    @property
    def revocation_ids(self) -> tuple[str, ...]:
        return tuple(b.revocation_id for b in self.blocks)


def read_chain(token: Biscuit | UnverifiedBiscuit) -> Chain:
    """The blocks of `token` and anything that makes the chain untrustworthy."""
    ids = token.revocation_ids
    blocks: list[Block] = []
    problems: list[str] = []
    for index in range(token.block_count()):
        try:
            blocks.append(_read_block(index, ids[index], token.block_source(index)))
        except InvalidValueError as exc:
            problems.append(f"block {index} declares what cairn cannot read: {exc}")
    if problems:
        return Chain(tuple(blocks), tuple(problems))
    granted = blocks[0].rights if blocks else ()
    for block in blocks[1:]:
        wider = uncovered(block.rights, granted)
        if wider:
            claimed = ", ".join(map(str, wider))
            problems.append(
                f"block {block.index} claims {claimed}, which earlier blocks do not grant"
            )
        granted = block.rights or granted
    chain = Chain(tuple(blocks), tuple(problems))
    depth = chain.remaining_depth
    if depth is not None and depth < 0:
        problems.append(f"the token is delegated {-depth} more time(s) than it allows")
    return Chain(tuple(blocks), tuple(problems))


def _read_block(index: int, revocation_id: str, source: str) -> Block:
    subjects = _SUBJECT.findall(source)
    depths = [int(d) for d in _DEPTH.findall(source)]
    checks = tuple(_CHECK.findall(source))
    dates = [_timestamp(d) for check in checks for d in _BEFORE.findall(check)]
    return Block(
        index=index,
        revocation_id=revocation_id,
        subject=subjects[-1] if subjects else None,
        rights=tuple(
            Right.parse(f"{op}:{kind}/{pattern}") for op, kind, pattern in _RIGHT.findall(source)
        ),
        delegate_depth=min(depths) if depths else None,
        expires=min(dates) if dates else None,
        checks=checks,
    )


def _timestamp(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
