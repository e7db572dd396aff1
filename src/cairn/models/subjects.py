"""What a lineage reference written as text names: a model version (`digits/3`,
`digits@production`), a dataset version (`NAME/VERSION` when no model has that name), or
anything `cairn.lineage` reads itself (a node id, a run or prediction id, an artifact
reference such as `NAME:VERSION` or `RUN_ID/NAME`).

It lives with the models because the registry is the highest layer a reference can name;
the lineage walk below it knows only artifacts, runs and predictions.
"""

from __future__ import annotations

from cairn.datasets.versions import get as dataset_version
from cairn.datasets.versions import history as dataset_history
from cairn.errors import InvalidNameError, NotFoundError
from cairn.models.versions import get_model, get_version
from cairn.store import Store, get_store


def lineage_subject(text: str, *, store: Store | None = None) -> object:
    """The thing `text` names, for `cairn.lineage.lineage`: a ModelVersion, a dataset
    version's ArtifactRef, or `text` itself for the walk to resolve. A reference to a
    model or dataset that exists but lacks the version or alias is a NotFoundError."""
    store = store or get_store()
    name, at, alias = text.partition("@")
    if at and alias:
        return get_version(text, store=store) if _is_model(name, store) else text
    head, slash, number = text.partition("/")
    if not (slash and number.isascii() and number.isdigit()):
        return text
    if _is_model(head, store):
        return get_version(text, store=store)
    if _is_dataset(head, store):
        return dataset_version(head, number, store=store)
    return text  # an artifact reference: RUN_ID/NAME


def _is_model(name: str, store: Store) -> bool:
    try:
        get_model(name, store=store)
    except (NotFoundError, InvalidNameError):
        return False
    return True


def _is_dataset(name: str, store: Store) -> bool:
    try:
        dataset_history(name, store=store)
    except NotFoundError:
        return False
    return True
