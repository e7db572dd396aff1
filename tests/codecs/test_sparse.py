import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import roundtrip_via_bytes

FORMATS = ["csr", "csc", "coo", "bsr", "dia", "lil", "dok"]


def _same(a, b):
    assert type(b) is type(a)
    assert b.shape == a.shape and b.dtype == a.dtype
    assert np.array_equal(a.toarray(), b.toarray(), equal_nan=True)
    for attr in ("indices", "indptr", "offsets"):
        if hasattr(a, attr):
            assert getattr(b, attr).dtype == getattr(a, attr).dtype
            np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(FORMATS),
    st.sampled_from(["matrix", "array"]),
    st.integers(0, 12),
    st.integers(0, 12),
    st.floats(0, 1),
    st.sampled_from([np.float64, np.float32, np.int32, np.complex128, np.bool_]),
    st.integers(0, 2**32 - 1),
)
def test_every_format_roundtrips(fmt, kind, rows, cols, density, dtype, seed):
    base = sp.random(rows, cols, density=density, format="csr", random_state=seed).astype(dtype)
    m = getattr(sp, f"{fmt}_{kind}")(base)
    codec, out = roundtrip_via_bytes(m)
    assert codec == "sparse.scipy"
    _same(m, out)


def test_int64_indices_survive():
    m = sp.csr_array(sp.random(50, 50, density=0.1, format="csr", random_state=0))
    m.indices = m.indices.astype(np.int64)
    m.indptr = m.indptr.astype(np.int64)
    _, out = roundtrip_via_bytes(m)
    assert out.indices.dtype == np.int64 and out.indptr.dtype == np.int64
    _same(m, out)


@pytest.mark.parametrize("fmt", ["csr", "bsr"])
def test_bsr_blocks_and_nan(fmt):
    dense = np.zeros((6, 6))
    dense[0:2, 2:4] = [[1, np.nan], [3, 4]]
    m = (
        getattr(sp, f"{fmt}_matrix")(dense)
        if fmt == "csr"
        else sp.bsr_matrix(dense, blocksize=(2, 2))
    )
    _, out = roundtrip_via_bytes(m)
    _same(m, out)
    if fmt == "bsr":
        assert out.blocksize == (2, 2)
