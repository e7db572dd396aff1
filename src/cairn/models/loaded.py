"""A model loaded from the registry: its native object, its flavor and its signature, with a
`predict` that fits the inputs to the signature first."""

from __future__ import annotations

from cairn.errors import CairnError, FlavorError
from cairn.models.flavors.protocol import Flavor
from cairn.models.flavors.registry import flavor_named
from cairn.models.signature import Signature, conform


class LoadedModel:
    """`native` is the model as its library made it (an estimator, a module, an
    onnxruntime session...); `predict` is the same call for every flavor."""

    def __init__(
        self,
        flavor: Flavor,
        native: object,
        signature: Signature | None,
        name: str | None = None,
        version: int | None = None,
    ) -> None:
        self.flavor = flavor
        self.native = native
        self.signature = signature
        self.name = name
        self.version = version

    def predict(self, inputs: object) -> object:
        """The model's predictions for `inputs` (see `cairn.models.signature.conform` for the
        inputs it takes); a SignatureError if they do not fit."""
        return self.flavor.predict(self.native, conform(self.signature, inputs))

    def __repr__(self) -> str:
        parts = [repr(self.name)] if self.name is not None else []
        if self.version is not None:
            parts.append(f"version={self.version}")
        parts.append(f"flavor={self.flavor.name!r}")
        if self.signature is not None:
            parts.append(f"signature={str(self.signature)!r}")
        return f"LoadedModel({', '.join(parts)})"


def from_payload(
    flavor_name: str,
    payload: bytes,
    signature: Signature | None,
    *,
    name: str | None = None,
    version: int | None = None,
) -> LoadedModel:
    """Load a payload that flavor `flavor_name` saved. Any failure is a FlavorError naming
    the flavor (and the package to install if its library is missing)."""
    flavor = flavor_named(flavor_name)
    what = f"{name}/{version}" if name is not None and version is not None else "model"
    try:
        native = flavor.load(payload)
    except CairnError:
        raise
    except ImportError as exc:
        raise FlavorError(
            f"cannot load {what} (flavor {flavor_name!r}): {exc}; install the package it "
            "needs in this environment"
        ) from exc
    except Exception as exc:
        raise FlavorError(
            f"cannot load {what} (flavor {flavor_name!r}): {type(exc).__name__}: {exc}"
        ) from exc
    return LoadedModel(flavor, native, signature, name=name, version=version)
