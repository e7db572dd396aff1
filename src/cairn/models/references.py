"""How a model version is named: `NAME/VERSION`, `NAME@ALIAS`, `NAME@latest` or `NAME`, and
the names that make those up (model names, aliases) or go with them (owners).

`latest` is the newest version that is not archived; it is not an alias anyone can set.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from cairn.errors import InvalidNameError, InvalidValueError, NotFoundError
from cairn.tracking.validation import check_name

LATEST = "latest"
# A version's audit subject is "model/NAME/VERSION" in events.subject (255 characters): 200
# leaves room for the prefix and any version number.
MODEL_NAME_MAX_CHARS = 200
OWNER_MAX_CHARS = 255  # the width of models.owner
_CONTROLS = ("Cc", "Cf", "Zl", "Zp")


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: int | None = None  # a number given
    alias: str | None = None  # an alias given; LATEST, or neither, means the newest version

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}/{self.version}"
        return f"{self.name}@{self.alias or LATEST}"


def parse_ref(text: str) -> ModelRef:
    """`digits/3`, `digits@production`, `digits@latest` or `digits`."""
    if not isinstance(text, str) or not text:
        raise InvalidValueError(
            f"a model reference is NAME/VERSION or NAME@ALIAS (digits/3, digits@production), "
            f"got {text!r}"
        )
    if "@" in text:
        name, alias = text.split("@", 1)
        return ModelRef(check_model_name(name), alias=check_alias(alias, allow_latest=True))
    if "/" in text:
        name, version = text.split("/", 1)
        return ModelRef(check_model_name(name), version=parse_version(version, text))
    return ModelRef(check_model_name(text))


def no_model(name: str) -> NotFoundError:
    """The error for a model name no model has."""
    return NotFoundError(f"no model {name!r}; `cairn models ls` lists the models")


def check_model_name(name: object) -> str:
    """A model name is a name (see check_name) without '@', which starts an alias in a
    reference, and at most MODEL_NAME_MAX_CHARS long."""
    text = check_name(name, "model name")
    if "@" in text:
        raise InvalidNameError(
            f"model name {text!r} contains '@', which would start an alias in a reference "
            "(NAME@ALIAS); use '.', '-' or '_' instead"
        )
    if len(text) > MODEL_NAME_MAX_CHARS:
        raise InvalidNameError(
            f"model name {text[:40]!r}... is longer than {MODEL_NAME_MAX_CHARS} characters; "
            "choose a shorter one"
        )
    return text


def check_owner(owner: object, what: str = "owner") -> str:
    """An owner is a user or team name as people write them ('alice', 'alice@example.com',
    'ml/platform'): not blank, no control characters, at most OWNER_MAX_CHARS long."""
    if not isinstance(owner, str) or not owner.strip():
        raise InvalidValueError(
            f"{what} must be a user or team name (owner='alice'), got {owner!r}"
        )
    if len(owner) > OWNER_MAX_CHARS:
        raise InvalidValueError(
            f"{what} {owner[:40]!r}... is longer than {OWNER_MAX_CHARS} characters; give the "
            "user or team name"
        )
    if any(unicodedata.category(c) in _CONTROLS for c in owner):
        raise InvalidValueError(f"{what} {owner!r} contains a control character")
    return owner


def parse_version(version: object, context: object = None) -> int:
    """A version number: a positive integer, or its digits."""
    if isinstance(version, bool) or not (
        isinstance(version, int) or (isinstance(version, str) and version.isdigit())
    ):
        where = f" in {context!r}" if context is not None else ""
        raise InvalidValueError(f"a model version is a number like 3, got {version!r}{where}")
    number = int(version)
    if number < 1:
        raise InvalidValueError(f"model versions start at 1, got {number}")
    return number


def check_alias(alias: object, *, allow_latest: bool = False) -> str:
    """An alias is a name without '/' or '@'; `latest` is reserved for the newest version."""
    if isinstance(alias, str) and "@" in alias:
        raise InvalidNameError(f"alias {alias!r} contains '@'; aliases are names like production")
    check_name(alias, "alias")
    if alias == LATEST and not allow_latest:
        raise InvalidNameError(
            f"{LATEST!r} always means the newest version; choose another alias name"
        )
    return alias  # type: ignore[return-value]
