"""Per-layer precision inside the int4 gear (``int4_int8_layers="auto"``,
converters/int4_layers.py) and GPTQ rounding of the int8 gear's weights
(``int8_weight_rounding="gptq"``, weight_rounding.round_int8_weights).

A layer made fragile at 4 bits (one large weight in every q4m block, the small ones that
carry the signal rounded away) is the one the measured choice keeps at int8 under a
one-layer budget, the int4 gear written with it stays bit-exact with the numpy oracle on
every ISA, and the budget as a share of the 4-bit weights is respected. The int8 rounding
keeps values on the int8 grid at the same scales, lowers each layer's output error on
the calibration inputs, and its gear is bit-exact with the oracle.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_int4_gear import _graph

import gearshift as gs
from gearshift import gear_format as gf
from gearshift.converters import write_gear
from gearshift.converters.calibrate import calibrate
from gearshift.converters.gear_reference import run_gear
from gearshift.converters.int4_layers import candidates, choose_int8_layers
from gearshift.converters.quantize import quantize_graph
from gearshift.converters.weight_rounding import round_int8_weights
from gearshift.gear_codec import Q4M_BLOCK


def _fragile(rng: np.random.Generator):
    """``_graph`` with ``conv3``'s weights fragile at 4 bits: per q4m block of its
    reduction one weight 40x the others, so the block multiplier (at most 15 int8 steps
    a code) rounds the small ones, which carry the layer's output, to zero."""
    g = _graph(rng)
    w = g.tensors["conv3/w"].data
    flat = w.reshape(w.shape[0], -1).copy()
    flat *= 0.3
    flat[:, ::Q4M_BLOCK] = 12.0 * np.sign(flat[:, ::Q4M_BLOCK] + 1e-9)
    g.tensors["conv3/w"].data = flat.reshape(w.shape).astype(np.float32)
    return g


def _reference(g, x: np.ndarray, folder) -> list[np.ndarray]:
    """The float model's outputs (its fp32 gear on the runtime)."""
    path = folder / "fp32.gear"
    write_gear.write_gear(g, path, ("fp32",))
    return [gs.Runtime(path, gear="fp32").run(x)]


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> dict:
    rng = np.random.default_rng(5)
    g = _fragile(rng)
    cal = rng.uniform(-1, 1, (24, 12, 12, 3)).astype(np.float32)
    plan = quantize_graph(g, calibrate(g, [cal], progress=False))
    folder = tmp_path_factory.mktemp("int4-int8")
    ref = _reference(g, cal, folder)
    return {"graph": g, "plan": plan, "cal": cal, "ref": ref, "folder": folder, "rng": rng}


def test_candidates_are_the_4bit_conv_and_dense_layers(case) -> None:
    g = case["graph"]
    assert candidates(g, {"stem/w"}, ()) == [
        ("expand", "expand/w"),
        ("conv3", "conv3/w"),
        ("fc", "fc/w"),
    ]
    assert candidates(g, {"stem/w", "conv3/w"}, {"fc"}) == [("expand", "expand/w")]


def test_the_fragile_layer_is_kept_at_int8(case) -> None:
    choice = choose_int8_layers(case["graph"], case["plan"], [case["cal"]], case["ref"], 1)
    assert choice.layers == ["conv3"], choice.gains
    assert choice.weights == ["conv3/w"]
    assert choice.gains["conv3"] == max(choice.gains.values()) > 0
    assert choice.error_chosen < 0.5 * choice.error_int4
    assert choice.elements == case["graph"].tensors["conv3/w"].data.size
    assert "conv3" in choice.note() and "int4_int8_layers auto" in choice.note()


def test_a_share_budget_is_respected(case) -> None:
    g = case["graph"]
    sizes = {w: g.tensors[w].data.size for _, w in candidates(g, {"stem/w"}, ())}
    share = (sizes["conv3/w"] - 1) / sum(sizes.values())  # conv3 no longer fits
    choice = choose_int8_layers(g, case["plan"], [case["cal"]], case["ref"], share)
    assert "conv3" not in choice.layers
    assert choice.elements <= share * sum(sizes.values())
    with pytest.raises(ValueError, match="int4_int8_budget must be > 0"):
        choose_int8_layers(g, case["plan"], [case["cal"]], case["ref"], 0)


def test_the_chosen_int4_gear_matches_the_oracle_on_every_isa(case) -> None:
    import dataclasses

    plan = dataclasses.replace(case["plan"], q4_int8={"conv3/w"})
    path = case["folder"] / "chosen.gear"
    write_gear.write_gear(case["graph"], path, ("fp32", "int8", "int4"), qplan=plan)
    f = gf.read_gear(path)
    np.testing.assert_array_equal(f.constants("int4")["conv3/w"], f.constants("int8")["conv3/w"])
    assert not np.array_equal(f.constants("int4")["expand/w"], f.constants("int8")["expand/w"])
    x = case["rng"].uniform(-1, 1, (5, 12, 12, 3)).astype(np.float32)
    want = np.asarray(next(iter(run_gear(str(path), "int4", x).values())))
    ran = []
    for isa in gs.runtime_info()["isa_compiled"]:
        try:
            rt = gs.Runtime(path, gear="int4", isa=isa)
        except ValueError:  # compiled in, but this CPU lacks it
            continue
        np.testing.assert_array_equal(rt.run(x), want, err_msg=f"isa {isa}")
        ran.append(isa)
    assert "ref" in ran


def test_int8_gptq_stays_on_the_int8_grid_and_lowers_the_layer_error(case, tmp_path) -> None:
    g, plan, cal = case["graph"], case["plan"], case["cal"]
    ours, result = round_int8_weights(g, plan, [cal], "gptq", progress=False)
    assert result.gear == "int8" and set(result.layers) == {"stem", "expand", "dw", "conv3", "fc"}
    assert np.exp(np.mean(np.log(list(result.gain.values())))) < 1.0
    changed = 0
    for w, (q, qp) in ours.weights.items():
        q0, qp0 = plan.weights[w]
        np.testing.assert_array_equal(qp.scale, qp0.scale)
        assert q.dtype == np.int8 and q.min() >= -127 and q.max() <= 127
        changed += int(np.sum(q != q0))
    assert changed > 0
    assert round_int8_weights(g, plan, [cal], "nearest")[0] is plan
    with pytest.raises(ValueError, match="'nearest', 'gptq'"):
        round_int8_weights(g, plan, [cal], "mse")
    path = tmp_path / "gptq8.gear"
    keep = {w for w in ours.weights}
    write_gear.write_gear(g, path, ("fp32", "int8", "int4"), qplan=ours, keep_f32=keep)
    exact = tmp_path / "gptq8-exact.gear"
    write_gear.write_gear(g, exact, ("fp32", "int8", "int4"), qplan=ours, storage="exact")
    f, e = gf.read_gear(path), gf.read_gear(exact)
    for k, v in e.constants("int8").items():  # compact and exact: the same int8 gear
        np.testing.assert_array_equal(f.constants("int8")[k], v)
    for w in keep:  # the float gear's weights stay the source's
        np.testing.assert_array_equal(f.constants("fp32")[w], g.tensors[w].data)
    x = case["rng"].uniform(-1, 1, (5, 12, 12, 3)).astype(np.float32)
    want = np.asarray(next(iter(run_gear(str(path), "int8", x).values())))
    np.testing.assert_array_equal(gs.Runtime(path, gear="int8").run(x), want)


def test_cli_flags() -> None:
    from gearshift.cli import build_parser

    a = build_parser().parse_args(
        [
            "convert", "m.keras", "-o", "x.gear", "--int4-int8-layers", "auto",
            "--int4-int8-budget", "6", "--int8-weight-rounding", "gptq",
        ]
    )  # fmt: skip
    assert (a.int4_int8_layers, a.int4_int8_budget, a.int8_weight_rounding) == ("auto", 6, "gptq")
    d = build_parser().parse_args(["convert", "m.keras", "-o", "x.gear"])
    assert (d.int4_int8_budget, d.int8_weight_rounding) == (0.25, "nearest")


def test_bad_values_say_what_is_accepted(tmp_path) -> None:
    with pytest.raises(ValueError, match="int8_weight_rounding must be one of"):
        gs.convert(tmp_path / "m.keras", tmp_path / "x.gear", int8_weight_rounding="mse")
    with pytest.raises(ValueError, match="int4_int8_budget must be > 0"):
        gs.convert(tmp_path / "m.keras", tmp_path / "x.gear", int4_int8_budget=0)
    with pytest.raises(ValueError, match="'auto'"):
        gs.convert(tmp_path / "m.keras", tmp_path / "x.gear", int4_int8_layers="all")


def test_convert_reports_the_layers_kept_at_int8(tmp_path) -> None:
    """gs.convert(int4_int8_layers="auto"): the first layer and at most ``budget`` measured
    ones, named in the report and the int4 gear's note; the int4 gear is the oracle's."""
    keras = pytest.importorskip("keras")
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.Conv2D(8, 3, padding="same", activation="relu", name="stem"),
            layers.Conv2D(32, 1, activation="relu", name="mid"),
            layers.Conv2D(32, 3, padding="same", activation="relu", name="wide"),
            layers.GlobalAveragePooling2D(name="pool"),
            layers.Dense(5, name="head"),
        ]
    )
    x = np.random.default_rng(6).standard_normal((32, 8, 8, 3)).astype(np.float32)
    out = tmp_path / "m.gear"
    report = gs.convert(
        model, out, gears=("fp32", "int4"), calibration=x, progress=False,
        weight_rounding="gptq", int4_int8_layers="auto", int4_int8_budget=1,
    )  # fmt: skip
    kept = report.int4_int8_layers
    assert kept[0] == "stem" and len(kept) <= 2 and set(kept) <= {"stem", "mid", "wide", "head"}
    note = [n for n in report.gear("int4").notes if "int4_int8_layers auto" in n]
    assert len(note) == 1 and all(k in note[0] for k in kept[1:])
    f = gf.read_gear(out)
    m = f.manifest
    storage = f.constant_storage("int4")
    for node in m["nodes"]:  # the kept layers read plain int8, the others the q4m view
        if node["op"] in ("CONV_2D", "FULLY_CONNECTED"):
            w = m["tensors"][node["inputs"][1]]["name"]
            q4m = m["storage"][storage[w]]["encoding"] == "q4m"
            assert q4m == (node["name"] not in kept), node["name"]
    want = np.asarray(next(iter(run_gear(str(out), "int4", x[:4]).values())))
    np.testing.assert_array_equal(gs.Runtime(out, gear="int4").run(x[:4]), want)
    plain = gs.convert(
        model, tmp_path / "p.gear", gears=("fp32", "int4"), calibration=x, progress=False
    )
    assert plain.int4_int8_layers == ["stem"]
