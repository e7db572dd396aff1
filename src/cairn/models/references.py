"""How a model version is named: `NAME/VERSION`, `NAME@ALIAS`, `NAME@latest` or `NAME`.

`latest` is the newest version that is not archived; it is not an alias anyone can set.
"""

from __future__ import annotations

from dataclasses import dataclass

from cairn.errors import InvalidNameError, InvalidValueError
from cairn.tracking.validation import check_name

LATEST = "latest"


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
        check_name(name, "model name")
        return ModelRef(name, alias=check_alias(alias, allow_latest=True))
    if "/" in text:
        name, version = text.split("/", 1)
        check_name(name, "model name")
        return ModelRef(name, version=parse_version(version, text))
    return ModelRef(check_name(text, "model name"))


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
