# SPDX-License-Identifier: Apache-2.0
"""int8 GEMM microkernels against the numpy oracle, bit for bit.

``_core._testing_q8_gemm`` runs one GEMM through the q8_gemm variant an ISA
selects (``ref`` and every compiled ISA this CPU supports); the expected
output is built here from ``quant_ref.multiply_by_quantized_multiplier``:
``clip(mbqm(sum_k (a - a_zp) * b + bias, m[n], s[n]) + c_zp)``, the int32
accumulator wrapping as in C++; with ``single_rounding`` (FULLY_CONNECTED's
requantization) ``multiply_by_quantized_multiplier_single_round`` instead. Random
sizes around the tiles, and edge cases: zero points at both extremes, saturating
accumulators, shifts of both signs (including the -31/30 limits) and multipliers
at 2**31 - 1, in both roundings.
"""

from __future__ import annotations

import numpy as np
import pytest

import gearshift as gs
from gearshift import _core
from gearshift.converters.quant_ref import (
    INT32_MAX,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_single_round,
    quantize_multiplier,
)


def _wrap32(x: np.ndarray) -> np.ndarray:
    return ((x + 2**31) & 0xFFFFFFFF) - 2**31


def oracle(a, b, bias, a_zp, c_zp, mult, shift, act_min, act_max, single=False):
    acc = (a.astype(np.int64) - a_zp) @ b.astype(np.int64).T
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    if single:
        out = multiply_by_quantized_multiplier_single_round(_wrap32(acc), mult, shift) + c_zp
    else:
        out = multiply_by_quantized_multiplier(_wrap32(acc), mult, shift) + c_zp
    return np.clip(out, act_min, act_max).astype(np.int8)


def _isas() -> list[str]:
    usable = []
    for isa in gs.runtime_info()["isa_compiled"]:
        try:
            _core._testing_q8_gemm(
                np.zeros((1, 1), np.int8),
                np.zeros((1, 1), np.int8),
                None,
                0,
                0,
                np.ones(1, np.int32),
                np.zeros(1, np.int32),
                -128,
                127,
                isa,
            )
        except ValueError:
            continue  # compiled in, but this CPU lacks it
        usable.append(isa)
    return usable


ISAS = _isas()


def _case(rng, m, n, k, a_zp=None, c_zp=None, mult=None, shift=None, bias=True):
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (n, k), dtype=np.int8)
    bias_v = rng.integers(-(2**20), 2**20, n, dtype=np.int32) if bias else None
    mult_v = mult
    if mult is None:
        mult_v = rng.integers(2**30, 2**31, n, dtype=np.int64).astype(np.int32)
    shift_v = rng.integers(-14, 3, n, dtype=np.int32) if shift is None else shift
    a_zp = int(rng.integers(-128, 128)) if a_zp is None else a_zp
    c_zp = int(rng.integers(-128, 128)) if c_zp is None else c_zp
    return a, b, bias_v, a_zp, c_zp, mult_v, shift_v


# the requantization of a call: double rounding (CONV_2D) or single (FULLY_CONNECTED)
ROUNDINGS = pytest.mark.parametrize("single", [False, True], ids=["double", "single"])


def _check(isa, a, b, bias, a_zp, c_zp, mult, shift, act_min=-128, act_max=127, single=False):
    got, name = _core._testing_q8_gemm(
        a, b, bias, a_zp, c_zp, mult, shift, act_min, act_max, isa, single_rounding=single
    )
    want = oracle(a, b, bias, a_zp, c_zp, mult, shift, act_min, act_max, single)
    np.testing.assert_array_equal(got, want, err_msg=f"{name} {a.shape} x {b.shape} {single=}")
    return name


def test_ref_is_always_usable():
    assert "ref" in ISAS


@ROUNDINGS
@pytest.mark.parametrize("isa", ISAS)
def test_random_sizes_match_the_oracle(isa, single):
    rng = np.random.default_rng(20260)
    sizes = [(1, 1, 1), (4, 8, 4), (8, 16, 8), (3, 7, 3), (5, 9, 5), (7, 13, 31), (1, 3, 97)]
    sizes += [tuple(int(v) for v in rng.integers(1, 40, 3)) for _ in range(20)]
    for m, n, k in sizes:
        name = _check(isa, *_case(rng, m, n, k), single=single)
    assert name.endswith("__" + isa) or name == "q8_gemm_4x4__ref" or isa != "ref"


@ROUNDINGS
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("a_zp", [-128, 0, 127])
@pytest.mark.parametrize("c_zp", [-128, 0, 127])
def test_zero_point_extremes(isa, a_zp, c_zp, single):
    rng = np.random.default_rng((a_zp + 128) * 1000 + c_zp + 128)
    for m, n, k in [(4, 8, 16), (5, 11, 67), (1, 1, 300)]:
        _check(isa, *_case(rng, m, n, k, a_zp=a_zp, c_zp=c_zp), single=single)


@ROUNDINGS
@pytest.mark.parametrize("isa", ISAS)
def test_saturation_shifts_and_multipliers(isa, single):
    rng = np.random.default_rng(3)
    n = 12
    near = np.full(n, INT32_MAX, np.int32) - np.arange(n, dtype=np.int32) % 3
    for shift in (
        np.full(n, 30, np.int32),
        np.full(n, -31, np.int32),
        np.tile(np.array([-31, -1, 0, 1, 30, 31], np.int32), 2),
    ):
        a, b, bias, a_zp, c_zp, _, _ = _case(rng, 6, n, 45)
        _check(isa, a, b, bias, a_zp, c_zp, near, shift, single=single)
    # accumulators near the int32 limits (they wrap like the C++), narrow clamp
    a = np.full((3, 64), 127, np.int8)
    b = np.full((n, 64), -128, np.int8)
    bias = np.where(np.arange(n) % 2 == 0, INT32_MAX - 5, -(2**31) + 5).astype(np.int32)
    _check(isa, a, b, bias, -128, 0, near, np.zeros(n, np.int32), single=single)
    _check(
        isa,
        a,
        b,
        bias,
        -128,
        5,
        near,
        np.full(n, -3, np.int32),
        act_min=-20,
        act_max=40,
        single=single,
    )
    # zero multiplier and the output range collapsing to one value
    a, b, bias, a_zp, c_zp, mult, shift = _case(rng, 5, n, 9)
    _check(isa, a, b, bias, a_zp, c_zp, np.zeros(n, np.int32), shift, single=single)
    _check(isa, a, b, bias, a_zp, c_zp, mult, shift, act_min=3, act_max=3, single=single)


def test_default_dispatch_reports_isa_selected():
    info = gs.runtime_info()
    sel = info["isa_selected"]
    assert set(sel) >= {"f32_gemm", "q8_gemm"}
    _, name = _core._testing_q8_gemm(
        np.zeros((1, 1), np.int8),
        np.zeros((1, 1), np.int8),
        None,
        0,
        0,
        np.ones(1, np.int32),
        np.zeros(1, np.int32),
        -128,
        127,
    )
    assert sel["q8_gemm"] == name


def test_bad_arguments_are_refused():
    a = np.zeros((2, 3), np.int8)
    ones = np.ones(2, np.int32)
    with pytest.raises(ValueError):
        _core._testing_q8_gemm(a, np.zeros((2, 4), np.int8), None, 0, 0, ones, ones, -128, 127)
    with pytest.raises(ValueError, match="shifts"):
        _core._testing_q8_gemm(a, np.zeros((2, 3), np.int8), None, 0, 0, ones, ones * 40, -128, 127)
    with pytest.raises(ValueError, match="available"):
        _core._testing_q8_gemm(
            a, np.zeros((2, 3), np.int8), None, 0, 0, ones, ones, -128, 127, "sse9"
        )


@pytest.mark.parametrize("isa", ISAS)
def test_fully_connected_rounds_once(isa):
    """The tie LiteRT's reference int8 FULLY_CONNECTED resolves with single rounding:
    acc 8838, multiplier 0.0023194204, zero point 7 (exactly 27.499): 27, where double
    rounding gives 28; and acc -20 at 0.125 (-2.5): single -2 (ties toward +inf),
    double -3 (ties away from zero)."""
    m, s = quantize_multiplier(0.0023194204)
    one = np.ones((1, 1), np.int8)
    for single, want in ((True, 27), (False, 28)):
        got, _ = _core._testing_q8_gemm(
            one, one, np.array([8837], np.int32), 0, 7, np.array([m], np.int32),
            np.array([s], np.int32), -128, 127, isa, single_rounding=single,
        )  # fmt: skip
        assert int(got[0, 0]) == want, (single, got)
    for single, want in ((True, -2), (False, -3)):
        got, _ = _core._testing_q8_gemm(
            one, one, np.array([-21], np.int32), 0, 0, np.array([2**30], np.int32),
            np.array([-2], np.int32), -128, 127, isa, single_rounding=single,
        )  # fmt: skip
        assert int(got[0, 0]) == want, (single, got)
