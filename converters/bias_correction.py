"""Empirical bias correction of the integer gears (``gs.convert(bias_correction=...)``).

Quantizing a layer's weights (and its input) changes the mean of its output: the
rounding errors of a channel's weights need not cancel, and a layer whose inputs are
mostly positive (after a ReLU) turns a weight error into a shift of every output. For
each convolution, depthwise, transposed convolution and dense layer this module
measures, on the calibration inputs, the mean per-output-channel error of the integer
gear's pre-activation ``E[y_q] - E[y]`` and subtracts it from the layer's bias
(Nagel et al. 2019, "Data-Free Quantization Through Weight Equalization and Bias
Correction", section 4.2, in its empirical form; Banner et al. 2019; Finkelstein et al.
2019). Only the integer gears' int32 biases change, re-quantized at their usual scale
``x_scale * w_scale[c]``: the float gears keep the source's biases, and the runtime
computes nothing new.

Two variants (``mode``):

- ``"sequential"`` (what ``bias_correction=True`` runs): ``y_q`` is the layer's
  pre-activation in the integer gear itself (its int8 input as the gear computes it, with
  every upstream layer already corrected, times its int8 weights) and ``y`` the float
  model's. The correction then removes the mean of the error that reaches the layer from
  upstream as well as its own weight error. Layers are corrected in waves: a wave holds
  every layer whose upstream layers are all corrected, and each wave runs the gear once
  (written with the corrections so far, on the C++ runtime with every tensor kept).
- ``"weights"``: weight error alone, ``E[(W_q - W) x]`` with the float model's input
  ``x`` (Nagel's form): one float pass, no integer runs; cheaper, but blind to the
  error coming from quantized activations.

The mean is taken where a shift of the bias reaches the layer's int8 output: over the
positions whose float pre-activation lies in the fused activation's linear range
(``RELU``: ``y > 0``) and inside the range the output's int8 parameters represent. Where
the output clamps, the error is not a shift, and counting it would move the bias for
the positions that do pass (measured on BlazeFace: the background logits of the
classifier, clamped at the low end of its range, pulled its bias by 2.4 output steps).
A channel with fewer than ``MIN_POSITIONS`` such positions is left as it is.

The int8 and int4 gears of one file share their biases (``write_gear``), so one gear
is corrected: int8 when the file has one, else int4 (whose weight error is larger).
An imported int8 ``.tflite`` keeps its own parameters: convert does not call this.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..gear_codec import Q4M_BLOCK, q4m_values
from .ir import Graph, Node
from .quant_ref import dequantize_output, quantize_input
from .quantize import WEIGHT_AXIS, WEIGHT_OPS, QuantPlan, quantize_bias_q32
from .reference import _eval

__all__ = ["BIAS_SAMPLES", "MODES", "BiasCorrection", "correct_biases"]

MODES = ("sequential", "weights")
#: at most this many calibration inputs estimate the corrections
BIAS_SAMPLES = 64
#: a channel needs this many positions in its activation's linear range to be corrected
MIN_POSITIONS = 16
CHUNK = 4  # inputs per runtime run: its arena keeps every tensor of a run


@dataclass
class BiasCorrection:
    """What :func:`correct_biases` did, for the convert report."""

    mode: str
    gear: str
    samples: int
    corrected: list[str] = field(default_factory=list)  # layer names
    skipped: dict[str, str] = field(default_factory=dict)  # layer -> why not
    # per corrected layer: mean |correction| over its channels, in steps of its int8 output
    steps: dict[str, float] = field(default_factory=dict)
    waves: int = 0

    def note(self) -> str:
        if not self.corrected:
            return f"bias correction ({self.mode}, {self.gear}): no layer to correct"
        biggest = sorted(self.steps.items(), key=lambda kv: -kv[1])[:3]
        big = ", ".join(f"{k} {v:.2g}" for k, v in biggest)
        skipped = f"; {len(self.skipped)} skipped" if self.skipped else ""
        return (
            f"bias correction ({self.mode}, for the {self.gear} gear, on {self.samples} "
            f"samples): {len(self.corrected)} layers{skipped}; largest mean shifts (output steps): "
            f"{big}"
        )


def _preact_node(n: Node) -> Node:
    return Node(n.name, n.op, list(n.inputs), list(n.outputs), {**n.attrs, "activation": "NONE"})


ACTIVATION_RANGE = {"RELU": (0.0, np.inf), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}


def _linear_mask(y: np.ndarray, act: str, out: tuple[float, float]) -> np.ndarray:
    """Where the layer's output follows its pre-activation ``y``: inside the fused
    activation's linear range and inside ``out``, the range its int8 output represents."""
    lo, hi = ACTIVATION_RANGE.get(act, (-np.inf, np.inf))
    return (y > max(lo, out[0])) & (y < min(hi, out[1]))


@dataclass
class _Layer:
    node: Node
    x: str
    weight: np.ndarray  # float
    weight_q: np.ndarray  # the gear's weights, dequantized (float64)
    bias: np.ndarray  # float
    out_range: tuple[float, float]  # what the int8 output represents
    total: np.ndarray = field(default_factory=lambda: np.zeros(0))
    count: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def accumulate(self, x_f: np.ndarray, x_q: np.ndarray | None) -> None:
        """Adds one chunk's error sums; ``x_q`` None: weight error on the float input."""
        pre = _preact_node(self.node)
        y_f = np.asarray(_eval(pre, [x_f, self.weight, self.bias]), np.float64)
        if x_q is None:
            zero = np.zeros_like(self.bias)
            err = np.asarray(_eval(pre, [x_f, self.weight_q - self.weight, zero]), np.float64)
        else:
            y_q = np.asarray(_eval(pre, [x_q, self.weight_q, self.bias]), np.float64)
            err = y_q - y_f
        c = err.shape[-1]
        m = _linear_mask(y_f, self.node.activation, self.out_range).reshape(-1, c)
        s, k = np.where(m, err.reshape(-1, c), 0.0).sum(axis=0), m.sum(axis=0).astype(np.float64)
        if self.total.size == 0:
            self.total, self.count = np.zeros(c), np.zeros(c)
        self.total += s
        self.count += k

    def shift(self) -> np.ndarray:
        mean = np.divide(self.total, np.maximum(self.count, 1.0))
        return np.where(self.count >= MIN_POSITIONS, mean, 0.0)


def _gear_weights(plan: QuantPlan, w: str, op: str, q4: bool) -> np.ndarray:
    """The gear's weight values in float64: int8 (or its int4 ``q4m`` view) times scale."""
    q, qp = plan.weights[w]
    axis = WEIGHT_AXIS[op]
    if q4 and w in plan.q4_weights:  # the int4 gear's own rounding (weight_rounding)
        q = plan.q4_weights[w]
    elif q4:
        q = q4m_values(q, axis, Q4M_BLOCK)
    shape = [1] * q.ndim
    shape[axis % q.ndim] = -1
    return q.astype(np.float64) * np.asarray(qp.scale, np.float64).reshape(shape)


def _layers(
    graph: Graph, plan: QuantPlan, q4: bool, skip: Collection[str]
) -> tuple[list[_Layer], dict[str, str]]:
    from .write_gear import int4_int8_layers

    readers: dict[str, int] = {}
    for n in graph.nodes:
        for t in set(n.inputs):
            if t is not None:
                readers[t] = readers.get(t, 0) + 1
    keep8 = int4_int8_layers(graph) | plan.q4_int8 if q4 else set()
    layers, skipped = [], {}
    for n in graph.nodes:
        if n.op not in WEIGHT_OPS:
            continue
        x, w = n.inputs[0], n.inputs[1]
        b = n.inputs[2] if len(n.inputs) > 2 else None
        why = ""
        if n.name in skip:
            why = "computed in float"
        elif x is None or w is None or w not in plan.weights:
            why = "no constant weights"
        elif b is None or b not in plan.biases or graph.tensors[b].data is None:
            why = "no bias"
        elif readers.get(b, 0) > 1:
            why = "bias shared with another layer"
        if why:
            skipped[n.name] = why
            continue
        assert x is not None and w is not None and b is not None
        qp = plan.activations[n.outputs[0]]
        scale, zp = float(qp.scale), int(qp.zero_point)
        layers.append(
            _Layer(
                n,
                x,
                np.asarray(graph.tensors[w].data, np.float64),
                _gear_weights(plan, w, n.op, q4 and w not in keep8),
                np.asarray(graph.tensors[b].data, np.float64),
                (scale * (-128 - zp), scale * (127 - zp)),
            )
        )
    return layers, skipped


def _waves(graph: Graph, layers: list[_Layer]) -> list[list[_Layer]]:
    """Layers grouped so that every layer's upstream layers lie in earlier groups."""
    names = {lay.node.name for lay in layers}
    producer = {t: n for n in graph.nodes for t in n.outputs}
    memo: dict[str, frozenset[str]] = {}

    def upstream(t: str) -> frozenset[str]:
        """The corrected layers that tensor ``t`` depends on."""
        if t in memo:
            return memo[t]
        n = producer.get(t)
        out: frozenset[str] = frozenset()
        if n is not None:
            parts = [upstream(i) for i in n.inputs if i is not None]
            out = frozenset().union(*parts) if parts else frozenset()
            if n.name in names:
                out = out | {n.name}
        memo[t] = out
        return out

    for n in graph.nodes:  # graph order: the recursion stays shallow
        for t in n.outputs:
            upstream(t)
    depth: dict[str, int] = {}
    for lay in layers:  # graph order: upstream layers have their depth already
        ups = upstream(lay.x)
        depth[lay.node.name] = 1 + max((depth[u] for u in ups), default=-1)
    waves: list[list[_Layer]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for lay in layers:
        waves[depth[lay.node.name]].append(lay)
    return waves


@contextlib.contextmanager
def _runtime(
    graph: Graph, gear: str, plan: QuantPlan | None, folder: str, islands: Collection[str] = ()
) -> Iterator[Any]:
    from ..runtime import Runtime
    from .write_gear import write_gear

    path = os.path.join(folder, f"{gear}.gear")
    write_gear(graph, path, (gear,), storage="exact", qplan=plan, float_nodes=list(islands))
    rt = Runtime(path, gear=gear, keep_tensors=True, verify_checksums=False)
    try:
        yield rt
    finally:
        del rt
        os.unlink(path)


def _chunks(xs: list[np.ndarray]) -> Iterator[list[np.ndarray]]:
    for i in range(0, xs[0].shape[0], CHUNK):
        yield [np.ascontiguousarray(x[i : i + CHUNK]) for x in xs]


def _read(
    rt: Any, plan: QuantPlan | None, t: str, chunk: dict[str, Any], floats: Collection[str] = ()
) -> Any:
    """Tensor ``t`` after a run, as the float model has it (``plan`` None) or as an integer
    layer of the gear reads it: a graph input, or a tensor in ``floats`` (a float island's
    output), quantized with ``t``'s parameters; an int8 tensor as the runtime dequantizes it."""
    value = chunk[t] if t in chunk else rt.read_tensor(t)
    if plan is None or (t not in chunk and t not in floats):
        return value
    qp = plan.activations[t]
    return dequantize_output(quantize_input(value, qp), qp)


def _run(rt: Any, graph: Graph, xs: list[np.ndarray]) -> None:
    rt.run(xs[0] if len(xs) == 1 else dict(zip(graph.inputs, xs)))


def correct_biases(
    graph: Graph,
    plan: QuantPlan,
    xs: list[np.ndarray],
    mode: str = "sequential",
    gear: str = "int8",
    skip: Collection[str] = (),
    progress: bool = True,
    say: Callable[[str], None] = lambda _m: None,
) -> tuple[QuantPlan, BiasCorrection]:
    """A copy of ``plan`` with corrected biases, and what was done (module docstring).

    ``graph``: the graph ``plan`` was quantized from; ``xs``: the calibration inputs (one
    array per graph input, at most :data:`BIAS_SAMPLES` used); ``gear``: the integer gear
    whose error is measured (an ``int8``/``int4`` gear name, its sparse forms included);
    ``skip``: the float islands (node names, closed as ``islands.close_islands`` closes
    them): their layers are left alone, and the sequential runs compute them in float.
    Needs the C++ extension."""
    from .write_gear import GEARS

    if mode not in MODES:
        raise ValueError(f"bias correction mode must be one of {', '.join(MODES)}, got {mode!r}")
    if GEARS.get(gear) not in ("q8", "q4"):
        raise ValueError(f"bias correction needs an int8 or int4 gear, got {gear!r}")
    from ..progress import Progress

    try:
        from .. import runtime as _  # noqa: F401  (the C++ extension)
    except ImportError as e:
        raise RuntimeError(
            "bias correction runs the gears on the C++ runtime, and its extension is not "
            f"built ({e}): build it (make install) or convert without bias_correction"
        ) from e
    n = min(BIAS_SAMPLES, xs[0].shape[0])
    xs = [np.asarray(x[:n], np.float32) for x in xs]
    layers, skipped = _layers(graph, plan, GEARS[gear] == "q4", skip)
    result = BiasCorrection(mode, gear, n, skipped=skipped)
    q4 = GEARS[gear] == "q4"
    # the int4 gear's corrections go to its own biases (QuantPlan.q4_biases), so a file
    # with both integer gears keeps the int8 gear's
    out = dataclasses.replace(plan, biases=dict(plan.biases), q4_biases=dict(plan.q4_biases))
    if not layers:
        return out, result
    waves = _waves(graph, layers) if mode == "sequential" else [layers]
    result.waves = len(waves)
    say(f"bias correction ({mode}): {len(layers)} layers in {len(waves)} waves on {n} samples")
    chunks = list(_chunks(xs))
    floats = {t for node in graph.nodes if node.name in skip for t in node.outputs}
    with (
        tempfile.TemporaryDirectory(prefix="gearshift-biascorr-") as folder,
        _runtime(graph, "fp32", None, folder) as rt_f,
        Progress(
            len(waves) * len(chunks), "bias correction", enabled=None if progress else False
        ) as bar,
    ):
        for wave in waves:
            with contextlib.ExitStack() as stack:
                rt_q = None
                if mode == "sequential":
                    rt_q = stack.enter_context(_runtime(graph, gear, out, folder, skip))
                for chunk in chunks:
                    given = dict(zip(graph.inputs, chunk))
                    _run(rt_f, graph, chunk)
                    if rt_q is not None:
                        _run(rt_q, graph, chunk)
                    for lay in wave:
                        x_f = _read(rt_f, None, lay.x, given)
                        x_q = None if rt_q is None else _read(rt_q, out, lay.x, given, floats)
                        lay.accumulate(x_f, x_q)
                    bar.update()
            for lay in wave:
                _apply(lay, graph, out, result, q4)
    return out, result


def _apply(
    lay: _Layer, graph: Graph, plan: QuantPlan, result: BiasCorrection, q4: bool = False
) -> None:
    """Subtracts ``lay``'s measured shift from its bias in ``plan`` (re-quantized): the
    int4 gear's own bias (``q4``) or the shared one."""
    n = lay.node
    x, w, b = n.inputs[0], n.inputs[1], n.inputs[2]
    assert x is not None and w is not None and b is not None
    shift = lay.shift()
    corrected = (lay.bias - shift).astype(np.float32)
    target = plan.q4_biases if q4 else plan.biases
    target[b] = quantize_bias_q32(corrected, plan.activations[x], plan.weights[w][1])
    result.corrected.append(n.name)
    step = float(plan.activations[n.outputs[0]].scale)
    result.steps[n.name] = float(np.mean(np.abs(shift))) / step
