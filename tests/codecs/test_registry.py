import re
from dataclasses import dataclass

import numpy as np
import pytest

from cairn.codecs import Codec, Encoded, codecs, decode, encode, register
from cairn.errors import CodecError


def test_unknown_codec_names_are_rejected_clearly():
    with pytest.raises(CodecError, match=re.escape("unknown codec 'nope' (known: ")):
        decode("nope", b"", {})


@pytest.mark.parametrize(
    ("codec", "meta"),
    [
        ("pickle.zstd", {"size": 10}),
        ("ndarray.blosc2", {"dtype": "<f8", "shape": [100], "layout": "blosc2", "chunk": 800}),
        ("ndarray.blosc2", {"dtype": "<f8", "shape": [100], "layout": "raw"}),
        ("frame.arrow", {"kind": "pandas"}),
        (
            "sparse.scipy",
            {
                "class": "csr_matrix",
                "format": "csr",
                "shape": [2, 2],
                "names": ["data"],
                "parts": [],
            },
        ),  # fmt: skip
    ],
)
@pytest.mark.parametrize("garbage", [b"", b"\x00" * 7, b"not a blob at all" * 5])
def test_garbage_bytes_raise_codec_error(codec, meta, garbage):
    with pytest.raises(CodecError, match=f"cannot decode {len(garbage)} B with codec '{codec}'"):
        decode(codec, garbage, meta)


def test_truncated_payload_raises_codec_error():
    enc = encode(np.arange(1_000_000))
    with pytest.raises(CodecError):
        decode(enc.codec, bytes(enc.data)[:-10], enc.meta)


def test_pickle_is_the_last_resort():
    assert codecs()[-1].name == "pickle.zstd"
    enc = encode({"a": [1, 2, 3]})
    assert enc.codec == "pickle.zstd"
    assert decode(enc.codec, enc.data, enc.meta) == {"a": [1, 2, 3]}


def test_unpicklable_raises_codec_error():
    import threading

    with pytest.raises(CodecError, match="no codec can encode"):
        encode(threading.Lock())


@dataclass
class Celsius:
    value: float


class CelsiusCodec:
    name = "test.celsius"

    def handles(self, value: object) -> bool:
        return isinstance(value, Celsius)

    def encode(self, value: object) -> Encoded:
        return Encoded(self.name, str(value.value).encode(), {})

    def decode(self, data: memoryview, meta: dict) -> object:
        return Celsius(float(bytes(data)))


def test_third_party_codec():
    codec = CelsiusCodec()
    assert isinstance(codec, Codec)
    register(codec)
    assert codecs()[0] is codec
    enc = encode(Celsius(21.5))
    assert enc.codec == "test.celsius"
    assert decode(enc.codec, memoryview(enc.data), enc.meta) == Celsius(21.5)
    register(codec, first=False)  # re-registering moves it, does not duplicate it
    names = [c.name for c in codecs()]
    assert names.count("test.celsius") == 1
    assert names[-2:] == ["test.celsius", "pickle.zstd"]


def test_lambda_via_cloudpickle():
    enc = encode(lambda x: x * 3)
    assert decode(enc.codec, enc.data, enc.meta)(2) == 6


def test_json_documents_are_canonical_and_come_back_equal():
    document = {"b": [1, 2.5, None, "x"], "a": {"nested": True}}
    enc = encode(document, codec="json")
    assert enc.codec == "json" and enc.meta == {}
    # Keys sorted, the form code and environment records have always been stored in.
    assert bytes(enc.data) == b'{"a": {"nested": true}, "b": [1, 2.5, null, "x"]}'
    assert encode({"a": {"nested": True}, "b": [1, 2.5, None, "x"]}, codec="json") == enc
    assert decode("json", memoryview(bytes(enc.data)).toreadonly(), {}) == document


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({"pair": (1, 2)}, "would not come back equal"),
        ({1: "one"}, "would not come back equal"),
        ({"x": float("nan")}, "not a JSON document"),
        ({"x": object()}, "not a JSON document"),
        ((1, 2), "does not encode a tuple"),
    ],
)
def test_json_refuses_what_it_would_change(value, why):
    with pytest.raises(CodecError, match=why):
        encode(value, codec="json")


def test_bytes_are_kept_as_they_are():
    data = bytes(range(256)) * 3
    for value in (data, bytearray(data), memoryview(data)):
        enc = encode(value, codec="bytes")
        assert enc.codec == "bytes" and bytes(enc.data) == data
        back = decode("bytes", memoryview(data).toreadonly(), enc.meta)
        assert type(back) is bytes and back == data
    strided = memoryview(data)[::2]
    assert bytes(encode(strided, codec="bytes").data) == data[::2]
    with pytest.raises(CodecError, match="does not encode a str"):
        encode("text", codec="bytes")


def test_named_codecs_are_not_chosen_automatically():
    # A dict or bytes saved as an artifact keeps the encoding (and digest) it always had.
    assert encode({"a": 1}).codec == "pickle.zstd"
    assert encode(b"raw").codec == "pickle.zstd"
    assert "json" not in [c.name for c in codecs()]


def test_encoding_with_an_unknown_codec_name_is_refused():
    with pytest.raises(CodecError, match=re.escape("unknown codec 'yaml' (known: ")):
        encode({"a": 1}, codec="yaml")
