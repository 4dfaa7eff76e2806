"""Activation-range calibrators for the int8 gear (onnxruntime's calibrator shape).

Every calibrator is fed per-tensor activation arrays, batch by batch
(``collect(batches)``, where a batch is ``{tensor_name: array}`` and axis 0 of
an array is the input axis), and returns ``{tensor_name: (min, max)}`` from
``compute()``. The ranges then go through :func:`quant_ref.choose_qparams`
(which widens them to include 0).

* :class:`InputPercentile` (the default, ``input_percentile``) -- the 90th
  percentile of the per-input maxima and the 10th of the per-input minima:
  no single input sets a range, whatever the order or batching.
* :class:`MovingMinMax` -- ai-edge-quantizer's moving average (0.95) of the
  per-input extremes, in input order.
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

:func:`calibrate` runs one pass recording every input's extremes per tensor
(``calibrate_extremes.Extremes``), from which the first two are computed and
an input that alone stretches a range is reported (a ``UserWarning``). The
histogram methods then run a second pass with their bins fixed over
:func:`histogram_range`, a robust range, so that one outlier cannot spread
them over empty space. Fed directly through ``collect`` (no first pass), a
histogram is merged across batches by re-binning: when a batch widens the
range, the old counts move to the new bins at their bin centres
(onnxruntime's ``HistogramCollector`` does the same), costing at most one old
bin width of resolution.

:func:`activations` yields every intermediate tensor per batch, computed by
the graph's fp32 gear on the C++ runtime (``Runtime(keep_tensors=True)``) or,
where that cannot run, the numpy reference interpreter (10-100x slower);
neither needs TensorFlow. The measurements behind the default are in
docs/QUANTIZATION.md.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .calibrate_extremes import Extremes, lone_input_outliers, warn_lone_inputs
from .ir import Graph
from .reference import _input_map, run_graph

__all__ = [
    "CALIBRATORS",
    "DEFAULT_INPUT_PERCENTILE",
    "DEFAULT_METHOD",
    "MSE",
    "Calibrator",
    "Entropy",
    "ExtremesCalibrator",
    "HistogramCalibrator",
    "InputPercentile",
    "MinMax",
    "MovingMinMax",
    "Percentile",
    "activation_runner",
    "activations",
    "calibrate",
    "histogram_range",
    "make_calibrator",
]

# The method gearshift.convert and the CLI use unless told otherwise
# (docs/QUANTIZATION.md, "Calibration", has the measurements behind it).
DEFAULT_METHOD = "input_percentile"
DEFAULT_INPUT_PERCENTILE = 90.0
# The histogram methods' bins span this statistic's range, widened (histogram_range).
HISTOGRAM_INPUT_PERCENTILE = 90.0


def activations(
    graph: Graph,
    batches: Iterable[Any],
    progress: bool = True,
    total: int | None = None,
    desc: str = "calibrating",
    engine: str = "auto",
) -> Iterator[dict[str, np.ndarray]]:
    """Runs ``graph`` on each batch; yields every non-constant tensor (inputs and
    intermediates) by name, for the batch or consecutive parts of it (axis 0).

    ``engine``: ``"runtime"`` runs the graph's fp32 gear on the C++ runtime
    (written to a temporary file, every tensor kept), ``"reference"`` the
    numpy reference interpreter (float64 inside each op, 10-100x slower),
    ``"auto"`` the runtime where the extension is built and runs the graph,
    else the reference. ``progress`` shows a progress line on stderr when it
    is a terminal.
    """
    with activation_runner(graph, engine) as run:
        yield from run(batches, progress=progress, total=total, desc=desc)


ENGINES = ("auto", "runtime", "reference")
# Inputs per runtime run while calibrating: its arena keeps every activation of
# a run (pose_detection: 40 MB per input), so a few at a time.
RUNTIME_CHUNK = 4


@contextlib.contextmanager
def activation_runner(graph: Graph, engine: str = "auto", copy: bool = True) -> Iterator[Any]:
    """A callable ``run(batches, progress, total, desc)`` yielding every tensor per
    batch (see :func:`activations`), open for several passes over the data.

    ``copy=False`` lets the runtime yield read-only views of its memory, which
    the next batch overwrites: for a consumer that is done with each batch's
    values before asking for the next (``calibrate``)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    reference = _ReferenceRunner(graph)
    if engine == "reference":
        yield reference
        return
    with contextlib.ExitStack() as stack:
        try:
            runner: Any = stack.enter_context(
                _RuntimeRunner.open(graph, reference if engine == "auto" else None, copy)
            )
        except Exception as e:
            if engine == "runtime":
                raise
            _warn_fallback(e)
            runner = reference
        yield runner


def _warn_fallback(e: BaseException) -> None:
    warnings.warn(
        f"calibrating on the numpy reference interpreter (slower): the C++ runtime "
        f"could not run this graph ({type(e).__name__}: {e})",
        RuntimeWarning,
        stacklevel=4,
    )


class _ReferenceRunner:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def run_batch(self, batch: Any) -> Iterator[dict[str, np.ndarray]]:
        values = run_graph(self.graph, batch, keep_all=True)
        yield {k: v for k, v in values.items() if not self.graph.tensors[k].is_const}

    def __call__(
        self,
        batches: Iterable[Any],
        progress: bool = True,
        total: int | None = None,
        desc: str = "calibrating",
    ) -> Iterator[dict[str, np.ndarray]]:
        from ..progress import Progress

        if total is None and hasattr(batches, "__len__"):
            total = len(batches)  # type: ignore[arg-type]
        with Progress(total, desc, enabled=None if progress else False) as bar:
            for batch in batches:
                yield from self.run_batch(batch)
                bar.update()


class _RuntimeRunner(_ReferenceRunner):
    """The graph's fp32 gear on the C++ runtime with every tensor kept
    (``Runtime(keep_tensors=True)``), run on at most ``RUNTIME_CHUNK`` inputs
    at a time (its arena holds all activations of a run at once), yielding
    one dict per run. With a ``fallback``, a failure of the very first run
    (an op or shape the runtime cannot plan) hands this and every later batch
    to it instead."""

    def __init__(
        self, graph: Graph, rt: Any, fallback: _ReferenceRunner | None, copy: bool = True
    ) -> None:
        super().__init__(graph)
        self.rt = rt
        self.copy = copy
        self.fallback = fallback
        self.ran = False
        inputs = set(graph.inputs)
        # node outputs, in graph order
        self.names = [n.outputs[0] for n in graph.nodes if n.outputs[0] not in inputs]

    @classmethod
    @contextlib.contextmanager
    def open(
        cls, graph: Graph, fallback: _ReferenceRunner | None = None, copy: bool = True
    ) -> Iterator[_RuntimeRunner]:
        from ..runtime import Runtime
        from .write_gear import write_gear

        with tempfile.TemporaryDirectory(prefix="gearshift-calibration-") as folder:
            path = os.path.join(folder, "fp32.gear")
            write_gear(graph, path, gears=("fp32",), storage="exact")
            threads = max(1, min(4, os.cpu_count() or 1))
            rt = Runtime(path, threads=threads, keep_tensors=True, verify_checksums=False)
            yield cls(graph, rt, fallback, copy)

    def run_batch(self, batch: Any) -> Iterator[dict[str, np.ndarray]]:
        if self.rt is None:  # fell back
            yield from self.fallback.run_batch(batch)  # type: ignore[union-attr]
            return
        xs = _input_map(self.graph, batch)  # checks shapes as the reference does
        n = next(iter(xs.values())).shape[0]
        for i in range(0, n, RUNTIME_CHUNK):
            chunk = {t: np.ascontiguousarray(x[i : i + RUNTIME_CHUNK]) for t, x in xs.items()}
            if self.fallback is not None and not self.ran:
                try:
                    self.rt.run(chunk)
                except Exception as e:
                    _warn_fallback(e)
                    self.rt = None
                    yield from self.fallback.run_batch(batch)
                    return
                self.ran = True
            else:
                self.rt.run(chunk)
            # a view dies at the next run: for consumers done with it before the next
            read = self.rt.read_tensor if self.copy else self.rt._rt._tensor_view
            values: dict[str, np.ndarray] = dict(chunk)
            values.update({k: read(k) for k in self.names})
            yield values


class Calibrator:
    """Base: ``collect`` any number of times, then ``compute``.

    A batch maps tensor names to arrays whose axis 0 is the input (sample)
    axis; calibrators that only need the values see them flattened, with
    NaN and inf removed (``_observe``).
    """

    def collect(self, batches: Iterable[Mapping[str, np.ndarray]]) -> None:
        for batch in batches:
            for name, arr in batch.items():
                self.observe_batch(name, np.asarray(arr, dtype=np.float32))

    def observe_batch(self, name: str, arr: np.ndarray) -> None:
        """One tensor's float32 values for a batch of inputs (axis 0)."""
        a = arr.ravel()
        a = a[np.isfinite(a)]
        if a.size:
            self._observe(name, a)

    def _observe(self, name: str, a: np.ndarray) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, tuple[float, float]]:
        raise NotImplementedError


class ExtremesCalibrator(Calibrator):
    """Base for statistics of each input's own (min, max) (:class:`Extremes`)."""

    def __init__(self) -> None:
        self.extremes = Extremes()

    def observe_batch(self, name: str, arr: np.ndarray) -> None:
        self.extremes.observe(name, arr)

    def compute(self) -> dict[str, tuple[float, float]]:
        out = {}
        for name in self.extremes.names():
            mins, maxs = self.extremes.get(name)
            out[name] = self.range_of(mins, maxs)
        return out

    def range_of(self, mins: np.ndarray, maxs: np.ndarray) -> tuple[float, float]:
        """The range from one tensor's per-input minima and maxima (input order)."""
        raise NotImplementedError


class MovingMinMax(ExtremesCalibrator):
    """Exponential moving average of the per-input min and max, in input order.

    ``r = momentum * r + (1 - momentum) * x_i``, starting from the first
    input's extremes: ai-edge-quantizer's (and TF's ``MovingAverageMinMax``)
    statistic, taken per input so that it does not depend on how the data is
    batched. One odd input moves the range by ``1 - momentum`` of its excess;
    the last inputs weigh most.
    """

    def __init__(self, momentum: float = 0.95) -> None:
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)

    def range_of(self, mins: np.ndarray, maxs: np.ndarray) -> tuple[float, float]:
        m = self.momentum
        lo, hi = float(mins[0]), float(maxs[0])
        for a, b in zip(mins[1:].tolist(), maxs[1:].tolist()):
            lo, hi = m * lo + (1.0 - m) * a, m * hi + (1.0 - m) * b
        return lo, hi


class InputPercentile(ExtremesCalibrator):
    """The ``p``-th percentile of the per-input maxima, ``(100 - p)``-th of the minima,
    each one input's value (numpy's ``higher`` / ``lower`` methods: no interpolation).

    Independent of the order and batching of the inputs; the most extreme
    ``(100 - p)`` % of inputs on each side, in whole inputs, cannot set the
    range: with ``p = 90``, none below 11 inputs (the range is then
    ``minmax``'s), 9 of 96. ``p = 100`` is ``minmax``; ``p = 50`` the median
    input's extremes.
    """

    def __init__(self, percentile: float = DEFAULT_INPUT_PERCENTILE) -> None:
        super().__init__()
        if not 50.0 <= percentile <= 100.0:
            raise ValueError(f"percentile must be in [50, 100], got {percentile}")
        self.percentile = float(percentile)

    def range_of(self, mins: np.ndarray, maxs: np.ndarray) -> tuple[float, float]:
        p = self.percentile
        lo = np.percentile(mins, 100.0 - p, method="lower")
        hi = np.percentile(maxs, p, method="higher")
        return float(lo), float(hi)


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
        self.fixed: dict[str, tuple[float, float]] = {}
        self.outside: dict[str, int] = {}

    def fix_ranges(self, ranges: Mapping[str, tuple[float, float]]) -> None:
        """Bins each named tensor over its given range from now on; values outside it
        are left out of the histogram (counted in ``outside``), so the range a method
        picks lies inside it and is chosen for the values inside.

        :func:`calibrate` passes :func:`histogram_range` of a first pass here, so
        that one outlier cannot spread the bins thin over empty space. (Folding the
        outliers into the edge bins instead made MSE widen the range towards them:
        a single value of 1000 among N(0, 1) moved its choice from 3.8 to 6.6.)
        """
        for name, (lo, hi) in ranges.items():
            lo, hi = float(lo), float(hi)
            if hi <= lo:
                hi = lo + max(abs(lo), 1.0) * 1e-6
            self.fixed[name] = (lo, hi)

    def _observe(self, name: str, a: np.ndarray) -> None:
        if name in self.fixed:
            lo, hi = self.fixed[name]
            counts = self.hists[name][0] if name in self.hists else np.zeros(self.bins)
            inside = (a >= lo) & (a <= hi)
            self.outside[name] = self.outside.get(name, 0) + int(a.size - inside.sum())
            new, _ = np.histogram(a[inside], self.bins, (lo, hi))
            self.hists[name] = (counts + new, lo, hi)
            return
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
            out[name] = self._range(counts, edges) if counts.sum() > 0 else (lo, hi)
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
    "moving_minmax": MovingMinMax,
    "input_percentile": InputPercentile,
    "percentile": Percentile,
    "mse": MSE,
    "entropy": Entropy,
}


def make_calibrator(method: str) -> Calibrator:
    """A fresh calibrator by name (:data:`CALIBRATORS`), or a ``ValueError`` listing them."""
    try:
        return CALIBRATORS[method]()
    except KeyError:
        raise ValueError(
            f"unknown calibration method {method!r}; expected one of {', '.join(CALIBRATORS)}"
        ) from None


def histogram_range(mins: np.ndarray, maxs: np.ndarray) -> tuple[float, float]:
    """Where a histogram calibrator puts its bins: the :class:`InputPercentile` range
    (p = HISTOGRAM_INPUT_PERCENTILE) widened by half its width on each side, within
    the observed extremes. Every candidate range the methods consider lies inside."""
    lo_r, hi_r = InputPercentile(HISTOGRAM_INPUT_PERCENTILE).range_of(mins, maxs)
    half = 0.5 * (hi_r - lo_r)
    return max(float(mins.min()), lo_r - half), min(float(maxs.max()), hi_r + half)


def calibrate(
    graph: Graph,
    batches: Iterable[Any],
    method: str = DEFAULT_METHOD,
    progress: bool = True,
    warn: bool = True,
    engine: str = "auto",
) -> dict[str, tuple[float, float]]:
    """Runs ``graph`` on ``batches`` and returns a ``(min, max)`` range per activation tensor.

    One pass records every input's extremes per tensor; the histogram methods
    (``percentile``, ``mse``, ``entropy``) run a second pass with their bins
    over :func:`histogram_range`. ``warn``: a ``UserWarning`` for each input that
    alone stretches a tensor's range (:func:`lone_input_outliers`). ``engine``:
    what computes the activations (:func:`activations`).
    """
    cal = make_calibrator(method)
    if not isinstance(batches, Sequence):
        batches = list(batches)  # iterated twice below
    # an ExtremesCalibrator's own record is the pass-one record; others get one beside
    feed_cal = not isinstance(cal, (ExtremesCalibrator, HistogramCalibrator))
    ext = cal.extremes if isinstance(cal, ExtremesCalibrator) else Extremes()
    with activation_runner(graph, engine, copy=False) as run:
        for acts in run(batches, progress=progress):
            for name, arr in acts.items():
                a = np.asarray(arr, dtype=np.float32)
                ext.observe(name, a)
                if feed_cal:
                    cal.observe_batch(name, a)
        if isinstance(cal, HistogramCalibrator):
            cal.fix_ranges({n: histogram_range(*ext.get(n)) for n in ext.names()})
            cal.collect(run(batches, progress=progress, desc="histograms"))
    if warn:
        warn_lone_inputs(lone_input_outliers(ext), method)
    return cal.compute()
