"""Keras (3.x, TensorFlow backend) -> IR importer.

Walks the functional graph of a ``keras.Model`` (Sequential and functional,
with nested models flattened into the parent graph) and emits one IR node per
layer call, plus a separate activation node where a layer has
``activation=...`` (``fuse_activation`` folds it back where exact). Weights
are converted to the format's layouts here: Conv2D ``[KH,KW,C,O]`` -> OHWI,
DepthwiseConv2D ``[KH,KW,C,M]`` -> ``[1,KH,KW,C*M]``, Dense ``[I,O]`` -> ``[O,I]``.

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
from .ir import Graph, Node

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
    }
)


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------
def load_keras_model(path: str | os.PathLike[str]) -> Any:
    """Loads a ``.keras`` / ``.h5`` file, or a SavedModel folder, as a ``keras.Model``.

    A SavedModel is wrapped with ``keras.layers.TFSMLayer``, which hides its
    graph; it is accepted only to give a clear error pointing to a Keras save.
    """
    import keras

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
    if not lower.endswith((".keras", ".h5", ".hdf5")):
        raise ValueError(
            f"unknown model file type {os.path.splitext(path)[1]!r}: expected .keras or .h5"
        )
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
        return f"keras.ops.{cls}"
    if _is_model(layer):
        if not isinstance(layer, (keras.Sequential,)) and not hasattr(layer, "_nodes_by_depth"):
            return f"{cls} (subclassed Model)"
        return None
    if cls not in SUPPORTED_LAYERS:
        return cls
    if cls in _CHANNELS_LAST_LAYERS and getattr(layer, "data_format", None) == "channels_first":
        return f"{cls} (data_format=channels_first)"
    if cls == "Conv2D" and getattr(layer, "groups", 1) != 1:
        return f"Conv2D (groups={layer.groups})"
    if cls in ("Conv2D", "DepthwiseConv2D", "Dense", "Activation"):
        act = _activation_name(layer)
        if act not in ACTIVATIONS:
            return f"{cls} (activation={act})"
    if cls == "ReLU":
        mv = layer.max_value
        if float(layer.negative_slope) != 0.0 or float(layer.threshold) != 0.0:
            return f"ReLU (negative_slope={layer.negative_slope}, threshold={layer.threshold})"
        if mv is not None and float(mv) != 6.0:
            return f"ReLU (max_value={mv})"
    if cls == "Softmax":
        axis = layer.axis
        if not (axis == -1 or axis == [-1] or axis == (-1,)):
            return f"Softmax (axis={axis})"
    if cls == "BatchNormalization" and layer.axis not in (-1, [-1]):
        rank = len(layer.input.shape) if _has_input(layer) else None
        if rank is None or layer.axis % rank != rank - 1:
            return f"BatchNormalization (axis={layer.axis})"
    return None


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
        listed = ", ".join(f"{k} ×{n}" for k, n in sorted(problems.items(), key=lambda kv: -kv[1]))
        raise UnsupportedOpError(
            f"unsupported layers: {listed}; supported: {', '.join(SUPPORTED_LAYERS)}, "
            "and nested Sequential/functional models"
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

    # -- helpers -----------------------------------------------------------------
    def const(self, layer: Any, role: str, data: np.ndarray) -> str:
        """One constant per (layer, role): a layer called twice shares its weights."""
        key = (id(layer), role)
        if key not in self.weights:
            self.weights[key] = self.g.add_const(f"{layer.name}/{role}", data)
        return self.weights[key]

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
        """Emits ``op`` then the layer's activation (if any) as its own node."""
        act = ACTIVATIONS[_activation_name(layer)]
        if op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            attrs = {**attrs, "activation": "NONE"}
        if act is None:
            return self.emit(layer.name, op, inputs, shape, attrs)
        y = self.emit(layer.name, op, inputs, shape, attrs, out_name=f"{layer.name}/linear")
        extra = {"beta": 1.0} if act == "SOFTMAX" else {}
        return self.emit(f"{layer.name}/{act.lower()}", act, [y], shape, extra, layer.name)

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
        if cls in NOOP_LAYERS:
            return [self.emit(layer.name, "IDENTITY", ins[:1], shape)]
        if method is None:  # check_supported ran first; this is a bug
            raise UnsupportedOpError(f"unsupported layers: {cls} ×1")
        return [method(layer, ins, shape)]

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
        op = "RELU" if layer.max_value is None else "RELU6"
        return self.emit(layer.name, op, ins, shape)

    def layer_Activation(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        op = ACTIVATIONS[_activation_name(layer)]
        if op is None:
            return self.emit(layer.name, "IDENTITY", ins, shape)
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

    def _chain(self, layer: Any, op: str, ins: list[str], shape: tuple[int, ...]) -> str:
        ins = self._same_rank(layer, ins, len(shape))
        acc = ins[0]
        for i, x in enumerate(ins[1:], start=1):
            a, b = self.g.tensors[acc].shape, self.g.tensors[x].shape
            last = i == len(ins) - 1
            step = tuple(max(p, q) if -1 not in (p, q) else -1 for p, q in zip(a, b))
            name = layer.name if last else f"{layer.name}/{i}"
            acc = self.emit(name, op, [acc, x], shape if last else step, {"activation": "NONE"})
        return acc

    def layer_Add(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        return self._chain(layer, "ADD", ins, shape)

    def layer_Multiply(self, layer: Any, ins: list[str], shape: tuple[int, ...]) -> str:
        return self._chain(layer, "MUL", ins, shape)

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
    g.metadata["gearshift.source_model"] = str(model.name)
    g.prune()
    g.validate()
    return g
