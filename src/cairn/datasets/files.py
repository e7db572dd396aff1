"""Files and folders as dataset versions: every file stored by content, DVC-style.

A file set is a manifest, relative path -> (digest, size), stored as one blob that links
to the blobs of its files. A folder whose files did not change makes the same manifest, so
registering it again adds no version; changing one file stores only that file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cairn.atomic import write_atomically
from cairn.errors import CairnError, NotFoundError
from cairn.store import Store

KIND = "fileset"


@dataclass(frozen=True)
class FileSet:
    """A stored snapshot of files. `checkout(dest)` writes them out again."""

    files: dict[str, tuple[str, int]]  # relative path -> (digest, size)
    store: Store | None = field(default=None, repr=False, compare=False)

    @property
    def total_size(self) -> int:
        return sum(size for _, size in self.files.values())

    def read(self, relative_path: str) -> bytes:
        if relative_path not in self.files:
            raise NotFoundError(f"{relative_path!r} is not in this file set")
        return bytes(self._store().blobs.get(self.files[relative_path][0]))

    def checkout(self, dest: str | Path) -> Path:
        """Write every file under `dest` (each one atomically); returns `dest`."""
        dest = Path(dest)
        for relative_path in sorted(self.files):
            target = dest / relative_path
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(target, self.read(relative_path))
        return dest

    def _store(self) -> Store:
        if self.store is None:
            raise CairnError("this file set is not bound to a store; load it with cairn.datasets")
        return self.store


def snapshot(store: Store, path: Path) -> dict:
    """Store every file under `path`; returns the manifest (plain data, stored by the caller)."""
    if not path.exists():
        raise NotFoundError(f"{path} does not exist")
    paths = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    if not paths:
        raise CairnError(f"{path} holds no files to register")
    sizes: list[int] = []

    def contents() -> Iterator[bytes]:
        for file in paths:
            data = file.read_bytes()
            sizes.append(len(data))
            yield data

    digests = store.put_values(contents(), codec="bytes")
    files = {
        (file.name if file == path else file.relative_to(path).as_posix()): [digest, size]
        for file, digest, size in zip(paths, digests, sizes, strict=True)
    }
    return {"kind": KIND, "files": files}


def link_files(store: Store, manifest_digest: str, manifest: dict) -> None:
    """Record that the manifest blob names its files, so gc keeps them with it."""
    store.record_blobs([], links=[(manifest_digest, d) for d, _ in manifest["files"].values()])


def from_manifest(store: Store, manifest: dict) -> FileSet:
    return FileSet({p: (d, s) for p, (d, s) in manifest["files"].items()}, store)
