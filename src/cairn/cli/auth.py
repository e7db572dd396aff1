"""`cairn auth`: the workspace's root key, and tokens granted, narrowed, inspected, revoked."""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from typing import TYPE_CHECKING

import typer

from cairn.cli.output import console, print_json, when
from cairn.store import get_store

if TYPE_CHECKING:  # biscuit-python is imported only by the commands that need it
    from cairn.auth.tokens import TokenInfo

app = typer.Typer(
    help="Capability tokens: a root key signs grants; holders narrow them offline; "
    "revoked tokens are refused everywhere within seconds.",
    no_args_is_help=True,
)

AllowOption = typer.Option(
    ..., "--allow", help="OPERATION:KIND/NAME, e.g. predict:model/digits or read:experiment/*."
)
DepthOption = typer.Option(
    None, "--delegate-depth", min=0, help="How many more times the token may be narrowed."
)


@app.command("init")
def init_command(
    rotate: bool = typer.Option(False, "--rotate", help="Replace the existing root key."),
    grace: str = typer.Option(
        None, "--grace", help="With --rotate: how long the old key stays valid (e.g. 7d)."
    ),
) -> None:
    """Create the workspace's root key pair (the private key file is readable by you only)."""
    from cairn.auth.durations import parse_duration
    from cairn.auth.keys import init

    seconds = parse_duration(grace) if grace is not None else None
    public = init(rotate=rotate, grace=seconds, store=get_store(create=False))
    console.print(f"root public key: {public}", highlight=False)


@app.command("public-key")
def public_key_command() -> None:
    """Print the current root public key (hex), for verifiers that hold no private key."""
    from cairn.auth.keys import public_key

    print(public_key(get_store(create=False)))


@app.command("grant")
def grant_command(
    subject: str,
    allow: list[str] = AllowOption,
    ttl: str = typer.Option(..., "--ttl", help="How long the token lives, e.g. 30d, 1h, 90s."),
    delegate_depth: int = DepthOption,
) -> None:
    """Print a token for SUBJECT allowing the --allow rights for --ttl."""
    from cairn.auth.tokens import grant

    print(grant(subject, allow, ttl, delegate_depth, store=get_store(create=False)))


@app.command("attenuate")
def attenuate_command(
    token: str,
    allow: list[str] = typer.Option(None, "--allow", help="Keep only these rights."),
    ttl: str = typer.Option(None, "--ttl", help="A shorter life, e.g. 1h."),
    subject: str = typer.Option(None, "--subject", help="Who the narrowed token is for."),
    delegate_depth: int = DepthOption,
    public: str = typer.Option(
        None, "--public-key", help="The issuer's public key, when this is not its workspace."
    ),
) -> None:
    """Print TOKEN narrowed: fewer rights, a shorter life, less delegation. No private key
    is needed."""
    from cairn.auth.tokens import attenuate

    store = None if public else get_store(create=False)
    narrowed = attenuate(token, allow, ttl, subject, delegate_depth, public_key=public, store=store)
    print(narrowed)


@app.command("revoke")
def revoke_command(
    token_or_id: str,
    reason: str = typer.Option(None, "--reason", help="Why, for the audit log."),
) -> None:
    """Revoke a token (and every token narrowed from it), given the token or its revocation
    id; every verifier refuses it within seconds."""
    from cairn.auth.tokens import revoke

    revocation_id = revoke(token_or_id, reason, store=get_store(create=False))
    console.print(f"revoked {revocation_id}", highlight=False)


@app.command("inspect")
def inspect_command(
    token: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Show a token: subject, each block's rights and checks, expiry, and whether it is
    revoked."""
    from cairn.auth.tokens import inspect

    info = inspect(token, store=get_store(create=False))
    if as_json:
        print_json(_plain(info))
        return
    state = "revoked" if info.revoked else ("valid" if info.trusted else "not trusted here")
    console.print(f"[bold]token of {' -> '.join(info.subjects)}[/]  {state}", highlight=False)
    console.print(f"  expires  {when(info.expires)}", highlight=False)
    depth = "unbounded" if info.remaining_depth is None else str(info.remaining_depth)
    console.print(f"  delegable  {depth} more time(s)", highlight=False)
    for block in info.blocks:
        who = f" ({block.subject})" if block.subject else ""
        console.print(
            f"  block {block.index}{who}  id {block.revocation_id[:16]}…", highlight=False
        )
        for right in block.rights:
            console.print(f"    allows  {right}", highlight=False, markup=False)
        for check in block.checks:
            console.print(f"    {check}", highlight=False, markup=False, soft_wrap=True)
    for problem in info.problems:
        console.print(f"  [red]problem:[/] {problem}", highlight=False)


@app.command("rotate-blob-key")
def rotate_blob_key_command(
    new_key: str = typer.Option(
        None,
        "--new-key",
        help="The key to encrypt every blob under: 64 hex characters or a key file "
        "(default: the first key of CAIRN_BLOBS_KEY).",
    ),
) -> None:
    """Re-encrypt every blob under a new key; blobs stored unencrypted are encrypted too.
    CAIRN_BLOBS_KEY must hold the keys the blobs are under now. Interrupted, rerun it: blobs
    already under the new key are skipped and no blob is ever unreadable meanwhile."""
    from cairn.config import find_workspace
    from cairn.errors import InvalidValueError
    from cairn.store.blobs import KEY_VARIABLE, open_raw_blob_store
    from cairn.store.encryption import KeyRing, Rotation, keys_in, rotate

    current = os.environ.get(KEY_VARIABLE, "").strip()
    old = KeyRing.parse(current) if current else None
    if new_key:
        new = keys_in(new_key, "--new-key")[0]
    elif old:
        new = old.newest
    else:
        raise InvalidValueError(
            f"give --new-key (64 hex characters or a key file) or set {KEY_VARIABLE}"
        )
    blobs = open_raw_blob_store(find_workspace().blobs_url)
    done = Counter()
    corrupt = []
    for digest, outcome in rotate(blobs, new, old):
        done[outcome] += 1
        if outcome is Rotation.CORRUPT:
            corrupt.append(digest)
    counts = ", ".join(f"{done[outcome]} {outcome}" for outcome in Rotation)
    console.print(f"blobs under key id {new.id.hex()}: {counts}", highlight=False)
    for digest in corrupt:
        console.print(f"  [red]corrupt, left as it is:[/] {digest}", highlight=False)
    if corrupt:
        raise typer.Exit(1)
    if old is None or old.newest.id != new.id or len(old.keys) > 1:
        console.print(f"now set {KEY_VARIABLE} to the new key alone", highlight=False)


def _plain(info: TokenInfo) -> dict:
    plain = dataclasses.asdict(info)
    for block in plain["blocks"]:
        block["rights"] = [str(r) for r in info.blocks[block["index"]].rights]
    return plain
