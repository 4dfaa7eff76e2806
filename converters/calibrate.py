"""Activation-range calibrators for the int8 gear (onnxruntime's calibrator shape).

Every calibrator is fed per-tensor activation arrays, batch by batch
(``collect(batches)``, where a batch is ``{tensor_name: array}``), and returns
``{tensor_name: (min, max)}`` from ``compute()``. The ranges then go through
:func:`quant_ref.choose_qparams` (which widens them to include 0).

* :class:`MinMax` -- the observed extremes. Never clips, so one outlier
  stretches the scale for everybody.
* :class:`Percentile` -- the ``(100 - p, p)`` percentiles of a 2048-bin
  histogram (default p = 99.99), clipping the rarest outliers.
* :class:`MSE` -- the range whose int8 fake-quantization of the histogram has
  the least expected squared error: trades clipping error against rounding
  error directly.
* :class:`Entropy` -- the range whose quantized distribution has the least KL
  divergence from the observed one (TensorRT's method, applied to both ends
  of the signed histogram by one shared shrink factor).

Histograms are merged across batches by re-binning: when a batch widens the
range, the old counts move to the new bins at their bin centres (onnxruntime's
``HistogramCollector`` does the same), costing at most one old bin width of
resolution.

:func:`activations` runs the numpy reference interpreter and yields every
intermediate tensor per batch, so calibration needs neither TensorFlow nor the
C++ runtime.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from .ir import Graph
from .reference import run_graph

__all__ = [
    "CALIBRATORS",
    "MSE",
    "Calibrator",
    "Entropy",
    "HistogramCalibrator",
    "MinMax",
    "Percentile",
    "activations",
    "calibrate",
]


def activations(
    graph: Graph, batches: Iterable[Any], progress: bool = True, total: int | None = None
) -> Iterator[dict[str, np.ndarray]]:
    """Runs ``graph`` on each batch with the reference interpreter; yields every
    non-constant tensor (inputs and intermediates) by name.

    ``progress`` shows a progress line on stderr when it is a terminal.
    """
    from ..progress import Progress

    if total is None and hasattr(batches, "__len__"):
        total = len(batches)  # type: ignore[arg-type]
    with Progress(total, "calibrating", enabled=None if progress else False) as bar:
        for batch in batches:
            values = run_graph(graph, batch, keep_all=True)
            yield {k: v for k, v in values.items() if not graph.tensors[k].is_const}
            bar.update()


class Calibrator:
    """Base: ``collect`` any number of times, then ``compute``."""

    def collect(self, batches: Iterable[Mapping[str, np.ndarray]]) -> None:
        for batch in batches:
            for name, arr in batch.items():
                a = np.asarray(arr, dtype=np.float32).ravel()
                a = a[np.isfinite(a)]
                if a.size:
                    self._observe(name, a)

    def _observe(self, name: str, a: np.ndarray) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, tuple[float, float]]:
        raise NotImplementedError


class MinMax(Calibrator):
    """Running min and max of every tensor."""

    def __init__(self) -> None:
        self.ranges: dict[str, tuple[float, float]] = {}

    def _observe(self, name: str, a: np.ndarray) -> None:
        lo, hi = float(a.min()), float(a.max())
        if name in self.ranges:
            plo, phi = self.ranges[name]
            lo, hi = min(lo, plo), max(hi, phi)
        self.ranges[name] = (lo, hi)

    def compute(self) -> dict[str, tuple[float, float]]:
        return dict(self.ranges)


class HistogramCalibrator(Calibrator):
    """Keeps a ``bins``-bin histogram per tensor over its observed [min, max]."""

    def __init__(self, bins: int = 2048) -> None:
        self.bins = int(bins)
        self.hists: dict[str, tuple[np.ndarray, float, float]] = {}

    def _observe(self, name: str, a: np.ndarray) -> None:
        lo, hi = float(a.min()), float(a.max())
        if name in self.hists:
            counts, plo, phi = self.hists[name]
            nlo, nhi = min(lo, plo), max(hi, phi)
            if (nlo, nhi) != (plo, phi):
                centers = plo + (np.arange(self.bins) + 0.5) * (phi - plo) / self.bins
                counts, _ = np.histogram(centers, self.bins, (nlo, nhi), weights=counts)
            lo, hi = nlo, nhi
        else:
            counts = np.zeros(self.bins)
        if hi == lo:
            hi = lo + max(abs(lo), 1.0) * 1e-6
        new, _ = np.histogram(a, self.bins, (lo, hi))
        self.hists[name] = (counts + new, lo, hi)

    def compute(self) -> dict[str, tuple[float, float]]:
        out = {}
        for name, (counts, lo, hi) in self.hists.items():
            edges = np.linspace(lo, hi, self.bins + 1)
            out[name] = self._range(counts, edges)
        return out

    def _range(self, counts: np.ndarray, edges: np.ndarray) -> tuple[float, float]:
        raise NotImplementedError


class Percentile(HistogramCalibrator):
    """``(100 - p)``-th and ``p``-th percentiles from the histogram."""

    def __init__(self, percentile: float = 99.99, bins: int = 2048) -> None:
        super().__init__(bins)
        if not 50.0 < percentile <= 100.0:
            raise ValueError(f"percentile must be in (50, 100], got {percentile}")
        self.percentile = float(percentile)

    def _range(self, counts: np.ndarray, edges: np.ndarray) -> tuple[float, float]:
        cdf = np.cumsum(counts) / counts.sum()
        q = self.percentile / 100.0
        i_lo = int(np.searchsorted(cdf, 1.0 - q, side="right"))
        i_hi = int(np.searchsorted(cdf, q, side="left"))
        return float(edges[min(i_lo, self.bins - 1)]), float(edges[min(i_hi + 1, self.bins)])


def _fake_quant_mse(
    centers: np.ndarray, counts: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Expected squared int8 error of the histogram for each candidate range (vectorised)."""
    lo = np.minimum(lo, 0.0)[:, None]
    hi = np.maximum(hi, 0.0)[:, None]
    scale = np.maximum((hi - lo) / 255.0, 1e-30)
    zp = np.clip(np.round(-128.0 - lo / scale), -128, 127)
    q = np.clip(np.round(centers[None, :] / scale) + zp, -128, 127)
    err = (centers[None, :] - (q - zp) * scale) ** 2
    return err @ counts


class MSE(HistogramCalibrator):
    """Range minimising the expected int8 quantization MSE over a grid of shrunk ranges.

    Both ends shrink independently (``steps`` fractions each) when the data
    straddles 0; one end only when it does not, since 0 is always kept.
    """

    def __init__(self, bins: int = 2048, steps: int = 48) -> None:
        super().__init__(bins)
        self.steps = int(steps)

    def _range(self, counts: np.ndarray, edges: np.ndarray) -> tuple[float, float]:
        centers = 0.5 * (edges[:-1] + edges[1:])
        lo, hi = min(float(edges[0]), 0.0), max(float(edges[-1]), 0.0)
        t = np.linspace(1.0 / self.steps, 1.0, self.steps)
        ta, tb = np.meshgrid(t if lo < 0 else [1.0], t if hi > 0 else [1.0], indexing="ij")
        cand_lo, cand_hi = lo * ta.ravel(), hi * tb.ravel()
        err = _fake_quant_mse(centers, counts, cand_lo, cand_hi)
        k = int(np.argmin(err))
        return float(cand_lo[k]), float(cand_hi[k])


class Entropy(HistogramCalibrator):
    """Range minimising KL(P || Q), TensorRT-style, over a shared shrink factor.

    For each candidate ``[lo*t, hi*t]``: P is the histogram restricted to the
    bins inside, with the clipped outliers folded into its edge bins; Q is the
    inside bins *without* the outliers merged into 255 equal-width
    quantization levels and spread back uniformly over each level's non-empty
    bins, so clipping costs KL. The ``t`` with the least KL wins; like
    TensorRT, candidates narrower than ``levels`` bins are not considered.
    """

    def __init__(self, bins: int = 2048, steps: int = 128, levels: int = 255) -> None:
        super().__init__(bins)
        self.steps = int(steps)
        self.levels = int(levels)

    def _range(self, counts: np.ndarray, edges: np.ndarray) -> tuple[float, float]:
        lo, hi = float(edges[0]), float(edges[-1])
        best_kl, best = np.inf, (lo, hi)
        for t in np.linspace(1.0 / self.steps, 1.0, self.steps):
            clo = lo * t if lo < 0 else lo
            chi = hi * t if hi > 0 else hi
            i0 = int(np.searchsorted(edges, clo, side="right")) - 1
            i1 = int(np.searchsorted(edges, chi, side="left"))
            i0, i1 = max(i0, 0), min(max(i1, i0 + 1), self.bins)
            inner = counts[i0:i1].astype(np.float64)
            if inner.size < self.levels:  # fewer bins than levels: Q == P, KL 0, meaningless
                continue
            p = inner.copy()
            p[0] += counts[:i0].sum()
            p[-1] += counts[i1:].sum()
            # Q: the *unclipped* inner bins quantized into `levels` groups and spread
            # back over non-empty bins. Building Q from P with the outliers folded
            # in (as this did first) hides the clipping error from the KL, and a
            # large spike at zero (ReLU outputs, image backgrounds) then shrank
            # the range to 1/8 and the digits CNN's int8 accuracy to 10%.
            group = np.minimum((np.arange(p.size) * self.levels) // p.size, self.levels - 1)
            nz = inner > 0
            sums = np.bincount(group, weights=inner, minlength=self.levels)
            nnz = np.bincount(group, weights=nz.astype(np.float64), minlength=self.levels)
            q = np.where(nz, sums[group] / np.maximum(nnz[group], 1), 0.0)
            ps, qs = p / p.sum(), q / q.sum()
            m = ps > 0
            kl = float(np.sum(ps[m] * np.log(ps[m] / np.maximum(qs[m], 1e-12))))
            if kl < best_kl:
                best_kl, best = kl, (float(edges[i0]), float(edges[i1]))
        return best


CALIBRATORS: dict[str, type[Calibrator]] = {
    "minmax": MinMax,
    "percentile": Percentile,
    "mse": MSE,
    "entropy": Entropy,
}


def calibrate(
    graph: Graph, batches: Iterable[Any], method: str = "minmax", progress: bool = True
) -> dict[str, tuple[float, float]]:
    """Runs ``graph`` on ``batches`` and returns a ``(min, max)`` range per activation tensor."""
    try:
        cal = CALIBRATORS[method]()
    except KeyError:
        raise ValueError(
            f"unknown calibration method {method!r}; expected one of {', '.join(CALIBRATORS)}"
        ) from None
    cal.collect(activations(graph, batches, progress=progress))
    return cal.compute()
