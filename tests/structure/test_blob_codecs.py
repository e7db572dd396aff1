"""Every blob a store holds names a codec the registry knows, so `get_value` decodes any blob."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

import cairn
from cairn import codecs
from cairn.errors import CodecError
from cairn.store import get_store, schema
from tests.conftest import git_repo


def test_every_stored_codec_name_decodes(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = git_repo(tmp_path / "project", {"train.py": "print('hi')\n"})
    (repo / "data").mkdir()
    (repo / "data" / "labels.csv").write_text("id,label\n1,cat\n")
    (repo / "data" / "weights.bin").write_bytes(bytes(range(256)) * 10)
    monkeypatch.chdir(repo)  # the run captures this checkout's code
    with cairn.start_run("train") as run:
        fileset = cairn.datasets.add("raw", repo / "data")
        run.save("model", {"w": [1.0, 2.0]})
    store = get_store()
    with store.reader() as conn:
        rows = conn.execute(sa.select(schema.blobs)).all()
    decoded = {
        r.digest: codecs.decode(r.codec, store.blobs.get(r.digest), json.loads(r.meta))
        for r in rows
    }
    record = cairn.get_run(run.id)
    assert {r.codec for r in rows} == {"json", "bytes", "pickle.zstd"}
    assert decoded[record.code_ref]["commit"] == record.code()["commit"] is not None
    assert decoded[record.env_ref] == record.environment()
    manifest = decoded[fileset.digest]
    assert sorted(manifest["files"]) == ["labels.csv", "weights.bin"]
    digest, size = manifest["files"]["weights.bin"]
    assert decoded[digest] == bytes(range(256)) * 10 and size == 2560
    assert store.get_value(digest) == bytes(range(256)) * 10


def test_json_documents_go_through_put_value(backend: str) -> None:
    store = get_store()
    document = {"python": "3.11", "packages": {"numpy": "2.0"}}
    digest = store.put_value(document, codec="json")
    assert store.get_value(digest) == document
    assert bytes(store.blobs.get(digest)) == json.dumps(document, sort_keys=True).encode()
    with store.reader() as conn:
        row = conn.execute(sa.select(schema.blobs).where(schema.blobs.c.digest == digest)).one()
    assert (row.codec, row.size, json.loads(row.meta)) == (
        "json",
        len(bytes(store.blobs.get(digest))),
        {},
    )


def test_a_blob_cannot_be_recorded_under_an_unknown_codec(backend: str) -> None:
    store = get_store()
    digest = store.blobs.put(b"some bytes")
    with pytest.raises(CodecError, match="unknown codec 'yaml'"):
        store.record_blob(digest, 10, "yaml", {})
    with store.reader() as conn:
        assert (
            conn.execute(sa.select(schema.blobs).where(schema.blobs.c.digest == digest)).first()
            is None
        )
