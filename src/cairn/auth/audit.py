"""What the auth layer records in the audit log, in the same transaction as the change."""

from __future__ import annotations

from cairn.states import TextEnum


class AuthAction(TextEnum):
    KEY_INIT = "auth.key.init"
    KEY_ROTATE = "auth.key.rotate"
    GRANT = "auth.grant"
    REVOKE = "auth.revoke"


def key_subject(public_key: str) -> str:
    return f"auth/key/{public_key}"


def token_subject(revocation_id: str) -> str:
    return f"auth/token/{revocation_id}"
