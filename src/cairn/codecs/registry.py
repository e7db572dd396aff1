"""Which codec encodes a value (first that handles it, or the one named) and which decodes a
blob (by its name).

Some codecs are only ever named (`json`, `bytes`): callers that store a document or a file's
content say so, and every blob's codec name is one `decode` knows.
"""

from __future__ import annotations

import threading

from cairn.codecs._base import Codec, Encoded
from cairn.errors import CodecError

_lock = threading.Lock()
_codecs: list[Codec] = []  # in priority order, without the fallback
_fallback: Codec | None = None
_by_name: dict[str, Codec] = {}
_builtins_loaded = False


def _load_builtins() -> None:
    # Deferred to first use so `import cairn` does not pay for building the codec table.
    global _builtins_loaded, _fallback
    if _builtins_loaded:
        return
    with _lock:
        if _builtins_loaded:
            return
        from cairn.codecs.document import JsonCodec
        from cairn.codecs.frame import FrameCodec
        from cairn.codecs.ndarray import NdarrayCodec
        from cairn.codecs.pickled import PickleCodec
        from cairn.codecs.raw import BytesCodec
        from cairn.codecs.sparse import SparseCodec
        from cairn.codecs.tensor import TorchCodec

        for codec in (NdarrayCodec(), FrameCodec(), SparseCodec(), TorchCodec()):
            _codecs.append(codec)
            _by_name.setdefault(codec.name, codec)
        for codec in (JsonCodec(), BytesCodec()):  # by name only
            _by_name.setdefault(codec.name, codec)
        _fallback = PickleCodec()
        _by_name.setdefault(_fallback.name, _fallback)
        _builtins_loaded = True


def register(codec: Codec, *, first: bool = True) -> None:
    """Add a codec. `first=True` puts it before every other (including the built-in ones);
    otherwise it goes last, still before the pickle fallback. A codec with an existing name
    replaces it for decoding and in the encode order."""
    if not isinstance(getattr(codec, "name", None), str) or not codec.name:
        raise CodecError("a codec needs a non-empty str `name`")
    _load_builtins()
    with _lock:
        _codecs[:] = [c for c in _codecs if c.name != codec.name]
        if first:
            _codecs.insert(0, codec)
        else:
            _codecs.append(codec)
        _by_name[codec.name] = codec


def codecs() -> list[Codec]:
    """The codecs in the order `encode` tries them, the fallback last."""
    _load_builtins()
    return [*_codecs, _fallback]  # type: ignore[list-item]


def encode(value: object, codec: str | None = None) -> Encoded:
    """Encode with codec `codec`, or else the first codec that handles `value` (pickle if
    none does).

    A codec may decline a value it claimed by raising CodecError from `encode`; the next one is
    tried, so e.g. a DataFrame Arrow cannot represent still gets stored, through pickle. A
    codec asked for by name is the only one tried.
    """
    if codec is not None:
        impl = codec_named(codec)
        what = type(value).__qualname__
        if not impl.handles(value):
            raise CodecError(f"codec {codec!r} does not encode a {what}")
        try:
            return _checked(impl, impl.encode(value))
        except CodecError as exc:
            raise CodecError(f"codec {codec!r} cannot encode this {what}: {exc}") from exc
    errors: list[str] = []
    for impl in codecs():
        if not impl.handles(value):
            continue
        try:
            enc = impl.encode(value)
        except CodecError as exc:
            errors.append(f"{impl.name}: {exc}")
            continue
        return _checked(impl, enc)
    raise CodecError(f"no codec can encode a {type(value).__qualname__}: " + "; ".join(errors))


def _checked(impl: Codec, enc: Encoded) -> Encoded:
    if enc.codec != impl.name:
        raise CodecError(f"codec {impl.name!r} returned an encoding named {enc.codec!r}")
    return enc


def codec_named(codec: str) -> Codec:
    """The codec registered as `codec`, or a CodecError listing the known names."""
    _load_builtins()
    impl = _by_name.get(codec)
    if impl is None:
        known = ", ".join(sorted(_by_name))
        raise CodecError(f"unknown codec {codec!r} (known: {known})")
    return impl


def decode(codec: str, data: bytes | memoryview | bytearray, meta: dict) -> object:
    """Decode a payload written by codec `codec`. Any failure is a CodecError naming the codec."""
    impl = codec_named(codec)
    view = memoryview(data)
    if view.ndim != 1 or view.format not in ("B", "b", "c"):
        view = view.cast("B")
    try:
        return impl.decode(view, meta)
    except CodecError as exc:
        raise CodecError(f"cannot decode {view.nbytes} B with codec {codec!r}: {exc}") from exc
    except Exception as exc:
        raise CodecError(
            f"cannot decode {view.nbytes} B with codec {codec!r}: {type(exc).__name__}: {exc}"
        ) from exc
