"""What a token may allow: an operation on a kind of resource whose name matches a pattern.

Operations and resource kinds are closed sets. A pattern is a name in which `*` stands for
any run of characters, so `read:experiment/*` is every experiment and `predict:model/fraud-*`
every model whose name starts with "fraud-".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from cairn.errors import InvalidNameError, InvalidValueError
from cairn.states import TextEnum
from cairn.tracking.validation import check_name

WILDCARD = "*"
# Biscuit prints strings without escaping them, and cairn reads its own blocks back from
# that text: a quote or a backslash inside a name would make the text ambiguous.
UNQUOTABLE = ('"', "\\")


class Operation(TextEnum):
    READ = "read"
    WRITE = "write"
    PREDICT = "predict"
    PROMOTE = "promote"
    ADMIN = "admin"


class ResourceKind(TextEnum):
    MODEL = "model"
    EXPERIMENT = "experiment"
    DATASET = "dataset"


@dataclass(frozen=True)
class Right:
    operation: Operation
    kind: ResourceKind
    pattern: str  # a name, `*` for any run of characters

    @classmethod
    def parse(cls, text: str) -> Right:
        """A right written OPERATION:KIND/PATTERN, e.g. "predict:model/digits"."""
        operation, colon, resource = text.partition(":")
        kind, slash, pattern = resource.partition("/")
        if not colon or not slash:
            raise InvalidValueError(
                f"right {text!r} is not OPERATION:KIND/NAME; write e.g. predict:model/digits "
                "or read:experiment/* (`*` matches any run of characters)"
            )
        return cls(
            _member(Operation, operation, "operation"),
            _member(ResourceKind, kind, "resource kind"),
            check_pattern(pattern, f"name pattern in {text!r}"),
        )

    def __str__(self) -> str:
        return f"{self.operation}:{self.kind}/{self.pattern}"

    @property
    def regex(self) -> str:
        """The pattern as a regular expression that Biscuit's Datalog `.matches()` reads."""
        parts = [
            "".join(
                c if c.isascii() and (c.isalnum() or c == "_") else f"\\x{{{ord(c):x}}}"
                for c in part
            )
            for part in self.pattern.split(WILDCARD)
        ]
        return "^" + ".*".join(parts) + "$"

    def allows(self, operation: Operation, kind: ResourceKind, name: str) -> bool:
        return operation is self.operation and kind is self.kind and self._matches(name)

    def covers(self, other: Right) -> bool:
        """Whether every request `other` allows, this right allows too. Exact for names and
        a sound approximation for patterns: `other`'s wildcards, read as plain characters,
        must fall on this one's."""
        return (
            self.operation is other.operation
            and self.kind is other.kind
            and self._matches(other.pattern)
        )

    @cached_property
    def _compiled(self) -> re.Pattern:
        parts = (re.escape(part) for part in self.pattern.split(WILDCARD))
        return re.compile(".*".join(parts), re.DOTALL)

    def _matches(self, name: str) -> bool:
        return self._compiled.fullmatch(name) is not None


def uncovered(rights: tuple[Right, ...], by: tuple[Right, ...]) -> list[Right]:
    """The rights in `rights` that no right in `by` covers."""
    return [r for r in rights if not any(b.covers(r) for b in by)]


def check_pattern(pattern: str, what: str = "name pattern") -> str:
    try:
        check_name(pattern, what)
    except InvalidNameError as exc:
        raise InvalidValueError(str(exc)) from None
    if any(c in pattern for c in UNQUOTABLE):
        raise InvalidValueError(f"{what} {pattern!r} contains a quote or a backslash; use `*`")
    return pattern


def _member(enum: type[TextEnum], value: str, what: str) -> TextEnum:
    try:
        return enum(value)
    except ValueError:
        known = ", ".join(m.value for m in enum)
        raise InvalidValueError(f"unknown {what} {value!r}; use one of {known}") from None
