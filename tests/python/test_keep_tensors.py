"""Runtime(keep_tensors=True).read_tensor: every node's output after a run, in float
gears as computed and in int8 gears dequantized, bit for bit the int8 oracle's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_calibrate import _pad_graph, _small_graph

import gearshift as gs
from gearshift.converters import gear_reference
from gearshift.converters.calibrate import calibrate
from gearshift.converters.quantize import quantize_graph
from gearshift.converters.reference import run_graph
from gearshift.converters.write_gear import write_gear


@pytest.fixture(params=[_small_graph, _pad_graph], ids=["conv-fc", "pad-conv"])
def gear_file(request, tmp_path: Path):
    g = request.param()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, *g.tensors[g.inputs[0]].shape[1:])).astype(np.float32)
    plan = quantize_graph(g, calibrate(g, [x], progress=False, warn=False))
    path = tmp_path / "m.gear"
    write_gear(g, path, gears=("fp32", "int8"), storage="exact", qplan=plan)
    return g, path, x[:3]


def test_float_gear_keeps_every_tensor(gear_file) -> None:
    g, path, x = gear_file
    rt = gs.Runtime(path, gear="fp32", keep_tensors=True)
    y = rt.run(x)
    want = run_graph(g, x, keep_all=True)
    for node in g.nodes:
        name = node.outputs[0]
        np.testing.assert_allclose(rt.read_tensor(name), want[name], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(rt.read_tensor(g.outputs[0]), y)


def test_int8_gear_reads_dequantized_oracle_values(gear_file) -> None:
    g, path, x = gear_file
    rt = gs.Runtime(path, gear="int8", keep_tensors=True)
    rt.run(x)
    q = gear_reference.run_gear_int8(str(path), "int8", x)
    acts = gear_reference._open(str(path)).activations("int8")
    for name in [n.outputs[0] for n in g.nodes] + list(g.inputs):
        s, z = acts[name]
        want = np.float32(s) * (q[name].astype(np.float32) - np.float32(z))
        np.testing.assert_array_equal(rt.read_tensor(name), want)


def test_read_tensor_errors(gear_file) -> None:
    g, path, x = gear_file
    plain = gs.Runtime(path, gear="fp32")
    plain.run(x)
    with pytest.raises(ValueError, match="keep_tensors"):
        plain.read_tensor(g.outputs[0])
    rt = gs.Runtime(path, gear="fp32", keep_tensors=True)
    with pytest.raises(ValueError, match="no Run"):
        rt.read_tensor(g.outputs[0])
    rt.run(x)
    with pytest.raises(ValueError, match="no tensor named"):
        rt.read_tensor("nope")
    with pytest.raises(ValueError, match="constant or a graph input"):
        rt.read_tensor("w")
    with pytest.raises(ValueError, match="constant or a graph input"):
        rt.read_tensor(g.inputs[0])
    rt.gear = "int8"  # the arena no longer holds the fp32 run
    rt.run(x[:1])
    assert rt.read_tensor(g.outputs[0]).shape[0] == 1
