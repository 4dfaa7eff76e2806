"""Format 1.2 sparse int8 storage: the codec, the reader's checks, the writer's plan, the oracle.

The codec (``gearshift.sparse_codec``) is checked byte for byte against
``gear_bytes.spec_encode``, a literal per-element transcription of FORMAT.md
that shares no code with it; the reader against hand-built files
(``gear_bytes.sparse_model``) and one damaged field at a time; the writer by
writing a pruned graph and comparing every gear's values with the same graph
written with dense storage only.
"""

from __future__ import annotations

import copy
import struct

import numpy as np
import pytest
from gear_bytes import (
    SPARSE_PLAN,
    layout,
    pack,
    sparse_graph,
    sparse_model,
    spec_encode,
    tiny_graph,
)

import gearshift as gs
from gearshift import FormatError, gear_codec, sparse_codec
from gearshift import gear_format as gf
from gearshift.converters import write_gear as wg
from gearshift.converters.calibrate import calibrate
from gearshift.converters.gear_reference import run_gear, run_gear_int8
from gearshift.converters.quant_ref import quantize_weights_q8
from gearshift.converters.quantize import quantize_graph


@pytest.fixture(autouse=True, scope="module")
def _q8r4_for_small_weights():
    """These graphs are tiny: let every weight take the compact q8r4 form."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(wg, "COMPACT_MIN_ELEMENTS", 0)
        yield


RNG = np.random.default_rng(12)


def _random_q(shape: tuple[int, ...], zeros: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q = rng.integers(-127, 128, size=shape).astype(np.int8)
    q[q == 0] = 1
    q[rng.random(shape) < zeros] = 0
    return q


def _two_four_q(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """A 2:4 pattern with groups of 0, 1 and 2 non-zeros at every position pair."""
    rng = np.random.default_rng(seed)
    q = _random_q(shape, 0.0, seed).reshape(-1, 4)
    for g in range(q.shape[0]):
        keep = rng.choice(4, size=rng.integers(0, 3), replace=False)
        q[g, [p for p in range(4) if p not in keep]] = 0
    return q.reshape(shape)


# ---------------------------------------------------------------------------
# codec
# ---------------------------------------------------------------------------
SHAPES = [((4, 3, 3, 8), 0), ((1, 3, 3, 8), 3), ((5, 7), 0), ((3, 1, 1, 5), 0), ((2, 3, 5), 1)]


@pytest.mark.parametrize("encoding", ["bitmap", "csr"])
@pytest.mark.parametrize("zeros", [0.0, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("shape,axis", SHAPES)
def test_round_trip_matches_the_spec_bytes(encoding, zeros, shape, axis):
    q = _random_q(shape, zeros, seed=len(shape))
    e = sparse_codec.encode_sparse(q, axis, encoding)
    payload, nnz, slots = spec_encode(q, axis, encoding)
    assert e.payload.dtype == np.uint8 and e.payload.tobytes() == payload
    assert e.nnz == nnz == np.count_nonzero(q)
    assert e.slots.tolist() == slots
    assert e.payload.size == sparse_codec.sparse_length(encoding, shape, axis, nnz)
    dense, got_slots = sparse_codec.decode_slots(payload, encoding, shape, axis, nnz)
    assert dense.dtype == np.int8
    np.testing.assert_array_equal(dense, q)
    assert got_slots.tolist() == slots
    np.testing.assert_array_equal(
        sparse_codec.decode_sparse(e.payload, encoding, shape, axis, nnz), q
    )


@pytest.mark.parametrize("shape", [(3, 4), (2, 8), (4, 3, 3, 8), (1, 4), (5, 12)])
def test_two_four_round_trip_and_layout(shape):
    q = _two_four_q(shape, seed=shape[0])
    e = sparse_codec.encode_sparse(q, 0, "2:4")
    payload, nnz, slots = spec_encode(q, 0, "2:4")
    assert e.payload.tobytes() == payload and e.nnz == nnz == np.count_nonzero(q)
    assert e.slots.tolist() == slots and len(slots) == q.size // 2
    n = q.size
    assert e.payload.size == n // 2 + (n // 4 + 1) // 2  # n/2 + ceil(n/8)
    np.testing.assert_array_equal(sparse_codec.decode_sparse(payload, "2:4", shape, 0, nnz), q)


def test_two_four_layout_by_hand():
    q = np.array([[0, 5, 0, -3, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]], np.int8)
    e = sparse_codec.encode_sparse(q, 0, "2:4")
    # groups: (1:5, 3:-3), (0:7, 1:0), (0:0, 1:0), (0:0, 3:9)
    assert e.payload[:8].view(np.int8).tolist() == [5, -3, 7, 0, 0, 0, 0, 9]
    nib = [1 | 3 << 2, 0 | 1 << 2, 0 | 1 << 2, 0 | 3 << 2]
    assert e.payload[8:].tolist() == [nib[0] | nib[1] << 4, nib[2] | nib[3] << 4]
    assert e.nnz == 4 and e.slots.tolist() == [1, 3, 4, 5, 8, 9, 12, 15]


def test_bitmap_and_csr_layout_by_hand():
    q = np.array([[0, 3, 0], [-2, 0, 0]], np.int8)
    e = sparse_codec.encode_sparse(q, 0, "bitmap")
    assert e.payload.tolist() == [0b001010, 3, 0xFE]
    e = sparse_codec.encode_sparse(q, 0, "csr")
    assert e.payload.tobytes() == struct.pack("<3I2H2b", 0, 1, 2, 1, 0, 3, -2)
    # along axis 1 the rows are the columns: [0, -2], [3, 0], [0, 0]
    e = sparse_codec.encode_sparse(q, 1, "bitmap")
    assert e.payload.tolist() == [0b000110, 0xFE, 3] and e.slots.tolist() == [3, 1]


def test_csr_u32_indices_beyond_65536():
    k = 70000
    q = np.zeros((2, k), np.int8)
    q[0, [5, 65535, 65536, 69999]] = [1, -2, 3, 4]
    q[1, 3] = 7
    e = sparse_codec.encode_sparse(q, 0, "csr")
    assert e.payload.size == 4 * 3 + 5 * 4 + 5
    assert e.payload.tobytes() == spec_encode(q, 0, "csr")[0]
    np.testing.assert_array_equal(sparse_codec.decode_sparse(e.payload, "csr", q.shape, 0, 5), q)
    q2 = q[:, :65536]
    e2 = sparse_codec.encode_sparse(q2, 0, "csr")
    assert e2.nnz == 3 and e2.payload.size == 4 * 3 + 3 * 2 + 3  # K = 65536: still u16


def test_choose_encoding_is_the_smallest():
    for zeros in (0.0, 0.3, 0.5, 0.8, 0.97, 1.0):
        for shape, axis in SHAPES:
            q = _random_q(shape, zeros, seed=int(zeros * 100))
            sizes = {enc: len(spec_encode(q, axis, enc)[0]) for enc in ("bitmap", "csr")} | {
                "dense": q.size
            }
            got = sparse_codec.choose_encoding(q, axis, "CONV_2D")
            assert sizes[got] == min(sizes.values())
            assert sparse_codec.encoded_sizes(q, axis, "CONV_2D").items() >= sizes.items()
    assert sparse_codec.choose_encoding(np.ones((4, 8), np.int8), 0, "FULLY_CONNECTED") == "dense"
    assert sparse_codec.choose_encoding(np.zeros((4, 8), np.int8), 0) == "bitmap"  # 4 < 20 (csr)
    assert sparse_codec.choose_encoding(np.zeros((1, 80000), np.int8), 0) == "csr"


def test_choose_encoding_two_four_only_where_it_applies():
    q = np.tile(np.array([3, 0, -4, 0], np.int8), (4, 2))  # exactly two per group: a tie
    assert sparse_codec.encoded_size(q, 0, "2:4", "CONV_2D") == sparse_codec.encoded_size(
        q, 0, "bitmap"
    )
    assert sparse_codec.choose_encoding(q, 0, "FULLY_CONNECTED") == "2:4"
    assert sparse_codec.choose_encoding(q, 0, "CONV_2D") == "2:4"
    assert sparse_codec.choose_encoding(q, 0, "DEPTHWISE_CONV_2D") == "bitmap"
    assert sparse_codec.choose_encoding(q, 0, None) == "bitmap"
    assert sparse_codec.encoded_size(q, 1, "2:4", "CONV_2D") is None  # axis must be 0
    assert sparse_codec.encoded_size(q[:, :6], 0, "2:4", "CONV_2D") is None  # 6 % 4
    q3 = q.copy()
    q3[0, 1] = 1  # three non-zeros in a group
    assert sparse_codec.encoded_size(q3, 0, "2:4", "CONV_2D") is None
    q1 = q.copy()
    q1[0, 0] = 0  # one group with a single non-zero: bitmap is a byte smaller
    assert sparse_codec.choose_encoding(q1, 0, "CONV_2D") == "bitmap"
    # with the residual counted: 2:4 stores n/2 slots, bitmap nnz
    sizes = sparse_codec.encoded_sizes(q, 0, "CONV_2D", residual_bits=4)
    assert sizes["2:4"] == q.size // 2 + q.size // 8 + q.size // 4
    assert sizes["dense"] == q.size + q.size // 2


def test_encode_refusals():
    with pytest.raises(ValueError, match="at most two non-zeros"):
        sparse_codec.encode_sparse(np.array([[1, 2, 3, 0]], np.int8), 0, "2:4")
    with pytest.raises(ValueError, match="multiple of 4"):
        sparse_codec.encode_sparse(np.zeros((2, 6), np.int8), 0, "2:4")
    with pytest.raises(ValueError, match="axis 0"):
        sparse_codec.encode_sparse(np.zeros((2, 8), np.int8), 1, "2:4")
    with pytest.raises(ValueError, match="unknown sparse encoding"):
        sparse_codec.encode_sparse(np.zeros((2, 8), np.int8), 0, "coo")
    with pytest.raises(ValueError, match="fit int8"):
        sparse_codec.encode_sparse(np.array([[300]]), 0, "csr")


def _payload(q, axis, enc) -> bytearray:
    return bytearray(spec_encode(q, axis, enc)[0])


Q = np.array([[0, 3, 0, 5], [-2, 0, 0, 0], [0, 0, 0, 0]], np.int8)  # C=3, K=4, nnz=3
CSR_IDX = 16  # the column indices start after 4 * (C + 1) bytes of row offsets


def _damaged(enc: str, at: int, value: int, fmt: str = "<B", q: np.ndarray = Q) -> bytes:
    p = _payload(q, 0, enc)
    struct.pack_into(fmt, p, at, value)
    return bytes(p)


# (payload, encoding, shape, nnz, message)
DECODE_REJECTIONS = [
    (_damaged("bitmap", 0, 0b101011), "bitmap", Q.shape, 3, "4 presence bits set, nnz says 3"),
    (_damaged("bitmap", 2, 0), "bitmap", Q.shape, 3, "a stored value is 0"),
    (_damaged("bitmap", 0, 0x85, q=Q[:1, :3]), "bitmap", (1, 3), 1, "unused high bits"),
    (_damaged("csr", 0, 1, "<I"), "csr", Q.shape, 3, r"ptr\[0\] must be 0"),
    (_damaged("csr", 4, 4, "<I"), "csr", Q.shape, 3, "offsets decrease at row 1: 4 -> 3"),
    (_damaged("csr", 12, 4, "<I"), "csr", Q.shape, 3, r"ptr\[3\] must equal nnz 3, found 4"),
    (_damaged("csr", CSR_IDX + 2, 4, "<H"), "csr", Q.shape, 3, "column index 4 not below K = 4"),
    (_damaged("csr", CSR_IDX + 2, 1, "<H"), "csr", Q.shape, 3, "row 0 are not strictly increasing"),
    (_damaged("csr", CSR_IDX + 6, 0, "<b"), "csr", Q.shape, 3, "a stored value is 0"),
    (bytes(_payload(Q, 0, "csr")[:-1]), "csr", Q.shape, 3, "expected 25 bytes, found 24"),
    (bytes(_payload(Q, 0, "csr")), "csr", Q.shape, 13, "nnz 13 out of range"),
    (bytes(_payload(Q, 0, "csr")), "coo", Q.shape, 3, "unknown sparse encoding"),
]


@pytest.mark.parametrize("payload,enc,shape,nnz,match", DECODE_REJECTIONS)
def test_decode_refusals(payload, enc, shape, nnz, match):
    with pytest.raises(ValueError, match=match):
        sparse_codec.decode_sparse(payload, enc, shape, 0, nnz)


def test_two_four_decode_refusals():
    q = np.array([[0, 5, 0, -3, 7, 0, 0, 0, 0, 0, 1, 0]], np.int8)  # 3 groups: odd
    good = _payload(q, 0, "2:4")
    assert len(good) == 6 + 2
    np.testing.assert_array_equal(sparse_codec.decode_sparse(bytes(good), "2:4", q.shape, 0, 4), q)
    p = bytearray(good)
    p[6] = (p[6] & 0xF0) | (3 | 1 << 2)  # group 0: positions 3, 1
    with pytest.raises(ValueError, match="group 0's positions 3, 1 are not increasing"):
        sparse_codec.decode_sparse(bytes(p), "2:4", q.shape, 0, 4)
    p = bytearray(good)
    p[7] |= 0x50  # the unused nibble after group 2
    with pytest.raises(ValueError, match="unused high nibble"):
        sparse_codec.decode_sparse(bytes(p), "2:4", q.shape, 0, 4)
    with pytest.raises(ValueError, match="4 non-zero stored values, nnz says 3"):
        sparse_codec.decode_sparse(bytes(good), "2:4", q.shape, 0, 3)
    with pytest.raises(ValueError, match="multiple of 4"):
        sparse_codec.decode_sparse(bytes(good), "2:4", (2, 6), 0, 4)
    with pytest.raises(ValueError, match="nnz 7 out of range"):
        sparse_codec.decode_sparse(bytes(good), "2:4", q.shape, 0, 7)


def test_q8r4_over_a_sparse_base():
    w = RNG.normal(size=(6, 3, 3, 4)).astype(np.float32)
    w[RNG.random(w.shape) < 0.7] = 0.0
    q, qp = quantize_weights_q8(w, 0)
    dense_r = gear_codec.q8r4_residual(w, q, qp.scale, 0)
    dense_v = gear_codec.q8r4_values(q, dense_r, qp.scale, 0)
    for enc in ("bitmap", "csr"):
        e = sparse_codec.encode_sparse(q, 0, enc)
        r = sparse_codec.q8r4_sparse_residual(w, q, qp.scale, 0, e.slots)
        assert r.shape == (e.nnz,)
        v = sparse_codec.q8r4_sparse_values(q, r, e.slots, qp.scale, 0)
        assert v.dtype == np.float32
        # pruned weights are exact zeros with a zero residual: same bits as the dense form
        small = (q == 0) & (w != 0)
        assert v[~small].tobytes() == dense_v[~small].tobytes()
        assert np.all(v[q == 0] == 0) and not np.any(np.signbit(v[q == 0]))


# ---------------------------------------------------------------------------
# reader: hand-built 1.2 files
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sparse_file():
    b, x = sparse_model()
    return b, x, b.bytes(minor=2)


def _name_stor(m: dict, tensor: str, gear: str) -> int:
    t = next(i for i, e in enumerate(m["tensors"]) if e["name"] == tensor)
    g = next(g for g in m["gears"] if g["name"] == gear)
    return next(s for tt, s in g["constants"] if tt == t)


def test_sparse_file_reads_like_its_dense_gears(sparse_file):
    _b, _x, data = sparse_file
    f = gf.read_gear(data)
    assert f.version == (1, 2)
    assert gf.VERSION_MINOR >= 2
    m = f.manifest
    for name, enc in SPARSE_PLAN.items():
        k = _name_stor(m, name, "int8-sparse")
        assert m["storage"][k]["encoding"] == enc
        assert f.storage_nnz(k) == np.count_nonzero(f.storage_values(k))
        assert f.storage_nnz(_name_stor(m, name, "int8")) is None
        v = f.storage_values(k)
        assert not v.flags.writeable
    for dense, sparse in (
        ("fp32r", "fp32r-sparse"),
        ("int8", "int8-sparse"),
        ("int4", "int4-sparse"),
    ):
        a, c = f.constants(dense), f.constants(sparse)
        for t in a:
            assert a[t].dtype == c[t].dtype
            assert a[t].tobytes() == c[t].tobytes(), (sparse, t)
        assert f.gear(sparse).get("sparse") is True
    assert f.storage_quant(_name_stor(m, "fc/w", "int8-sparse")).axis == 0


def test_oracle_sparse_gears_equal_dense(sparse_file):
    _b, x, data = sparse_file
    f = gf.read_gear(data)
    for dense, sparse in (("int8", "int8-sparse"), ("int4", "int4-sparse")):
        a, c = run_gear_int8(f, dense, x), run_gear_int8(f, sparse, x)
        for t in a:
            np.testing.assert_array_equal(a[t], c[t])
    a, c = run_gear(f, "fp32r", x), run_gear(f, "fp32r-sparse", x)
    for t in a:
        np.testing.assert_array_equal(a[t], c[t])


def _rebuilt(b, edit, payload_edit=None) -> bytes:
    payloads = dict(b.payloads)
    m0 = copy.deepcopy(b.manifest())  # Builder.manifest() shares its storage list
    if payload_edit:
        payload_edit(m0, payloads)
    m, data = layout(m0, payloads)
    edit(m)
    return pack(m, data, minor=2)


def _e(m, tensor, gear="int8-sparse"):
    return m["storage"][_name_stor(m, tensor, gear)]


def _poke(tensor: str, at: int, value: int, fmt: str = "<B", gear: str = "int8-sparse"):
    def edit(m, payloads):
        k = _name_stor(m, tensor, gear)
        p = bytearray(payloads[k])
        struct.pack_into(fmt, p, at % len(p), value)
        payloads[k] = bytes(p)

    return edit


def _two_four_for_mul_k(m, payloads):
    """A 2:4 i8 entry (axis 0, [8]) plus a q8r4 over it, read by fp32r-sparse for ``mul/k``
    (a MUL operand, not a CONV_2D/FC weight)."""
    k = next(i for i, e in enumerate(m["tensors"]) if e["name"] == "mul/k")
    q = np.array([1, 0, 2, 0, 0, 3, 0, 0], np.int8)
    payload, nnz, _ = spec_encode(q.reshape(8), 0, "2:4")
    quant = {"axis": 0, "scale": [0.125] * 8}
    m["storage"].append(
        {"dtype": "i8", "shape": [8], "encoding": "2:4", "nnz": nnz, "quant": quant}
    )
    payloads[len(m["storage"]) - 1] = payload
    m["storage"].append(
        {"dtype": "f32", "shape": [8], "encoding": "q8r4", "base": len(m["storage"]) - 1}
    )
    payloads[len(m["storage"]) - 1] = bytes(2)
    g = next(g for g in m["gears"] if g["name"] == "fp32r-sparse")
    next(p for p in g["constants"] if p[0] == k)[1] = len(m["storage"]) - 1


READER_REJECTIONS = [
    (lambda m: _e(m, "conv/w").pop("nnz"), None, r'storage\[\d+\]: missing required key "nnz"'),
    (lambda m: _e(m, "conv/w").update(nnz=1.5), None, r"storage\[\d+\]\.nnz: expected int"),
    (lambda m: _e(m, "conv/w").update(nnz=-1), None, r"nnz: expected an integer in \[0, 72\]"),
    (lambda m: _e(m, "fc/w").update(nnz=21), None, r"nnz: expected an integer in \[0, 20\]"),
    (
        lambda m: _e(m, "conv/w").update(nnz=15),
        None,
        r"length: 62 bytes, but csr i8 \[4,3,3,2\] with nnz 15 needs 65",
    ),
    (
        lambda m: _e(m, "dw/w").update(nnz=30),
        None,
        r"length: 38 bytes, but bitmap i8 \[1,3,3,8\] with nnz 30 needs 39",
    ),
    (
        lambda m: _e(m, "conv/w").update(dtype="f32"),
        None,
        'encoding "csr" yields i8 values, but dtype is "f32"',
    ),
    (lambda m: _e(m, "conv/w").pop("quant"), None, r'an i8 entry needs "quant"'),
    (
        lambda m: _e(m, "conv/w")["quant"].update(axis=None, scale=[1.0], zero_point=[0]),
        None,
        r"quant\.axis: a csr entry needs per-channel quant",
    ),
    (lambda m: _e(m, "conv/w").update(base=0), None, "only q8r4, q8r8 and q4m entries have a base"),
    (lambda m: _e(m, "conv/w", "int8").update(nnz=3), None, r"nnz: only bitmap, csr and 2:4"),
    (
        lambda m: _e(m, "fc/w").update(shape=[5, 4, 2]),
        None,
        r"2:4 needs a CONV_2D/FULLY_CONNECTED weight",
    ),
    (
        lambda m: _e(m, "conv/w", "fp32r-sparse").update(length=36),
        None,
        r"length: 36 bytes, but q8r4 f32 \[4,3,3,2\] needs 7 .*\(csr, 14 slots\)",
    ),
    (
        lambda m: _e(m, "fc/w", "fp32r-sparse").update(length=5),
        None,
        r"length: 5 bytes, but q8r4 f32 \[5,8\] needs 10 .*\(2:4, 20 slots\)",
    ),
    (
        lambda m: m["gears"][6].update(sparse="yes"),
        None,
        r"gears\[6\]\.sparse: expected boolean, found string",
    ),
    (
        lambda m: None,
        _poke("dw/w", 0, 0xFF),
        r"storage\[\d+\]: bitmap: \d+ presence bits set, nnz says 29",
    ),
    (lambda m: None, _poke("dw/w", -1, 0), r"storage\[\d+\]: bitmap: a stored value is 0"),
    (lambda m: None, _poke("conv/w", 0, 1, "<I"), r"storage\[\d+\]: csr: ptr\[0\] must be 0"),
    (
        lambda m: None,
        _poke("conv/w", 4, 99, "<I"),
        r"storage\[\d+\]: csr: row offsets decrease at row 1: 99",
    ),
    (
        lambda m: None,
        _poke("conv/w", 20, 18, "<H"),
        r"storage\[\d+\]: csr: column index 18 not below K = 18",
    ),
    (lambda m: None, _poke("fc/w", 20, 0x33), r"storage\[\d+\]: 2:4: group 0's positions 3, 0"),
    (
        lambda m: None,
        _poke("fc/w", 0, 0),
        r"storage\[\d+\]: 2:4: 19 non-zero stored values, nnz says 20",
    ),
    (
        lambda m: None,
        _poke("fc/w", 0, 0x80),
        r"value -128 at element 0; weights .* are symmetric, in \[-127, 127\]",
    ),
    (
        lambda m: None,
        _two_four_for_mul_k,
        r"2:4 applies only to CONV_2D and FULLY_CONNECTED weights.*\(mul/k\).*input 1 of MUL",
    ),
]


@pytest.mark.parametrize("case", range(len(READER_REJECTIONS)))
def test_reader_rejections(sparse_file, case):
    b, _x, _data = sparse_file
    edit, payload_edit, match = READER_REJECTIONS[case]
    with pytest.raises(FormatError, match=match):
        gf.read_gear(_rebuilt(b, edit, payload_edit))


def test_reader_edit_helper_is_sound(sparse_file):
    b, _x, data = sparse_file
    assert _rebuilt(b, lambda m: None) == data


def test_sparse_gear_flag_false_is_accepted(sparse_file):
    b, _x, _data = sparse_file
    gf.read_gear(_rebuilt(b, lambda m: m["gears"][6].update(sparse=False)))


# ---------------------------------------------------------------------------
# writer: a pruned graph, written sparse and dense
# ---------------------------------------------------------------------------
ALL_GEARS = ("fp32", "fp16", "int8", "int4", "int8-sparse", "int4-sparse", "fp16-sparse")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    g = sparse_graph(3)
    x = np.random.default_rng(4).normal(size=(8, 6, 6, 2)).astype(np.float32)
    plan = quantize_graph(g, calibrate(g, [x], progress=False))
    d = tmp_path_factory.mktemp("sparse")
    sparse = wg.write_gear(g, d / "sparse.gear", ALL_GEARS, qplan=plan)
    mp = pytest.MonkeyPatch()
    mp.setattr(wg, "choose_encoding", lambda *a, **k: "dense")
    try:
        dense = wg.write_gear(g, d / "dense.gear", ALL_GEARS, qplan=plan)
    finally:
        mp.undo()
    return g, x, plan, sparse, dense


def test_written_pruned_file_equals_dense_and_is_smaller(written):
    _g, _x, _plan, sparse, dense = written
    fs, fd = gf.read_gear(sparse.path), gf.read_gear(dense.path)
    assert fs.version == (1, 6) and fd.version == (1, 6)  # binary params (format 1.6)
    encs = {e["encoding"] for e in fs.manifest["storage"]}
    assert encs & {"bitmap", "csr", "2:4"}
    assert not {e["encoding"] for e in fd.manifest["storage"]} & {"bitmap", "csr", "2:4"}
    assert fs.gear_names == fd.gear_names == (
        "fp32", "fp16", "fp16-sparse", "int8", "int8-sparse", "int4", "int4-sparse",
    )  # fmt: skip
    for gname in fs.gear_names:
        a, c = fs.constants(gname), fd.constants(gname)
        assert a.keys() == c.keys()
        for t in a:
            assert a[t].dtype == c[t].dtype and a[t].tobytes() == c[t].tobytes(), (gname, t)
        assert fs.gear(gname).get("sparse", False) == gname.endswith("-sparse")
        assert fs.gear(gname)["constants"] == fs.gear(gname.removesuffix("-sparse"))["constants"]
    assert sparse.file_bytes < dense.file_bytes
    assert sparse.gear_bytes["int8-sparse"] < dense.gear_bytes["int8-sparse"]


def test_written_pruned_file_runs_like_dense(written):
    _g, x, _plan, sparse, dense = written
    fs, fd = gf.read_gear(sparse.path), gf.read_gear(dense.path)
    want = run_gear_int8(fd, "int8", x)
    for f, gname in ((fs, "int8"), (fs, "int8-sparse"), (fd, "int8-sparse")):
        got = run_gear_int8(f, gname, x)
        for t in want:
            np.testing.assert_array_equal(got[t], want[t])
    a, c = run_gear(fs, "int4-sparse", x), run_gear(fd, "int4", x)
    for t in a:
        np.testing.assert_array_equal(a[t], c[t])
    a, c = run_gear(fs, "fp16-sparse", x), run_gear(fd, "fp16", x)
    for t in a:
        np.testing.assert_array_equal(a[t], c[t])


def test_written_encodings_are_the_smallest(written):
    _g, _x, plan, sparse, _dense = written
    f = gf.read_gear(sparse.path)
    for name, op in (
        ("conv/w", "CONV_2D"),
        ("dw/w", "DEPTHWISE_CONV_2D"),
        ("fc/w", "FULLY_CONNECTED"),
    ):
        k = _name_stor(f.manifest, name, "int8")
        q, qp = plan.weights[name]
        # the int8 gear's values are the plan's: no midpoint lifting beside an int8 gear
        want = sparse_codec.choose_encoding(q, qp.axis, op, residual_bits=4)
        assert f.manifest["storage"][k]["encoding"] == want
        np.testing.assert_array_equal(f.storage_values(k), q)
        r = _name_stor(f.manifest, name, "fp32")
        assert f.manifest["storage"][r]["base"] == k
    assert f.manifest["storage"][_name_stor(f.manifest, "fc/w", "int8")]["encoding"] == "2:4"


def _x_of(g):
    return np.random.default_rng(0).normal(size=(2, 6, 6, 2)).astype(np.float32)


def test_minor_and_flags(tmp_path, written):
    """The lowest minor that expresses a file, in the JSON form of the parameters
    (``binary=False``; the binary form, the default, is 1.6 wherever there are any)."""
    g, _x, plan, _s, _d = written
    # int8 only: 1.2 because the bases are sparse; fp32 only: exact f32, 1.0
    f = gf.read_gear(wg.write_gear(g, tmp_path / "i8.gear", ("int8",), qplan=plan).path)
    assert f.version == (1, 6)
    r = wg.write_gear(g, tmp_path / "i8.gear", ("int8",), qplan=plan, binary=False)
    f = gf.read_gear(r.path)
    assert f.version == (1, 2) and "sparse" not in f.gear("int8")
    assert gf.read_gear(wg.write_gear(g, tmp_path / "f.gear", ("fp32",)).path).version == (1, 0)
    # an unpruned graph: dense storage, 1.1; a sparse gear alone still makes it 1.2
    dense_g = tiny_graph(3)
    dplan = quantize_graph(dense_g, calibrate(dense_g, [_x_of(dense_g)], progress=False))
    r = wg.write_gear(dense_g, tmp_path / "d.gear", ("fp32", "int8"), qplan=dplan, binary=False)
    f = gf.read_gear(r.path)
    assert f.version == (1, 1)
    assert not {e["encoding"] for e in f.manifest["storage"]} & {"bitmap", "csr", "2:4"}
    r = wg.write_gear(dense_g, tmp_path / "s.gear", ("fp32-sparse",), storage="exact")
    f = gf.read_gear(r.path)
    assert f.version == (1, 2) and f.gear()["sparse"] is True
    assert {e["encoding"] for e in f.manifest["storage"]} == {"dense"}


def test_small_unpruned_weights_keep_the_float_gears_exact(tmp_path):
    """A weight that rounds to int8 0 without being 0 keeps its residual: the base stays
    dense when float gears read a q8r4 over it, and goes sparse when none does."""
    g = sparse_graph(5)
    w = g.tensors["conv/w"].data
    step = np.abs(w).reshape(4, -1).max(axis=1) / 127
    # unpruned, but 0.3 of a step: int8 0, residual round(0.3 * 16) = 5
    w[:] = np.where(w == 0, 0.3 * step[:, None, None, None], w)
    x = _x_of(g)
    plan = quantize_graph(g, calibrate(g, [x], progress=False))
    q = plan.weights["conv/w"][0]
    assert np.count_nonzero(q == 0) > q.size // 2
    f = gf.read_gear(wg.write_gear(g, tmp_path / "a.gear", ("fp32", "int8"), qplan=plan).path)
    k = _name_stor(f.manifest, "conv/w", "int8")
    assert f.manifest["storage"][k]["encoding"] == "dense"
    fv = f.constants("fp32")["conv/w"]
    assert np.all(fv[q == 0] != 0)  # the residual survived
    f = gf.read_gear(wg.write_gear(g, tmp_path / "b.gear", ("int8",), qplan=plan).path)
    k = _name_stor(f.manifest, "conv/w", "int8")
    assert f.manifest["storage"][k]["encoding"] in ("bitmap", "csr")
    f = gf.read_gear(
        wg.write_gear(g, tmp_path / "c.gear", ("fp32", "int8"), storage="exact", qplan=plan).path
    )
    k = _name_stor(f.manifest, "conv/w", "int8")
    assert f.manifest["storage"][k]["encoding"] in ("bitmap", "csr")  # no residual in exact mode


def test_describe_sparse(written):
    from gearshift.describe import describe, format_description

    _g, _x, _plan, sparse, _dense = written
    d = describe(sparse.path)
    f = gf.read_gear(sparse.path)
    for e in d["storage"]:
        v = f.storage_values(e["index"])
        assert e["sparsity"] == pytest.approx(np.count_nonzero(v == 0) / v.size)
        if e["encoding"] in ("bitmap", "csr", "2:4"):
            assert e["nnz"] == np.count_nonzero(v)
        else:
            assert e["nnz"] is None
    fc = next(c for c in d["constants"] if c["name"] == "fc/w")
    assert fc["gears"]["int8-sparse"]["encoding"] == "2:4"
    assert fc["gears"]["fp32"]["encoding"] == "q8r4/2:4"
    assert fc["gears"]["fp32"]["nnz"] == fc["gears"]["int8"]["nnz"] > 0
    assert fc["gears"]["int4"]["encoding"] == "q4m/2:4"
    assert next(g for g in d["gears"] if g["name"] == "int8-sparse")["sparse"] is True
    text = format_description(d)
    assert "q8r4/2:4" in text and "nnz" in text and "q8 sparse" in text


def test_a_tiny_csr_entry_cannot_describe_a_huge_tensor(sparse_file, tmp_path):
    """20 bytes of csr (4 empty rows) claiming 75 M values: both readers refuse it before
    anything is allocated (FORMAT.md: at most 1024 values per payload byte)."""
    b, _x, _data = sparse_file
    huge = [4, 3, 3, 2**21]

    def payload_edit(m, payloads):
        k = _name_stor(m, "conv/w", "int8-sparse")
        m["storage"][k].update(shape=huge, nnz=0)
        payloads[k] = bytes(4 * 5)  # ptr[0..4] = 0: no stored values

    data = _rebuilt(b, lambda m: None, payload_edit)
    with pytest.raises(FormatError, match=r"describes 75497472 values; at most 65536"):
        gf.read_gear(data)
    path = tmp_path / "huge.gear"
    path.write_bytes(data)
    with pytest.raises(FormatError, match=r"describes 75497472 values; at most 65536"):
        gs.Runtime(path)
