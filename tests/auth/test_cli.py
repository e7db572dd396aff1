"""`cairn auth` end to end, in child processes: init, grant, attenuate, inspect, revoke."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def cairn(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "cairn", "auth", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_round_trip(workspace: Path) -> None:
    cairn("init")
    assert cairn("init", check=False).returncode == 1
    public = cairn("public-key").stdout.strip()
    assert len(public) == 64
    token = cairn(
        "grant",
        "alice",
        "--allow",
        "predict:model/digits",
        "--allow",
        "read:experiment/*",
        "--ttl",
        "30d",
        "--delegate-depth",
        "2",
    ).stdout.strip()
    narrowed = cairn(
        "attenuate",
        token,
        "--allow",
        "read:experiment/ex-*",
        "--ttl",
        "1h",
        "--subject",
        "device-7",
        "--public-key",
        public,
    ).stdout.strip()
    wider = cairn("attenuate", narrowed, "--allow", "read:model/*", check=False)
    assert wider.returncode == 1 and "does not grant" in wider.stderr
    info = json.loads(cairn("inspect", narrowed, "--json").stdout)
    assert info["subjects"] == ["alice", "device-7"]
    assert [b["rights"] for b in info["blocks"]] == [
        ["predict:model/digits", "read:experiment/*"],
        ["read:experiment/ex-*"],
    ]
    assert info["trusted"] and not info["revoked"] and info["remaining_depth"] == 1
    text = cairn("inspect", narrowed).stdout
    assert "alice -> device-7" in text and "read:experiment/ex-*" in text
    cairn("revoke", narrowed, "--reason", "lost")
    assert json.loads(cairn("inspect", narrowed, "--json").stdout)["revoked"]
    assert not json.loads(cairn("inspect", token, "--json").stdout)["revoked"]
    cairn("revoke", info["revocation_ids"][0])
    assert json.loads(cairn("inspect", token, "--json").stdout)["revoked"]
    rotated = cairn("init", "--rotate", "--grace", "7d").stdout
    assert public not in rotated
    bad = cairn("grant", "bob", "--allow", "fly:model/x", "--ttl", "1h", check=False)
    assert bad.returncode == 1 and "unknown operation" in bad.stderr
