"""pandas / polars DataFrames and pyarrow Tables as one compressed Arrow IPC stream.

pandas goes through `pa.Table.from_pandas`, whose schema metadata records the index (named,
MultiIndex, or a RangeIndex kept as metadata only), column names and dtypes, so `to_pandas` rebuilds
the same frame. Categoricals become dictionary arrays and come back as categoricals in all three
libraries. The frame libraries are imported only once a value is known to come from them.

A pandas frame Arrow cannot represent (e.g. an object column mixing ints and strings) is declined
with CodecError so the registry falls back to pickle.
"""

from __future__ import annotations

from typing import Any

from cairn.codecs._base import Encoded
from cairn.errors import CodecError

NAME = "frame.arrow"
COMPRESSION = "lz4"  # lz4 over zstd: frames are reloaded often, and lz4 decompresses ~3x faster


def _kind(value: object) -> str | None:
    module = type(value).__module__.split(".")[0]
    name = type(value).__name__
    if module == "pandas" and name == "DataFrame":
        return "pandas"
    if module == "polars" and name == "DataFrame":
        return "polars"
    if module == "pyarrow" and name == "Table":
        return "arrow"
    return None


class FrameCodec:
    name = NAME

    def handles(self, value: object) -> bool:
        return _kind(value) is not None

    def encode(self, value: object) -> Encoded:
        import pyarrow as pa

        kind = _kind(value)
        obj: Any = value
        try:
            if kind == "pandas":
                _check_pandas_labels(obj)
                table = pa.Table.from_pandas(obj, preserve_index=None)
            elif kind == "polars":
                table = obj.to_arrow()
            else:
                table = obj
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise CodecError(f"cannot convert a {kind} frame to Arrow: {exc}") from exc
        sink = pa.BufferOutputStream()
        options = pa.ipc.IpcWriteOptions(compression=COMPRESSION, use_threads=True)
        with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
            writer.write_table(table)
        # A pyarrow Buffer exports the buffer protocol: no copy into bytes.
        return Encoded(self.name, memoryview(sink.getvalue()), {"kind": kind})

    def decode(self, data: memoryview, meta: dict) -> object:
        import pyarrow as pa

        kind = meta.get("kind")
        try:
            reader = pa.ipc.open_stream(pa.py_buffer(data))
            table = reader.read_all()
        except pa.ArrowException as exc:
            raise CodecError(f"undecodable Arrow IPC stream: {exc}") from exc
        if kind == "arrow":
            # Arrow memory is immutable, so a buffer left uncompressed may keep pointing into
            # `data` (read-only) without letting anyone write to the blob.
            return table
        if kind == "pandas":
            return table.to_pandas()
        if kind == "polars":
            import polars as pl

            return pl.from_arrow(table)
        raise CodecError(f"unknown frame kind {kind!r}")


def _check_pandas_labels(df: Any) -> None:
    # Arrow stores column names as strings: other labels would come back changed, not round-trip.
    cols = df.columns
    if cols.nlevels != 1 or not all(isinstance(c, str) for c in cols):
        raise CodecError("pandas column labels must all be str to round-trip through Arrow")
    if not cols.is_unique:
        raise CodecError("pandas column labels must be unique to round-trip through Arrow")
    if not all(n is None or isinstance(n, str) for n in df.index.names):
        raise CodecError("pandas index names must be str or None to round-trip through Arrow")
    # An empty column carries no dictionary through Arrow: its categories would be lost.
    if len(df) == 0 and any(str(t) == "category" and len(t.categories) for t in df.dtypes):
        raise CodecError("an empty pandas frame's categories do not survive Arrow")
