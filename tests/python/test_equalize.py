"""converters/passes/equalize.py: cross-layer equalization keeps the float function
and equalizes the channel ranges of each depthwise -> pointwise pair."""

from __future__ import annotations

import numpy as np
import pytest

from gearshift.converters.ir import Graph, Node
from gearshift.converters.passes.equalize import equalized_copy
from gearshift.converters.reference import run_graph


def _dw_pw(act: str = "NONE", shared_out: bool = False) -> Graph:
    """x -> DEPTHWISE 3x3 (act) -> CONV 1x1 (relu): channels with ranges 1000x apart."""
    rng = np.random.default_rng(0)
    g = Graph()
    g.add_tensor("x", (-1, 6, 6, 8))
    g.inputs = ["x"]
    spread = np.geomspace(0.01, 10.0, 8).astype(np.float32)
    dw = g.add_const("dw/w", (rng.normal(size=(1, 3, 3, 8)) * spread).astype(np.float32))
    db = g.add_const("dw/b", (rng.normal(size=8) * spread).astype(np.float32))
    g.add_tensor("d", (-1, 6, 6, 8))
    attrs = {
        "stride": [1, 1],
        "dilation": [1, 1],
        "padding": "SAME",
        "activation": act,
        "depth_multiplier": 1,
    }
    g.add_node(Node("dw", "DEPTHWISE_CONV_2D", ["x", dw, db], ["d"], attrs))
    pw = g.add_const("pw/w", rng.normal(size=(4, 1, 1, 8)).astype(np.float32))
    g.add_tensor("y", (-1, 6, 6, 4))
    attrs = {"stride": [1, 1], "dilation": [1, 1], "padding": "VALID", "activation": "RELU"}
    g.add_node(Node("pw", "CONV_2D", ["d", pw, None], ["y"], attrs))
    g.outputs = ["y", "d"] if shared_out else ["y"]
    g.validate()
    return g


@pytest.mark.parametrize("act", ["NONE", "RELU"])
def test_equalized_copy_keeps_the_function(act: str) -> None:
    g = _dw_pw(act)
    e, result, changed = equalized_copy(g)
    assert result.count == 1 and changed == {"dw/w", "dw/b", "pw/w"}
    x = np.random.default_rng(1).normal(size=(2, 6, 6, 8)).astype(np.float32)
    np.testing.assert_allclose(run_graph(e, x)["y"], run_graph(g, x)["y"], rtol=1e-5, atol=1e-5)
    # the original is untouched
    assert g.tensors["dw/w"].data is not e.tensors["dw/w"].data
    # both layers' per-channel ranges become sqrt(r1 * r2): equal across the pair
    r1 = np.abs(e.tensors["dw/w"].data).max(axis=(0, 1, 2))
    r2 = np.abs(e.tensors["pw/w"].data).max(axis=(0, 1, 2))
    np.testing.assert_allclose(r1, r2, rtol=1e-5)
    # and the depthwise output's channel ranges come closer together
    before = run_graph(g, x, keep_all=True)["d"]
    after = run_graph(e, x, keep_all=True)["d"]
    spread = lambda d: np.abs(d).max(axis=(0, 1, 2)).max() / np.abs(d).max(axis=(0, 1, 2)).min()  # noqa: E731
    assert spread(after) < spread(before) / 5


@pytest.mark.parametrize("case", ["relu6", "output"])
def test_pairs_that_would_change_the_function_are_left_alone(case: str) -> None:
    g = _dw_pw("RELU6") if case == "relu6" else _dw_pw(shared_out=True)
    _, result, changed = equalized_copy(g)
    assert result.count == 0 and not changed
