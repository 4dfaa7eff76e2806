"""The sparse int8 storage encodings of ``.gear`` 1.2 (``bitmap``, ``csr``, ``2:4``), in numpy.

docs/FORMAT.md "Storage" defines them; this module is the one Python
implementation, shared by the writer (encode, choose by size), the Python
reader (decode, once the C++ reader has validated the payload) and the tests;
``decode_sparse`` keeps every check the spec implies, so a damaged payload
given to it directly is refused instead of densified into garbage. Like
:mod:`gearshift.gear_codec` it imports numpy only, so it runs on a board.

Conventions used by every function:

- ``q`` is an int8 array, ``axis`` its channel axis (``quant.axis``); the
  tensor is seen as ``C`` rows of ``K`` values (:func:`gear_codec.channel_rows`).
- ``bitmap`` and ``csr`` store the non-zeros in row-major ``[C, K]`` order.
  ``2:4`` stores two slots per group of four consecutive values in the
  tensor's own C order; it requires ``axis == 0`` (the only axis the
  ``CONV_2D``/``FULLY_CONNECTED`` weights it applies to have), where that
  order *is* the ``[C, K]`` order, so the spec's two descriptions agree.
- A "slot" is one stored value. Slots are what a ``q8r4`` residual over a
  sparse base covers, in payload order; :class:`Encoded.slots` and
  :func:`decode_slots` give them as flat C-order indices into the tensor.
- The ``2:4`` position bytes hold one nibble per group, two groups a byte,
  so an odd group count has ``ceil(groups / 2)`` bytes with a zero high
  nibble last (FORMAT.md writes ``n / 8``, which is that for even counts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gear_codec import channel_rows, from_channel_rows, residual, residual_values

__all__ = [
    "ENCODINGS",
    "SPARSE_ENCODINGS",
    "TWO_FOUR_OPS",
    "Encoded",
    "choose_encoding",
    "decode_slots",
    "decode_sparse",
    "encode_sparse",
    "encoded_size",
    "encoded_sizes",
    "q8r4_sparse_residual",
    "q8r4_sparse_values",
    "slot_count",
    "sparse_length",
    "two_four_applies",
]

SPARSE_ENCODINGS = ("bitmap", "csr", "2:4")
ENCODINGS = ("dense", *SPARSE_ENCODINGS)  # choose_encoding's candidates
_TIE_ORDER = ("dense", "2:4", "bitmap", "csr")  # equal sizes: simplest / most regular first
TWO_FOUR_OPS = ("CONV_2D", "FULLY_CONNECTED")
_U16_MAX_K = 65536  # csr column indices are u16 while K <= 65536, u32 beyond


@dataclass(frozen=True)
class Encoded:
    """One encoded tensor: ``payload`` bytes (uint8), ``nnz`` (stored non-zeros) and
    ``slots`` (flat C-order tensor indices of the stored values, in payload order)."""

    encoding: str
    payload: np.ndarray
    nnz: int
    slots: np.ndarray


# -- sizes -----------------------------------------------------------------------------
def _rows_shape(shape: tuple[int, ...] | list[int], axis: int) -> tuple[int, int]:
    n = int(np.prod(shape, dtype=np.int64))
    c = int(shape[axis % len(shape)])
    return c, n // c


def _csr_index_size(k: int) -> int:
    return 2 if k <= _U16_MAX_K else 4


def two_four_applies(shape: tuple[int, ...] | list[int], axis: int, op: str | None) -> bool:
    """Whether ``2:4`` may encode a tensor of ``shape``: a ``CONV_2D``/``FULLY_CONNECTED``
    weight (channel axis 0) whose last dimension is a multiple of 4."""
    return op in TWO_FOUR_OPS and axis % len(shape) == 0 and shape[-1] % 4 == 0


def slot_count(encoding: str, shape: tuple[int, ...] | list[int], nnz: int) -> int:
    """Stored values of an entry: ``nnz`` for ``bitmap``/``csr``; ``n / 2`` for ``2:4``
    (zeros in unused slots included); ``n`` for ``dense``."""
    n = int(np.prod(shape, dtype=np.int64))
    if encoding == "2:4":
        return n // 2
    return nnz if encoding in ("bitmap", "csr") else n


def sparse_length(encoding: str, shape: tuple[int, ...] | list[int], axis: int, nnz: int) -> int:
    """The exact payload length FORMAT.md gives an entry (``dense``: one byte a value)."""
    n = int(np.prod(shape, dtype=np.int64))
    c, k = _rows_shape(shape, axis)
    if encoding == "dense":
        return n
    if encoding == "bitmap":
        return (n + 7) // 8 + nnz
    if encoding == "csr":
        return 4 * (c + 1) + nnz * _csr_index_size(k) + nnz
    if encoding == "2:4":
        return n // 2 + (n // 4 + 1) // 2
    raise ValueError(f"unknown int8 encoding {encoding!r}; expected one of {ENCODINGS}")


def _two_four_fits(q: np.ndarray) -> bool:
    """Whether every group of four consecutive values (C order) holds at most two non-zeros."""
    groups = np.asarray(q).reshape(-1, 4)
    return bool(np.all(np.count_nonzero(groups, axis=1) <= 2))


def encoded_size(
    q: np.ndarray, axis: int, encoding: str, op: str | None = None, residual_bits: int = 0
) -> int | None:
    """Bytes ``q`` takes in ``encoding`` (plus the ``q8r4`` / ``q8r8`` residual of
    ``residual_bits`` 4 / 8 over it); None where the encoding cannot hold it (``2:4`` off
    its ops or pattern)."""
    q = np.asarray(q)
    if encoding == "2:4" and not (two_four_applies(q.shape, axis, op) and _two_four_fits(q)):
        return None
    nnz = int(np.count_nonzero(q))
    size = sparse_length(encoding, q.shape, axis, nnz)
    slots = slot_count(encoding, q.shape, nnz)
    if residual_bits == 4:
        size += (slots + 1) // 2
    elif residual_bits == 8:
        size += slots
    return size


def encoded_sizes(
    q: np.ndarray, axis: int, op: str | None = None, residual_bits: int = 0
) -> dict[str, int]:
    """Every encoding that can hold ``q`` -> its size in bytes (see :func:`encoded_size`)."""
    sizes = {e: encoded_size(q, axis, e, op, residual_bits) for e in ENCODINGS}
    return {e: s for e, s in sizes.items() if s is not None}


def choose_encoding(q: np.ndarray, axis: int, op: str | None = None, residual_bits: int = 0) -> str:
    """The smallest of ``dense``, ``bitmap``, ``csr`` and (where it applies) ``2:4``.

    Ties go to ``dense`` (nothing to decode), then ``2:4`` (its fixed pattern
    runs fastest), then ``bitmap``, then ``csr``. The tie with ``2:4`` is the
    common one: a tensor with exactly two non-zeros in every group costs
    ``n/2 + n/8`` bytes in both ``2:4`` and ``bitmap``, and ``2:4`` is never
    strictly smaller, so without this rule it would never be chosen.

    With ``residual_bits`` (4 or 8) the sizes include the ``q8r4`` / ``q8r8``
    residual a float gear adds over this base (``ceil(slots / 2)`` or
    ``slots`` bytes), since that is what the file then holds.
    """
    sizes = encoded_sizes(q, axis, op, residual_bits)
    return min(sizes, key=lambda e: (sizes[e], _TIE_ORDER.index(e)))


# -- encode ----------------------------------------------------------------------------
def _rows_to_tensor_index(shape: tuple[int, ...], axis: int) -> np.ndarray:
    """For each position of the row-major ``[C, K]`` view, its flat C-order tensor index."""
    n = int(np.prod(shape, dtype=np.int64))
    return channel_rows(np.arange(n, dtype=np.int64).reshape(shape), axis).ravel()


def _two_four_choose(flat: np.ndarray) -> np.ndarray:
    """Positions ``[G, 2]`` (increasing) of each group's stored slots: its non-zeros,
    then the lowest free positions for a group with fewer than two."""
    groups = flat.reshape(-1, 4)
    key = (groups == 0) * 4 + np.arange(4)  # non-zeros first, then by position
    return np.sort(np.argsort(key, axis=1, kind="stable")[:, :2], axis=1)


def encode_sparse(q: np.ndarray, axis: int, encoding: str) -> Encoded:
    """``q`` (int8) in ``bitmap``, ``csr`` or ``2:4``, exactly as FORMAT.md 1.2 lays it out.

    ``ValueError`` when ``q`` is not int8-valued, or ``2:4`` cannot hold it
    (channel axis not 0, last dimension not a multiple of 4, a group with
    more than two non-zeros).
    """
    q = np.asarray(q)
    if q.ndim == 0 or q.size == 0:
        raise ValueError(f"expected a non-empty array, found shape {q.shape}")
    if q.dtype != np.int8:
        if q.size and (q.min() < -128 or q.max() > 127):
            raise ValueError("values must fit int8")
        q = q.astype(np.int8)
    shape = tuple(q.shape)
    if encoding == "2:4":
        if axis % q.ndim != 0 or shape[-1] % 4:
            raise ValueError(
                f"2:4 needs channel axis 0 and a last dimension that is a multiple of 4, "
                f"found axis {axis} and shape {list(shape)}"
            )
        flat = np.ascontiguousarray(q).ravel()
        if not _two_four_fits(flat):
            raise ValueError("2:4 needs at most two non-zeros in every group of four")
        pos = _two_four_choose(flat)
        g = pos.shape[0]
        slots = (np.arange(g, dtype=np.int64)[:, None] * 4 + pos).ravel()
        values = flat[slots]
        nib = (pos[:, 0] | (pos[:, 1] << 2)).astype(np.uint8)
        if g % 2:
            nib = np.append(nib, np.uint8(0))
        packed = (nib[0::2] | (nib[1::2] << 4)).astype(np.uint8)
        payload = np.concatenate([values.view(np.uint8), packed])
        return Encoded(encoding, payload, int(np.count_nonzero(values)), slots)
    rows = channel_rows(q, axis)
    k = rows.shape[1]
    flat = rows.ravel()
    mask = flat != 0
    where = np.flatnonzero(mask)
    values = flat[where].view(np.uint8)
    slots = _rows_to_tensor_index(shape, axis)[where]
    nnz = int(where.size)
    if encoding == "bitmap":
        bits = np.packbits(mask, bitorder="little")
        return Encoded(encoding, np.concatenate([bits, values]), nnz, slots)
    if encoding == "csr":
        counts = np.count_nonzero(rows, axis=1)
        ptr = np.concatenate([[0], np.cumsum(counts)]).astype("<u4")
        idx = (where % k).astype("<u2" if _csr_index_size(k) == 2 else "<u4")
        payload = np.concatenate([ptr.view(np.uint8), idx.view(np.uint8), values])
        return Encoded(encoding, payload, nnz, slots)
    raise ValueError(f"unknown sparse encoding {encoding!r}; expected one of {SPARSE_ENCODINGS}")


# -- decode ----------------------------------------------------------------------------
def _as_u8(payload: np.ndarray | bytes | memoryview) -> np.ndarray:
    if isinstance(payload, np.ndarray):
        return np.ascontiguousarray(payload).view(np.uint8).ravel()
    return np.frombuffer(payload, np.uint8)


def decode_slots(
    payload: np.ndarray | bytes | memoryview,
    encoding: str,
    shape: tuple[int, ...] | list[int],
    axis: int,
    nnz: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(dense int8 array of shape, slots)`` of a sparse payload, checking everything the
    spec requires of it; ``ValueError`` naming the broken rule otherwise.

    Checks: the exact length; ``bitmap``: popcount == nnz, unused bits 0,
    no stored zero; ``csr``: ``ptr[0] == 0``, non-decreasing, ``ptr[C] ==
    nnz``, indices strictly increasing within a row and ``< K``, no stored
    zero; ``2:4``: applicable shape (last dimension multiple of 4, axis 0),
    first position < second, unused nibble 0, non-zero stored values == nnz.
    """
    shape = tuple(int(d) for d in shape)
    p = _as_u8(payload)
    n = int(np.prod(shape, dtype=np.int64))
    c, k = _rows_shape(shape, axis)
    if encoding == "2:4" and (axis % len(shape) != 0 or shape[-1] % 4):
        raise ValueError(
            f"2:4 needs channel axis 0 and a last dimension that is a multiple of 4, "
            f"found axis {axis} and shape {list(shape)}"
        )
    if encoding not in SPARSE_ENCODINGS:
        raise ValueError(f"unknown sparse encoding {encoding!r}")
    if not 0 <= nnz <= (n // 2 if encoding == "2:4" else n):
        raise ValueError(f"nnz {nnz} out of range for {n} values")
    want = sparse_length(encoding, shape, axis, nnz)
    if p.size != want:
        raise ValueError(f"{encoding} payload of nnz {nnz}: expected {want} bytes, found {p.size}")
    if encoding == "2:4":
        return _decode_two_four(p, shape, n, nnz)
    if encoding == "bitmap":
        nb = (n + 7) // 8
        bits = np.unpackbits(p[:nb], bitorder="little")
        if np.any(bits[n:]):
            raise ValueError("bitmap: the unused high bits of the last byte must be 0")
        where = np.flatnonzero(bits[:n])
        if where.size != nnz:
            raise ValueError(f"bitmap: {where.size} presence bits set, nnz says {nnz}")
        values = p[nb:].view(np.int8)
    else:
        ptr = p[: 4 * (c + 1)].view("<u4").astype(np.int64)
        isz = _csr_index_size(k)
        idx = p[4 * (c + 1) : 4 * (c + 1) + nnz * isz].view("<u2" if isz == 2 else "<u4")
        idx = idx.astype(np.int64)
        values = p[4 * (c + 1) + nnz * isz :].view(np.int8)
        if ptr[0] != 0:
            raise ValueError(f"csr: ptr[0] must be 0, found {ptr[0]}")
        steps = np.diff(ptr)
        if np.any(steps < 0):
            r = int(np.argmax(steps < 0))
            raise ValueError(f"csr: row offsets decrease at row {r}: {ptr[r]} -> {ptr[r + 1]}")
        if ptr[-1] != nnz:
            raise ValueError(f"csr: ptr[{c}] must equal nnz {nnz}, found {ptr[-1]}")
        if nnz and idx.max() >= k:
            raise ValueError(f"csr: column index {idx.max()} not below K = {k}")
        row = np.repeat(np.arange(c, dtype=np.int64), steps)
        same = row[1:] == row[:-1]
        if np.any(same & (idx[1:] <= idx[:-1])):
            r = int(row[1:][np.argmax(same & (idx[1:] <= idx[:-1]))])
            raise ValueError(f"csr: column indices of row {r} are not strictly increasing")
        where = row * k + idx
    if np.any(values == 0):
        raise ValueError(f"{encoding}: a stored value is 0 (zeros are not stored)")
    rows = np.zeros(n, np.int8)
    rows[where] = values
    dense = from_channel_rows(rows.reshape(c, k), shape, axis)
    return dense, _rows_to_tensor_index(shape, axis)[where]


def _decode_two_four(
    p: np.ndarray, shape: tuple[int, ...], n: int, nnz: int
) -> tuple[np.ndarray, np.ndarray]:
    g = n // 4
    values = p[: n // 2].view(np.int8).reshape(g, 2)
    packed = p[n // 2 :]
    nib = np.empty(packed.size * 2, np.uint8)
    nib[0::2] = packed & 0x0F
    nib[1::2] = packed >> 4
    if nib[g:].any():
        raise ValueError("2:4: the unused high nibble of the last position byte must be 0")
    pos = np.stack([nib[:g] & 3, nib[:g] >> 2], axis=1).astype(np.int64)
    bad = pos[:, 0] >= pos[:, 1]
    if np.any(bad):
        j = int(np.argmax(bad))
        raise ValueError(f"2:4: group {j}'s positions {pos[j, 0]}, {pos[j, 1]} are not increasing")
    found = int(np.count_nonzero(values))
    if found != nnz:
        raise ValueError(f"2:4: {found} non-zero stored values, nnz says {nnz}")
    slots = (np.arange(g, dtype=np.int64)[:, None] * 4 + pos).ravel()
    flat = np.zeros(n, np.int8)
    flat[slots] = values.ravel()
    return flat.reshape(shape), slots


def decode_sparse(
    payload: np.ndarray | bytes | memoryview,
    encoding: str,
    shape: tuple[int, ...] | list[int],
    axis: int,
    nnz: int,
) -> np.ndarray:
    """The dense int8 values of a sparse payload (checked as :func:`decode_slots` says)."""
    return decode_slots(payload, encoding, shape, axis, nnz)[0]


# -- q8r4 / q8r8 over a sparse base ----------------------------------------------------
def q8r4_sparse_residual(
    w: np.ndarray, q: np.ndarray, scale: np.ndarray, axis: int, slots: np.ndarray, bits: int = 4
) -> np.ndarray:
    """The writer's residual (:func:`gear_codec.residual`, ``bits`` wide) at the base's
    stored ``slots`` only, in their order: int8 ``[len(slots)]``."""
    return residual(w, q, scale, axis, bits).ravel()[np.asarray(slots, np.int64)]


def q8r4_sparse_values(
    q: np.ndarray,
    r: np.ndarray,
    slots: np.ndarray,
    scale: np.ndarray,
    axis: int,
    bits: int = 4,
) -> np.ndarray:
    """FORMAT.md's q8r4 / q8r8 value over a sparse base: ``s[c] * (q + r / 2^bits)`` in
    binary32 at the stored slots, exact zero (``+0.0``) everywhere else (a pruned weight
    stays 0)."""
    q = np.asarray(q)
    full = np.zeros(q.size, np.int8)
    full[np.asarray(slots, np.int64)] = np.asarray(r, np.int8).ravel()
    return residual_values(q, full.reshape(q.shape), scale, axis, bits)
