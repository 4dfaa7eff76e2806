"""The whole-gear oracle: any gear of a ``.gear`` 1.3 file, run in numpy.

``run_gear(source, gear, inputs)`` gives what the C++ runtime must give:

- ``f32`` and ``f16`` gears: the float interpreter of ``reference.py`` on the
  gear's constants as ``reference.float_constants`` materialises them
  (``q8r4`` / ``q8r8`` bit-exact; f16 rounding by ``quant_ref.quantize_f16``). Float
  kernels may differ from it by rounding, so compare those with a tolerance.
- ``q8`` and ``q4`` gears: integer arithmetic end to end with the kernels of
  ``quant_ref.py``, op by op as docs/QUANTIZATION.md "The int8 gear, op by
  op" specifies: graph inputs quantized with the gear's activation
  parameters, every intermediate tensor int8, outputs dequantized. The C++
  runtime's integer gears must match this bit for bit.
- ``q8+f32`` and ``q4+f32`` gears (1.5): the same, except that the nodes in
  ``float_nodes`` run on the float interpreter (``reference._eval``, float64
  inside an op, float32 between ops), with the boundary conversions of
  FORMAT.md. The integer tensors must match bit for bit up to the first
  integer node that reads a float tensor; from there a float rounding
  difference may move a quantized value by one step.

:func:`run_gear_int8` returns every tensor's int8 values, to find the first
node where a runtime departs from the oracle.

Sparse storage (``bitmap``/``csr``/``2:4``, a ``q8r4`` or ``q8r8`` over a sparse base) is
densified by ``GearFile.storage_values``, and a gear's ``sparse`` flag is
ignored: FORMAT.md defines a sparse gear's results as its dense
counterpart's (identical for ``q8``/``q4``, whose sums are integers; for
``f32``/``f16`` a sparse kernel may differ only by float summation order),
so one oracle serves both and ``int8-sparse`` must match ``int8`` bit for bit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Union

import numpy as np

from ..gear_format import GearFile, read_gear
from . import quant_ref as qr
from .ir import Node
from .reference import MOVE_OPS, _eval, graph_from_gear, run_graph

__all__ = ["run_gear", "run_gear_int8"]

INTEGER_COMPUTE = ("q8", "q4", "q8+f32", "q4+f32")

Source = Union[str, "os.PathLike[str]", bytes, GearFile]


def _open(source: Source) -> GearFile:
    return source if isinstance(source, GearFile) else read_gear(source)


def _input_map(gf: GearFile, inputs: Any) -> dict[int, np.ndarray]:
    """Graph inputs (one array, a list in graph order, or a dict by name) by tensor index."""
    m = gf.manifest
    tensors, idx = m["tensors"], m["inputs"]
    names = [tensors[i]["name"] for i in idx]
    if isinstance(inputs, Mapping):
        items = dict(inputs)
    elif isinstance(inputs, (list, tuple)) and len(idx) > 1:
        items = dict(zip(names, inputs))
    else:
        items = {names[0]: inputs}
    if sorted(items) != sorted(names):
        raise ValueError(f"expected inputs {names}, got {sorted(items)}")
    out = {}
    for i, name in zip(idx, names):
        arr = np.asarray(items[name], dtype=np.float32)
        want = tensors[i]["shape"]
        if arr.ndim != len(want) or any(w not in (-1, g) for w, g in zip(want, arr.shape)):
            raise ValueError(f"input {name!r}: expected shape {want}, got {arr.shape}")
        out[i] = arr
    return out


def _qparams(q: Any) -> qr.QParams:
    """A ``gear_format.Quant`` as ``quant_ref.QParams``."""
    if q.axis is None:
        return qr.QParams.of(q.scale[0], int(q.zero_point[0]))
    return qr.QParams.of(q.scale, q.zero_point, q.axis)


def _eval_int8(
    node: dict[str, Any],
    x: list[np.ndarray | None],
    p: list[qr.QParams | None],
    y: qr.QParams,
) -> np.ndarray:
    """One node of a q8/q4 gear: int8 inputs ``x`` with params ``p`` -> int8 output."""
    op, a = node["op"], node.get("attrs", {})
    act = a.get("activation", "NONE")
    if op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        kern = qr.q8_conv2d if op == "CONV_2D" else qr.q8_depthwise_conv2d
        return kern(
            x[0], p[0], x[1], p[1], x[2], y,
            tuple(a["stride"]), tuple(a["dilation"]), a["padding"], act,
        )  # fmt: skip
    if op == "FULLY_CONNECTED":
        return qr.q8_fully_connected(x[0], p[0], x[1], p[1], x[2], y, act)
    if op in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        kern = qr.q8_max_pool if op == "MAX_POOL_2D" else qr.q8_avg_pool
        return kern(x[0], p[0], y, tuple(a["filter"]), tuple(a["stride"]), a["padding"], act)
    if op == "ADD":
        return qr.q8_add(x[0], p[0], x[1], p[1], y, act)
    if op == "MUL":
        return qr.q8_mul(x[0], p[0], x[1], p[1], y, act)
    if op == "MEAN":
        return qr.q8_mean(x[0], p[0], y, a["axes"], a["keep_dims"])
    if op in ("RELU", "RELU6", "RELU_N1_TO_1"):
        return qr.q8_relu(x[0], p[0], y, op)
    if op in qr.TABLE_FUNCTIONS:
        return qr.q8_table_op(x[0], p[0], y, op)
    if op == "SOFTMAX":
        return qr.q8_softmax(x[0], p[0], y, float(a.get("beta", 1.0)))
    if op == "CONCATENATION":
        return qr.q8_concatenation(x, int(a["axis"]), y, act)  # type: ignore[arg-type]
    if op == "RESHAPE":
        return np.asarray(x[0]).reshape((x[0].shape[0], *a["shape"]))
    if op == "PAD":
        return qr.q8_pad(x[0], p[0], a["paddings"], a.get("value"))
    if op == "TRANSPOSE_CONV":
        return qr.q8_transpose_conv(
            x[0], p[0], x[1], p[1], x[2], y,
            tuple(a["stride"]), a["padding"], tuple(a["output_size"]), act,
        )  # fmt: skip
    if op == "SUB":
        return qr.q8_sub(x[0], p[0], x[1], p[1], y, act)
    if op == "DIV":
        return qr.q8_div(x[0], p[0], x[1], p[1], y, act)
    if op == "MAXIMUM":
        return qr.q8_maximum(x[0], x[1])
    if op == "MINIMUM":
        return qr.q8_minimum(x[0], x[1])
    if op == "LEAKY_RELU":
        return qr.q8_leaky_relu(x[0], p[0], y, float(a["alpha"]))
    if op == "PRELU":
        return qr.q8_prelu(x[0], p[0], x[1], p[1], y)
    if op == "RESIZE_BILINEAR":
        return qr.q8_resize_bilinear(
            x[0], tuple(a["size"]), bool(a["align_corners"]), bool(a["half_pixel_centers"])
        )
    if op in MOVE_OPS:
        return qr.q8_move(op, x[0], a)
    if op == "QUANTIZE":
        return qr.q8_requantize(x[0], p[0], y)
    raise ValueError(f"no int8 kernel for op {op!r}")


def run_gear_int8(source: Source, gear: str, inputs: Any) -> dict[str, np.ndarray]:
    """Runs q8/q4 gear ``gear``; returns every non-constant tensor's int8 values by name
    (graph inputs after quantization included). In a ``q8+f32``/``q4+f32`` gear the
    tensors its float nodes compute are float32 arrays."""
    gf = _open(source)
    g = gf.gear(gear)
    if g["compute"] not in INTEGER_COMPUTE:
        raise ValueError(f"gear {gear!r} computes {g['compute']}, not q8/q4")
    m = gf.manifest
    tensors = m["tensors"]
    names = [t["name"] for t in tensors]
    params: dict[int, qr.QParams] = {
        t: qr.QParams.of(np.float32(s), int(z)) for t, s, z in g["activations"]
    }
    floats = set(g.get("float_nodes", ()))
    values: dict[int, np.ndarray] = {}  # int8 tensors and integer constants
    fvalues: dict[int, np.ndarray] = {}  # float tensors and float constants (1.5)
    for t, s in g["constants"]:
        if m["storage"][s]["dtype"] in ("f32", "f16"):  # a float island's constant
            fvalues[t] = np.asarray(gf.storage_values(s), np.float32)
            continue
        values[t] = np.asarray(gf.storage_values(s))
        params[t] = _qparams(gf.storage_quant(s))
    for i, x in _input_map(gf, inputs).items():
        values[i] = qr.quantize_input(x, params[i])
    for k, node in enumerate(m["nodes"]):
        ins = node["inputs"]
        out = node["outputs"][0]
        try:
            if k in floats:  # float arithmetic; int8 operands dequantized (FORMAT.md 1.5)
                args = [
                    None
                    if t < 0
                    else fvalues[t]
                    if t in fvalues
                    else qr.dequantize_output(values[t], params[t])
                    for t in ins
                ]
                ir_node = Node(
                    node["name"],
                    node["op"],
                    [None if t < 0 else names[t] for t in ins],
                    [names[out]],
                    dict(node.get("attrs", {})),
                )
                y = np.asarray(_eval(ir_node, args), np.float32)
            else:  # float operands quantized with their own parameters
                xs = [
                    None
                    if t < 0
                    else qr.quantize_input(fvalues[t], params[t])
                    if t in fvalues
                    else values[t]
                    for t in ins
                ]
                ps = [None if t < 0 else params[t] for t in ins]
                y = _eval_int8(node, xs, ps, params[out])
        except Exception as e:
            raise type(e)(f"node {node['name']!r} ({node['op']}): {e}") from e
        want = tensors[out]["shape"]
        if y.ndim != len(want) or any(w not in (-1, d) for w, d in zip(want, y.shape)):
            raise ValueError(
                f"node {node['name']!r} ({node['op']}): computed shape {y.shape}, declared {want}"
            )
        if k in floats:
            fvalues[out] = y
        else:
            values[out] = np.asarray(y, np.int8)
    return {names[t]: v for t, v in {**values, **fvalues}.items() if not tensors[t].get("const")}


def run_gear(source: Source, gear: str, inputs: Any) -> dict[str, np.ndarray]:
    """Runs gear ``gear`` of a ``.gear`` file (path, bytes or a read ``GearFile``) on
    ``inputs`` (one array, a list in graph order, or a dict by name); returns the
    float32 graph outputs by name, as the runtime returns them."""
    gf = _open(source)
    compute = gf.gear(gear)["compute"]
    tensors = gf.manifest["tensors"]
    if compute in ("f32", "f16"):
        graph = graph_from_gear(gf, gear)
        ins = {tensors[i]["name"]: v for i, v in _input_map(gf, inputs).items()}
        return run_graph(graph, ins)
    q = run_gear_int8(gf, gear, inputs)
    acts = gf.activations(gear)
    out = {}
    for i in gf.manifest["outputs"]:
        name = tensors[i]["name"]
        if q[name].dtype == np.float32:  # a float island's output leaves as it is
            out[name] = q[name]
            continue
        s, z = acts[name]
        out[name] = qr.dequantize_output(q[name], qr.QParams.of(np.float32(s), z))
    return out
