import json

import pytest

from cairn.codecs import decode, encode


def roundtrip_via_bytes(value: object) -> tuple[str, object]:
    """Encode, push the payload through bytes and the meta through JSON, decode from a read-only
    memoryview: what the blob store and the metadata DB will do."""
    enc = encode(value)
    meta = json.loads(json.dumps(enc.meta))
    view = memoryview(bytes(enc.data)).toreadonly()
    return enc.codec, decode(enc.codec, view, meta)


@pytest.fixture
def roundtrip():
    return roundtrip_via_bytes
