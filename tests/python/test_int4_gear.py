"""The int4 gear keeps its weights 4-bit in memory and gives the oracle's outputs.

Convolutions and dense layers of an int4 gear are packed as signed nibbles plus
one q4m multiplier per block (about half the int8 pack); the runtime rebuilds
int8 tiles inside the GEMM driver. These tests pin the two promises: the
results are the numpy oracle's, bit for bit, on every instruction set and
thread count, and the prepared memory is at most 0.6x the int8 gear's.
"""

from __future__ import annotations

import numpy as np
import pytest

import gearshift as gs
from gearshift.converters import write_gear
from gearshift.converters.calibrate import calibrate
from gearshift.converters.gear_reference import run_gear
from gearshift.converters.ir import Graph, Node
from gearshift.converters.quantize import quantize_graph


def _graph(rng: np.random.Generator) -> Graph:
    """stem 3x3 (kept int8) -> 1x1 expand -> depthwise 3x3 with depth multiplier 2
    (no packed kernel: the reference loop reads the int4 view expanded to int8)
    -> 3x3 conv (gathered) -> mean -> dense (K not a multiple of the q4m block)."""
    g = Graph()
    g.add_tensor("x", (-1, 12, 12, 3))

    def const(name: str, shape: tuple[int, ...], scale: float) -> str:
        return g.add_const(name, (rng.standard_normal(shape) * scale).astype(np.float32))

    conv = {"stride": [1, 1], "dilation": [1, 1], "padding": "SAME"}
    layers = [
        ("stem", "CONV_2D", (16, 3, 3, 3), (-1, 12, 12, 16), {**conv, "activation": "RELU6"}),
        ("expand", "CONV_2D", (96, 1, 1, 16), (-1, 12, 12, 96), {**conv, "activation": "RELU6"}),
        (
            "dw",
            "DEPTHWISE_CONV_2D",
            (1, 3, 3, 192),
            (-1, 6, 6, 192),
            {**conv, "stride": [2, 2], "depth_multiplier": 2, "activation": "RELU6"},
        ),
        ("conv3", "CONV_2D", (72, 3, 3, 192), (-1, 6, 6, 72), {**conv, "activation": "RELU"}),
    ]
    prev = "x"
    for name, op, wshape, out, attrs in layers:
        out_c = wshape[0] if op == "CONV_2D" else wshape[3]
        w = const(f"{name}/w", wshape, 1.0 / np.sqrt(np.prod(wshape[1:])))
        b = const(f"{name}/b", (out_c,), 0.1)
        g.add_tensor(name, out)
        g.add_node(Node(name, op, [prev, w, b], [name], attrs))
        prev = name
    g.add_tensor("mean", (-1, 72))
    g.add_node(Node("mean", "MEAN", [prev], ["mean"], {"axes": [1, 2], "keep_dims": False}))
    w = const("fc/w", (40, 72), 0.2)
    b = const("fc/b", (40,), 0.1)
    g.add_tensor("y", (-1, 40))
    g.add_node(Node("fc", "FULLY_CONNECTED", ["mean", w, b], ["y"], {"activation": "NONE"}))
    g.inputs, g.outputs = ["x"], ["y"]
    g.validate(format_only=True)
    return g


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[str, np.ndarray]:
    rng = np.random.default_rng(11)
    g = _graph(rng)
    cal = [rng.uniform(-1, 1, (4, 12, 12, 3)).astype(np.float32) for _ in range(2)]
    plan = quantize_graph(g, calibrate(g, cal, progress=False))
    path = tmp_path_factory.mktemp("int4") / "m.gear"
    write_gear.write_gear(g, path, ("fp32", "int8", "int4"), qplan=plan)
    x = rng.uniform(-1, 1, (3, 12, 12, 3)).astype(np.float32)
    return str(path), x


def test_int4_matches_the_oracle_on_every_isa_and_thread_count(model) -> None:
    path, x = model
    want = run_gear(path, "int4", x)
    want = np.asarray(next(iter(want.values())) if isinstance(want, dict) else want)
    ran = []
    for isa in gs.runtime_info()["isa_compiled"]:
        for threads in (1, 2):
            try:
                rt = gs.Runtime(path, gear="int4", isa=isa, threads=threads)
            except ValueError:  # compiled in, but this CPU lacks it
                continue
            np.testing.assert_array_equal(rt.run(x), want, err_msg=f"isa {isa}, {threads} thr")
            ran.append(isa)
    assert "ref" in ran


def test_int4_prepared_memory_is_at_most_0_6x_int8(model) -> None:
    path, x = model
    prepared = {}
    for gear in ("int8", "int4"):
        rt = gs.Runtime(path, gear=gear)
        rt.run(x)
        prepared[gear] = rt.prepared_bytes
    assert 0 < prepared["int4"] <= 0.6 * prepared["int8"], prepared
