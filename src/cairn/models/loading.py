"""Loading a model version to predict with; inside a run, the load is part of its lineage."""

from __future__ import annotations

from cairn.models.loaded import LoadedModel, from_payload
from cairn.models.references import ModelRef
from cairn.models.signature import Signature
from cairn.models.versions import ModelVersion, get_version
from cairn.store import Store, get_store
from cairn.store.moments import When
from cairn.tracking import active
from cairn.tracking.artifacts import record_input


def load(
    ref: str | ModelRef | ModelVersion, *, as_of: When | None = None, store: Store | None = None
) -> LoadedModel:
    """The model `ref` names (`digits@production`, `digits/3`, `digits@latest`), ready to
    predict; its inputs are checked against the version's signature. Loading inside a run
    records that the run used this version."""
    store = store or get_store()
    version = ref if isinstance(ref, ModelVersion) else get_version(ref, as_of=as_of, store=store)
    model = load_version(store, version)
    run = active.current()
    if run is not None:
        record_input(store, run.id, version.artifact)
    return model


def load_version(store: Store, version: ModelVersion) -> LoadedModel:
    """`version`'s model, loaded by its flavor from its payload (its digest checked); writes
    nothing."""
    payload = store.get_value(version.digest)
    signature = Signature.from_json(version.signature) if version.signature else None
    return from_payload(
        version.flavor, bytes(payload), signature, name=version.name, version=version.version
    )
