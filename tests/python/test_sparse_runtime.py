"""Format 1.2 sparse weights in the C++ runtime, end to end.

Pruned files (the writer's, and the hand-built one of ``gear_bytes.sparse_model``
that covers csr, bitmap and 2:4 with q8r4 and q4m over them) are loaded with
``gs.Runtime``; every gear must give what the numpy oracle
(``converters.gear_reference.run_gear``) gives: integer gears bit for bit,
float gears within 1e-5 relative. A ``-sparse`` gear runs its conv/dense layers
on the sparse kernels, and must equal its dense twin exactly for int8/int4.
"""

from __future__ import annotations

import numpy as np
import pytest
from gear_bytes import sparse_graph, sparse_model

import gearshift as gs
from gearshift import gear_format as gf
from gearshift.converters import write_gear as wg
from gearshift.converters.calibrate import calibrate
from gearshift.converters.gear_reference import run_gear
from gearshift.converters.quantize import quantize_graph

FLOAT_REL = 1e-5


def _rel(got: np.ndarray, want: np.ndarray) -> float:
    scale = max(float(np.abs(want).max()), 1e-6)
    return float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max()) / scale


def _check_file(path, x) -> dict[str, np.ndarray]:
    f = gf.read_gear(str(path))
    out_name = f.manifest["tensors"][f.manifest["outputs"][0]]["name"]
    got = {}
    for gear in f.gear_names:
        rt = gs.Runtime(path, gear=gear)
        y = np.asarray(rt.run(x))
        want = run_gear(f, gear, x)[out_name]
        if f.gear(gear)["compute"] in ("q8", "q4"):
            np.testing.assert_array_equal(y, want, err_msg=gear)
        else:
            assert _rel(y, want) <= FLOAT_REL, (gear, _rel(y, want))
        got[gear] = y
    return got


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    g = sparse_graph(5)
    x = np.random.default_rng(6).normal(size=(4, 6, 6, 2)).astype(np.float32)
    plan = quantize_graph(g, calibrate(g, [x], progress=False))
    path = tmp_path_factory.mktemp("sparse_rt") / "pruned.gear"
    with pytest.MonkeyPatch.context() as mp:
        # tiny weights: let the float gears take q8r4 over the sparse bases too
        mp.setattr(wg, "COMPACT_MIN_ELEMENTS", 0)
        wg.write_gear(
            g,
            path,
            ("fp32", "fp32-sparse", "fp16", "fp16-sparse", "int8", "int8-sparse", "int4",
             "int4-sparse"),
            qplan=plan,
        )  # fmt: skip
    return path, x


def test_written_pruned_file_runs_every_gear_like_the_oracle(written):
    path, x = written
    f = gf.read_gear(str(path))
    assert f.version == (1, 6)  # binary params; 1.2 in the JSON form (sparse storage)
    assert {e["encoding"] for e in f.manifest["storage"]} & {"bitmap", "csr", "2:4"}
    got = _check_file(path, x)
    np.testing.assert_array_equal(got["int8-sparse"], got["int8"])
    np.testing.assert_array_equal(got["int4-sparse"], got["int4"])
    assert _rel(got["fp32-sparse"], got["fp32"]) <= FLOAT_REL
    assert _rel(got["fp16-sparse"], got["fp16"]) <= FLOAT_REL


def test_hand_built_sparse_encodings_run_like_the_oracle(tmp_path):
    b, x = sparse_model(2)
    path = tmp_path / "hand.gear"
    path.write_bytes(b.bytes(minor=2))
    got = _check_file(path, x)
    np.testing.assert_array_equal(got["int8-sparse"], got["int8"])
    np.testing.assert_array_equal(got["int4-sparse"], got["int4"])
    assert _rel(got["fp32r-sparse"], got["fp32r"]) <= FLOAT_REL


def test_runtime_reports_format_1_2():
    assert "1.2" in gs.runtime_info()["format_versions"]
