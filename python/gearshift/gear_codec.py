"""The value rules of the ``.gear`` derived storage encodings, in numpy only.

docs/FORMAT.md defines three derived encodings: ``q8r4`` and (1.7) ``q8r8``
(float weights as the int8 base plus a 4-bit or 8-bit residual per element)
and ``q4m`` (the int4 view of an int8 base, no payload). The writer, the
Python reader (decoding), the numpy oracle and the tests all call this one
module, so there is exactly one Python implementation of each value rule;
the C++ runtime's is the independent second one. It imports numpy only, so
a board without TensorFlow can use it.

Bit-exactness: ``residual_values`` computes ``s[c] * (q + r * 2^-bits)`` in IEEE
binary32 (the sum is exact, the product is the one rounding), and
``q4m_values`` uses integer arithmetic only, so both give every reader the
same bits.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "Q4M_BLOCK",
    "Q4M_MAX_BLOCK",
    "RESIDUAL_BITS",
    "channel_rows",
    "from_channel_rows",
    "pack_nibbles",
    "pack_residuals",
    "q4m_multipliers",
    "q4m_values",
    "q8r4_residual",
    "q8r4_values",
    "rdiv",
    "residual",
    "residual_values",
    "unpack_nibbles",
    "unpack_residuals",
]

Q4M_BLOCK = 32  # the block size files are written with today
Q4M_MAX_BLOCK = 65536
# The residual encodings and their residual width in bits (FORMAT.md "Storage").
RESIDUAL_BITS = {"q8r4": 4, "q8r8": 8}


# -- nibbles ------------------------------------------------------------------------
def pack_nibbles(values: np.ndarray) -> np.ndarray:
    """Signed 4-bit values (any integer array in [-8, 7]) -> ``uint8[ceil(n / 2)]``.

    Element ``2i`` goes to the low nibble of byte ``i``, element ``2i + 1`` to
    the high one (C order); an odd count's last high nibble is 0.
    """
    flat = np.asarray(values).ravel()
    if flat.size and (flat.min() < -8 or flat.max() > 7):
        raise ValueError(f"4-bit values must be in [-8, 7], found [{flat.min()}, {flat.max()}]")
    u = (flat.astype(np.int64) & 0x0F).astype(np.uint8)
    if u.size % 2:
        u = np.append(u, np.uint8(0))
    return (u[0::2] | (u[1::2] << 4)).astype(np.uint8)


def unpack_nibbles(packed: np.ndarray | bytes | memoryview, count: int) -> np.ndarray:
    """Inverse of :func:`pack_nibbles`: the first ``count`` signed nibbles as int8.

    ``packed`` must hold exactly ``ceil(count / 2)`` bytes.
    """
    p = np.frombuffer(packed, np.uint8) if not isinstance(packed, np.ndarray) else packed
    p = np.asarray(p, np.uint8).ravel()
    if p.size != (count + 1) // 2:
        raise ValueError(f"{count} nibbles need {(count + 1) // 2} bytes, found {p.size}")
    nib = np.empty(p.size * 2, np.uint8)
    nib[0::2] = p & 0x0F
    nib[1::2] = p >> 4
    return ((nib[:count].astype(np.int16) ^ 8) - 8).astype(np.int8)


def pack_residuals(values: np.ndarray, bits: int) -> np.ndarray:
    """A residual payload: nibbles (:func:`pack_nibbles`) for 4 bits, one signed byte
    per value (two's complement) for 8."""
    if bits == 4:
        return pack_nibbles(values)
    flat = np.asarray(values).ravel()
    if flat.size and (flat.min() < -128 or flat.max() > 127):
        raise ValueError(f"8-bit values must be in [-128, 127], found [{flat.min()}, {flat.max()}]")
    return flat.astype(np.int8).view(np.uint8)


def unpack_residuals(packed: np.ndarray | bytes | memoryview, count: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_residuals`: the first ``count`` residuals as int8."""
    if bits == 4:
        return unpack_nibbles(packed, count)
    p = np.frombuffer(packed, np.uint8) if not isinstance(packed, np.ndarray) else packed
    p = np.asarray(p, np.uint8).ravel()
    if p.size != count:
        raise ValueError(f"{count} residual bytes expected, found {p.size}")
    return p.view(np.int8).copy()


# -- per-channel layout ---------------------------------------------------------------
def channel_rows(a: np.ndarray, axis: int) -> np.ndarray:
    """``a`` as ``[C, K]``: the channel axis moved to the front, the rest flattened (C order)."""
    a = np.asarray(a)
    moved = np.moveaxis(a, axis % a.ndim, 0)
    return moved.reshape(moved.shape[0], -1)


def from_channel_rows(rows: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """Inverse of :func:`channel_rows` for an array of ``shape``."""
    ax = axis % len(shape)
    moved = [shape[ax], *(d for i, d in enumerate(shape) if i != ax)]
    return np.ascontiguousarray(np.moveaxis(rows.reshape(moved), 0, ax))


def _bcast_scale(scale: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    s = np.asarray(scale, np.float32).ravel()
    shape = [1] * ndim
    shape[axis % ndim] = s.size
    return s.reshape(shape)


# -- q8r4 and q8r8 -------------------------------------------------------------------
def _round_half_away(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def residual(
    w: np.ndarray, q: np.ndarray, scale: np.ndarray, axis: int, bits: int = 4
) -> np.ndarray:
    """The writer's residual: ``r = clamp(round_half_away((w / s[c] - q) * 2^bits),
    -2^(bits-1), 2^(bits-1) - 1)`` (q8r4: bits 4, q8r8: bits 8).

    ``w`` float weights, ``q`` their int8 values (same shape), ``scale`` the
    per-channel scales along ``axis``. Computed in float64 (the choice is the
    writer's; the reader only needs ``r``). Returns int8.
    """
    w = np.asarray(w, np.float64)
    s = _bcast_scale(scale, w.ndim, axis).astype(np.float64)
    d = (w / s - np.asarray(q, np.float64)) * float(1 << bits)
    half = 1 << (bits - 1)
    return np.clip(_round_half_away(d), -half, half - 1).astype(np.int8)


def residual_values(
    q: np.ndarray, r: np.ndarray, scale: np.ndarray, axis: int, bits: int = 4
) -> np.ndarray:
    """FORMAT.md's q8r4 / q8r8 value: ``s[c] * ((float)q + (float)r * 2^-bits)`` in
    binary32 (the sum is exact, the product the one rounding)."""
    q32 = np.asarray(q).astype(np.float32)
    r32 = np.asarray(r).reshape(q32.shape).astype(np.float32)
    s = _bcast_scale(scale, q32.ndim, axis)
    return (s * (q32 + r32 * np.float32(2.0**-bits))).astype(np.float32)


def q8r4_residual(w: np.ndarray, q: np.ndarray, scale: np.ndarray, axis: int) -> np.ndarray:
    """:func:`residual` with 4 bits: int8 in [-8, 7]."""
    return residual(w, q, scale, axis, 4)


def q8r4_values(q: np.ndarray, r: np.ndarray, scale: np.ndarray, axis: int) -> np.ndarray:
    """:func:`residual_values` with 4 bits: ``s[c] * ((float)q + (float)r * 0.0625f)``."""
    return residual_values(q, r, scale, axis, 4)


# -- q4m ---------------------------------------------------------------------------
def rdiv(q: np.ndarray, m: int | np.ndarray) -> np.ndarray:
    """``sign(q) * ((2|q| + m) div (2m))``: q / m rounded half away from zero, in integers."""
    q = np.asarray(q, np.int64)
    m = np.asarray(m, np.int64)
    return np.sign(q) * ((2 * np.abs(q) + m) // (2 * m))


def _q4m_choose(rows: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """``(values [C, K], multipliers [C, ceil(K / block)])`` of int rows ``[C, K]``."""
    c, k = rows.shape
    nb = -(-k // block)
    # Zero padding of the last block changes no error sum: v_m(0) = 0 for every m.
    padded = np.zeros((c, nb * block), np.int64)
    padded[:, :k] = rows
    blocks = padded.reshape(c, nb, block)
    ms = np.arange(1, 16, dtype=np.int64).reshape(15, 1, 1, 1)
    v = ms * np.clip(rdiv(blocks[None], ms), -8, 7)  # [15, C, nb, block]
    err = np.sum((blocks[None] - v) ** 2, axis=3)  # [15, C, nb]
    best = np.argmin(err, axis=0)  # the first minimum: the smallest m on a tie
    out = np.take_along_axis(v, best[None, :, :, None], axis=0)[0]
    return out.reshape(c, nb * block)[:, :k], best + 1


def q4m_values(q: np.ndarray, axis: int, block: int = Q4M_BLOCK) -> np.ndarray:
    """FORMAT.md's q4m view of int8 values ``q`` (channel ``axis``): int8, same shape.

    Each channel row is cut into blocks of ``block`` values (the last one
    possibly shorter); each block becomes ``m * clamp(rdiv(q, m), -8, 7)``
    with the ``m`` in 1..15 of least squared error, the smallest on a tie.
    """
    if not 1 <= block <= Q4M_MAX_BLOCK:
        raise ValueError(f"q4m block must be in [1, {Q4M_MAX_BLOCK}], found {block}")
    q = np.asarray(q)
    rows = channel_rows(q.astype(np.int64), axis)
    values = _q4m_choose(rows, int(block))[0]
    return from_channel_rows(values, q.shape, axis).astype(np.int8)


def q4m_multipliers(q: np.ndarray, axis: int, block: int = Q4M_BLOCK) -> np.ndarray:
    """The chosen multiplier ``m`` of every block, ``[C, ceil(K / block)]`` (tests, statistics)."""
    rows = channel_rows(np.asarray(q).astype(np.int64), axis)
    return _q4m_choose(rows, int(block))[1]
