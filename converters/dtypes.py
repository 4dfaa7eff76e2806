"""The gear table: user-facing gear names <-> internal compute tokens, in one place.

Users say ``fp32``/``fp16``/``int8``/``int4`` (the public API); code inside the
project says ``f32``/``f16``/``q8``/``q4`` (the runtime's compute tokens). This module is
the only Python place that maps one to the other, and it must stay equal to the
runtime's ``dtypes.h`` once that exists (a test will compare them). Everything
else (quantizers, writer, report) looks gears up here instead of spelling the
mapping again, so adding a sparse variant later is one row.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "GEARS",
    "TOKENS",
    "GearSpec",
    "TokenSpec",
    "gear_spec",
    "gear_to_token",
    "token_to_gear",
]


@dataclass(frozen=True)
class TokenSpec:
    """An internal compute/storage dtype.

    ``weight_bits`` is the stored width of one weight element (4 for ``q4``:
    two per byte); ``numpy`` is the numpy dtype an element unpacks to;
    ``activation`` is the token that activations of this gear use (int4 gears
    keep int8 activations).
    """

    token: str
    weight_bits: int
    numpy: str
    activation: str
    integer: bool


@dataclass(frozen=True)
class GearSpec:
    """A user-visible gear: its name, its compute token and its rank (0 = highest precision)."""

    name: str
    token: str
    rank: int
    sparse: bool = False


TOKENS: dict[str, TokenSpec] = {
    "f32": TokenSpec("f32", 32, "float32", "f32", integer=False),
    "f16": TokenSpec("f16", 16, "float16", "f32", integer=False),
    "q8": TokenSpec("q8", 8, "int8", "q8", integer=True),
    "q4": TokenSpec("q4", 4, "int8", "q8", integer=True),
}

# Highest precision first: Runtime.gears lists them in this order. A pruned
# ``<gear>-sparse`` gear computes with its dense counterpart's token and
# precision (FORMAT.md 1.2: same values, only the kernels may differ), so it
# ranks right after it.
GEARS: dict[str, GearSpec] = {
    g.name: g
    for g in (
        GearSpec("fp32", "f32", 0),
        GearSpec("fp32-sparse", "f32", 1, sparse=True),
        GearSpec("fp16", "f16", 2),
        GearSpec("fp16-sparse", "f16", 3, sparse=True),
        GearSpec("int8", "q8", 4),
        GearSpec("int8-sparse", "q8", 5, sparse=True),
        GearSpec("int4", "q4", 6),
        GearSpec("int4-sparse", "q4", 7, sparse=True),
    )
}


def gear_spec(name: str) -> GearSpec:
    """The spec of gear ``name``; ``ValueError`` naming the known gears otherwise."""
    try:
        return GEARS[name]
    except KeyError:
        raise ValueError(f"unknown gear {name!r}; expected one of {', '.join(GEARS)}") from None


def gear_to_token(name: str) -> str:
    """``"int8" -> "q8"``."""
    return gear_spec(name).token


def token_to_gear(token: str) -> str:
    """``"q8" -> "int8"`` (the dense gear of that token)."""
    for g in GEARS.values():
        if g.token == token and not g.sparse:
            return g.name
    raise ValueError(f"unknown dtype token {token!r}; expected one of {', '.join(TOKENS)}")
