"""Weight rounding of the int4 gear (``gs.convert(weight_rounding=...)``).

The int4 gear's weights are ``q4m`` values (FORMAT.md): per channel ``c`` and block
``b`` of 32 weights along the reduction dimension, ``s[c] * m[c, b] * r`` with the
int8 gear's channel scale ``s[c]``, a block multiplier ``m`` in 1..15 and a 4-bit
``r`` in [-8, 7]. By default (``"nearest"``) they are derived from the int8 values
(the ``q4m`` view of the int8 weights: no bytes, but two roundings, and ``m`` fitted to
the int8 values rather than to the weights). This module chooses them from the float
weights instead:

- ``"mse"`` (a scale search): per block, the ``m`` in 1..15 and then ``r`` nearest to
  ``w / (s m)`` (clamped) with the least squared error, each weight's error weighted
  by the second moment of the input it multiplies (``E[x_k^2]``, the diagonal of
  ``H = X^T X`` over the calibration inputs): an error on a weight whose input is
  always small costs little.
- ``"gptq"`` (Frantar et al. 2022, "GPTQ"; the Optimal Brain Quantizer of Frantar and
  Alistarh 2022): the same ``m``, then the ``K`` input columns of the layer quantized in
  order, each column's rounding error pushed onto the columns not yet quantized through
  the inverse of ``H`` (damped by 1% of its mean diagonal), so that the layer's output
  on the calibration inputs, ``X W^T``, moves as little as the grid allows. ``H`` comes
  from the layer's float inputs (im2col rows for a convolution in the filter's
  ``(kh, kw, i)`` order; for a depthwise layer one ``KH*KW`` matrix per channel, its
  channels being independent problems).

Either way the chosen values are exact ``q4m`` values (``m * r`` in int8 units), so the
writer stores them as an int8 base of their own under the int4 gear's ``q4m`` view
(one byte a weight in the file: the view of a base already on the grid is the base,
bit for bit) and the int4 gear stays integer arithmetic, bit-exact with the oracle.
The int8 gear, the channel scales and the int32 biases are unchanged (bias correction,
when asked for, then gives the int4 gear biases of its own: ``QuantPlan.q4_biases``).
Weights that are exactly zero (pruned) stay zero. Layers the int4 gear keeps at int8
(those reading a graph input), float islands and TRANSPOSE_CONV (``"gptq"`` falls back
to ``"mse"`` there, with uniform weighting) are left as they are.

numpy only; the float inputs come from the fp32 gear on the C++ runtime, as bias
correction collects them (``bias_correction._runtime``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np

from ..gear_codec import Q4M_BLOCK, channel_rows, from_channel_rows
from .ir import Graph, Node
from .quantize import WEIGHT_AXIS, QuantPlan

__all__ = [
    "DAMP",
    "ROUNDINGS",
    "ROUNDING_SAMPLES",
    "Rounding",
    "gptq_rows",
    "q4m_search",
    "round_int4_weights",
    "round_int8_weights",
]

ROUNDINGS = ("nearest", "mse", "gptq")
#: at most this many calibration inputs estimate each layer's H
ROUNDING_SAMPLES = 64
#: H's damping, a share of its mean diagonal (GPTQ's default)
DAMP = 0.01
#: GPTQ quantizes the columns with the largest input second moments first
ACT_ORDER = True
#: im2col rows of one chunk are subsampled to keep rows * K^2 under this (H costs that)
MAX_FLOPS = 2e9
#: layers with a longer reduction (a dense layer after a flatten) keep only H's diagonal:
#: ``"gptq"`` rounds them as ``"mse"`` does (H's inverse would cost K^3)
MAX_FULL_K = 2304
_MULTIPLIERS = np.arange(1, 16, dtype=np.float64)


def _rha(x: np.ndarray) -> np.ndarray:
    """Round half away from zero (the converter's rounding everywhere)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _blocks(rows: np.ndarray, block: int) -> np.ndarray:
    """``[C, K]`` -> ``[C, nb, block]``, the last block zero-padded."""
    c, k = rows.shape
    nb = -(-k // block)
    out = np.zeros((c, nb * block), rows.dtype)
    out[:, :k] = rows
    return out.reshape(c, nb, block)


def q4m_search(
    target: np.ndarray, weight: np.ndarray | None = None, block: int = Q4M_BLOCK
) -> tuple[np.ndarray, np.ndarray]:
    """``(values [C, K], multipliers [C, nb])``: per block the ``m`` in 1..15 and the
    nearest ``r = clamp(rha(t / m), -8, 7)`` of least ``sum weight * (t - m r)^2``.

    ``target``: ``[C, K]`` weights in units of their channel's int8 step (``w / s[c]``);
    ``weight``: ``[K]`` or ``[C, K]`` non-negative error weights (None: uniform). For a
    fixed ``m`` the nearest ``r`` is the best one whatever the weights (the grid is
    uniform and the clamp a projection), so the result is never worse, in the weighted
    error, than any ``m * r`` grid with the same blocks: the int8-derived ``q4m`` view and
    max scaling included.
    """
    t = np.asarray(target, np.float64)
    c, k = t.shape
    wt = np.ones_like(t) if weight is None else np.asarray(weight, np.float64)
    tb, wb = _blocks(t, block), _blocks(np.ascontiguousarray(np.broadcast_to(wt, t.shape)), block)
    ms = _MULTIPLIERS.reshape(15, 1, 1, 1)
    v = ms * np.clip(_rha(tb[None] / ms), -8, 7)  # [15, C, nb, block]
    err = np.sum(wb[None] * (tb[None] - v) ** 2, axis=3)  # [15, C, nb]
    best = np.argmin(err, axis=0)  # the smallest m on a tie
    values = np.take_along_axis(v, best[None, :, :, None], axis=0)[0]
    return values.reshape(c, -1)[:, :k], best + 1


def gptq_rows(
    target: np.ndarray,
    h: np.ndarray,
    multipliers: np.ndarray,
    block: int = Q4M_BLOCK,
    damp: float = DAMP,
    keep_zero: np.ndarray | None = None,
    act_order: bool = False,
    qmin: int = -8,
    qmax: int = 7,
) -> np.ndarray:
    """GPTQ on rows ``[G, R, K]`` (``G`` independent problems of ``R`` rows sharing one
    ``H [G, K, K]``), with the block multipliers ``[G, R, nb]`` fixed: the quantized values
    ``m * r`` (int8 units), ``[G, R, K]``. ``keep_zero``: where the result must be 0.

    Column ``k`` is rounded to its grid, and its error ``e`` (divided by ``U[k, k]``, with
    ``U`` the upper Cholesky factor of ``H^-1``) is subtracted from the later columns
    through ``U[k, k+1:]``: the OBQ update, which minimises ``||X (W - W_q)^T||`` over
    those columns for the rounding just made. A column whose input is always 0 (``H``'s
    diagonal 0) gets nearest rounding and passes no error on. ``qmin``/``qmax``: the
    grid's codes (``[-8, 7]``, 4 bits; ``[-127, 127]`` with multipliers 1: the int8 gear's
    own grid, :func:`round_int8_weights`).
    """
    if act_order:  # GPTQ's "act-order": the columns with the largest inputs first
        order = np.argsort(-np.einsum("gkk->gk", np.asarray(h)), axis=1, kind="stable")
        inv = np.argsort(order, axis=1)
        g_idx = np.arange(order.shape[0])[:, None]
        mult = np.repeat(np.asarray(multipliers), block, axis=2)[:, :, : order.shape[1]]
        zero = None if keep_zero is None else np.asarray(keep_zero, bool)
        out = _gptq(
            np.take_along_axis(np.asarray(target, np.float64), order[:, None], axis=2),
            np.asarray(h, np.float64)[g_idx[:, :, None], order[:, :, None], order[:, None, :]],
            np.take_along_axis(mult, order[:, None], axis=2),
            damp,
            None if zero is None else np.take_along_axis(zero, order[:, None], axis=2),
            qmin,
            qmax,
        )
        return np.take_along_axis(out, inv[:, None], axis=2)
    k = np.asarray(target).shape[2]
    m = np.repeat(np.asarray(multipliers, np.float64), block, axis=2)[:, :, :k]
    return _gptq(target, h, m, damp, keep_zero, qmin, qmax)


def _gptq(
    target: np.ndarray,
    h: np.ndarray,
    m: np.ndarray,
    damp: float,
    keep_zero: np.ndarray | None,
    qmin: int = -8,
    qmax: int = 7,
) -> np.ndarray:
    """:func:`gptq_rows` with one multiplier per column ``m [G, R, K]``, in column order."""
    w = np.array(target, np.float64)
    k = w.shape[2]
    h = np.array(h, np.float64)
    diag = np.einsum("gkk->gk", h)
    dead = diag <= 0
    idx = np.arange(k)
    h[:, idx, idx] += damp * np.mean(diag, axis=1, keepdims=True) + np.where(dead, 1.0, 0.0)
    h[:, idx, idx] = np.maximum(h[:, idx, idx], 1e-12)
    hinv = np.linalg.inv(h)
    u = np.linalg.cholesky((hinv + hinv.transpose(0, 2, 1)) / 2).transpose(0, 2, 1)  # H^-1 = U^T U
    out = np.zeros_like(w)
    zero = np.zeros(w.shape, bool) if keep_zero is None else np.asarray(keep_zero, bool)
    for j in range(k):
        col = w[:, :, j]
        q = m[:, :, j] * np.clip(_rha(col / m[:, :, j]), qmin, qmax)
        q = np.where(zero[:, :, j], 0.0, q)
        out[:, :, j] = q
        if j + 1 < k:
            e = (col - q) / u[:, j, j][:, None]  # [G, R]
            e = np.where(dead[:, j][:, None], 0.0, e)
            w[:, :, j + 1 :] -= e[:, :, None] * u[:, None, j, j + 1 :]
    return out


@dataclass
class Rounding:
    """What :func:`round_int4_weights` did, for the convert report."""

    mode: str
    samples: int = 0
    layers: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    # per layer: the layer's output error on the calibration inputs relative to nearest
    # rounding's, tr((W - W_q) H (W - W_q)^T) over the same for the int8-derived view
    gain: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    gear: str = "int4"  # the gear whose weights were rounded

    def note(self) -> str:
        if not self.layers:
            return f"{self.gear} weight rounding ({self.mode}): no layer"
        ratio = np.exp(np.mean(np.log(np.maximum(list(self.gain.values()), 1e-12))))
        skipped = f"; {len(self.skipped)} left as they were" if self.skipped else ""
        return (
            f"{self.gear} weight rounding ({self.mode}, {self.samples} samples, "
            f"{self.seconds:.1f} s): "
            f"{len(self.layers)} layers{skipped}; output error x{ratio:.2f} of nearest "
            "rounding's (geometric mean over the layers)"
        )


@dataclass
class _Layer:
    node: Node
    x: str
    rows: np.ndarray  # [C, K] target, int8 units
    base: np.ndarray  # [C, K] the int8-derived q4m values (nearest)
    depthwise: bool
    kernel: tuple[int, int]
    h: np.ndarray | None = None  # [K, K], or [C, K, K] for depthwise
    n: int = 0

    def accumulate(self, x: np.ndarray, rng: np.random.Generator) -> None:
        cols = _im2col(self.node, np.asarray(x, np.float64), self.kernel, self.depthwise)
        k = self.rows.shape[1]
        per_row = k * k * self.rows.shape[0] if self.depthwise else k * min(k, MAX_FULL_K)
        cap = max(2048, int(MAX_FLOPS / per_row))
        if cols.shape[0] > cap:
            cols = cols[np.sort(rng.choice(cols.shape[0], cap, replace=False))]
        self.n += cols.shape[0]
        if self.depthwise:  # cols [N, K, C]
            part = np.einsum("nkc,njc->ckj", cols, cols)
        elif k > MAX_FULL_K:  # the diagonal only
            part = np.einsum("nk,nk->k", cols, cols)
        else:
            part = cols.T @ cols
        self.h = part if self.h is None else self.h + part


def _im2col(node: Node, x: np.ndarray, kernel: tuple[int, int], depthwise: bool) -> np.ndarray:
    """The layer's input as rows of its reduction dimension: ``[N, K]`` for conv/dense
    (``(kh, kw, i)`` order, as the OHWI filter flattens), ``[N, K, C]`` for depthwise."""
    from .reference import _windows

    if node.op == "FULLY_CONNECTED":
        return x.reshape(-1, x.shape[-1])
    kh, kw = kernel
    if depthwise:
        x = np.repeat(x, int(node.attrs.get("depth_multiplier", 1)), axis=3)
    _, _, _, taps = _windows(x, node, kh, kw, 0.0)
    if depthwise:  # [N*oh*ow, KH*KW, C]
        return np.stack([sl.reshape(-1, sl.shape[-1]) for _, _, sl in taps], axis=1)
    return np.concatenate([sl for _, _, sl in taps], axis=-1).reshape(-1, kh * kw * x.shape[3])


def _layers(
    graph: Graph, plan: QuantPlan, skip: Collection[str], bits: int = 4
) -> tuple[list[_Layer], dict[str, str]]:
    from ..gear_codec import q4m_values
    from .write_gear import int4_int8_layers

    readers: dict[str, int] = {}
    for n in graph.nodes:
        if n.op in WEIGHT_AXIS and len(n.inputs) > 1 and n.inputs[1] is not None:
            readers[n.inputs[1]] = readers.get(n.inputs[1], 0) + 1
    keep8 = int4_int8_layers(graph) | plan.q4_int8 if bits == 4 else set()
    layers, skipped = [], {}
    for n in graph.nodes:
        if n.op not in WEIGHT_AXIS:
            continue
        x, w = n.inputs[0], n.inputs[1]
        why = ""
        if n.name in skip:
            why = "computed in float"
        elif x is None or w is None or w not in plan.weights or graph.tensors[w].data is None:
            why = "no constant weights"
        elif w in keep8:
            first = w not in plan.q4_int8
            why = "int8 in the int4 gear" + (" (reads a graph input)" if first else "")
        elif readers.get(w, 0) > 1:
            why = "weights shared by several layers"
        if why:
            skipped[n.name] = why
            continue
        assert x is not None and w is not None
        axis = WEIGHT_AXIS[n.op]
        q8, qp = plan.weights[w]
        scale = np.asarray(qp.scale, np.float64).ravel()
        data = np.asarray(graph.tensors[w].data, np.float64)
        rows = channel_rows(data, axis) / scale[:, None]
        base = channel_rows(q4m_values(q8, axis, Q4M_BLOCK) if bits == 4 else q8, axis)
        base = base.astype(np.float64)
        kernel = tuple(data.shape[1:3]) if n.op != "FULLY_CONNECTED" else (1, 1)
        layers.append(_Layer(n, x, rows, base, n.op == "DEPTHWISE_CONV_2D", kernel))  # type: ignore[arg-type]
    return layers, skipped


def _output_error(
    diff: np.ndarray, h: np.ndarray | None, depthwise: bool, diag: np.ndarray | None = None
) -> float:
    """``tr(D H D^T)``: the squared output error over the calibration rows of a weight
    error ``D [C, K]`` (``H`` None: weighted by ``diag``, or the plain squared error)."""
    if h is None:
        return float(np.sum(diff**2 * (1.0 if diag is None else diag)))
    if depthwise:
        return float(np.einsum("ck,ckj,cj->", diff, h, diff))
    return float(np.einsum("ck,kj,cj->", diff, h, diff))


def _collect(graph: Graph, layers: list[_Layer], xs: list[np.ndarray], progress: bool) -> None:
    """Each layer's ``H`` from its float inputs (the fp32 gear on the C++ runtime)."""
    from ..progress import Progress
    from .bias_correction import _chunks, _read, _run, _runtime

    rng = np.random.default_rng(0)
    chunks = list(_chunks(xs))
    with (
        tempfile.TemporaryDirectory(prefix="gearshift-rounding-") as folder,
        _runtime(graph, "fp32", None, folder) as rt,
        Progress(len(chunks), "int4 rounding: inputs", enabled=None if progress else False) as bar,
    ):
        for chunk in chunks:
            given = dict(zip(graph.inputs, chunk))
            _run(rt, graph, chunk)
            for lay in layers:
                lay.accumulate(_read(rt, None, lay.x, given), rng)
            bar.update()


def _gptq_layer(
    lay: _Layer, h: np.ndarray, multipliers: np.ndarray, zero: np.ndarray, **grid: int
) -> np.ndarray:
    """GPTQ of one layer's channel rows (``gptq_rows``): one problem per channel for a
    depthwise layer (its own k x k ``H``), one for all rows otherwise (one shared ``H``).
    ``grid``: ``qmin``/``qmax`` where the codes are not 4-bit (the int8 gear)."""
    if lay.depthwise:
        return gptq_rows(
            lay.rows[:, None], h, multipliers[:, None], keep_zero=zero[:, None],
            act_order=ACT_ORDER, damp=DAMP, **grid,
        )[:, 0]  # fmt: skip
    return gptq_rows(
        lay.rows[None], h[None], multipliers[None], keep_zero=zero[None],
        act_order=ACT_ORDER, damp=DAMP, **grid,
    )[0]  # fmt: skip


def round_int4_weights(
    graph: Graph,
    plan: QuantPlan,
    xs: list[np.ndarray],
    mode: str = "gptq",
    skip: Collection[str] = (),
    progress: bool = True,
    say: Callable[[str], None] = lambda _m: None,
) -> tuple[QuantPlan, Rounding]:
    """A copy of ``plan`` whose ``q4_weights`` hold the int4 gear's own values, and what was
    done (module docstring). ``graph``: the graph ``plan`` was quantized from; ``xs``: the
    calibration inputs (one array per graph input; at most :data:`ROUNDING_SAMPLES`);
    ``skip``: the float islands (node names). ``"nearest"`` returns ``plan`` unchanged."""
    import dataclasses

    from ..gear_codec import q4m_values
    from ..progress import Progress

    if mode not in ROUNDINGS:
        raise ValueError(
            f"weight_rounding must be one of {', '.join(map(repr, ROUNDINGS))}, got {mode!r}"
        )
    t0 = time.perf_counter()
    result = Rounding(mode)
    if mode == "nearest":
        return plan, result
    n = min(ROUNDING_SAMPLES, xs[0].shape[0])
    xs = [np.asarray(x[:n], np.float32) for x in xs]
    layers, result.skipped = _layers(graph, plan, skip)
    result.samples = n
    if not layers:
        return plan, result
    measured = [lay for lay in layers if lay.node.op != "TRANSPOSE_CONV"]
    if measured:
        try:
            from .. import runtime as _  # noqa: F401  (the C++ extension)
        except ImportError as e:
            raise RuntimeError(
                f"weight_rounding={mode!r} measures each layer's inputs on the C++ runtime, and "
                f"its extension is not built ({e}): build it (make install) or convert with "
                "weight_rounding='nearest'"
            ) from e
        say(f"int4 weight rounding ({mode}): {len(layers)} layers on {n} samples")
        _collect(graph, measured, xs, progress)
    q4 = dict(plan.q4_weights)
    with Progress(len(layers), "int4 rounding: layers", enabled=None if progress else False) as bar:
        for lay in layers:
            w = lay.node.inputs[1]
            assert w is not None
            h = lay.h
            diag = None
            if h is not None and h.ndim == 1:  # MAX_FULL_K: the diagonal only
                diag, h = h, None
            elif h is not None:
                diag = np.einsum("ckk->ck", h) if lay.depthwise else np.diag(h)
            values, ms = q4m_search(lay.rows, diag)
            zero = lay.rows == 0
            values = np.where(zero, 0.0, values)
            if mode == "gptq" and h is not None:
                values = _gptq_layer(lay, h, ms, zero)
            axis = WEIGHT_AXIS[lay.node.op]
            q = from_channel_rows(values, plan.weights[w][0].shape, axis)
            q = np.ascontiguousarray(np.asarray(q, np.int64).astype(np.int8))
            if not np.array_equal(q4m_values(q, axis, Q4M_BLOCK), q):  # a fixed point of q4m
                raise AssertionError(f"{lay.node.name}: rounded values are not on the q4m grid")
            q4[w] = q
            scale = np.asarray(plan.weights[w][1].scale, np.float64).ravel()[:, None]
            ours = _output_error(scale * (values - lay.rows), h, lay.depthwise, diag)
            near = _output_error(scale * (lay.base - lay.rows), h, lay.depthwise, diag)
            result.gain[lay.node.name] = ours / near if near > 0 else 1.0
            result.layers.append(lay.node.name)
            bar.update()
    result.seconds = time.perf_counter() - t0
    return dataclasses.replace(plan, q4_weights=q4), result


#: the int8 gear's weight codes (``quant_ref.quantize_weights_q8``: symmetric, never -128)
Q8_MIN, Q8_MAX = -127, 127
INT8_ROUNDINGS = ("nearest", "gptq")


def round_int8_weights(
    graph: Graph,
    plan: QuantPlan,
    xs: list[np.ndarray],
    mode: str = "gptq",
    skip: Collection[str] = (),
    progress: bool = True,
    say: Callable[[str], None] = lambda _m: None,
) -> tuple[QuantPlan, Rounding]:
    """A copy of ``plan`` whose int8 weights (``weights``) are chosen by GPTQ on the int8
    gear's own grid (the same channel scales, codes in [-127, 127]) instead of nearest
    rounding (``gs.convert(int8_weight_rounding="gptq")``), and what was done.

    Each layer's ``H`` comes from its float inputs on the calibration data, as for the
    int4 gear; the values stay plain int8 at the same scales, so the int8 gear is still
    integer arithmetic, written and run (runtime and oracle) as any other int8 gear. The
    int4 gear derived from them (``"nearest"``) sees the new values; one rounded on its own
    (``round_int4_weights``) does not. Layers with the diagonal of ``H`` only (a reduction
    over :data:`MAX_FULL_K`), TRANSPOSE_CONV, float islands and shared weights stay as they
    are. ``"nearest"`` returns ``plan`` unchanged."""
    import dataclasses

    from ..progress import Progress

    if mode not in INT8_ROUNDINGS:
        raise ValueError(
            f"int8_weight_rounding must be one of {', '.join(map(repr, INT8_ROUNDINGS))}, "
            f"got {mode!r}"
        )
    t0 = time.perf_counter()
    result = Rounding(mode, gear="int8")
    if mode == "nearest":
        return plan, result
    n = min(ROUNDING_SAMPLES, xs[0].shape[0])
    xs = [np.asarray(x[:n], np.float32) for x in xs]
    layers, result.skipped = _layers(graph, plan, skip, bits=8)
    for lay in [lay for lay in layers if lay.node.op == "TRANSPOSE_CONV"]:
        result.skipped[lay.node.name] = "transposed convolution"
        layers.remove(lay)
    result.samples = n
    if not layers:
        return plan, result
    say(f"int8 weight rounding ({mode}): {len(layers)} layers on {n} samples")
    _collect(graph, layers, xs, progress)
    weights = dict(plan.weights)
    with Progress(len(layers), "int8 rounding: layers", enabled=None if progress else False) as bar:
        for lay in layers:
            w = lay.node.inputs[1]
            assert w is not None
            h = lay.h
            bar.update()
            if h is None or h.ndim == 1:
                result.skipped[lay.node.name] = "reduction too long for the full H"
                continue
            zero = lay.rows == 0
            ones = np.ones((lay.rows.shape[0], -(-lay.rows.shape[1] // Q4M_BLOCK)))
            values = _gptq_layer(lay, h, ones, zero, qmin=Q8_MIN, qmax=Q8_MAX)
            diag = np.einsum("ckk->ck", h) if lay.depthwise else np.diag(h)
            q8, qp = plan.weights[w]
            axis = WEIGHT_AXIS[lay.node.op]
            q = from_channel_rows(values, q8.shape, axis)
            weights[w] = (np.ascontiguousarray(np.asarray(q, np.int64).astype(np.int8)), qp)
            scale = np.asarray(qp.scale, np.float64).ravel()[:, None]
            ours = _output_error(scale * (values - lay.rows), h, lay.depthwise, diag)
            near = _output_error(scale * (lay.base - lay.rows), h, lay.depthwise, diag)
            result.gain[lay.node.name] = ours / near if near > 0 else 1.0
            result.layers.append(lay.node.name)
    result.seconds = time.perf_counter() - t0
    return dataclasses.replace(plan, weights=weights), result
