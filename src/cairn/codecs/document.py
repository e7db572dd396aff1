"""JSON documents (a run's code and environment records, a file set's manifest) as canonical JSON.

Canonical means one text per document: keys sorted, `json.dumps`'s default separators and ASCII
escapes, the form these records have been stored in from the start, so a document stored before
and after this codec existed has one digest. Only documents that come back equal are taken:
tuples (which come back as lists), non-str keys (which come back as str) and NaN or infinities
(not JSON) are refused rather than changed.

It is chosen by name (`encode(value, codec="json")`), never automatically: a dict saved as an
artifact keeps going through pickle, so its tuples and int keys survive.
"""

from __future__ import annotations

import json

from cairn.codecs._base import Encoded
from cairn.errors import CodecError

NAME = "json"


class JsonCodec:
    name = NAME

    def handles(self, value: object) -> bool:
        return value is None or isinstance(value, dict | list | str | int | float)

    def encode(self, value: object) -> Encoded:
        try:
            text = json.dumps(value, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise CodecError(f"not a JSON document: {exc}") from exc
        if json.loads(text) != value:
            raise CodecError(
                "this value would not come back equal from JSON (tuples become lists, "
                "non-str keys become str)"
            )
        return Encoded(self.name, text.encode(), {})

    def decode(self, data: memoryview, meta: dict) -> object:
        return json.loads(bytes(data))
