"""scipy.sparse matrices and arrays, stored as their component arrays through the ndarray codec.

Index arrays keep their dtype (int32 or int64) and lengths are plain Python ints in the meta, so
nothing here caps a matrix at 2**31 nonzeros; the ndarray format chunks each component.
"""

from __future__ import annotations

import sys
from typing import Any

from cairn.codecs._base import Encoded
from cairn.codecs._parts import pack_arrays, unpack_arrays
from cairn.errors import CodecError

NAME = "sparse.scipy"

# Components per storage format; lil and dok have no flat arrays of their own and travel as csr.
_COMPONENTS = {
    "csr": ("data", "indices", "indptr"),
    "csc": ("data", "indices", "indptr"),
    "bsr": ("data", "indices", "indptr"),
    "coo": ("data", "coords"),
    "dia": ("data", "offsets"),
}


class SparseCodec:
    name = NAME

    def handles(self, value: object) -> bool:
        sp = sys.modules.get("scipy.sparse")
        if sp is None:
            return False
        return sp.issparse(value) and not getattr(value, "dtype", None).hasobject

    def encode(self, value: object) -> Encoded:
        import scipy.sparse as sp

        m: Any = value
        fmt = m.format
        cls = type(m)
        if cls.__module__.split(".")[0] != "scipy" or not hasattr(sp, cls.__name__):
            raise CodecError(f"unsupported sparse type {cls.__qualname__}")
        store_fmt = fmt if fmt in _COMPONENTS else "csr"
        src = m if store_fmt == fmt else m.tocsr()
        arrays: list[Any] = []
        names: list[str] = []
        for comp in _COMPONENTS[store_fmt]:
            if comp == "coords":
                coords = src.coords if hasattr(src, "coords") else (src.row, src.col)
                arrays.extend(coords)
                names.extend(f"coords{i}" for i in range(len(coords)))
            else:
                arrays.append(getattr(src, comp))
                names.append(comp)
        data, parts = pack_arrays(arrays)
        meta = {
            "class": cls.__name__,
            "format": store_fmt,
            "shape": [int(s) for s in m.shape],
            "names": names,
            "parts": parts,
        }
        if store_fmt in ("csr", "csc", "coo"):
            meta["canonical"] = bool(getattr(src, "has_canonical_format", False))
        return Encoded(self.name, data, meta)

    def decode(self, data: memoryview, meta: dict) -> object:
        import scipy.sparse as sp

        cls = getattr(sp, meta["class"], None)
        if cls is None or not isinstance(cls, type):
            raise CodecError(f"unknown scipy.sparse class {meta['class']!r}")
        comps = dict(zip(meta["names"], unpack_arrays(data, meta["parts"]), strict=True))
        fmt, shape = meta["format"], tuple(meta["shape"])
        is_array = meta["class"].endswith("_array")
        build = getattr(sp, f"{fmt}_array" if is_array else f"{fmt}_matrix")
        if fmt in ("csr", "csc", "bsr"):
            m = build((comps["data"], comps["indices"], comps["indptr"]), shape=shape, copy=False)
            # The constructor may downcast indices to int32; keep what was saved.
            m.indices, m.indptr = comps["indices"], comps["indptr"]
        elif fmt == "coo":
            coords = tuple(comps[n] for n in meta["names"] if n.startswith("coords"))
            m = build((comps["data"], coords), shape=shape, copy=False)
            if hasattr(m, "coords"):
                m.coords = coords
            else:
                m.row, m.col = coords
        elif fmt == "dia":
            m = build((comps["data"], comps["offsets"]), shape=shape, copy=False)
            m.offsets = comps["offsets"]
        else:
            raise CodecError(f"unknown sparse storage format {fmt!r}")
        if meta.get("canonical"):
            m.has_canonical_format = True
        if type(m) is not cls:
            m = getattr(m, f"to{_format_of(cls)}")()
            if type(m) is not cls:
                m = cls(m)
        return m


def _format_of(cls: type) -> str:
    return cls.__name__.split("_")[0]
