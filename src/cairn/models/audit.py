"""What the registry records about itself: one event per change, in the change's transaction.

Subjects are "model/NAME" for the model and "model/NAME/VERSION" for one version, so a
model's history is every event whose subject is the model or starts with "model/NAME/".
"""

from __future__ import annotations

import sqlalchemy as sa

from cairn.config import current_user
from cairn.models.references import check_model_name, no_model
from cairn.states import TextEnum
from cairn.store import Store, get_store
from cairn.store.events import Event, read_events, write_event


class Action(TextEnum):
    REGISTER = "register"
    ALIAS_SET = "alias.set"
    ALIAS_DELETE = "alias.delete"
    GATE_ADD = "gate.add"
    GATE_REMOVE = "gate.remove"
    GATE_RUN = "gate.run"
    OVERRIDE = "gate.override"
    TRANSFER = "transfer"
    TAG_SET = "tag.set"
    TAG_DELETE = "tag.delete"
    ARCHIVE = "archive"
    UNARCHIVE = "unarchive"
    HOOK_ADD = "hook.add"
    HOOK_REMOVE = "hook.remove"


HOOKS_SUBJECT = "hooks"


def model_subject(name: str, version: int | None = None) -> str:
    return f"model/{name}" if version is None else f"model/{name}/{version}"


def record(
    conn: sa.Connection,
    action: Action,
    subject: str,
    *,
    before: object = None,
    after: object = None,
    actor: str | None = None,
    **detail: object,
) -> Event:
    """Write the event of a change on `conn`, inside the change's own transaction."""
    body = {k: v for k, v in {"before": before, "after": after, **detail}.items() if v is not None}
    return write_event(conn, actor or current_user(), action, subject, body)


def history(name: str, *, store: Store | None = None) -> list[Event]:
    """Every event about model `name` and its versions, oldest first."""
    store = store or get_store()
    subject = model_subject(check_model_name(name))
    with store.reader() as conn:
        events = read_events(conn, subject, prefix=subject + "/")
    if not events:
        raise no_model(name)
    return events
