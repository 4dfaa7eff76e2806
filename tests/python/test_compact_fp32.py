"""The fp32 gear of compact storage (q8r4 weights) in the C++ runtime.

Its conv/depthwise/dense weights are decoded straight into the GEMM packs
(or once for a step that reads the filter itself), with no decoded copy kept
beside a pack: the outputs equal, bit for bit, those of the same gear with
the decoded values stored as dense f32, and its prepared bytes exceed that
gear's only by the recipes and the filters no pack holds.
"""

from __future__ import annotations

import numpy as np
import pytest
from gear_bytes import tiny_model

import gearshift as gs
from gearshift import gear_format as gf


@pytest.fixture(scope="module")
def compact_file(tmp_path_factory):
    b, x = tiny_model()
    decoded = gf.read_gear(b.bytes()).constants("fp32r")  # FORMAT.md's q8r4 values
    b.gear("fp32d", "f32", {n: b.dense(v, "f32") for n, v in decoded.items()})
    path = tmp_path_factory.mktemp("compact") / "tiny.gear"
    path.write_bytes(b.bytes())
    return path, x[:1]


@pytest.mark.parametrize("isa", [None, "ref"])
@pytest.mark.parametrize("threads", [1, 3])
def test_compact_fp32_gear_equals_its_decoded_values(compact_file, isa, threads) -> None:
    path, x = compact_file
    got = gs.Runtime(path, gear="fp32r", isa=isa, threads=threads).run(x)
    want = gs.Runtime(path, gear="fp32d", isa=isa, threads=threads).run(x)
    np.testing.assert_array_equal(got, want)


def test_compact_fp32_gear_keeps_no_decoded_copy_beside_its_packs(compact_file) -> None:
    path, x = compact_file
    rt, dense = gs.Runtime(path, gear="fp32r"), gs.Runtime(path, gear="fp32d")
    rt.run(x)
    dense.run(x)  # dense f32 payloads are used in place: only its packs count
    # conv/w [4,3,3,2] and fc/w [5,8] packed; dw/w [1,3,3,8] (multiplier 2, the
    # reference op) decoded once. A decoded copy of every weight (the old way)
    # held 832 bytes (64-byte blocks of 72, 72 and 40 floats) beside the packs.
    extra = rt.prepared_bytes - dense.prepared_bytes
    assert 4 * 72 <= extra < 4 * 72 + 3 * 64
