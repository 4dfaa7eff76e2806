"""converters/compact_refine.py: compact weights kept float32 by measured error."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest

import gearshift as gs
from gearshift import gear_format as gf
from gearshift.converters import compact_refine as cr
from gearshift.converters import write_gear as wg
from gearshift.converters.calibrate import calibrate
from gearshift.converters.ir import Graph, Node
from gearshift.converters.quantize import quantize_graph
from gearshift.converters.reference import run_graph


def _mlp() -> Graph:
    """x -> FC(256, relu) -> FC(256, relu) -> FC(8): two weights large enough for q8r4."""
    rng = np.random.default_rng(0)
    g = Graph()
    g.add_tensor("x", (-1, 64))
    g.inputs = ["x"]
    prev, width = "x", 64
    for i, (n, act) in enumerate(((256, "RELU"), (256, "RELU"), (8, "NONE"))):
        w = g.add_const(f"w{i}", (rng.normal(size=(n, width)) / np.sqrt(width)).astype(np.float32))
        g.add_tensor(f"h{i}", (-1, n))
        g.add_node(
            Node(f"fc{i}", "FULLY_CONNECTED", [prev, w, None], [f"h{i}"], {"activation": act})
        )
        prev, width = f"h{i}", n
    g.outputs = [prev]
    g.validate()
    return g


@pytest.mark.parametrize(
    "probe, kept, err",
    [
        (0.0008, [0, 1, 3, 5, 4], 0.0008),  # 4 weights meet the target: the fifth stays
        (0.002, [0, 1, 3, 5, 4, 5], 0.0005),  # they do not: all 5, the file written again
    ],
)
def test_refine_promotes_in_doubling_rounds_until_within_target(probe, kept, err) -> None:
    """Rounds of 1, 2, 4, ... worst weights until the target is met, then the last
    round's additions bisected (here {d, e}: is {a, b, c, d} enough?)."""
    g = _mlp()
    errors = iter([0.5, 0.2, 0.05, 0.0005, probe])
    kept_per_round: list[set[str]] = []

    def write(keep: set[str]) -> str:
        kept_per_round.append(set(keep))
        return "unused"

    order = {"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.5, "e": 0.1}
    cr_introduced = cr.introduced_errors
    try:
        cr.introduced_errors = lambda graph, path, xs, cands, **_: {w: order[w] for w in cands}
        cr_exact = cr.exact_reference
        cr.exact_reference = lambda graph, xs: contextlib.nullcontext(None)
        keep, got_err, history = cr.refine_compact(
            g, set(order), write, lambda path: next(errors), [np.zeros((1, 64), np.float32)]
        )
    finally:
        cr.introduced_errors = cr_introduced
        cr.exact_reference = cr_exact
    assert [len(k) for k in kept_per_round] == kept
    assert kept_per_round[1] == {"a"} and kept_per_round[2] == {"a", "b", "c"}
    assert kept_per_round[4] == {"a", "b", "c", "d"}
    assert keep == kept_per_round[-1] and got_err == err
    assert history == [0.5, 0.2, 0.05, 0.0005, probe]


def test_refined_file_keeps_the_named_weights_float32(tmp_path: Path) -> None:
    g = _mlp()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 64)).astype(np.float32)
    plan = quantize_graph(g, calibrate(g, [x], progress=False, warn=False))
    ref = run_graph(g, x)[g.outputs[0]]
    path = str(tmp_path / "m.gear")
    assert wg.q8r4_weights(g) == {"w0", "w1"}  # the 8x256 head is under COMPACT_MIN_ELEMENTS

    def write(keep: set[str]) -> str:
        wg.write_gear(g, path, ("fp32", "int8"), qplan=plan, keep_f32=keep)
        return path

    def measure(p: str) -> float:
        y = gs.Runtime(p).run(x)
        return float(np.max(np.abs(y - ref)) / np.max(np.abs(ref)))

    before = measure(write(set()))
    target = before / 3
    keep, err, history = cr.refine_compact(g, {"w0", "w1"}, write, measure, [x], target=target)
    assert keep and history[0] == before and err <= target
    man = gf.read_gear(path).manifest
    names = {t["name"]: i for i, t in enumerate(man["tensors"])}
    fp32 = dict(man["gears"][0]["constants"])
    for w in ("w0", "w1"):
        entry = man["storage"][fp32[names[w]]]
        if w in keep:
            assert entry["dtype"] == "f32" and entry["encoding"] == "dense", entry
        else:
            assert entry["encoding"] == "q8r4", entry
    # the int8 gear does not change
    int8 = dict(man["gears"][1]["constants"])
    plain = tmp_path / "plain.gear"
    wg.write_gear(g, plain, ("fp32", "int8"), qplan=plan)
    y = gs.Runtime(path, gear="int8").run(x)
    np.testing.assert_array_equal(y, gs.Runtime(plain, gear="int8").run(x))
    assert man["storage"][int8[names["w1"]]]["dtype"] == "i8"


@pytest.mark.parametrize("target", [1.0])
def test_nothing_promoted_when_within_target(tmp_path: Path, target: float) -> None:
    calls: list[set[str]] = []
    keep, _err, history = cr.refine_compact(
        _mlp(), {"w1"}, lambda k: calls.append(set(k)) or "p", lambda p: 0.01, [], target=target
    )
    assert keep == set() and calls == [set()] and history == [0.01]


def test_a_vanishing_output_is_compared_absolutely() -> None:
    """An output (or tensor) whose largest magnitude is below REL_ERROR_FLOOR counts its
    absolute error: relative to ~1e-23 (pose_landmark_full's presence output on synthetic
    inputs) any rounding reads as a 50% error, and refinement chased it."""
    from gearshift.converters.convert import _errors

    tiny = np.array([4.34e-23, 1e-24])
    big = np.array([2.0, -4.0])
    _, rel, _ = _errors([tiny, big], [tiny * 0.5, big + 0.004])
    assert rel == pytest.approx(1e-3)  # the large output's 0.004 / 4; the tiny one ~2e-23
    assert cr._rel(tiny * 0.5, tiny) < 1e-22
    assert cr._rel(big + 0.004, big) == pytest.approx(1e-3)
    assert cr.REL_ERROR_FLOOR == 1e-6
