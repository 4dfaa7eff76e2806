"""converters/calibrate.py and gearshift/progress.py: ranges from every calibrator,
histogram merging across batches, the reference-interpreter hook, a quiet progress line."""

from __future__ import annotations

import io

import numpy as np
import pytest

from gearshift.converters import calibrate as cal
from gearshift.converters import quant_ref as qr
from gearshift.converters.ir import Graph, Node
from gearshift.progress import Progress, progress


def _small_graph() -> Graph:
    """x -> CONV_2D(relu) -> FULLY_CONNECTED via RESHAPE."""
    rng = np.random.default_rng(0)
    g = Graph()
    g.add_tensor("x", (-1, 4, 4, 2))
    g.inputs = ["x"]
    w = g.add_const("w", rng.normal(size=(3, 3, 3, 2)).astype(np.float32))
    g.add_tensor("c", (-1, 4, 4, 3))
    attrs = {"stride": [1, 1], "dilation": [1, 1], "padding": "SAME", "activation": "RELU"}
    g.add_node(Node("conv", "CONV_2D", ["x", w, None], ["c"], attrs))
    g.add_tensor("r", (-1, 48))
    g.add_node(Node("flat", "RESHAPE", ["c"], ["r"], {"shape": [48]}))
    fw = g.add_const("fw", rng.normal(size=(5, 48)).astype(np.float32))
    g.add_tensor("y", (-1, 5))
    g.add_node(Node("fc", "FULLY_CONNECTED", ["r", fw, None], ["y"], {"activation": "NONE"}))
    g.outputs = ["y"]
    g.validate()
    return g


def test_activations_hook_yields_every_tensor() -> None:
    g = _small_graph()
    x = np.random.default_rng(1).normal(size=(3, 4, 4, 2)).astype(np.float32)
    (acts,) = list(cal.activations(g, [x], progress=False))
    assert set(acts) == {"x", "c", "r", "y"}
    assert acts["c"].min() >= 0  # fused relu
    np.testing.assert_array_equal(acts["x"], x)


@pytest.mark.parametrize("method", sorted(cal.CALIBRATORS))
def test_calibrate_graph(method: str) -> None:
    g = _small_graph()
    rng = np.random.default_rng(2)
    batches = [rng.normal(size=(4, 4, 4, 2)).astype(np.float32) for _ in range(3)]
    ranges = cal.calibrate(g, batches, method, progress=False)
    mm = cal.calibrate(g, batches, "minmax", progress=False)
    assert set(ranges) == {"x", "c", "r", "y"}
    for name, (lo, hi) in ranges.items():
        assert lo < hi
        # no calibrator widens the observed range by more than one bin
        slack = (mm[name][1] - mm[name][0]) / 2048 * 1.01
        assert mm[name][0] - slack <= lo and hi <= mm[name][1] + slack
    with pytest.raises(ValueError, match="unknown calibration method"):
        cal.calibrate(g, batches, "kl-magic")


def test_minmax_and_percentile_on_outliers() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=200_000).astype(np.float32)
    a[:3] = [40.0, -35.0, 50.0]
    halves = [{"t": a[:100_000]}, {"t": a[100_000:]}]
    mm = cal.MinMax()
    mm.collect(halves)
    assert mm.compute()["t"] == (-35.0, 50.0)
    p = cal.Percentile(99.99)
    p.collect(halves)
    lo, hi = p.compute()["t"]
    want_lo, want_hi = np.percentile(a, [0.01, 99.99])
    bin_w = 85.0 / 2048
    assert abs(lo - want_lo) <= 2 * bin_w and abs(hi - want_hi) <= 2 * bin_w


def test_histogram_merge_matches_single_pass() -> None:
    rng = np.random.default_rng(4)
    a = rng.normal(size=50_000)
    one, two = cal.HistogramCalibrator(), cal.HistogramCalibrator()
    one.collect([{"t": a}])
    two.collect([{"t": a[: len(a) // 10]}, {"t": a[len(a) // 10 :]}])
    c1, lo1, hi1 = one.hists["t"]
    c2, lo2, hi2 = two.hists["t"]
    assert (lo1, hi1) == (lo2, hi2) and c1.sum() == c2.sum() == a.size
    # re-binning moves a count by at most one bin: the CDFs agree closely
    assert np.max(np.abs(np.cumsum(c1) - np.cumsum(c2))) / a.size < 0.01


def _int8_errors(x: np.ndarray, rng_: tuple[float, float]) -> tuple[float, float]:
    """(mean squared, median absolute) int8 round-trip error of ``x`` under a range."""
    qp = qr.choose_qparams(*rng_)
    e = qr.dequantize(qr.quantize(x, qp), qp) - x
    return float(np.mean(e**2)), float(np.median(np.abs(e)))


def test_error_minimising_calibrators() -> None:
    """MSE wins on its own metric; on a lone outlier the clipping ones win the typical value."""
    rng = np.random.default_rng(5)
    x = rng.laplace(size=100_000).astype(np.float32)
    x[0] = 60.0  # one outlier stretches min-max
    err = {}
    for name in ("minmax", "mse", "entropy", "percentile"):
        c = cal.CALIBRATORS[name]()
        c.collect([{"t": x}])
        err[name] = _int8_errors(x, c.compute()["t"])
    assert err["mse"][0] < err["minmax"][0]
    assert err["mse"][0] <= min(e[0] for e in err.values()) * 1.001
    assert err["entropy"][1] < 0.7 * err["minmax"][1]
    assert err["percentile"][1] < 0.5 * err["minmax"][1]


def test_mse_one_sided_keeps_zero() -> None:
    rng = np.random.default_rng(6)
    x = np.maximum(rng.normal(size=10_000), 0).astype(np.float32)  # post-ReLU
    c = cal.MSE()
    c.collect([{"relu": x}])
    lo, hi = c.compute()["relu"]
    assert lo == 0.0 and 0 < hi <= x.max()


def test_collect_ignores_non_finite() -> None:
    c = cal.MinMax()
    c.collect([{"t": np.array([1.0, np.nan, -2.0, np.inf])}])
    assert c.compute()["t"] == (-2.0, 1.0)


def test_progress_silent_when_not_a_tty() -> None:
    buf = io.StringIO()
    assert list(progress(range(5), desc="x", stream=buf)) == [0, 1, 2, 3, 4]
    assert buf.getvalue() == ""


def test_progress_in_place_when_enabled() -> None:
    buf = io.StringIO()
    with Progress(4, "calibrating", stream=buf, enabled=True, min_interval=0.0) as p:
        for _ in range(4):
            p.update()
    out = buf.getvalue()
    assert out.startswith("\rcalibrating  1/4") and out.endswith("\n")
    assert "4/4  100%" in out and out.count("\n") == 1
