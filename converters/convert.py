"""The conversion pipeline behind ``gearshift.convert``: import, passes, write, measure.

1. Check the arguments (cheap, before TensorFlow is imported).
2. Import the Keras or TFLite model into the IR (``import_keras``,
   ``import_tflite``), failing early on
   unsupported layers.
3. Run the graph passes (``passes.run_passes``).
4. Prune, when asked (``passes.prune``).
5. For the int8/int4 gears: calibrate every activation's range on the
   representative inputs (``calibrate``) and choose the integer parameters
   (``quantize``).
6. Write the ``.gear`` file atomically (``write_gear``).
7. Load the written file and measure each gear's error against the Keras
   model on the calibration data (and its accuracy on ``validation``): with
   the C++ runtime (``gearshift.Runtime``) when the extension is built, else
   with the numpy reference interpreter on the graph read back from the file
   (float gears only).
"""

from __future__ import annotations

import copy
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..report import ConvertReport, GearReport, LayerRow, PassReport
from .calibrate import DEFAULT_METHOD
from .calibration_data import prepare_calibration
from .compact_refine import REL_ERROR_FLOOR
from .ir import Graph
from .quantize import QuantPlan
from .write_gear import GEARS, WriteResult

__all__ = ["AVAILABLE_GEARS", "FUTURE_GEARS", "convert", "prepare_calibration"]

AVAILABLE_GEARS = tuple(GEARS)
FUTURE_GEARS: tuple[str, ...] = ()
STORAGE_MODES = ("compact", "exact")
DEFAULT_CALIBRATION = DEFAULT_METHOD
CALIBRATION_BATCH = 32
MAX_ERROR_SAMPLES = 256


def _check_gears(gears: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(gears, str):
        gears = [g.strip() for g in gears.split(",") if g.strip()]
    gears = tuple(gears)
    if not gears:
        raise ValueError(f"gears is empty; available gears: {', '.join(AVAILABLE_GEARS)}")
    for g in gears:
        if not isinstance(g, str):
            raise ValueError(f"gear names are strings, got {g!r}")
    later = [g for g in gears if g in FUTURE_GEARS]
    unknown = [g for g in gears if g not in AVAILABLE_GEARS and g not in FUTURE_GEARS]
    if unknown:
        raise ValueError(
            f"unknown gear(s) {', '.join(map(repr, unknown))}; valid gears in this version: "
            f"{', '.join(AVAILABLE_GEARS)} (planned: {', '.join(FUTURE_GEARS)})"
        )
    if later:
        raise ValueError(
            f"gear(s) {', '.join(map(repr, later))} are not available yet: this version writes "
            f"{', '.join(AVAILABLE_GEARS)}; the sparse gears arrive with sparse storage"
        )
    if len(set(gears)) != len(gears):
        raise ValueError(f"gears lists a name twice: {list(gears)}")
    return gears


def _describe(model: Any) -> str:
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model)
    return f"keras model {getattr(model, 'name', type(model).__name__)!r}"


def _is_tflite(model: Any) -> bool:
    return isinstance(model, (str, os.PathLike)) and os.fspath(model).lower().endswith(".tflite")


def _check_source_path(model: Any) -> None:
    """Errors that need no TensorFlow: a missing file."""
    if not isinstance(model, (str, os.PathLike)):
        return
    p = os.fspath(model)
    if not os.path.exists(p):
        raise FileNotFoundError(f"no such model file or folder: {p!r}")


@dataclass
class _Source:
    """The imported graph and how to run the model it came from (the error oracle)."""

    graph: Graph
    outputs: Callable[[list[np.ndarray]], list[np.ndarray]]
    qplan: QuantPlan | None = None  # an integer .tflite's own int8 numbers
    kind: str = "keras"
    notes: list[str] = field(default_factory=list)


def _load_source(model: Any, progress: bool) -> _Source:
    if _is_tflite(model):
        from .import_tflite import import_tflite

        path = os.fspath(model)
        _say(progress, f"importing {path}")
        imp = import_tflite(path)
        reference = copy.deepcopy(imp.graph)
        notes = list(imp.notes)

        def outputs(xs: list[np.ndarray]) -> list[np.ndarray]:
            """LiteRT's outputs (in a child process), else the IR's float reference."""
            from .litert_runner import LiteRTCrashed, interpreter_class, run_tflite_isolated

            if interpreter_class() is not None:
                try:
                    return run_tflite_isolated(path, xs)
                except LiteRTCrashed as e:
                    note = f"{e}; errors measured against the imported float graph"
                    if note not in notes:
                        notes.append(note)
            from .reference import run_graph

            got = run_graph(reference, dict(zip(reference.inputs, xs)))
            return [np.asarray(got[t], np.float32) for t in reference.outputs]

        return _Source(imp.graph, outputs, imp.qplan, f"tflite {imp.kind}", notes)

    from .import_keras import import_keras, load_keras_model

    if isinstance(model, (str, os.PathLike)):
        _say(progress, f"loading {os.fspath(model)}")
        model = load_keras_model(model)
    _say(progress, "importing the Keras graph")
    keras_model = model
    return _Source(import_keras(model), lambda xs: _keras_outputs(keras_model, xs))


# ---------------------------------------------------------------------------
# Error measurement
# ---------------------------------------------------------------------------
def _keras_outputs(model: Any, xs: list[np.ndarray], batch: int = 32) -> list[np.ndarray]:
    import keras

    n = xs[0].shape[0]
    parts: list[list[np.ndarray]] = []
    for i in range(0, n, batch):
        args = [x[i : i + batch] for x in xs]
        y = model(args[0] if len(args) == 1 else args, training=False)
        if isinstance(y, Mapping):
            y = list(y.values())
        ys = y if isinstance(y, (list, tuple)) else [y]
        parts.append([np.asarray(keras.ops.convert_to_numpy(t), np.float32) for t in ys])
    return [np.concatenate(col) for col in zip(*parts)]


def _file_runner(path: str) -> tuple[Callable[[str, list[np.ndarray]], list[np.ndarray]], str]:
    """A function running the written file, and what runs it ("runtime"/"reference")."""
    try:
        from .. import _core
        from ..runtime import Runtime
    except ImportError:
        Runtime = None
    if Runtime is not None and hasattr(_core, "Runtime"):
        rt = Runtime(path)
        names = [s.name for s in rt.outputs]

        def run_rt(gear: str, xs: list[np.ndarray]) -> list[np.ndarray]:
            rt.gear = gear
            y = rt.run(xs[0] if len(xs) == 1 else list(xs))
            return [y] if len(names) == 1 else [y[n] for n in names]

        return run_rt, "runtime"

    from .reference import graph_from_gear, run_graph

    def run_ref(gear: str, xs: list[np.ndarray]) -> list[np.ndarray]:
        g = graph_from_gear(path, gear)
        outs = run_graph(g, dict(zip(g.inputs, xs)))
        return [outs[n] for n in g.outputs]

    return run_ref, "reference"


def _errors(ref: list[np.ndarray], got: list[np.ndarray]) -> tuple[float, float, float]:
    """``(max abs, max rel, mean abs)`` error of ``got`` against ``ref``, over all outputs
    (relative to each output's largest magnitude, or absolute where that is below
    ``REL_ERROR_FLOOR``)."""
    max_abs, max_rel, total, count = 0.0, 0.0, 0.0, 0
    for r, y in zip(ref, got):
        if r.shape != y.shape:
            raise ValueError(f"output shape {y.shape} differs from the Keras model's {r.shape}")
        diff = np.abs(r.astype(np.float64) - y)
        err = float(np.max(diff)) if r.size else 0.0
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        max_abs = max(max_abs, err)
        max_rel = max(max_rel, err / scale if scale >= REL_ERROR_FLOOR else err)
        total += float(diff.sum())
        count += diff.size
    return max_abs, max_rel, total / max(count, 1)


def _check_validation(validation: Any, n_inputs: int) -> tuple[list[np.ndarray], np.ndarray] | None:
    """``(x, labels)`` -> (one array per input, int labels); one-hot labels are accepted."""
    if validation is None:
        return None
    if not isinstance(validation, (tuple, list)) or len(validation) != 2:
        raise ValueError("validation must be a pair (x, y): inputs and their class labels")
    x, y = validation
    xs = [np.asarray(a, np.float32) for a in (x if n_inputs > 1 else [x])]
    labels = np.asarray(y)
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    if labels.ndim != 1 or labels.shape[0] != xs[0].shape[0]:
        raise ValueError(
            f"validation labels must be one per sample ({xs[0].shape[0]}), "
            f"class indices or one-hot; got shape {np.shape(y)}"
        )
    return xs, labels.astype(np.int64)


def _accuracy(outputs: list[np.ndarray], labels: np.ndarray) -> float:
    """Top-1 accuracy of the first output (class scores on the last axis)."""
    y = outputs[0].reshape(outputs[0].shape[0], -1)
    return float(np.mean(y.argmax(axis=1) == labels))


def _run_batched(
    run: Callable[[str, list[np.ndarray]], list[np.ndarray]],
    gear: str,
    xs: list[np.ndarray],
    batch: int = 64,
) -> list[np.ndarray]:
    parts = [run(gear, [x[i : i + batch] for x in xs]) for i in range(0, xs[0].shape[0], batch)]
    return [np.concatenate(col) for col in zip(*parts)]


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
def _layer_rows(graph: Graph, written: WriteResult) -> list[LayerRow]:
    rows, counted = [], set()
    for n in graph.nodes:
        consts = [t for t in n.inputs if t is not None and graph.tensors[t].is_const]
        params = sum(graph.tensors[t].size for t in consts)
        nbytes = 0
        for t in consts:
            if t not in counted:
                counted.add(t)
                nbytes += written.tensor_bytes.get(t, 0)
        shape = graph.tensors[n.outputs[0]].shape
        rows.append(LayerRow(n.name, n.op, shape, params, nbytes, n.activation))
    return rows


def _say(progress: bool, msg: str) -> None:
    if progress:
        print(f"gearshift: {msg}", file=sys.stderr, flush=True)


def _gear_notes(graph: Graph, gear: str, qplan: QuantPlan | None = None) -> list[str]:
    from .write_gear import int4_int8_layers

    if GEARS[gear] != "q4":
        return []
    kept = sorted(int4_int8_layers(graph))
    notes = []
    if kept:
        notes.append(
            f"kept at int8 (first layers, which amplify weight error most): {', '.join(kept)}"
        )
    more = sorted(qplan.q4_int8 - set(kept)) if qplan is not None else []
    if more:
        shown = ", ".join(more[:5]) + (f", ... ({len(more) - 5} more)" if len(more) > 5 else "")
        notes.append(f"kept at int8 (int4_int8_layers): {len(more)} weights: {shown}")
    return notes


INT4_INT8_CHOICES = ("first", "depthwise", "auto")


def _int4_int8(graph: Graph, choice: Sequence[str] | str) -> set[str]:
    """``convert(int4_int8_layers=...)`` as the weight tensors the int4 gear keeps at int8
    besides the first layers' (``"auto"``: its starting point, the depthwise layers; the
    measured choice adds to them, :func:`int4_layers.choose_int8_layers`)."""
    from .quantize import WEIGHT_OPS

    if isinstance(choice, str):
        if choice not in INT4_INT8_CHOICES:
            raise ValueError(
                "int4_int8_layers must be 'first', 'depthwise', 'auto' or a list of layer "
                "names, got "
                f"{choice!r}"
            )
        if choice == "first":
            return set()
        return {
            n.inputs[1]
            for n in graph.nodes
            if n.op == "DEPTHWISE_CONV_2D" and n.inputs[1] is not None
        }
    by_name = {n.name: n for n in graph.nodes if n.op in WEIGHT_OPS and n.inputs[1] is not None}
    unknown = [x for x in choice if x not in by_name]
    if unknown:
        raise ValueError(
            f"int4_int8_layers: no convolution or dense layer named {unknown[:5]} in the "
            "converted graph (`gearshift inspect` lists the names)"
        )
    return {by_name[x].inputs[1] for x in choice}  # type: ignore[misc]


def _int4_int8_names(graph: Graph, qplan: QuantPlan | None) -> list[str]:
    """The layers (node names, graph order) whose weights the int4 gear keeps at int8."""
    from .write_gear import int4_int8_layers

    kept = int4_int8_layers(graph) | (qplan.q4_int8 if qplan is not None else set())
    return [n.name for n in graph.nodes if len(n.inputs) > 1 and n.inputs[1] in kept]


def _float_islands(
    float_layers: Sequence[str] | str | None,
    budget: float,
    graph: Graph,
    integer: list[str],
    qplan: Any,
    xs: list[np.ndarray],
    ref: list[np.ndarray],
    progress: bool,
    metric: Callable[[list[np.ndarray], list[np.ndarray]], float] | None = None,
) -> tuple[list[str], str]:
    """The integer gears' float islands (node names) and a report note."""
    if float_layers is None or not integer:
        return [], ""
    if float_layers == "heads":
        from .islands import close_islands, heads

        layers = close_islands(graph, heads(graph))
        return layers, f"float islands (the heads): {', '.join(layers)}" if layers else ""
    if isinstance(float_layers, str):
        if float_layers not in ("auto", "heads+auto", "tail"):
            raise ValueError(
                "float_layers must be a list of layer names, 'auto', 'heads', 'heads+auto' or "
                f"'tail', got {float_layers!r}"
            )
        from .islands import choose_float_layers, choose_float_tail, heads

        # the int8 gear's error decides; the int4 gear's where it is the only integer gear
        gear = "int8" if any(GEARS[g] == "q8" for g in integer) else integer[0]
        if float_layers == "tail":
            choice = choose_float_tail(
                graph, qplan, xs, ref, budget, say=lambda m: _say(progress, m), metric=metric,
                gear=gear,
            )  # fmt: skip
            return choice.layers, choice.note()
        choice = choose_float_layers(
            graph, qplan, xs, ref, budget, say=lambda m: _say(progress, m), metric=metric,
            gear=gear, start=heads(graph) if float_layers == "heads+auto" else (),
        )  # fmt: skip
        return choice.layers, choice.note()
    layers = list(float_layers)
    known = {n.name for n in graph.nodes}
    unknown = [x for x in layers if x not in known]
    if unknown:
        raise ValueError(
            f"float_layers: no layer named {unknown[:5]} in the converted graph "
            "(`gearshift inspect` lists the names)"
        )
    from .islands import close_islands

    layers = close_islands(graph, layers) if layers else []
    return layers, f"float islands: {', '.join(layers)}" if layers else ""


def _refine_compact(
    graph: Graph,
    path: str,
    write_file: Callable[[set[str], set[str]], WriteResult],
    gears: tuple[str, ...],
    storage: str,
    xs: list[np.ndarray],
    progress: bool,
    kept: set[str] | None = None,
    source: list[np.ndarray] | None = None,
) -> tuple[set[str], set[str], str]:
    """Compact files with an fp32 gear (written at ``path``): the storage of each weight
    such that the fp32 gear stays within ``COMPACT_TARGET`` of the same graph stored
    exactly (``compact_refine``; the source itself unless the conversion pruned it, which
    changes the function on purpose), cheapest first: large weights move from a 4-bit residual to an
    8-bit one, then, if that is not enough, weights with a residual to float32. The file
    is rewritten by ``write_file(keep_f32, keep_r8)``. ``source``: the source's outputs
    on ``xs`` where the graph computes the source's function (not pruned): the exact
    file's own distance from them (a float runtime's other summation order) is taken off
    the target, down to half of it, so that the compact gear stays within the target of
    the source and not only of the exact file. Returns ``(keep_f32, keep_r8, report
    note)`` (the note "" when nothing moved)."""
    from .compact_refine import COMPACT_TARGET, refine_compact
    from .write_gear import q8r4_weights, residual_weights, write_gear

    kept = set(kept or ())  # float32 already (equalized weights)
    if storage != "compact" or "fp32" not in gears or not residual_weights(graph) - kept:
        return set(kept), set(), ""
    ref: list[np.ndarray] = []  # the exact fp32 gear's outputs

    def measure(path: str) -> float:
        return _errors(ref, _run_batched(_file_runner(path)[0], "fp32", xs))[1]

    r8: set[str] = set()
    f32: set[str] = set()
    history: list[float] = []
    stages = (  # (candidates, how a kept set is written)
        (q8r4_weights(graph) - kept, lambda keep: write_file(kept, keep)),
        (residual_weights(graph) - kept, lambda keep: write_file(keep | kept, r8 - keep)),
    )
    target, own = COMPACT_TARGET, 0.0  # own: the exact file's error against the source
    try:
        with tempfile.TemporaryDirectory(prefix="gearshift-exact-") as folder:
            exact = os.path.join(folder, "exact.gear")
            write_gear(graph, exact, gears=("fp32",), storage="exact")
            ref.extend(_run_batched(_file_runner(exact)[0], "fp32", xs))
        if source is not None:
            own = _errors(source, ref)[1]
            target = max(COMPACT_TARGET - own, COMPACT_TARGET / 2)
        for stage, (candidates, write_kept) in enumerate(stages):
            if not candidates or (history and history[-1] <= target):
                continue
            first = True

            def write(keep: set[str], write_kept=write_kept) -> str:
                nonlocal first
                if keep or not first:  # nothing kept at first: the file as it stands
                    write_kept(keep)
                first = False
                return path

            keep, err, hist = refine_compact(
                graph, candidates, write, measure, xs, target=target,
                known=history[-1] if history else None,
            )  # fmt: skip
            history += hist if not history else hist[1:]
            if stage == 0:
                r8 = keep
            else:
                f32 = keep
    except ImportError:  # no C++ extension: the per-layer comparison needs the runtime
        return set(kept), set(), ""
    if not r8 and not f32:
        return set(kept), set(), ""
    r8 -= f32
    _say(progress, f"compact: {len(r8)} weights to an 8-bit residual, {len(f32)} kept float32")
    err = history[-1]
    within = "within" if err <= target else "still over"
    aim = (
        f"{target:.2g} (the target {COMPACT_TARGET:.2g} less the exact file's own {own:.2g} "
        "from the source)" if target < COMPACT_TARGET else f"{COMPACT_TARGET:g}"
    )  # fmt: skip
    moved = sorted(f32) + sorted(r8)
    return (
        f32 | kept,
        r8,
        f"compact storage: {len(r8)} large weights with an 8-bit residual (q8r8), "
        f"{len(f32)} kept float32, for an fp32 error {err:.2g} from the exact file, {within} "
        f"{aim} (as first written: {history[0]:.2g}): {', '.join(moved[:6])}"
        + (", ..." if len(moved) > 6 else ""),
    )


def _trained_marks(model: Any) -> dict[str, Any] | None:
    """What ``gearshift.train`` recorded on a Keras model it returned, else None."""
    if isinstance(model, (str, os.PathLike)):
        return None
    from .train.prune import training_marks

    return training_marks(model)


def _calibrate(
    graph: Graph, xs: list[np.ndarray], method: str, progress: bool
) -> dict[str, tuple[float, float]]:
    from .calibrate import calibrate

    n = xs[0].shape[0]
    batches = [
        {t: x[i : i + CALIBRATION_BATCH] for t, x in zip(graph.inputs, xs)}
        for i in range(0, n, CALIBRATION_BATCH)
    ]
    return calibrate(graph, batches, method=method, progress=progress)


def _bias_mode(bias_correction: bool | str | None) -> str:
    """``convert(bias_correction=...)`` as a mode of ``bias_correction.MODES``, "" for off."""
    from .bias_correction import MODES

    if bias_correction is None or bias_correction is False:
        return ""
    if bias_correction is True:
        return "sequential"
    if isinstance(bias_correction, str) and bias_correction in MODES:
        return bias_correction
    raise ValueError(
        f"bias_correction must be True, False or one of {', '.join(map(repr, MODES))}, "
        f"got {bias_correction!r}"
    )


def _correct_biases(
    graph: Graph,
    plan: QuantPlan,
    xs: list[np.ndarray],
    mode: str,
    gears: tuple[str, ...],
    progress: bool,
    islands: Sequence[str] = (),
) -> tuple[QuantPlan, dict[str, str]]:
    """``plan`` with each integer gear's biases corrected on that gear (the int8 gear's in
    ``biases``, the int4 gear's in ``q4_biases``: a file with both stores each gear's own)
    around the float ``islands``, and the report note per gear token (``q8``, ``q4``)."""
    from .bias_correction import correct_biases

    notes = {}
    for token in ("q8", "q4"):  # int8 first: the int4 gear falls back to its biases
        gear = next((g for g in gears if GEARS[g] == token), None)
        if gear is None:
            continue
        plan, result = correct_biases(
            graph, plan, xs, mode, gear, islands, progress=progress,
            say=lambda m: _say(progress, m),
        )  # fmt: skip
        notes[token] = result.note()
    return plan, notes


def convert(
    model: Any,
    path: str | os.PathLike[str],
    gears: Sequence[str] | str | None = None,
    calibration: Any = None,
    prune: Any = None,
    storage: str = "compact",
    progress: bool = True,
    calibration_method: str = DEFAULT_CALIBRATION,
    validation: Any = None,
    equalize: bool = False,
    float_layers: Sequence[str] | str | None = None,
    float_budget: float = 4,
    float_metric: Callable[[list[np.ndarray], list[np.ndarray]], float] | None = None,
    bias_correction: bool | str = False,
    binary_params: bool = True,
    weight_rounding: str = "nearest",
    int4_int8_layers: Sequence[str] | str = "first",
    int4_int8_budget: float = 0.25,
    int8_weight_rounding: str = "nearest",
) -> ConvertReport:
    """Converts a Keras model (object or ``.keras``/``.h5`` path) or a ``.tflite`` file into a
    ``.gear`` file.

    Args:
        model: a ``keras.Model`` or a path to a saved one.
        path: the output file, written atomically.
        gears: gear names among ``fp32``, ``fp16``, ``int8``, ``int4``; None:
            fp32 and fp16, plus int8 and int4 when there is calibration data
            or the source carries its own int8 parameters (a quantized
            ``.tflite``); the report says which it skipped and why.
        calibration: representative inputs: an array (batch first), an
            iterable or generator of arrays or dicts, a ``tf.data.Dataset``, a
            callable returning one of them, or
            ``gearshift.calibration.from_images(folder, preprocess=...)`` (see
            :func:`prepare_calibration`); at most 256 samples used; sets the
            int8 ranges and measures each gear's error. Required for
            int8/int4; else default 8 random inputs.
        prune: a ``gearshift.Prune`` or None: applied to the graph after the
            passes, so every gear carries the pruned weights.
        storage: ``"compact"`` (every gear derived from int8 values plus a
            4-bit residual) or ``"exact"`` (float32 weights kept bit for bit).
        progress: print one line per stage to stderr.
        calibration_method: ``input_percentile`` (the default: percentiles of
            each input's extremes, so no single input sets a range),
            ``moving_minmax``, ``minmax``, ``percentile``, ``mse`` or ``entropy``
            (``converters/calibrate.py``, docs/QUANTIZATION.md).
        validation: optional ``(x, labels)``: top-1 accuracy per gear.
        equalize: calibrate and quantize the int8/int4 gears on a copy of the
            graph with cross-layer equalization (``passes/equalize.py``); the
            float gears keep the source's weights, and in a compact file the
            equalized weights' float storage stays float32.
        float_layers: layers (node names, as ``gearshift inspect`` lists them)
            that the int8/int4 gears compute in float32 ("float islands",
            FORMAT.md 1.5; their weights are the fp32 gear's), or ``"auto"``:
            the layers whose int8 error hurts the outputs most, measured one
            by one on the calibration data (``converters/islands.py``) and
            named in the report; or ``"heads"``: the last weighted layers (from
            which no other weighted layer is reached), unmeasured; or
            ``"heads+auto"``: the heads, and ``"auto"``'s choice measured with them
            in float (the budget counting the layers added); or ``"tail"``: the
            heads and every node from a cut to the end in float (activations
            included, so no int8 rounding is left after the cut), the cut chosen
            by measured error within the budget. None (the default): no islands.
        float_budget: ``float_layers="auto"``: at most this many layers, or
            (a number below 1) at most this share of the weights; ``"tail"``: the
            weighted layers the tail may hold besides the heads, the same way.
        float_metric: ``float_layers="auto"`` and ``int4_int8_layers="auto"``:
            ``metric(ref, got) -> error`` over the source's and the gear's outputs
            on the calibration inputs (lists in graph output order; lower is
            better), e.g. a detector's box IoU; default ``islands.output_error``.
        bias_correction: subtract from each conv/depthwise/dense layer's int32
            bias the mean error its integer gear adds to the layer's output,
            measured on the calibration data (``converters/bias_correction.py``,
            docs/QUANTIZATION.md "Bias correction"): ``True`` or
            ``"sequential"`` (the gear's own upstream outputs: weight and
            activation error), ``"weights"`` (weight error alone on float
            inputs), ``False`` (the default). Corrects the int8 gear (the int4
            gear shares its biases), or int4 when it is the only integer gear.
            Calibrated conversions only: an int8 ``.tflite`` keeps its own biases.
        weight_rounding: how the int4 gear's 4-bit weights are chosen
            (``converters/weight_rounding.py``, docs/QUANTIZATION.md "int4 weight
            rounding"): ``"nearest"`` (the default: the ``q4m`` view of the int8
            weights, no bytes of its own), ``"mse"`` (per block the multiplier of least
            error, weighted by each input's second moment on the calibration data) or
            ``"gptq"`` (that multiplier, then GPTQ's error compensation across each
            layer's inputs). The latter two store the int4 weights as a base of their
            own (one byte a weight); the int8 gear is unchanged. Calibrated
            conversions only.
        int4_int8_layers: the layers the int4 gear keeps at int8: ``"first"`` (the
            default: those reading a graph input), ``"depthwise"`` (those and every
            depthwise layer, whose weights the runtime packs as int8 in either gear: no
            memory cost, and none in a file with an int8 gear), ``"auto"`` (those, and
            the convolution and dense layers whose 4-bit weights cost the int4 gear's
            outputs most, measured one by one on the calibration data and chosen
            greedily within ``int4_int8_budget``: ``converters/int4_layers.py``, named
            in the report), or a list of layer names (added to the first layers).
            Measured in docs/QUANTIZATION.md "int4 weight rounding".
        int4_int8_budget: ``int4_int8_layers="auto"``: at most this many layers, or (a
            number below 1, the default 0.25) at most this share of the int4 gear's
            4-bit weight elements (each at least half a byte more in memory at int8).
        int8_weight_rounding: how the int8 gear's weights are rounded: ``"nearest"``
            (the default) or ``"gptq"`` (GPTQ's error compensation on the int8 grid, the
            same scales: ``weight_rounding.round_int8_weights``). The values stay plain
            int8 (runtime and oracle bit-exact as before); in a compact file the float
            gears then keep those weights as float32 (their int8 values are no longer
            the nearest, which the 4-bit residual assumes). Calibrated conversions only.
        binary_params: store per-channel quantization parameters (scales, zero
            points, activation ranges) as binary in a PARAMS section (format
            1.6, the default: a small int8 file shrinks by about 40%);
            ``False`` writes them as JSON numbers, which runtimes that read
            format 1.5 and older also load (docs/FORMAT.md 2.4).

    Returns:
        A :class:`gearshift.report.ConvertReport`.
    """
    t0 = time.perf_counter()
    # A gearshift.train.qat model: convert its folded float model, with the
    # int8 ranges it learned instead of a calibration (converters/train/qat.py).
    qat_ranges: dict[str, tuple[float, float]] | None = None
    marks = _trained_marks(model)
    if marks is not None and marks.get("kind") == "qat":
        from .train.qat import export_float

        model, qat_ranges, qat_gear = export_float(model)
        if gears is None:
            gears = ("fp32", qat_gear)
    auto = gears is None
    gears = ("fp32", "fp16") if auto else _check_gears(gears)
    if prune is not None and not hasattr(prune, "sparsity"):
        raise ValueError(f"prune must be a gearshift.Prune or None, got {type(prune).__name__}")
    if storage not in STORAGE_MODES:
        raise ValueError(f"storage must be 'compact' or 'exact', got {storage!r}")
    integer = [g for g in gears if GEARS[g] in ("q8", "q4")]
    if integer and calibration is None and not _is_tflite(model) and qat_ranges is None:
        raise ValueError(
            f"gear(s) {', '.join(integer)} need calibration=: a few hundred representative "
            "inputs (an array, batch first), from which the int8 ranges are measured"
        )
    from .calibrate import CALIBRATORS

    if calibration_method not in CALIBRATORS:
        raise ValueError(
            f"unknown calibration_method {calibration_method!r}; expected one of "
            f"{', '.join(CALIBRATORS)}"
        )
    bias_mode = _bias_mode(bias_correction)
    from .weight_rounding import INT8_ROUNDINGS, ROUNDINGS

    if int8_weight_rounding not in INT8_ROUNDINGS:
        raise ValueError(
            f"int8_weight_rounding must be one of {', '.join(map(repr, INT8_ROUNDINGS))}, "
            f"got {int8_weight_rounding!r}"
        )
    if weight_rounding not in ROUNDINGS:
        raise ValueError(
            f"weight_rounding must be one of {', '.join(map(repr, ROUNDINGS))}, "
            f"got {weight_rounding!r}"
        )
    if isinstance(int4_int8_layers, str) and int4_int8_layers not in INT4_INT8_CHOICES:
        _int4_int8(Graph(), int4_int8_layers)  # raises, naming the choices
    if int4_int8_budget <= 0:
        raise ValueError(
            f"int4_int8_budget must be > 0 (a count, or a share below 1), got {int4_int8_budget}"
        )
    out = os.fspath(path)
    if not out:
        raise ValueError("output path is empty")
    _check_source_path(model)

    from .passes import run_passes
    from .write_gear import write_gear

    src = _load_source(model, progress)
    source = _describe(model) + (f" ({src.kind})" if src.kind != "keras" else "")
    skipped: list[str] = []
    if auto and (calibration is not None or src.qplan is not None):
        gears = (*gears, "int8", "int4")
        integer = ["int8", "int4"]
    elif auto:
        skipped.append(
            "int8, int4: no calibration data (pass calibration= with a few hundred "
            "representative inputs, or convert an int8 .tflite, to add them)"
        )
    graph = src.graph
    _say(progress, f"imported {len(graph.nodes)} nodes; running passes")
    pass_results = run_passes(graph, qact=src.qplan.activations if src.qplan else None)
    pruning: list[str] = []
    if marks is not None and prune is None:
        from .train.export import remove_pruned_channels

        pruning = remove_pruned_channels(model, graph)
    if prune is not None:
        from .passes.prune import apply_pruning

        _say(progress, f"pruning ({prune.method}, sparsity {prune.sparsity:g})")
        pruning = str(apply_pruning(graph, prune, progress=progress)).splitlines()
    val = _check_validation(validation, len(graph.inputs))
    xs, random = prepare_calibration(
        calibration,
        [graph.tensors[t].shape for t in graph.inputs],
        limit=MAX_ERROR_SAMPLES,
        input_names=graph.inputs,
    )
    qplan, calibration_note, bias_note = None, "", ""
    bias_notes: dict[str, str] = {}  # per integer gear token, where biases were corrected
    calibrated = False  # the integer parameters are this conversion's own
    equalized: set[str] = set()  # weights the integer gears hold equalized
    qgraph = graph  # the graph the integer gears are quantized from
    if integer and src.qplan is not None:
        from .quantize import refit_plan

        qplan = refit_plan(graph, src.qplan)
        calibration_note = "the model's own int8 parameters"
        if bias_mode:
            bias_note = "bias correction: not applied (the model's own int8 parameters kept)"
    elif integer and qat_ranges is not None:
        from .quantize import quantize_graph

        missing = [
            t.name for t in graph.tensors.values() if not t.is_const and t.name not in qat_ranges
        ]
        if missing:
            raise ValueError(
                f"the QAT model has no learned range for {len(missing)} tensor(s) of the "
                f"converted graph, e.g. {missing[0]!r}: convert it without prune="
            )
        qplan = quantize_graph(graph, qat_ranges)
        calibration_note = "ranges learned by quantization-aware training"
        if bias_mode:
            bias_note = "bias correction: not applied (a quantization-aware trained model)"
    elif integer:
        if calibration is None:
            raise ValueError(
                f"gear(s) {', '.join(integer)} need calibration=: this {src.kind} model carries "
                "no int8 parameters of its own, so its ranges are measured on representative inputs"
            )
        from .quantize import quantize_graph

        qgraph = graph
        if equalize:
            from .passes.equalize import equalized_copy

            qgraph, eq_result, equalized = equalized_copy(graph)
            pass_results.append(eq_result)
        _say(progress, f"calibrating ({calibration_method}) on {xs[0].shape[0]} samples")
        ranges = _calibrate(qgraph, xs, calibration_method, progress)
        qplan = quantize_graph(qgraph, ranges)
        calibration_note = f"{calibration_method} on {xs[0].shape[0]} samples"
        calibrated = True

    ref = src.outputs(xs)
    if qplan is not None and any(GEARS[g] == "q4" for g in integer):
        qplan.q4_int8 = _int4_int8(qgraph, int4_int8_layers)
    rounding_note, rounding8_note = "", ""
    rounded8: set[str] = set()  # int8 weights no longer nearest: float storage of their own
    if int8_weight_rounding != "nearest" and any(GEARS[g] == "q8" for g in integer):
        if calibrated:
            from .weight_rounding import round_int8_weights

            qplan, rounded = round_int8_weights(
                qgraph, qplan, xs, int8_weight_rounding, (), progress,
                say=lambda m: _say(progress, m),
            )  # fmt: skip
            rounding8_note = rounded.note()
            by_node = {n.name: n.inputs[1] for n in qgraph.nodes if len(n.inputs) > 1}
            rounded8 = {by_node[name] for name in rounded.layers if by_node[name] is not None}
        else:
            rounding8_note = (
                f"int8 weight rounding ({int8_weight_rounding}): not applied (the model's own "
                "int8 parameters, not a calibration)"
            )
    if weight_rounding != "nearest" and any(GEARS[g] == "q4" for g in integer):
        if calibrated:  # before the islands and bias correction, which measure int4 with them
            from .weight_rounding import round_int4_weights

            qplan, rounded = round_int4_weights(
                qgraph, qplan, xs, weight_rounding, (), progress,
                say=lambda m: _say(progress, m),
            )  # fmt: skip
            rounding_note = rounded.note()
        else:
            rounding_note = (
                f"int4 weight rounding ({weight_rounding}): not applied (the model's own "
                "int8 parameters, not a calibration)"
            )
    islands, island_note = _float_islands(
        float_layers, float_budget, qgraph, integer, qplan, xs, ref, progress, float_metric
    )
    int8_note = ""
    if int4_int8_layers == "auto" and qplan is not None and any(GEARS[g] == "q4" for g in integer):
        # after the rounding and the islands (measured with both), before bias correction
        from .int4_layers import choose_int8_layers

        choice8 = choose_int8_layers(
            qgraph, qplan, xs, ref, int4_int8_budget, islands, say=lambda m: _say(progress, m),
            metric=float_metric,
        )  # fmt: skip
        qplan.q4_int8 |= set(choice8.weights)
        int8_note = choice8.note()
    if bias_mode and calibrated:  # after the islands: corrected with them in place
        qplan, bias_notes = _correct_biases(
            qgraph, qplan, xs, bias_mode, gears, progress, islands if integer else []
        )
    # An equalized copy's islands compute with its (equalized) float weights.
    island_data = {t: qgraph.tensors[t].data for t in equalized}

    def write_file(
        keep_f32: set[str], keep_r8: set[str], extra: dict[str, str] | None = None
    ) -> WriteResult:
        return write_gear(
            graph,
            out,
            gears,
            metadata={"gearshift.storage": storage, **(extra or {})},
            storage=storage,
            qplan=qplan,
            keep_f32=keep_f32,
            keep_r8=keep_r8,
            float_nodes=islands if integer else (),
            island_data=island_data or None,
            binary=binary_params,
        )

    _say(progress, f"writing {out}")
    written = write_file(equalized | rounded8, set())

    _say(progress, f"measuring the error on {xs[0].shape[0]} {'random ' if random else ''}samples")
    keep_f32, keep_r8, refine_note = _refine_compact(
        graph, written.path, write_file, gears, storage, xs, progress, equalized | rounded8,
        source=None if pruning else ref,
    )  # fmt: skip
    source_accuracy = None
    if val is not None:
        source_accuracy = _accuracy(src.outputs(val[0]), val[1])
    run_file, backend = _file_runner(out)
    gear_reports = []
    for g in written.gear_bytes:  # highest precision first, as in the file
        max_abs, max_rel, mean_abs = _errors(ref, _run_batched(run_file, g, xs))
        acc = None
        if val is not None:
            acc = _accuracy(_run_batched(run_file, g, val[0]), val[1])
        gear_reports.append(
            GearReport(
                name=g,
                compute=GEARS[g],
                bytes=written.gear_bytes[g],
                max_abs_error=max_abs,
                max_rel_error=max_rel,
                samples=int(xs[0].shape[0]),
                error_backend=backend,
                mean_abs_error=mean_abs,
                accuracy=acc,
                notes=_gear_notes(graph, g, qplan)
                + ([refine_note] if refine_note and g == "fp32" else [])
                + ([island_note] if island_note and GEARS[g] in ("q8", "q4") else [])
                + [
                    note
                    for note in (bias_notes.get(GEARS[g]) or bias_note,)
                    if note and GEARS[g] in ("q8", "q4")
                ]
                + ([rounding_note] if rounding_note and GEARS[g] == "q4" else [])
                + ([rounding8_note] if rounding8_note and GEARS[g] == "q8" else [])
                + ([int8_note] if int8_note and GEARS[g] == "q4" else []),
            )
        )
    # Each gear's measured quality into the file's metadata, for the runtime
    # (Runtime.gear_info) and the shifter's accuracy floor: the file is
    # written again with it (atomically; the values are unchanged).
    quality = {f"gearshift.max_rel_error.{r.name}": f"{r.max_rel_error:.6g}" for r in gear_reports}
    quality.update(
        {
            f"gearshift.accuracy.{r.name}": f"{r.accuracy:.6g}"
            for r in gear_reports
            if r.accuracy is not None
        }
    )
    if source_accuracy is not None:
        quality["gearshift.accuracy.source"] = f"{source_accuracy:.6g}"
    if _is_tflite(model):  # what `gearshift bench --compare` runs the peers on
        quality["gearshift.source_tflite"] = os.path.abspath(os.fspath(model))
    written = write_file(keep_f32, keep_r8, quality)
    report = ConvertReport(
        path=out,
        file_bytes=written.file_bytes,
        source=source,
        gears=gear_reports,
        layers=_layer_rows(graph, written),
        passes=[PassReport(p.name, list(p.changes)) for p in pass_results],
        inputs=[(t, graph.tensors[t].shape) for t in graph.inputs],
        outputs=[(t, graph.tensors[t].shape) for t in graph.outputs],
        storage=storage,
        seconds=time.perf_counter() - t0,
        calibration=calibration_note,
        source_accuracy=source_accuracy,
        pruning=pruning,
        float_layers=list(islands) if integer else [],
        int4_int8_layers=_int4_int8_names(qgraph, qplan) if "q4" in map(GEARS.get, integer) else [],
        import_notes=src.notes,
        skipped_gears=skipped,
    )
    _say(progress, f"done: {out} ({written.file_bytes} bytes)")
    return report
