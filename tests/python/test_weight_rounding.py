"""The int4 gear's weight rounding (converters/weight_rounding.py).

The block-multiplier search never has a larger (weighted) squared error than the
int8-derived q4m view or max scaling, block by block; GPTQ lowers a dense layer's output
error ``||X (W - W_q)^T||`` against nearest rounding on correlated inputs, and is nearest
rounding when ``H`` is diagonal; a gear written with either stays bit-exact with the
numpy oracle on every ISA, keeps the int8 gear as it was, and is closer to the float
model on inputs the rounding never saw. Bad values are refused with the accepted ones.
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
from gearshift.converters.quantize import WEIGHT_AXIS, quantize_graph
from gearshift.converters.weight_rounding import gptq_rows, q4m_search, round_int4_weights
from gearshift.gear_codec import Q4M_BLOCK, channel_rows, q4m_values


def _block_errors(t: np.ndarray, v: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per-block weighted squared error ``[C, nb]``."""
    c, k = t.shape
    nb = -(-k // Q4M_BLOCK)
    e = np.zeros((c, nb * Q4M_BLOCK))
    e[:, :k] = weight * (t - v) ** 2
    return e.reshape(c, nb, Q4M_BLOCK).sum(axis=2)


def _max_scaled(t: np.ndarray) -> np.ndarray:
    """Max scaling on the q4m grid: per block the smallest ``m`` whose 7 steps reach its
    largest magnitude (15 at most), ``r`` nearest."""
    k = t.shape[1]
    out = np.empty_like(t)
    for s in range(0, k, Q4M_BLOCK):
        blk = t[:, s : s + Q4M_BLOCK]
        m = np.clip(np.ceil(np.abs(blk).max(axis=1, keepdims=True) / 7), 1, 15)
        out[:, s : s + Q4M_BLOCK] = m * np.clip(np.round(blk / m), -8, 7)
    return out


@pytest.mark.parametrize("dist", ["normal", "laplace"])
@pytest.mark.parametrize("weighted", [False, True])
def test_search_never_increases_block_error(dist: str, weighted: bool) -> None:
    rng = np.random.default_rng(0)
    shape = (48, 3, 3, 24)  # K = 216: six full blocks and one of 24
    w = getattr(rng, dist)(0, 1, shape)
    w[:, 0, 0, 0] *= 4  # outliers that max scaling follows
    scale = np.abs(w).reshape(48, -1).max(axis=1) / 127
    q8 = np.clip(np.round(w / scale[:, None, None, None]), -127, 127).astype(np.int8)
    t = channel_rows(w, 0) / scale[:, None]
    weight = rng.gamma(0.5, 1.0, t.shape[1]) if weighted else np.ones(t.shape[1])
    ours, ms = q4m_search(t, weight if weighted else None)
    assert ms.min() >= 1 and ms.max() <= 15
    np.testing.assert_array_equal(q4m_values(ours.astype(np.int8), 0).reshape(48, -1), ours)
    for other in (channel_rows(q4m_values(q8, 0), 0).astype(np.float64), _max_scaled(t)):
        mine, theirs = _block_errors(t, ours, weight), _block_errors(t, other, weight)
        assert np.all(mine <= theirs * (1 + 1e-12)), np.max(mine - theirs)
        assert mine.sum() < theirs.sum()


def _dense_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X [N, K], targets [R, K] in int8 steps, H)``: inputs with strongly correlated
    features (a few latent factors), as a conv layer's neighbouring pixels are."""
    n, k, r = 2048, 96, 24
    latent = rng.standard_normal((n, 8))
    x = latent @ rng.standard_normal((8, k)) + 0.1 * rng.standard_normal((n, k))
    t = rng.standard_normal((r, k)) * 30
    return x, t, x.T @ x


@pytest.mark.parametrize("act_order", [False, True])
def test_gptq_lowers_the_output_error_of_a_dense_layer(act_order: bool) -> None:
    x, t, h = _dense_case(np.random.default_rng(1))
    nearest, ms = q4m_search(t, np.diag(h))
    ours = gptq_rows(t[None], h[None], ms[None], act_order=act_order)[0]
    np.testing.assert_array_equal(q4m_values(ours.astype(np.int8), 0), ours)
    err_nearest = np.linalg.norm(x @ (t - nearest).T)
    err_gptq = np.linalg.norm(x @ (t - ours).T)
    assert err_gptq < 0.5 * err_nearest, (err_gptq, err_nearest)


@pytest.mark.parametrize("act_order", [False, True])
def test_gptq_is_nearest_rounding_when_h_is_diagonal(act_order: bool) -> None:
    rng = np.random.default_rng(2)
    t = rng.standard_normal((3, 16, 40)) * 25
    h = np.stack([np.diag(rng.uniform(0.5, 2.0, 40)) for _ in range(3)])
    ms = np.stack([q4m_search(t[i], np.diag(h[i]))[1] for i in range(3)])
    nearest = np.stack([q4m_search(t[i], np.diag(h[i]))[0] for i in range(3)])
    np.testing.assert_array_equal(gptq_rows(t, h, ms, act_order=act_order), nearest)


def test_gptq_keeps_zeros_and_passes_no_error_from_a_dead_input() -> None:
    _, t, h = _dense_case(np.random.default_rng(3))
    h[5, :] = h[:, 5] = 0  # input 5 is always 0
    zero = np.zeros(t.shape, bool)
    zero[:, ::7] = True
    _, ms = q4m_search(t, np.diag(h))
    ours = gptq_rows(t[None], h[None], ms[None], keep_zero=zero[None])[0]
    assert np.all(ours[zero] == 0)
    assert np.all(np.isfinite(ours))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    rng = np.random.default_rng(11)
    g = _graph(rng)
    cal = rng.uniform(-1, 1, (16, 12, 12, 3)).astype(np.float32)
    plan = quantize_graph(g, calibrate(g, [cal], progress=False))
    folder = tmp_path_factory.mktemp("rounding")
    out = {"graph": g, "x": rng.uniform(-1, 1, (12, 12, 12, 3)).astype(np.float32)}
    for mode in ("nearest", "mse", "gptq"):
        p, result = round_int4_weights(g, plan, [cal], mode, progress=False)
        out[mode] = folder / f"{mode}.gear"
        out[f"{mode}-result"] = result
        write_gear.write_gear(g, out[mode], ("fp32", "int8", "int4"), qplan=p)
    return out


@pytest.mark.parametrize("mode", ["mse", "gptq"])
def test_rounded_int4_gear_matches_the_oracle_on_every_isa(files, mode) -> None:
    path, x = str(files[mode]), files["x"]
    want = np.asarray(next(iter(run_gear(path, "int4", x).values())))
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


@pytest.mark.parametrize("mode", ["mse", "gptq"])
def test_only_the_int4_weights_change(files, mode) -> None:
    near, ours = gf.read_gear(files["nearest"]), gf.read_gear(files[mode])
    for k, v in near.constants("int8").items():
        np.testing.assert_array_equal(ours.constants("int8")[k], v)
    c_near, c_ours = near.constants("int4"), ours.constants("int4")
    changed = {k for k in c_near if not np.array_equal(c_near[k], c_ours[k])}
    assert changed and all(k.endswith("/w") for k in changed), changed
    assert "stem/w" not in changed  # kept at int8: it reads the graph input
    result = files[f"{mode}-result"]
    assert result.layers == ["expand", "dw", "conv3", "fc"]
    assert result.skipped == {"stem": "int8 in the int4 gear (reads a graph input)"}
    for name, v in c_ours.items():  # every int4 weight on the grid its q4m view gives
        if name in changed:
            node = next(n for n in files["graph"].nodes if name in n.inputs[1:2])
            np.testing.assert_array_equal(q4m_values(v, WEIGHT_AXIS[node.op]), v)


def test_gptq_brings_the_int4_gear_closer_to_float(files) -> None:
    x = files["x"]  # never seen by the rounding
    ref = gs.Runtime(files["nearest"], gear="fp32").run(x)
    err = {
        m: float(np.mean((gs.Runtime(files[m], gear="int4").run(x) - ref) ** 2))
        for m in ("nearest", "gptq")
    }
    assert err["gptq"] < 0.8 * err["nearest"], err
    assert np.mean(np.log(list(files["gptq-result"].gain.values()))) < np.log(0.8)


def test_bad_value_says_what_is_accepted(tmp_path) -> None:
    with pytest.raises(ValueError, match="'nearest', 'mse', 'gptq'"):
        gs.convert(tmp_path / "m.keras", tmp_path / "x.gear", weight_rounding="optimal")


def test_cli_flag() -> None:
    from gearshift.cli import build_parser

    a = build_parser().parse_args(
        ["convert", "m.keras", "-o", "x.gear", "--weight-rounding", "gptq"]
    )
    assert a.weight_rounding == "gptq"
    assert build_parser().parse_args(["convert", "m.keras", "-o", "x.gear"]).weight_rounding == (
        "nearest"
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["convert", "m.keras", "-o", "x.gear", "--weight-rounding", "x"])


def test_depthwise_kept_at_int8_in_the_int4_gear(files, tmp_path) -> None:
    from gearshift.converters.convert import _int4_int8

    g = files["graph"]
    assert _int4_int8(g, "first") == set()
    assert _int4_int8(g, "depthwise") == {"dw/w"}
    assert _int4_int8(g, ["conv3"]) == {"conv3/w"}
    with pytest.raises(ValueError, match="no convolution or dense layer named"):
        _int4_int8(g, ["mean"])
    rng = np.random.default_rng(11)
    cal = rng.uniform(-1, 1, (16, 12, 12, 3)).astype(np.float32)
    plan = quantize_graph(g, calibrate(g, [cal], progress=False))
    plan.q4_int8 = {"dw/w"}
    plan, result = round_int4_weights(g, plan, [cal], "gptq", progress=False)
    assert result.skipped["dw"] == "int8 in the int4 gear" and "dw/w" not in plan.q4_weights
    path = tmp_path / "dw8.gear"
    write_gear.write_gear(g, path, ("fp32", "int8", "int4"), qplan=plan)
    f = gf.read_gear(path)
    np.testing.assert_array_equal(f.constants("int4")["dw/w"], f.constants("int8")["dw/w"])
    want = np.asarray(next(iter(run_gear(str(path), "int4", files["x"]).values())))
    np.testing.assert_array_equal(gs.Runtime(path, gear="int4").run(files["x"]), want)
