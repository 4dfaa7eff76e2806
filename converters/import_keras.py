"""Keras (3.x, TensorFlow backend) -> IR importer.

Walks the functional graph of a ``keras.Model`` (Sequential and functional,
with nested models flattened into the parent graph) and emits one IR node per
layer call, plus a separate activation node where a layer has
``activation=...`` (``fuse_activation`` folds it back where exact). Weights
are converted to the format's layouts here: Conv2D ``[KH,KW,C,O]`` -> OHWI,
DepthwiseConv2D ``[KH,KW,C,M]`` -> ``[1,KH,KW,C*M]``, Dense ``[I,O]`` -> ``[O,I]``,
Conv2DTranspose ``[KH,KW,O,C]`` -> ``[O,KH,KW,C]``.

Layers with a format 1.3 op (FORMAT.md "Ops added in 1.3") map onto it:
Conv2DTranspose, Subtract, Maximum, Minimum, LeakyReLU (and ReLU with a
negative slope, the ``leaky_relu`` activation), PReLU, UpSampling2D,
Resizing, Permute and Cropping2D. The writer marks a file 1.3 only when it
holds one of those ops.

Before building anything, every layer is checked, and all unsupported ones
are reported at once in a single :class:`UnsupportedOpError`.

TensorFlow/Keras are imported inside functions only, so importing this module
is cheap and ``import gearshift`` never pulls TensorFlow in.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import UnsupportedOpError
from .ir import FUSABLE_ACTIVATION_OPS, Graph, Node

__all__ = ["SUPPORTED_LAYERS", "check_supported", "import_keras", "load_keras_model"]

# Keras activation name -> IR op (None: nothing to emit).
ACTIVATIONS: dict[str, str | None] = {
    "linear": None,
    "relu": "RELU",
    "relu6": "RELU6",
    "sigmoid": "LOGISTIC",
    "tanh": "TANH",
    "hard_swish": "HARD_SWISH",
    "hard_silu": "HARD_SWISH",
    "softmax": "SOFTMAX",
}
# Keras activations with no single op, built from several format ops by
# :meth:`_Importer.activate` (exact in real arithmetic, a few ulp in float32).
# Keras 3: silu/swish(x) = x * sigmoid(x); hard_sigmoid(x) = relu6(x + 3) / 6
# (keras/src/backend/tensorflow/nn.py).
DECOMPOSED_ACTIVATIONS = frozenset({"silu", "swish", "hard_sigmoid"})
# Keras activations whose op takes an attribute: leaky_relu is LEAKY_RELU with
# Keras' default slope 0.2.
ATTR_ACTIVATIONS = frozenset({"leaky_relu"})
KNOWN_ACTIVATIONS = frozenset(ACTIVATIONS) | DECOMPOSED_ACTIVATIONS | ATTR_ACTIVATIONS
_LEAKY_RELU_DEFAULT_SLOPE = 0.2

NOOP_LAYERS = frozenset(
    {
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "GaussianNoise",
        "GaussianDropout",
        "AlphaDropout",
        "ActivityRegularization",
        "Identity",
    }
)
SUPPORTED_LAYERS = tuple(
    sorted(
        {
            "InputLayer",
            "Conv2D",
            "DepthwiseConv2D",
            "Dense",
            "MaxPooling2D",
            "AveragePooling2D",
            "GlobalAveragePooling2D",
            "ReLU",
            "Activation",
            "Softmax",
            "Add",
            "Multiply",
            "Concatenate",
            "Flatten",
            "Reshape",
            "ZeroPadding2D",
            "BatchNormalization",
            # Exact decompositions into format 1.0 ops:
            "SeparableConv2D",
            "Rescaling",
            "Normalization",
            "GlobalMaxPooling2D",
            "Subtract",
            "Average",
            # Format 1.3 ops:
            "LeakyReLU",
            "PReLU",
            "Conv2DTranspose",
            "Maximum",
            "Minimum",
            "UpSampling2D",
            "Resizing",
            "Permute",
            "Cropping2D",
            # 1-D layers, computed as their 2-D ops on a [N,1,W,C] view:
            "Conv1D",
            "DepthwiseConv1D",
            "SeparableConv1D",
            "MaxPooling1D",
            "AveragePooling1D",
            "GlobalAveragePooling1D",
            "GlobalMaxPooling1D",
            "ZeroPadding1D",
        }
        | NOOP_LAYERS
    )
)
_CHANNELS_LAST_LAYERS = frozenset(
    {
        "Conv2D",
        "DepthwiseConv2D",
        "MaxPooling2D",
        "AveragePooling2D",
        "GlobalAveragePooling2D",
        "Flatten",
        "ZeroPadding2D",
        "SeparableConv2D",
        "GlobalMaxPooling2D",
        "Conv1D",
        "DepthwiseConv1D",
        "SeparableConv1D",
        "MaxPooling1D",
        "AveragePooling1D",
        "GlobalAveragePooling1D",
        "GlobalMaxPooling1D",
        "Conv2DTranspose",
        "UpSampling2D",
        "Resizing",
        "Cropping2D",
    }
)
_CONV_LAYERS = frozenset(
    {"Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv1D", "DepthwiseConv1D"}
    | {"SeparableConv1D", "Conv2DTranspose"}
)
# Layers that act per position (or over the last axis only): on a 3-D tensor with
# a [N,1,W,C] view they run on the view, so chains of 1-D layers need no
# RESHAPE pairs and a BatchNormalization after a Conv1D still folds.
_VIEW_THROUGH_LAYERS = frozenset(
    {"BatchNormalization", "ReLU", "Activation", "Softmax", "LeakyReLU"} | NOOP_LAYERS
)
_VIEW_MERGE_LAYERS = frozenset({"Add", "Multiply", "Subtract", "Average", "Maximum", "Minimum"})
# Extra words for the unsupported-layer message, by layer class. Anything
# else that is refused needs an op the format does not have yet.
_HINTS = {
    "Lambda": "Lambda layers hold arbitrary Python; replace with built-in layers",
}
_NOT_IN_FORMAT = "not supported in format 1.3"

# Raw ``keras.ops`` calls in a functional graph (``x + 3.0``, ``ops.relu(x)``)
# are Operations, not Layers; these map exactly onto format ops. Keras
# stores each call's arguments on its Node (``node.arguments.args``), which
# is how scalar/array operands are recovered (keras/src/ops/node.py).
RAW_UNARY_OPS: dict[str, str] = {
    "Relu": "RELU",
    "Relu6": "RELU6",
    "Sigmoid": "LOGISTIC",
    "Tanh": "TANH",
    "HardSilu": "HARD_SWISH",
    "Softmax": "SOFTMAX",
}
# Raw ops that are the same function as a decomposed Keras activation.
RAW_DECOMPOSED_OPS: dict[str, str] = {"Silu": "silu", "HardSigmoid": "hard_sigmoid"}
RAW_BINARY_OPS = frozenset(
    {"Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Maximum", "Minimum"}
)
# Commutative raw binary ops (a constant operand goes second). Subtract of two
# tensors is SUB; with a constant it stays an exact ADD (``x + (-c)``).
_RAW_COMMUTATIVE = {"Add": "ADD", "Multiply": "MUL", "Maximum": "MAXIMUM", "Minimum": "MINIMUM"}
RAW_OPS = frozenset(
    {*RAW_UNARY_OPS, *RAW_DECOMPOSED_OPS, *RAW_BINARY_OPS, "Negative", "Reshape"}
    | {"Concatenate", "Mean", "LeakyRelu"}
)
_DIVISIONS = frozenset({"Divide", "TrueDivide"})


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------
def load_keras_model(path: str | os.PathLike[str]) -> Any:
    """Loads a ``.keras`` / ``.h5`` file, or a SavedModel folder, as a ``keras.Model``.

    A SavedModel is wrapped with ``keras.layers.TFSMLayer``, which hides its
    graph; it is accepted only to give a clear error pointing to a Keras save.
    Every check on the path comes before TensorFlow is imported (seconds).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such model file or folder: {path!r}")
    lower = path.lower()
    if lower.endswith(".tflite"):
        raise ValueError("TFLite import arrives in a later version; convert from the Keras model")
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "saved_model.pb")):
            raise ValueError(
                f"{path!r} is a TensorFlow SavedModel; its layers are opaque to Keras 3 "
                "(keras.layers.TFSMLayer exposes only a call function). Save the model "
                "with model.save('model.keras') and convert that file"
            )
        raise ValueError(f"{path!r} is a folder, not a .keras/.h5 file or a SavedModel")
    if lower.endswith(".gear"):
        raise ValueError(f"{path!r} is already a .gear file; convert the Keras model it came from")
    if not lower.endswith((".keras", ".h5", ".hdf5")):
        raise ValueError(
            f"unknown model file type {os.path.splitext(path)[1]!r}: expected .keras or .h5"
        )
    import keras

    return keras.models.load_model(path, compile=False)


# ---------------------------------------------------------------------------
# Support check
# ---------------------------------------------------------------------------
def _is_model(layer: Any) -> bool:
    import keras

    return isinstance(layer, keras.Model)


def _sequential_functional(model: Any) -> Any:
    """The Functional graph Keras keeps inside a built Sequential (or None)."""
    return getattr(model, "_functional", None)


def _graph_operations(model: Any) -> list[Any]:
    """The operations of a model's graph, nested models included as one op each."""
    import keras

    if isinstance(model, keras.Sequential):
        fn = _sequential_functional(model)
        return list(fn._operations) if fn is not None else list(model.layers)
    ops = getattr(model, "_operations", None)
    return list(ops) if ops is not None else list(model.layers)


def iter_leaf_layers(model: Any) -> Iterator[Any]:
    """Every operation of ``model``, with nested models expanded recursively."""
    for op in _graph_operations(model):
        if _is_model(op):
            yield from iter_leaf_layers(op)
        else:
            yield op


def _activation_name(layer: Any) -> str:
    import keras

    act = getattr(layer, "activation", None)
    if act is None:
        return "linear"
    name = keras.activations.serialize(act)
    if isinstance(name, dict):
        name = name.get("config", name.get("class_name", "custom"))
        if isinstance(name, dict):
            name = name.get("name", "custom")
    return str(name)


def layer_problem(layer: Any) -> str | None:
    """None if the importer handles ``layer``, else a short key naming what it lacks."""
    import keras

    cls = type(layer).__name__
    if not isinstance(layer, keras.layers.Layer):
        return _raw_op_problem(layer)
    if _is_model(layer):
        if not isinstance(layer, (keras.Sequential,)) and not hasattr(layer, "_nodes_by_depth"):
            return f"{cls} (subclassed Model)"
        return None
    if cls not in SUPPORTED_LAYERS:
        return cls
    if cls in _CHANNELS_LAST_LAYERS and getattr(layer, "data_format", None) == "channels_first":
        return f"{cls} (data_format=channels_first)"
    if cls in ("Conv2D", "Conv1D") and getattr(layer, "groups", 1) != 1:
        return f"{cls} (groups={layer.groups})"
    if cls in _CONV_LAYERS or cls in ("Dense", "Activation"):
        act = _activation_name(layer)
        if act not in KNOWN_ACTIVATIONS:
            return f"{cls} (activation={act})"
    return _decomposition_problem(layer, cls)


def _decomposition_problem(layer: Any, cls: str) -> str | None:
    """Attribute values a supported class cannot express exactly with format ops."""
    check = _ATTR_CHECKS.get(cls)
    if check is not None:
        return check(layer)
    if cls == "Softmax":
        axis = layer.axis
        if not (axis == -1 or axis == [-1] or axis == (-1,)):
            return f"Softmax (axis={axis})"
    if cls == "BatchNormalization" and layer.axis not in (-1, [-1]):
        rank = len(layer.input.shape) if _has_input(layer) else None
        if rank is None or layer.axis % rank != rank - 1:
            return f"BatchNormalization (axis={layer.axis})"
    if cls == "Normalization":
        if layer.invert:
            return "Normalization (invert=True)"
        if getattr(layer, "mean", None) is None:
            return "Normalization (not adapted, no mean/variance)"
    return None


def _relu_problem(layer: Any) -> str | None:
    """ReLU is RELU, RELU6 (``max_value=6``) or LEAKY_RELU (a negative slope alone)."""
    mv, slope = layer.max_value, float(layer.negative_slope)
    if float(layer.threshold) != 0.0:
        return f"ReLU (threshold={layer.threshold})"
    if mv is not None and float(mv) != 6.0:
        return f"ReLU (max_value={mv})"
    if mv is not None and slope != 0.0:
        return f"ReLU (negative_slope={layer.negative_slope}, max_value={mv})"
    return None


def _transpose_conv_problem(layer: Any) -> str | None:
    """TRANSPOSE_CONV has no dilation, and its output size comes from Keras' own
    output shape only without ``output_padding``."""
    if tuple(layer.dilation_rate) != (1, 1):
        return f"Conv2DTranspose (dilation_rate={tuple(layer.dilation_rate)})"
    if layer.output_padding is not None:
        return f"Conv2DTranspose (output_padding={layer.output_padding})"
    return None


def _upsampling_problem(layer: Any) -> str | None:
    if layer.interpolation not in _RESIZE_OPS:
        return f"UpSampling2D (interpolation={layer.interpolation})"
    return None


def _resizing_problem(layer: Any) -> str | None:
    """tf.image.resize without cropping, padding or antialiasing (``ScaleAndTranslate``)."""
    if layer.interpolation not in _RESIZE_OPS:
        return f"Resizing (interpolation={layer.interpolation})"
    for flag in ("crop_to_aspect_ratio", "pad_to_aspect_ratio", "antialias"):
        if getattr(layer, flag, False):
            return f"Resizing ({flag}=True)"
    return None


_ATTR_CHECKS = {
    "ReLU": _relu_problem,
    "Conv2DTranspose": _transpose_conv_problem,
    "UpSampling2D": _upsampling_problem,
    "Resizing": _resizing_problem,
}
# Keras interpolation -> op. Keras 3 (TF backend) computes nearest UpSampling2D
# as ops.repeat and everything else with tf.image.resize, i.e. ResizeBilinear /
# ResizeNearestNeighbor with half_pixel_centers=True, align_corners=False; with
# an integer factor f, nearest's floor((o + 0.5) / f) is exactly repeat's o // f.
_RESIZE_OPS = {"nearest": "RESIZE_NEAREST_NEIGHBOR", "bilinear": "RESIZE_BILINEAR"}
_RESIZE_FLAGS = {"align_corners": False, "half_pixel_centers": True}


def _raw_op_problem(op: Any) -> str | None:
    """None if every call of raw keras.ops ``op`` maps exactly onto format ops, else
    ``keras.ops.<Class>`` plus, for a known op, why its arguments do not."""
    cls = type(op).__name__
    if cls not in RAW_OPS:
        return f"keras.ops.{cls}"
    for node in op._inbound_nodes:
        why = _raw_node_problem(op, node)
        if why:
            return f"keras.ops.{cls} ({why})"
    return None


def _is_tensor(v: Any) -> bool:
    import keras

    return isinstance(v, keras.KerasTensor)


def _const_operand(v: Any) -> np.ndarray | None:
    """A Python/NumPy number or numeric NumPy array as float32, else None
    (backend tensors and variables are not read: they may change after import)."""
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, float, np.integer, np.floating)):
        return np.asarray(v, np.float32)
    if isinstance(v, np.ndarray) and v.dtype.kind in "iuf":
        return v.astype(np.float32)
    return None


def _const_fit_problem(c: np.ndarray, shape: Sequence[Any]) -> str | None:
    """Why constant ``c`` cannot be an ADD/MUL operand for a tensor of ``shape``: it
    must broadcast onto the tensor (aligned at the last axis) without growing it
    or touching the batch axis, so the output keeps the tensor's shape."""
    if c.size == 1:
        return None
    b = _broadcastable(c)
    inner = tuple(shape[1:])
    if b.ndim > len(inner) or None in inner:
        return f"constant of shape {c.shape} broadcasts over the batch axis"
    try:
        fits = np.broadcast_shapes(inner, b.shape) == inner
    except ValueError:
        fits = False
    return None if fits else f"constant of shape {c.shape} does not fit a tensor {tuple(shape)}"


def _binary_problem(cls: str, args: Sequence[Any]) -> str | None:
    if len(args) != 2:
        return f"{len(args)} operands"
    a, b = args
    if cls in _DIVISIONS and _is_tensor(b):
        return "division by a tensor"
    if _is_tensor(a) and _is_tensor(b):
        if len(a.shape) != len(b.shape):
            return f"tensors of rank {len(a.shape)} and {len(b.shape)}"
        return None
    t, c = (a, b) if _is_tensor(a) else (b, a)
    const = _const_operand(c)
    if const is None:
        return f"operand of type {type(c).__name__}"
    return _const_fit_problem(const, t.shape)


def _reshape_problem(op: Any, x: Any) -> str | None:
    """Only reshapes that keep the batch: ``(-1, fixed dims...)`` with the same size."""
    new = list(op.newshape) if isinstance(op.newshape, (list, tuple)) else [op.newshape]
    rest = new[1:]
    if not new or new[0] not in (-1, None) or any(d is None or int(d) < 1 for d in rest):
        return f"newshape={tuple(new)} does not keep the batch axis"
    if None in x.shape[1:] or int(np.prod(rest)) != int(np.prod(x.shape[1:])):
        return f"newshape={tuple(new)} does not keep the batch axis"
    return None


def _axis_problem(cls: str, axes: Sequence[int], rank: int) -> str | None:
    if not axes or any(not -rank <= int(a) < rank for a in axes):
        return f"axis={list(axes)}"
    if any(int(a) % rank == 0 for a in axes):
        return f"axis={list(axes)} includes the batch"
    return None


def _raw_node_problem(op: Any, node: Any) -> str | None:
    """Why one call of a known raw op cannot be expressed (None if it can)."""
    cls = type(op).__name__
    args, kwargs = node.arguments.args, node.arguments.kwargs
    if kwargs:
        return f"keyword arguments {sorted(kwargs)}"
    if len(node.outputs) != 1:
        return f"{len(node.outputs)} outputs"
    if cls in RAW_BINARY_OPS:
        return _binary_problem(cls, args)
    if cls == "Concatenate":
        xs = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
        if not all(_is_tensor(x) for x in xs):
            return "a constant operand"
        if len({len(x.shape) for x in xs}) != 1 or not isinstance(op.axis, int):
            return f"axis={op.axis} over ranks {[len(x.shape) for x in xs]}"
        return _axis_problem(cls, [op.axis], len(xs[0].shape))
    if len(args) != 1 or not _is_tensor(args[0]):
        return "expected one tensor operand"
    rank = len(args[0].shape)
    if cls == "Softmax" and not (isinstance(op.axis, int) and op.axis % rank == rank - 1):
        return f"axis={op.axis}, not the last"
    if cls == "Reshape":
        return _reshape_problem(op, args[0])
    if cls == "Mean":
        if op.axis is None:
            return "axis=None (over the batch)"
        return _axis_problem(cls, list(op.axis), rank)
    return None


def _problem_hint(problem: str) -> str:
    """Why a problem key is refused: a known hint, else the format's op set lacks it."""
    cls = problem.split(" ", 1)[0]
    if cls.startswith("keras.ops."):
        if "(" in problem:
            return "these arguments have no exact format 1.3 equivalent"
        return "a raw keras.ops call in the functional graph with no format 1.3 equivalent"
    if problem.endswith("(subclassed Model)"):
        return "its graph is Python code; build the model with the functional API"
    return _HINTS.get(cls, _NOT_IN_FORMAT)


def _has_input(layer: Any) -> bool:
    try:
        layer.input  # noqa: B018 - raises when the layer was never called
    except (AttributeError, ValueError):
        return False
    return True


def check_supported(model: Any) -> None:
    """Raises one :class:`UnsupportedOpError` listing every unsupported layer, with counts."""
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"expected a keras.Model, got {type(model).__name__}")
    problems = Counter(p for p in map(layer_problem, [model, *iter_leaf_layers(model)]) if p)
    if problems:
        ranked = sorted(problems.items(), key=lambda kv: -kv[1])
        listed = ", ".join(f"{k} ×{n} ({_problem_hint(k)})" for k, n in ranked)
        raise UnsupportedOpError(
            f"unsupported layers: {listed}; supported: {', '.join(SUPPORTED_LAYERS)}, "
            "nested Sequential/functional models, and the raw keras.ops calls "
            f"{', '.join(sorted(RAW_OPS))} (constant divisors only)"
        )


# ---------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------
def _np(v: Any) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float32)


def _shape(kt: Any, what: str) -> tuple[int, ...]:
    shape = tuple(kt.shape)
    out = []
    for i, d in enumerate(shape):
        if d is None and i == 0:
            out.append(-1)
        elif d is None:
            raise ValueError(
                f"{what}: shape {shape} has an unknown dimension {i}; gearshift needs "
                "every dimension but the batch fixed (give the Input a full shape)"
            )
        else:
            out.append(int(d))
    return tuple(out)


class _Importer:
    def __init__(self) -> None:
        self.g = Graph(metadata={"gearshift.source": "keras"})
        self.weights: dict[tuple[int, str], str] = {}  # (id(layer), role) -> const name
        self.scalars: dict[float, str] = {}  # value -> shared [1] constant
        # 3-D tensor [N,W,C] -> the same data as a [N,1,W,C] tensor (1-D layers).
        self.views: dict[str, str] = {}
        self.lazy: set[str] = set()  # RESHAPE-to-3-D nodes dropped if unused

    # -- helpers -----------------------------------------------------------------
    def const(self, layer: Any, role: str, data: np.ndarray) -> str:
        """One constant per (layer, role): a layer called twice shares its weights."""
        key = (id(layer), role)
        if key not in self.weights:
            self.weights[key] = self.g.add_const(f"{layer.name}/{role}", data)
        return self.weights[key]

    def scalar(self, name: str, value: float) -> str:
        """A shared ``[1]`` constant per value (decompositions reuse -1, 3, 1/6...)."""
        v = float(np.float32(value))
        if v not in self.scalars:
            self.scalars[v] = self.g.add_const(name, np.array([v], np.float32))
        return self.scalars[v]

    def emit(
        self,
        name: str,
        op: str,
        inputs: Sequence[str | None],
        shape: tuple[int, ...],
        attrs: dict[str, Any] | None = None,
        out_name: str | None = None,
    ) -> str:
        out = self.g.unique_name(out_name or name, among="tensors")
        self.g.add_tensor(out, shape)
        node_name = self.g.unique_name(name, among="nodes")
        self.g.add_node(Node(node_name, op, list(inputs), [out], dict(attrs or {})))
        return out

    def with_activation(
        self,
        layer: Any,
        op: str,
        inputs: Sequence[str | None],
        shape: tuple[int, ...],
        attrs: dict[str, Any],
    ) -> str:
        """Emits ``op`` then the layer's activation (if any) as its own node(s)."""
        act = _activation_name(layer)
        if op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            attrs = {**attrs, "activation": "NONE"}
        if act == "linear":
            return self.emit(layer.name, op, inputs, shape, attrs)
        y = self.emit(layer.name, op, inputs, shape, attrs, out_name=f"{layer.name}/linear")
        return self.activate(layer.name, act, y, shape)

    def activate(self, base: str, act: str, x: str, shape: tuple[int, ...]) -> str:
        """Applies Keras activation ``act`` to ``x``; the result tensor is named ``base``.

        Single-op activations stay one node (``fuse_activation`` may fold
        RELU/RELU6 into the producer); the others become short chains.
        """
        if act in ("silu", "swish"):  # x * sigmoid(x)
            s = self.emit(f"{base}/sigmoid", "LOGISTIC", [x], shape)
            return self.emit(f"{base}/swish", "MUL", [x, s], shape, _NO_ACT, base)
        if act == "hard_sigmoid":  # relu6(x + 3) / 6; the RELU6 fuses into the ADD
            t = self.emit(
                f"{base}/add3", "ADD", [x, self.scalar("const/three", 3.0)], shape, _NO_ACT
            )
            t = self.emit(f"{base}/relu6", "RELU6", [t], shape)
            sixth = self.scalar("const/one_sixth", 1.0 / 6.0)
            return self.emit(f"{base}/div6", "MUL", [t, sixth], shape, _NO_ACT, base)
        if act == "leaky_relu":
            slope = _LEAKY_RELU_DEFAULT_SLOPE
            return self.leaky_relu(f"{base}/leaky_relu", slope, x, shape, base)
        op = ACTIVATIONS[act]
        if op is None:
            return self.emit(base, "IDENTITY", [x], shape)
        extra = {"beta": 1.0} if op == "SOFTMAX" else {}
        return self.emit(f"{base}/{op.lower()}", op, [x], shape, extra, base)

    def leaky_relu(
        self, name: str, slope: float, x: str, shape: tuple[int, ...], out_name: str | None = None
    ) -> str:
        """LEAKY_RELU ``x >= 0 ? x : slope * x`` (RELU for slope 0, which may fuse)."""
        if slope == 0.0:
            return self.emit(name, "RELU", [x], shape, None, out_name)
        attrs = {"alpha": float(np.float32(slope))}
        return self.emit(name, "LEAKY_RELU", [x], shape, attrs, out_name)

    # -- graph walk -----------------------------------------------------------------
    def model(self, model: Any, inputs: list[str]) -> list[str]:
        import keras

        if isinstance(model, keras.Sequential):
            fn = _sequential_functional(model)
            if fn is None:
                return self.sequential_unbuilt(model, inputs)
            model = fn
        tmap = {id(kt): name for kt, name in zip(model.inputs, inputs)}
        by_depth = model._nodes_by_depth
        for depth in sorted(by_depth, reverse=True):
            for node in by_depth[depth]:
                if not node.operation or node.is_input:
                    continue
                if any(id(x) not in tmap for x in node.input_tensors):
                    continue
                if _is_raw_op(node.operation):
                    outs = [self.raw_op(node, tmap)]
                else:
                    ins = [tmap[id(x)] for x in node.input_tensors]
                    outs = self.call(node.operation, ins, list(node.outputs))
                for kt, name in zip(node.outputs, outs):
                    tmap[id(kt)] = name
        missing = [kt for kt in model.outputs if id(kt) not in tmap]
        if missing:
            raise ValueError(f"model {model.name!r}: outputs not connected to its inputs")
        return [tmap[id(kt)] for kt in model.outputs]

    def sequential_unbuilt(self, model: Any, inputs: list[str]) -> list[str]:
        """A nested Sequential without its own Input: chain layers, shapes from Keras."""
        import keras

        (x,) = inputs
        shape: tuple[Any, ...] = tuple(None if d == -1 else d for d in self.g.tensors[x].shape)
        for layer in model.layers:
            spec = layer.compute_output_spec(keras.KerasTensor(shape))
            (x,) = self.call(layer, [x], [spec])
            shape = tuple(spec.shape)
        return [x]

    def call(self, layer: Any, ins: list[str], outs: list[Any]) -> list[str]:
        if _is_model(layer):
            return self.model(layer, ins)
        if len(outs) != 1:
            raise ValueError(f"layer {layer.name!r}: {len(outs)} outputs; expected one")
        shape = _shape(outs[0], f"layer {layer.name!r} output")
        cls = type(layer).__name__
        method = getattr(self, f"layer_{cls}", None)
        if self.on_view(cls, ins, shape):
            shape4 = _shape_2d(shape)
            ins4 = [self.views[x] for x in ins]
            if cls in NOOP_LAYERS or method is None:
                y4 = self.emit(layer.name, "IDENTITY", ins4[:1], shape4)
            else:
                y4 = method(layer, ins4, shape4)
            return [self.from_2d(layer.name, y4, shape)]
        if cls in NOOP_LAYERS:
            return [self.emit(layer.name, "IDENTITY", ins[:1], shape)]
        if method is None:  # check_supported ran first; this is a bug
            raise UnsupportedOpError(f"unsupported layers: {cls} ×1")
        return [method(layer, ins, shape)]

    # -- 1-D layers as 2-D ops on a [N,1,W,C] view -----------------------------------
    def on_view(self, cls: str, ins: list[str], shape: tuple[int, ...]) -> bool:
        """Whether a per-position layer can run on its inputs' 2-D views."""
        if len(shape) != 3 or not ins or any(x not in self.views for x in ins):
            return False
        if any(self.g.tensors[x].shape != shape for x in ins):
            return False
        if cls in _VIEW_MERGE_LAYERS:
            return True
        return cls in _VIEW_THROUGH_LAYERS and len(ins) == 1

    def to_2d(self, x: str) -> str:
        """``x`` ``[N,W,C]`` as ``[N,1,W,C]``: its recorded view, else a RESHAPE."""
        if x not in self.views:
            n, w, c = self.g.tensors[x].shape
            self.views[x] = self.emit(f"{x}/2d", "RESHAPE", [x], (n, 1, w, c), {"shape": [1, w, c]})
        return self.views[x]

    def from_2d(self, name: str, y4: str, shape: tuple[int, ...]) -> str:
        """RESHAPE ``[N,1,W,C]`` back to ``shape``; the node is dropped at the end
        if every consumer used the view instead."""
        y = self.emit(f"{name}/1d", "RESHAPE", [y4], shape, {"shape": list(shape[1:])}, name)
        self.views[y] = y4
        self.lazy.add(self.g.nodes[-1].name)
        return y

    def drop_unused_views(self) -> None:
        used = set(self.g.outputs)
        for n in self.g.nodes:
            used.update(t for t in n.inputs if t is not None)
        self.g.nodes = [n for n in self.g.nodes if n.name not in self.lazy or n.outputs[0] in used]

    def _input_1d(self, layer: Any, x: str) -> tuple[str, dict[str, Any]]:
        """The 2-D view of a 1-D conv's input (left-padded for ``causal``) and the
        conv attributes over ``[1, W]``."""
        x4 = self.to_2d(x)
        (k,), (d,) = layer.kernel_size, layer.dilation_rate
        padding = layer.padding
        if padding == "causal":
            n, _, w, c = self.g.tensors[x4].shape
            left = (k - 1) * d
            paddings = [[0, 0], [0, 0], [left, 0], [0, 0]]
            x4 = self.emit(
                f"{layer.name}/causal_pad", "PAD", [x4], (n, 1, w + left, c), {"paddings": paddings}
            )
            padding = "valid"
        attrs = {
            "stride": [1, int(layer.strides[0])],
            "dilation": [1, int(d)],
            "padding": padding.upper(),
        }
        return x4, attrs

    def layer_Conv1D(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        x4, attrs = self._input_1d(layer, ins[0])
        k = _np(layer.kernel)  # [K, C, O] -> OHWI [O, 1, K, C]
        w = self.const(layer, "filter", k.transpose(2, 0, 1)[:, None])
        b = self.const(layer, "bias", _np(layer.bias)) if layer.use_bias else None
        y4 = self.with_activation(layer, "CONV_2D", [x4, w, b], _shape_2d(shape), attrs)
        return self.from_2d(layer.name, y4, shape)

    def layer_DepthwiseConv1D(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        x4, attrs = self._input_1d(layer, ins[0])
        k = _np(layer.kernel)  # [K, C, M]
        kw, c, m = k.shape
        w = self.const(layer, "filter", k.reshape(1, 1, kw, c * m))
        b = self.const(layer, "bias", _np(layer.bias)) if layer.use_bias else None
        attrs["depth_multiplier"] = int(m)
        y4 = self.with_activation(layer, "DEPTHWISE_CONV_2D", [x4, w, b], _shape_2d(shape), attrs)
        return self.from_2d(layer.name, y4, shape)

    def layer_SeparableConv1D(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        """As SeparableConv2D: depthwise (no bias), then a 1x1 CONV_2D with bias/activation."""
        x4, attrs = self._input_1d(layer, ins[0])
        k = _np(layer.depthwise_kernel)  # [K, C, M]
        kw, c, m = k.shape
        dw_filter = self.const(layer, "depthwise_filter", k.reshape(1, 1, kw, c * m))
        dw_attrs = {**attrs, "depth_multiplier": int(m), "activation": "NONE"}
        n, w_out, _o = shape
        dw = self.emit(
            f"{layer.name}/depthwise",
            "DEPTHWISE_CONV_2D",
            [x4, dw_filter, None],
            (n, 1, w_out, c * m),
            dw_attrs,
        )
        pk = _np(layer.pointwise_kernel)  # [1, C*M, O] -> [O, 1, 1, C*M]
        pw = self.const(layer, "pointwise_filter", pk.transpose(2, 0, 1)[:, None])
        b = self.const(layer, "bias", _np(layer.bias)) if layer.use_bias else None
        pw_attrs = {"stride": [1, 1], "dilation": [1, 1], "padding": "VALID"}
        y4 = self.with_activation(layer, "CONV_2D", [dw, pw, b], _shape_2d(shape), pw_attrs)
        return self.from_2d(layer.name, y4, shape)

    def _pool_1d(self, layer: Any, op: str, ins: list[str], shape: tuple[int, ...]) -> str:
        (k,) = layer.pool_size
        (s,) = layer.strides if layer.strides is not None else layer.pool_size
        attrs = {
            "filter": [1, int(k)],
            "stride": [1, int(s)],
            "padding": layer.padding.upper(),
            "activation": "NONE",
        }
        y4 = self.emit(layer.name, op, [self.to_2d(ins[0])], _shape_2d(shape), attrs)
        return self.from_2d(layer.name, y4, shape)

    def layer_MaxPooling1D(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        return self._pool_1d(layer, "MAX_POOL_2D", ins, shape)

    def layer_AveragePooling1D(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        return self._pool_1d(layer, "AVERAGE_POOL_2D", ins, shape)

    def layer_GlobalAveragePooling1D(
        self, layer: Any, ins: list[str], shape: tuple[int, ...]
    ) -> str:
        """MEAN over the width: on the 3-D tensor, or over [1, 2] of its 2-D view."""
        x = ins[0]
        keep = bool(layer.keepdims)
        if x not in self.views:
            return self.emit(layer.name, "MEAN", [x], shape, {"axes": [1], "keep_dims": keep})
        x4 = self.views[x]
        if not keep:
            return self.emit(layer.name, "MEAN", [x4], shape, {"axes": [1, 2], "keep_dims": False})
        c = shape[-1]
        y4 = self.emit(
            layer.name,
            "MEAN",
            [x4],
            (shape[0], 1, 1, c),
            {"axes": [1, 2], "keep_dims": True},
            out_name=f"{layer.name}/4d",
        )
        return self.emit(
            f"{layer.name}/flat", "RESHAPE", [y4], shape, {"shape": [1, c]}, layer.name
        )

    def layer_GlobalMaxPooling1D(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        """MAX_POOL_2D over the whole width of the 2-D view, then a RESHAPE to ``shape``."""
        x4 = self.to_2d(ins[0])
        n, _, w, c = self.g.tensors[x4].shape
        attrs = {"filter": [1, w], "stride": [1, 1], "padding": "VALID", "activation": "NONE"}
        y4 = self.emit(
            layer.name, "MAX_POOL_2D", [x4], (n, 1, 1, c), attrs, out_name=f"{layer.name}/4d"
        )
        return self.emit(
            f"{layer.name}/flat", "RESHAPE", [y4], shape, {"shape": list(shape[1:])}, layer.name
        )

    def layer_ZeroPadding1D(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        left, right = (int(p) for p in layer.padding)
        paddings = [[0, 0], [0, 0], [left, right], [0, 0]]
        y4 = self.emit(
            layer.name, "PAD", [self.to_2d(ins[0])], _shape_2d(shape), {"paddings": paddings}
        )
        return self.from_2d(layer.name, y4, shape)

    # -- raw keras.ops calls ---------------------------------------------------------
    def raw_op(self, node: Any, tmap: dict[int, str]) -> str:
        """One call of a raw keras.ops op (checked by :func:`_raw_node_problem`)."""
        op = node.operation
        cls = type(op).__name__
        shape = _shape(node.outputs[0], f"keras.ops.{cls} {op.name!r} output")
        args = node.arguments.args
        if cls in RAW_BINARY_OPS:
            return self.raw_binary(op.name, cls, args, tmap, shape)
        if cls == "Concatenate":
            xs = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
            attrs = {"axis": op.axis % len(shape), "activation": "NONE"}
            return self.emit(op.name, "CONCATENATION", [tmap[id(x)] for x in xs], shape, attrs)
        x = tmap[id(args[0])]
        if cls == "LeakyRelu":
            return self.leaky_relu(op.name, float(op.negative_slope), x, shape)
        if cls in RAW_UNARY_OPS:
            extra = {"beta": 1.0} if cls == "Softmax" else {}
            return self.emit(op.name, RAW_UNARY_OPS[cls], [x], shape, extra)
        if cls in RAW_DECOMPOSED_OPS:
            return self.activate(op.name, RAW_DECOMPOSED_OPS[cls], x, shape)
        if cls == "Negative":  # multiplying by -1 is exact
            minus_one = self.scalar("const/minus_one", -1.0)
            return self.emit(op.name, "MUL", [x, minus_one], shape, _NO_ACT)
        if cls == "Reshape":
            return self.emit(op.name, "RESHAPE", [x], shape, {"shape": list(shape[1:])})
        assert cls == "Mean", cls
        rank = len(self.g.tensors[x].shape)
        attrs = {"axes": sorted(int(a) % rank for a in op.axis), "keep_dims": bool(op.keepdims)}
        return self.emit(op.name, "MEAN", [x], shape, attrs)

    def operand(self, base: str, v: Any, tmap: dict[int, str]) -> str:
        """A tensor operand's IR name, or a constant: a shared ``[1]`` scalar, else
        the array with leading 1s dropped (format ADD/MUL align at the last axis)."""
        if _is_tensor(v):
            return tmap[id(v)]
        c = _const_operand(v)
        assert c is not None
        if c.size == 1:
            return self.scalar("const/scalar", float(c.reshape(-1)[0]))
        return self.g.add_const(f"{base}/constant", _broadcastable(c))

    def raw_binary(
        self, base: str, cls: str, args: Sequence[Any], tmap: dict[int, str], shape: tuple[int, ...]
    ) -> str:
        """ADD/MUL/MAXIMUM/MINIMUM with the tensor first; SUB of two tensors; with a
        constant, ``x - c`` is ``x + (-c)`` and ``c - x`` is ``-1*x + c`` (both exact)."""
        a, b = args
        if cls in _DIVISIONS:
            # x / c as x * (1/c): the float32 reciprocal is rounded once, so results
            # may differ from true division by an ulp or so (well within 1e-4).
            c = _const_operand(b)
            assert c is not None
            recip = (1.0 / c.astype(np.float64)).astype(np.float32)
            return self.emit(
                base, "MUL", [tmap[id(a)], self.operand(base, recip, tmap)], shape, _NO_ACT
            )
        if cls == "Subtract" and _is_tensor(a) and _is_tensor(b):
            return self.emit(base, "SUB", [tmap[id(a)], tmap[id(b)]], shape, _NO_ACT)
        if cls == "Subtract":  # negating the constant or the tensor is exact
            if _is_tensor(b):
                minus_b = self.negate(base, b, tmap)
            else:
                c = _const_operand(b)
                assert c is not None
                minus_b = self.operand(base, -c, tmap)
            first = self.operand(base, a, tmap)
            pair = [first, minus_b] if _is_tensor(a) else [minus_b, first]
            return self.emit(base, "ADD", pair, shape, _NO_ACT)
        x, y = (a, b) if _is_tensor(a) else (b, a)  # the rest commute
        op = _RAW_COMMUTATIVE[cls]
        ins = [self.operand(base, x, tmap), self.operand(base, y, tmap)]
        return self.emit(base, op, ins, shape, _NO_ACT if op in FUSABLE_ACTIVATION_OPS else {})

    def negate(self, base: str, v: Any, tmap: dict[int, str]) -> str:
        """``-1 * v`` for a tensor operand: exact, so ``a - b`` stays bit-exact."""
        x = tmap[id(v)]
        minus_one = self.scalar("const/minus_one", -1.0)
        return self.emit(f"{base}/neg", "MUL", [x, minus_one], self.g.tensors[x].shape, _NO_ACT)

    # -- layers -------------------------------------------------------------------
    def layer_InputLayer(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        return ins[0]

    def _conv_attrs(self, layer: Any) -> dict[str, Any]:
        return {
            "stride": list(layer.strides),
            "dilation": list(layer.dilation_rate),
            "padding": layer.padding.upper(),
        }

    def layer_Conv2D(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        w = self.const(layer, "filter", _np(layer.kernel).transpose(3, 0, 1, 2))
        b = self.const(layer, "bias", _np(layer.bias)) if layer.use_bias else None
        return self.with_activation(
            layer, "CONV_2D", [ins[0], w, b], shape, self._conv_attrs(layer)
        )

    def layer_DepthwiseConv2D(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        k = _np(layer.kernel)  # [KH, KW, C, M]
        kh, kw, c, m = k.shape
        w = self.const(layer, "filter", k.reshape(1, kh, kw, c * m))
        b = self.const(layer, "bias", _np(layer.bias)) if layer.use_bias else None
        attrs = {**self._conv_attrs(layer), "depth_multiplier": int(m)}
        return self.with_activation(layer, "DEPTHWISE_CONV_2D", [ins[0], w, b], shape, attrs)

    def layer_Dense(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        w = self.const(layer, "weights", _np(layer.kernel).T)
        b = self.const(layer, "bias", _np(layer.bias)) if layer.use_bias else None
        return self.with_activation(layer, "FULLY_CONNECTED", [ins[0], w, b], shape, {})

    def _pool(self, layer: Any, op: str, ins: list[str], shape: tuple[int, ...]) -> str:
        strides = layer.strides if layer.strides is not None else layer.pool_size
        attrs = {
            "filter": list(layer.pool_size),
            "stride": list(strides),
            "padding": layer.padding.upper(),
            "activation": "NONE",
        }
        return self.emit(layer.name, op, ins, shape, attrs)

    def layer_MaxPooling2D(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        return self._pool(layer, "MAX_POOL_2D", ins, shape)

    def layer_AveragePooling2D(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        return self._pool(layer, "AVERAGE_POOL_2D", ins, shape)

    def layer_GlobalAveragePooling2D(
        self, layer: Any, ins: list[str], shape: tuple[int, ...]
    ) -> str:
        attrs = {"axes": [1, 2], "keep_dims": bool(layer.keepdims)}
        return self.emit(layer.name, "MEAN", ins, shape, attrs)

    def layer_ReLU(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        """RELU, RELU6, or LEAKY_RELU for a negative slope (:func:`_relu_problem`)."""
        slope = float(layer.negative_slope)
        if slope != 0.0:
            return self.leaky_relu(layer.name, slope, ins[0], shape)
        op = "RELU" if layer.max_value is None else "RELU6"
        return self.emit(layer.name, op, ins, shape)

    def layer_Activation(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        act = _activation_name(layer)
        if ACTIVATIONS.get(act, "") is None:
            return self.emit(layer.name, "IDENTITY", ins, shape)
        if act not in ACTIVATIONS:
            return self.activate(layer.name, act, ins[0], shape)
        op = ACTIVATIONS[act]
        assert op is not None
        return self.emit(layer.name, op, ins, shape, {"beta": 1.0} if op == "SOFTMAX" else {})

    def layer_Softmax(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        return self.emit(layer.name, "SOFTMAX", ins, shape, {"beta": 1.0})

    def _same_rank(self, layer: Any, ins: list[str], rank: int) -> list[str]:
        """Keras merges expand lower-rank inputs at axis 1; the format aligns at the end."""
        out = []
        for x in ins:
            s = self.g.tensors[x].shape
            if len(s) < rank:
                new = (s[0], *([1] * (rank - len(s))), *s[1:])
                x = self.emit(f"{layer.name}/expand", "RESHAPE", [x], new, {"shape": list(new[1:])})
            out.append(x)
        return out

    def _chain(
        self, layer: Any, op: str, ins: list[str], shape: tuple[int, ...], final: str | None = None
    ) -> str:
        """``op`` folded over ``ins`` pairwise; the last result is named ``final`` (the layer)."""
        ins = self._same_rank(layer, ins, len(shape))
        attrs = _NO_ACT if op in FUSABLE_ACTIVATION_OPS else {}
        acc = ins[0]
        for i, x in enumerate(ins[1:], start=1):
            a, b = self.g.tensors[acc].shape, self.g.tensors[x].shape
            last = i == len(ins) - 1
            step = tuple(max(p, q) if -1 not in (p, q) else -1 for p, q in zip(a, b))
            name = (final or layer.name) if last else f"{layer.name}/{i}"
            acc = self.emit(name, op, [acc, x], shape if last else step, attrs)
        return acc

    def layer_Add(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        return self._chain(layer, "ADD", ins, shape)

    def layer_Multiply(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        return self._chain(layer, "MUL", ins, shape)

    def layer_Subtract(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        return self._chain(layer, "SUB", ins, shape)

    def layer_Maximum(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        return self._chain(layer, "MAXIMUM", ins, shape)

    def layer_Minimum(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        return self._chain(layer, "MINIMUM", ins, shape)

    def layer_Average(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        total = self._chain(layer, "ADD", ins, shape, final=f"{layer.name}/sum")
        inv = self.scalar(f"const/one_over_{len(ins)}", 1.0 / len(ins))
        return self.emit(layer.name, "MUL", [total, inv], shape, _NO_ACT)

    def layer_Concatenate(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        rank = len(shape)
        axis = layer.axis % rank
        if axis == 0:
            raise UnsupportedOpError(
                f"unsupported layers: Concatenate (axis=0, the batch) ×1 in {layer.name!r}"
            )
        attrs = {"axis": axis, "activation": "NONE"}
        return self.emit(layer.name, "CONCATENATION", ins, shape, attrs)

    def layer_Flatten(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        return self.emit(layer.name, "RESHAPE", ins, shape, {"shape": list(shape[1:])})

    def layer_Reshape(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        return self.emit(layer.name, "RESHAPE", ins, shape, {"shape": list(shape[1:])})

    def layer_ZeroPadding2D(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        (t, b), (left, r) = layer.padding
        paddings = [[0, 0], [int(t), int(b)], [int(left), int(r)], [0, 0]]
        return self.emit(layer.name, "PAD", ins, shape, {"paddings": paddings})

    def layer_SeparableConv2D(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        """Depthwise (strides, dilation, padding; no bias) then a 1x1 CONV_2D with the
        bias and activation, as Keras/TF compute it; a following BN folds into the 1x1."""
        k = _np(layer.depthwise_kernel)  # [KH, KW, C, M]
        kh, kw, c, m = k.shape
        dw_filter = self.const(layer, "depthwise_filter", k.reshape(1, kh, kw, c * m))
        dw_attrs = {**self._conv_attrs(layer), "depth_multiplier": int(m), "activation": "NONE"}
        dw_shape = (*shape[:3], c * m)
        dw = self.emit(
            f"{layer.name}/depthwise",
            "DEPTHWISE_CONV_2D",
            [ins[0], dw_filter, None],
            dw_shape,
            dw_attrs,
        )
        pw = self.const(
            layer, "pointwise_filter", _np(layer.pointwise_kernel).transpose(3, 0, 1, 2)
        )
        b = self.const(layer, "bias", _np(layer.bias)) if layer.use_bias else None
        pw_attrs = {"stride": [1, 1], "dilation": [1, 1], "padding": "VALID"}
        return self.with_activation(layer, "CONV_2D", [dw, pw, b], shape, pw_attrs)

    def layer_GlobalMaxPooling2D(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        """MAX_POOL_2D over the whole (static) H x W, then drop the 1x1 unless keepdims."""
        _n, h, w, c = self.g.tensors[ins[0]].shape
        attrs = {"filter": [h, w], "stride": [1, 1], "padding": "VALID", "activation": "NONE"}
        if layer.keepdims:
            return self.emit(layer.name, "MAX_POOL_2D", ins, shape, attrs)
        pooled = self.emit(
            layer.name, "MAX_POOL_2D", ins, (-1, 1, 1, c), attrs, out_name=f"{layer.name}/4d"
        )
        return self.emit(
            f"{layer.name}/flat", "RESHAPE", [pooled], shape, {"shape": [c]}, layer.name
        )

    def _affine(
        self, layer: Any, x: str, shape: tuple[int, ...], steps: list[tuple[str, np.ndarray]]
    ) -> str:
        """Applies ``("MUL"|"ADD", constant)`` steps in order, skipping identity steps;
        the last node's output is named after the layer."""
        identity = {"MUL": 1.0, "ADD": 0.0}
        steps = [(op, v) for op, v in steps if not np.all(v == identity[op])]
        if not steps:
            return self.emit(layer.name, "IDENTITY", [x], shape)
        for i, (op, v) in enumerate(steps):
            c = self.const(layer, "scale" if op == "MUL" else "offset", _broadcastable(v))
            last = i == len(steps) - 1
            name = layer.name if last else f"{layer.name}/{op.lower()}"
            x = self.emit(name, op, [x, c], shape, _NO_ACT)
        return x

    def layer_Rescaling(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        """``x * scale + offset``, scalars or per-channel arrays, as Keras computes it."""
        scale = np.asarray(layer.scale, np.float32)
        offset = np.asarray(layer.offset, np.float32)
        return self._affine(layer, ins[0], shape, [("MUL", scale), ("ADD", offset)])

    def layer_Normalization(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        """``(x - mean) / max(sqrt(var), eps)``: ADD of ``-mean``, then MUL by the
        reciprocal (Keras divides; the reciprocal costs at most an ulp or two)."""
        import keras

        mean = _np(layer.mean).astype(np.float64)
        std = np.sqrt(_np(layer.variance).astype(np.float64))
        denom = np.maximum(std, keras.backend.epsilon())
        return self._affine(layer, ins[0], shape, [("ADD", -mean), ("MUL", 1.0 / denom)])

    def layer_LeakyReLU(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        return self.leaky_relu(layer.name, float(layer.negative_slope), ins[0], shape)

    def layer_PReLU(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        """PRELU with Keras' alpha as stored: the input shape without the batch, 1 on
        the shared axes, so it broadcasts onto ``x`` aligned at the last axis."""
        alpha = self.const(layer, "alpha", _np(layer.alpha))
        return self.emit(layer.name, "PRELU", [ins[0], alpha], shape)

    def layer_Conv2DTranspose(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        """TRANSPOSE_CONV; Keras' output shape is the op's ``output_size`` (TF computes
        its padding from that size as FORMAT.md does)."""
        w = self.const(layer, "filter", _np(layer.kernel).transpose(2, 0, 1, 3))
        b = self.const(layer, "bias", _np(layer.bias)) if layer.use_bias else None
        attrs = {
            "stride": [int(s) for s in layer.strides],
            "padding": layer.padding.upper(),
            "output_size": [int(shape[1]), int(shape[2])],
            "activation": "NONE",
        }
        return self.with_activation(layer, "TRANSPOSE_CONV", [ins[0], w, b], shape, attrs)

    def _resize(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        attrs = {"size": [int(shape[1]), int(shape[2])], **_RESIZE_FLAGS}
        return self.emit(layer.name, _RESIZE_OPS[layer.interpolation], ins, shape, attrs)

    def layer_UpSampling2D(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        return self._resize(layer, ins, shape)

    def layer_Resizing(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        return self._resize(layer, ins, shape)

    def layer_Permute(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        perm = [0, *(int(d) for d in layer.dims)]
        return self.emit(layer.name, "TRANSPOSE", ins, shape, {"perm": perm})

    def layer_Cropping2D(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        """SLICE over axes 1..3: ``[top : H-bottom, left : W-right, :]``."""
        _n, h, w, c = self.g.tensors[ins[0]].shape
        (top, bottom), (left, right) = layer.cropping
        attrs = {
            "begin": [int(top), int(left), 0],
            "end": [h - int(bottom), w - int(right), c],
            "strides": [1, 1, 1],
        }
        return self.emit(layer.name, "SLICE", ins, shape, attrs)

    def layer_BatchNormalization(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        c = shape[-1]
        gamma = _np(layer.gamma) if layer.scale else np.ones(c, np.float32)
        beta = _np(layer.beta) if layer.center else np.zeros(c, np.float32)
        mean, var = _np(layer.moving_mean), _np(layer.moving_variance)
        consts = [
            self.const(layer, role, v)
            for role, v in (("gamma", gamma), ("beta", beta), ("mean", mean), ("variance", var))
        ]
        attrs = {"epsilon": float(layer.epsilon)}
        return self.emit(layer.name, "BATCH_NORM", [ins[0], *consts], shape, attrs)


_NO_ACT = {"activation": "NONE"}


def _shape_2d(shape: tuple[int, ...]) -> tuple[int, ...]:
    """``[N, W, C]`` -> ``[N, 1, W, C]``."""
    return (shape[0], 1, *shape[1:])


def _is_raw_op(op: Any) -> bool:
    """A keras.ops Operation recorded in a functional graph (not a Layer or Model)."""
    import keras

    return not isinstance(op, keras.layers.Layer)


def _broadcastable(v: np.ndarray) -> np.ndarray:
    """A constant for NumPy-broadcast ADD/MUL: leading 1s dropped (Keras keeps a
    batch axis of 1 in adapted statistics), a scalar as ``[1]``."""
    v = np.asarray(v, np.float32)
    while v.ndim > 1 and v.shape[0] == 1:
        v = v[0]
    return v.reshape(1) if v.ndim == 0 else v


def import_keras(model: Any) -> Graph:
    """Builds the IR graph of a ``keras.Model`` (or a path to a saved one).

    Raises :class:`UnsupportedOpError` (listing all problems) before any work
    if a layer cannot be expressed, and ValueError for shapes that are not
    fixed apart from the batch.
    """
    import keras

    if isinstance(model, (str, os.PathLike)):
        model = load_keras_model(model)
    check_supported(model)
    if isinstance(model, keras.Sequential) and _sequential_functional(model) is None:
        raise ValueError(
            "the Sequential model is not built: give it an input shape "
            "(keras.Input(shape=...) as first layer, or call model.build((None, ...)))"
        )
    imp = _Importer()
    g = imp.g
    names = []
    for i, kt in enumerate(model.inputs):
        history = getattr(kt, "_keras_history", None)
        base = history[0].name if history else getattr(kt, "name", None) or f"input_{i}"
        name = g.unique_name(base)
        g.add_tensor(name, _shape(kt, f"model input {base!r}"))
        names.append(name)
    g.inputs = names
    outs = imp.model(model, names)
    # An output that is a graph input, or listed twice, needs its own tensor.
    final = []
    for o in outs:
        if o in g.inputs or o in final:
            o = imp.emit(f"{o}/output", "IDENTITY", [o], g.tensors[o].shape)
        final.append(o)
    g.outputs = final
    imp.drop_unused_views()
    g.metadata["gearshift.source_model"] = str(model.name)
    g.prune()
    g.validate()
    return g
