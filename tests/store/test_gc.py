"""`cairn gc`: unreferenced blobs go, referenced ones stay loadable."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import cairn
from cairn.store.gc import collect


def test_gc_removes_only_unreferenced_blobs(workspace: Path) -> None:
    store = cairn.get_store()
    with cairn.start_run("keep") as run:
        kept = run.save("kept", np.arange(1000))
    loose = store.put_value(np.ones(5000))  # recorded, but no artifact uses it
    orphan = store.blobs.put(b"a file whose row was never written")
    old = 1_000_000.0
    os.utime(store.blobs.path(orphan), (old, old))
    fresh_orphan = store.blobs.put(b"a write in flight right now")

    report = collect(store, dry_run=True)
    assert [d for d, _ in report.unreferenced] == [loose]
    assert report.orphans == [orphan]
    assert store.blobs.exists(loose)  # a dry run changes nothing

    collect(store)
    assert not store.blobs.exists(loose) and not store.blobs.exists(orphan)
    assert store.blobs.exists(fresh_orphan)
    np.testing.assert_array_equal(cairn.load(kept), np.arange(1000))
    env_ref = cairn.get_run(run.id).env_ref
    assert store.blobs.exists(env_ref)
    assert collect(store, dry_run=True).unreferenced == []
