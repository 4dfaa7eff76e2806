"""The integer gears' parameters (converters/quantize.py) and the 1.1 writer's storage plan."""

from __future__ import annotations

import numpy as np
import pytest

from gearshift import gear_format as gf
from gearshift.converters import write_gear
from gearshift.converters.calibrate import calibrate
from gearshift.converters.ir import Graph, Node
from gearshift.converters.quant_ref import quantize_weights_q8
from gearshift.converters.quantize import quantize_graph


@pytest.fixture(autouse=True, scope="module")
def _q8r4_for_small_weights():
    """These graphs are tiny: let every weight take the compact q8r4 form."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(write_gear, "COMPACT_MIN_ELEMENTS", 0)
        yield


RNG = np.random.default_rng(7)


def cnn() -> Graph:
    """conv -> maxpool -> reshape -> concat(with a second branch) -> fc -> softmax."""
    g = Graph()
    g.add_tensor("x", (-1, 6, 6, 2))
    w = g.add_const("conv/w", RNG.standard_normal((4, 3, 3, 2)).astype(np.float32))
    b = g.add_const("conv/b", RNG.standard_normal(4).astype(np.float32))
    g.add_tensor("c", (-1, 6, 6, 4))
    g.add_node(
        Node(
            "conv",
            "CONV_2D",
            ["x", w, b],
            ["c"],
            {"stride": [1, 1], "dilation": [1, 1], "padding": "SAME", "activation": "RELU"},
        )
    )
    g.add_tensor("p", (-1, 3, 3, 4))
    g.add_node(
        Node(
            "pool",
            "MAX_POOL_2D",
            ["c"],
            ["p"],
            {"filter": [2, 2], "stride": [2, 2], "padding": "VALID", "activation": "NONE"},
        )
    )
    g.add_tensor("f", (-1, 36))
    g.add_node(Node("flat", "RESHAPE", ["p"], ["f"], {"shape": [36]}))
    g.add_tensor("f2", (-1, 36))
    k = g.add_const("mul/k", np.full((36,), 3.0, np.float32))
    g.add_node(Node("mul", "MUL", ["f", k], ["f2"], {"activation": "NONE"}))
    g.add_tensor("cat", (-1, 72))
    g.add_node(Node("cat", "CONCATENATION", ["f", "f2"], ["cat"], {"axis": 1}))
    fw = g.add_const("fc/w", RNG.standard_normal((5, 72)).astype(np.float32))
    fb = g.add_const("fc/b", RNG.standard_normal(5).astype(np.float32))
    g.add_tensor("logits", (-1, 5))
    g.add_node(Node("fc", "FULLY_CONNECTED", ["cat", fw, fb], ["logits"], {"activation": "NONE"}))
    g.add_tensor("prob", (-1, 5))
    g.add_node(Node("softmax", "SOFTMAX", ["logits"], ["prob"], {"beta": 1.0}))
    g.inputs, g.outputs = ["x"], ["prob"]
    g.validate(format_only=True)
    return g


@pytest.fixture(scope="module")
def graph_and_plan():
    g = cnn()
    x = RNG.standard_normal((16, 6, 6, 2)).astype(np.float32)
    ranges = calibrate(g, [x[:8], x[8:]], progress=False)
    return g, ranges, quantize_graph(g, ranges)


def qp_tuple(qp) -> tuple[float, int]:
    return float(qp.scale), int(qp.zero_point)


def test_tied_ops_share_parameters_and_softmax_is_fixed(graph_and_plan):
    _, ranges, plan = graph_and_plan
    a = plan.activations
    # pool, reshape and concat move values: one (scale, zp) for c, p, f, f2, cat
    tied = {qp_tuple(a[t]) for t in ("c", "p", "f", "f2", "cat")}
    assert len(tied) == 1
    lo = min(ranges[t][0] for t in ("c", "p", "f", "f2", "cat"))
    hi = max(ranges[t][1] for t in ("c", "p", "f", "f2", "cat"))
    scale = a["cat"].scale
    assert float(scale) == pytest.approx((max(hi, 0) - min(lo, 0)) / 255, rel=1e-6)
    assert qp_tuple(a["prob"]) == (1 / 256, -128)
    assert qp_tuple(a["x"]) != qp_tuple(a["c"])  # untied tensors keep their own


def test_weights_biases_and_other_constants(graph_and_plan):
    g, _, plan = graph_and_plan
    q, qp = plan.weights["conv/w"]
    ref_q, ref_qp = quantize_weights_q8(g.tensors["conv/w"].data, 0)
    np.testing.assert_array_equal(q, ref_q)
    np.testing.assert_array_equal(qp.scale, ref_qp.scale)
    bq, bqp = plan.biases["conv/b"]
    expected_scale = np.float32(plan.activations["x"].scale) * ref_qp.scale
    np.testing.assert_array_equal(bqp.scale, expected_scale.astype(np.float32))
    np.testing.assert_array_equal(
        bq, np.round(g.tensors["conv/b"].data.astype(np.float64) / expected_scale)
    )
    assert bq.dtype == np.int32
    kq, kqp = plan.others["mul/k"]
    assert kq.dtype == np.int8 and kqp.axis is None
    # 3.0 is exactly representable within one step
    assert abs(float(kqp.scale) * (int(kq[0]) - int(kqp.zero_point)) - 3.0) <= float(kqp.scale)


def test_missing_range_is_a_clear_error():
    g = cnn()
    with pytest.raises(ValueError, match="no calibrated range"):
        quantize_graph(g, {"x": (0.0, 1.0)})


def storage_of(man: dict, gear: str) -> dict[str, dict]:
    names = [t["name"] for t in man["tensors"]]
    ge = next(x for x in man["gears"] if x["name"] == gear)
    return {names[t]: man["storage"][s] for t, s in ge["constants"]}


def test_compact_storage_plan(graph_and_plan):
    g, _, plan = graph_and_plan
    man, entries, _, _ = write_gear.build_manifest(
        g, ("int4", "fp32", "int8", "fp16"), storage="compact", qplan=plan
    )
    assert [x["name"] for x in man["gears"]] == ["fp32", "fp16", "int8", "int4"]
    f32, f16 = storage_of(man, "fp32"), storage_of(man, "fp16")
    i8, i4 = storage_of(man, "int8"), storage_of(man, "int4")
    assert f32 == f16  # fp16 rounds the same entries at load
    w = f32["fc/w"]
    assert (w["dtype"], w["encoding"], w["length"]) == ("f32", "q8r4", 5 * 72 // 2)
    assert man["storage"][w["base"]] == i8["fc/w"]
    assert i8["fc/w"]["dtype"] == "i8" and i8["fc/w"]["quant"]["axis"] == 0
    assert i4["fc/w"]["encoding"] == "q4m" and "length" not in i4["fc/w"]
    assert i4["fc/w"]["block"] == 32 and i4["fc/w"]["base"] == w["base"]
    # the first layer (reading the graph input) stays int8 in the int4 gear
    assert i4["conv/w"] == i8["conv/w"] and i8["conv/w"]["encoding"] == "dense"
    assert i8["fc/b"]["dtype"] == "i32" and i4["fc/b"] == i8["fc/b"]
    assert f32["fc/b"]["dtype"] == "f32" and f32["fc/b"]["encoding"] == "dense"
    assert i8["mul/k"]["dtype"] == "i8" and i8["mul/k"]["quant"]["axis"] is None
    # every non-constant tensor has int8 parameters in both integer gears
    consts = {t["name"] for t in man["tensors"] if t.get("const")}
    for ge in man["gears"][2:]:
        assert len(ge["activations"]) == len(man["tensors"]) - len(consts)
    # weights cost 1.5 bytes each for all four gears (int8 + 4-bit residual)
    weights = 4 * 3 * 3 * 2 + 5 * 72
    wbytes = sum(e.length for e in entries if e.dtype in ("i8",) and len(e.shape) > 1)
    wbytes += sum(e.length for e in entries if e.encoding == "q8r4")
    assert wbytes == weights * 3 // 2


def test_compact_residual_reconstructs_within_bound(tmp_path, graph_and_plan):
    g, _, plan = graph_and_plan
    path = tmp_path / "m.gear"
    write_gear.write_gear(g, path, ("fp32", "int8"), qplan=plan)
    raw = path.read_bytes()
    f = gf.read_gear(path)
    man = f.manifest
    w = storage_of(man, "fp32")["fc/w"]
    base = man["storage"][w["base"]]
    data = f.sections[base["section"]]  # TENSOR_DATA (section 2 after 1.6's PARAMS)
    q = np.frombuffer(raw, np.int8, base["length"], data.offset + base["offset"]).reshape(5, 72)
    packed = np.frombuffer(raw, np.uint8, w["length"], data.offset + w["offset"])
    nib = np.empty(packed.size * 2, np.int16)
    nib[0::2], nib[1::2] = packed & 15, packed >> 4
    r = ((nib ^ 8) - 8)[: 5 * 72].reshape(5, 72).astype(np.float32)
    s = np.asarray(base["quant"]["scale"], np.float32)[:, None]
    values = s * (q.astype(np.float32) + r * np.float32(0.0625))
    orig = g.tensors["fc/w"].data
    err = np.abs(values - orig)
    # the int8 gear's own values (nearest rounding, as in an exact file) and a
    # residual that reaches +7/16 of a step: within s/16
    np.testing.assert_array_equal(q, plan.weights["fc/w"][0])
    assert np.all(err <= s / 16 * (1 + 1e-6))
    assert f.version == (1, 6)  # binary params; 1.1 in the JSON form


def test_compact_without_integer_gears_lifts_midpoints(graph_and_plan):
    """No int8 gear reads the base: values just below a midpoint are stored as
    q + 1 with residual -8, so every float weight is within s/32."""
    g, _, _plan = graph_and_plan
    man, entries, _, _ = write_gear.build_manifest(g, ("fp32", "fp16"), storage="compact")
    w = storage_of(man, "fp32")["fc/w"]
    assert w["encoding"] == "q8r4"
    base = next(e for e in entries if e.index == w["base"])
    res = next(
        e
        for e in entries
        if e.index
        == next(s for t, s in man["gears"][0]["constants"] if man["tensors"][t]["name"] == "fc/w")
    )
    q = np.asarray(base.values, np.float32)
    nib = np.empty(res.data.size * 2, np.int16)
    nib[0::2], nib[1::2] = res.data & 15, res.data >> 4
    r = ((nib ^ 8) - 8)[: q.size].reshape(q.shape).astype(np.float32)
    s = np.asarray(base.quant["scale"], np.float32)[:, None]
    err = np.abs(s * (q + r * np.float32(0.0625)) - g.tensors["fc/w"].data)
    assert np.all(err <= s / 32 * (1 + 1e-6))


def test_compact_and_exact_files_give_the_same_integer_gears(graph_and_plan):
    g, _, plan = graph_and_plan
    gears = ("fp32", "fp16", "int8", "int4")
    runs = {}
    for storage in ("compact", "exact"):
        man, entries, _, _ = write_gear.build_manifest(g, gears, storage=storage, qplan=plan)
        by_index = {e.index: e for e in entries}
        runs[storage] = {
            (ge["name"], man["tensors"][t]["name"]): np.asarray(by_index[s].values)
            for ge in man["gears"][2:]
            for t, s in ge["constants"]
            if by_index[s].values is not None
        }
    # the case matters: lifting would have moved some of fc/w's int8 values
    q, qp = plan.weights["fc/w"]
    lifted = write_gear._lift_midpoints(g.tensors["fc/w"].data, q, np.asarray(qp.scale), 0)
    assert not np.array_equal(lifted, q)
    assert runs["compact"].keys() == runs["exact"].keys()
    for k, v in runs["exact"].items():
        np.testing.assert_array_equal(runs["compact"][k], v, err_msg=str(k))


def test_exact_storage_keeps_float32_bits(graph_and_plan):
    g, _, plan = graph_and_plan
    man, entries, _, _ = write_gear.build_manifest(
        g, ("fp32", "fp16", "int8"), storage="exact", qplan=plan
    )
    f32 = storage_of(man, "fp32")
    assert f32["fc/w"]["encoding"] == "dense" and f32["fc/w"]["dtype"] == "f32"
    e = next(
        e
        for e in entries
        if e.index
        == next(s for t, s in man["gears"][0]["constants"] if man["tensors"][t]["name"] == "fc/w")
    )
    np.testing.assert_array_equal(e.data, g.tensors["fc/w"].data)
    # fp16 without fp32 in an exact file: its own half payload
    man2, _, _, _ = write_gear.build_manifest(g, ("fp16",), storage="exact")
    assert storage_of(man2, "fp16")["fc/w"]["dtype"] == "f16"


def test_fp32_only_files_stay_format_1_0(tmp_path, graph_and_plan):
    g, _, _ = graph_and_plan
    path = tmp_path / "m.gear"
    res = write_gear.write_gear(g, path, ("fp32",), storage="compact")
    f = gf.read_gear(path)
    assert f.version == (1, 0)
    assert all(s["encoding"] == "dense" and s["dtype"] == "f32" for s in f.manifest["storage"])
    assert res.gear_bytes["fp32"] == sum(s["length"] for s in f.manifest["storage"])


def test_gear_bytes_count_bases(graph_and_plan, tmp_path):
    g, _, plan = graph_and_plan
    res = write_gear.write_gear(g, tmp_path / "m.gear", ("fp32", "int8", "int4"), qplan=plan)
    assert res.gear_bytes["int8"] == res.gear_bytes["int4"]
    assert res.gear_bytes["fp32"] > res.gear_bytes["int8"]


def test_integer_gears_need_a_plan():
    with pytest.raises(ValueError, match="QuantPlan"):
        write_gear.build_manifest(cnn(), ("int8",))


def test_constant_operand_of_a_tied_op_shares_its_parameters():
    g = Graph()
    g.add_tensor("x", (-1, 4))
    k = g.add_const("k", np.array([[5.0, -2.0]], np.float32))
    g.add_tensor("y", (-1, 6))
    g.add_node(Node("cat", "CONCATENATION", ["x", k], ["y"], {"axis": 1}))
    g.inputs, g.outputs = ["x"], ["y"]
    plan = quantize_graph(g, {"x": (-1.0, 1.0), "y": (-1.0, 1.0)})
    _, qp = plan.others["k"]
    assert qp_tuple(qp) == qp_tuple(plan.activations["y"]) == qp_tuple(plan.activations["x"])
    # the group's range grew to hold the constant
    assert float(qp.scale) * (127 - int(qp.zero_point)) >= 5.0 - float(qp.scale)
    assert "k" not in plan.activations
