"""`cairn artifacts get`."""

from __future__ import annotations

import pickle
from pathlib import Path

import typer

from cairn.atomic import write_atomically
from cairn.cli.output import console, size
from cairn.store import get_store
from cairn.tracking.artifacts import resolve

app = typer.Typer(help="Fetch stored artifacts.", no_args_is_help=True)


@app.command("get")
def get(
    ref: str = typer.Argument(..., help="NAME, NAME:VERSION, RUN_ID/NAME or a digest."),
    output: Path = typer.Option(..., "--output", "-o", help="File to write."),
    raw: bool = typer.Option(False, "--raw", help="Write the stored (encoded) bytes as they are."),
) -> None:
    """Write an artifact to a file: .npy for arrays, .parquet/.arrow for frames, raw bytes for
    text and bytes, a pickle otherwise (or the stored encoding with --raw)."""
    store = get_store(create=False)
    artifact = resolve(store, ref)
    if raw:
        data = bytes(store.blobs.get(artifact.digest))
    else:
        data = _export(store.get_value(artifact.digest), output)
    write_atomically(output, data)
    console.print(f"wrote {artifact} ({size(len(data))}) to {output}")


def _export(value: object, output: Path) -> bytes:
    import io

    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    kind = type(value).__module__.split(".")[0]
    buffer = io.BytesIO()
    if kind == "numpy":
        import numpy as np

        np.save(buffer, value, allow_pickle=False)
        return buffer.getvalue()
    if kind == "pandas" and output.suffix == ".parquet":
        value.to_parquet(buffer)
        return buffer.getvalue()
    if kind == "pandas" and output.suffix == ".csv":
        return value.to_csv().encode()
    return pickle.dumps(value, protocol=5)
