"""Quantization-aware training for the int8 and int4 gears: ``gearshift.train.qat``.

The QAT model computes what the gear will compute, in float:

- **Batch norm folded first.** A BatchNormalization right after a Conv2D /
  DepthwiseConv2D / Dense (its only reader) is folded into that layer's
  kernel and bias before training, as ``passes.fold_batchnorm`` folds it at
  conversion, so the weights that are fake-quantized are the ones the gear
  stores (the batch statistics are frozen from then on).
- **Weights**: symmetric per output channel, ``scale[c] = max|w[c]| / 127``,
  rounded half away from zero (``quant_ref.quantize_weights_q8``, run as is
  in the forward pass); for ``int4`` then the q4m view of those int8 values
  (``gear_codec.q4m_values``), except in the layers the int4 gear keeps at
  int8 (those reading a graph input, ``write_gear.int4_int8_layers``).
- **Activations**: asymmetric per tensor, ``(scale, zero_point)`` from a range
  exactly as ``quant_ref.choose_qparams`` (gemmlowp's nudged zero point), on
  exactly the tensors that exist in the converted graph (after
  ``fold_batchnorm``, ``fuse_activation``, ...: a RELU fused into its conv has
  no int8 tensor in between, so no fake quantization there either), with the
  format's ties (the inputs and output of pooling, reshape, pad, concatenation
  share one quantizer: ``quantize.TIED_OPS``) and SOFTMAX's fixed
  ``(1/256, -128)``.
- **Gradients**: straight-through (identity inside the representable range,
  zero outside for activations).
- **Ranges**: initialised by the converter's own calibration
  (``input_percentile``) on ``calibration`` (or the training inputs), then an
  exponential moving average of each training batch's min and max
  (``ema_decay``), as TensorFlow's ``MovingAverageQuantize``.

``gearshift.convert`` of a QAT model (``export_float``) converts the folded
float model, with its weights snapped to their int8 grid (so the writer's
int8 values are exactly the QAT model's), and takes the int8 ranges from the
fake quantizers instead of calibrating: the int8 gear then reproduces the QAT
model's quantized outputs (within one unit of the output's int8 scale: the
integer kernels round each requantization once where the float model does
not). The bias stays float in training (int32 in the gear: an error of half
a unit of ``x_scale * w_scale``, far below one output unit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..quant_ref import choose_qparams, dequantize, quantize_weights_q8
from .data import as_dataset, clone_model, compile_like, validation_data
from .masks import apply_masks
from .prune import training_marks

__all__ = ["QAT_GEARS", "export_float", "fold_and_split", "qat"]

QAT_GEARS = ("int8", "int4")
WEIGHT_KINDS = ("Conv2D", "DepthwiseConv2D", "Dense")
MARKS = "_gearshift_train"


# -- weights ------------------------------------------------------------------------
def _to_ir(kind: str, k: np.ndarray) -> tuple[np.ndarray, int]:
    if kind == "Conv2D":
        return k.transpose(3, 0, 1, 2), 0
    if kind == "Dense":
        return k.T, 0
    kh, kw, c, m = k.shape
    return k.reshape(1, kh, kw, c * m), 3


def _from_ir(kind: str, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if kind == "Conv2D":
        return a.transpose(1, 2, 3, 0)
    if kind == "Dense":
        return a.T
    return a.reshape(shape)


def fake_quant_weights(kind: str, k: np.ndarray, int4: bool = False) -> np.ndarray:
    """A Keras kernel as the gear's weights: int8 per channel (then q4m for ``int4``),
    dequantized, in Keras layout."""
    from ...gear_codec import q4m_values

    a, axis = _to_ir(kind, np.asarray(k, np.float32))
    q, qp = quantize_weights_q8(a, axis)
    if int4:
        q = q4m_values(q, axis)
    return np.ascontiguousarray(_from_ir(kind, dequantize(q, qp), k.shape), np.float32)


# -- the float model: BN folded, activations split off ---------------------------------
def _functional(model: Any) -> Any:
    import keras

    from ..import_keras import _sequential_functional

    if isinstance(model, keras.Sequential):
        fn = _sequential_functional(model)
        if fn is None:
            raise ValueError("the Sequential model is not built: give it an Input first")
        return fn
    return model


def _nodes(model: Any) -> list[Any]:
    by_depth = model._nodes_by_depth
    return [n for d in sorted(by_depth, reverse=True) for n in by_depth[d]]


def _act_name(layer: Any) -> str:
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", "linear") if act is not None else "linear"


def _readers(model: Any) -> dict[int, int]:
    count: dict[int, int] = {}
    for node in _nodes(model):
        if node.operation is None or node.is_input:
            continue
        for x in node.input_tensors:
            count[id(x)] = count.get(id(x), 0) + 1
    return count


def fold_and_split(model: Any) -> Any:
    """A float copy of ``model`` with each BN after a weight layer folded into it and every
    weight layer's activation as its own ``Activation`` layer (named ``<layer>_act``).

    The same function as ``model`` in inference; the QAT model is built on it.
    """
    import keras

    fn = _functional(model)
    readers = _readers(fn)
    outputs = {id(t) for t in fn.outputs}
    tmap: dict[int, Any] = {}
    inputs = []
    for kt in fn.inputs:
        new = keras.Input(shape=kt.shape[1:], name=kt._keras_history[0].name)
        tmap[id(kt)] = new
        inputs.append(new)
    folded: dict[int, Any] = {}  # BN output tensor id -> weight layer's KerasTensor (pre-act)
    pending: dict[int, tuple[Any, Any]] = {}  # weight layer output id -> (layer, pre-act)
    for node in _nodes(fn):
        layer = node.operation
        if layer is None or node.is_input:
            continue
        if isinstance(layer, keras.Model):
            raise ValueError(f"QAT does not take nested models yet ({layer.name!r})")
        kind = type(layer).__name__
        ins = [tmap[id(x)] for x in node.input_tensors]
        (out,) = node.outputs
        if kind == "BatchNormalization" and id(node.input_tensors[0]) in pending:
            wl, _ = pending[id(node.input_tensors[0])]
            _fold_bn(wl, layer)
            folded[id(out)] = wl
            tmap[id(out)] = tmap[id(node.input_tensors[0])]
            continue
        if kind in WEIGHT_KINDS:
            cfg = layer.get_config()
            act = _act_name(layer)
            cfg["activation"] = "linear"
            cfg["use_bias"] = True
            new_layer = type(layer).from_config(cfg)
            y = new_layer(ins[0])
            k = layer.kernel.numpy()
            b = layer.bias.numpy() if layer.use_bias else np.zeros(new_layer.bias.shape, np.float32)
            new_layer.set_weights([k, b])
            tmap[id(out)] = y
            if act != "linear":
                tmap[id(out)] = keras.layers.Activation(act, name=f"{layer.name}_act")(y)
            elif readers.get(id(out), 0) == 1 and id(out) not in outputs and _next_is_bn(fn, out):
                pending[id(out)] = (new_layer, y)
            continue
        new_layer = type(layer).from_config(layer.get_config())
        y = new_layer(ins[0] if len(ins) == 1 else ins)
        if layer.get_weights():
            new_layer.set_weights(layer.get_weights())
        tmap[id(out)] = y
    return keras.Model(inputs, [tmap[id(t)] for t in fn.outputs], name=model.name)


def _next_is_bn(fn: Any, out: Any) -> bool:
    for node in _nodes(fn):
        if node.operation is None or node.is_input:
            continue
        if any(x is out for x in node.input_tensors):
            return type(node.operation).__name__ == "BatchNormalization"
    return False


def _fold_bn(layer: Any, bn: Any) -> None:
    """Folds inference-mode ``bn`` into weight ``layer`` (in place)."""
    k, b = layer.get_weights()
    var = bn.moving_variance.numpy().astype(np.float64)
    scale = 1.0 / np.sqrt(var + bn.epsilon)
    if bn.scale:
        scale = scale * bn.gamma.numpy()
    shift = -bn.moving_mean.numpy() * scale
    if bn.center:
        shift = shift + bn.beta.numpy()
    kind = type(layer).__name__
    if kind == "DepthwiseConv2D":
        c, m = k.shape[2:]
        k = k * scale.reshape(c, m)[None, None]
    else:
        k = k * scale  # the output axis is last for Conv2D and Dense
    layer.set_weights([k.astype(np.float32), (b * scale + shift).astype(np.float32)])


# -- what the converted graph quantizes --------------------------------------------------
@dataclass
class _Plan:
    quantized: set[str]  # IR activation tensors (= Keras layer names here)
    group: dict[str, str]  # tensor -> its tie group's root
    fixed: dict[str, tuple[float, int]]  # tensor -> pinned (scale, zp)
    int8_layers: set[str]  # weight layers the int4 gear keeps at int8
    ranges: dict[str, tuple[float, float]]


def _plan(float_model: Any, calibration: np.ndarray) -> _Plan:
    from ..calibrate import calibrate
    from ..import_keras import import_keras
    from ..passes import run_passes
    from ..quantize import SOFTMAX_QPARAMS, TIED_OPS, _Groups
    from ..write_gear import int4_int8_layers

    graph = import_keras(float_model)
    run_passes(graph)
    acts = {t.name for t in graph.tensors.values() if not t.is_const}
    groups = _Groups()
    fixed: dict[str, tuple[float, int]] = {}
    for n in graph.nodes:
        if n.op in TIED_OPS:
            for t in n.inputs:
                if t is not None and not graph.tensors[t].is_const:
                    groups.union(n.outputs[0], t)
        if n.op == "SOFTMAX":
            fixed[n.outputs[0]] = SOFTMAX_QPARAMS
    batches = [
        {graph.inputs[0]: calibration[i : i + 32]} for i in range(0, calibration.shape[0], 32)
    ]
    ranges = calibrate(graph, batches, progress=False, warn=False)
    int8_w = int4_int8_layers(graph)
    int8_layers = {n.name for n in graph.nodes if n.inputs[1:2] and n.inputs[1] in int8_w}
    return _Plan(acts, {a: groups.find(a) for a in acts}, fixed, int8_layers, ranges)


# -- Keras layers ------------------------------------------------------------------------
def _layers() -> tuple[type, type]:
    """The two QAT layer classes (defined on first use: Keras is imported lazily)."""
    global _CLASSES
    if _CLASSES is not None:
        return _CLASSES
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable("gearshift")
    class ActivationQuantizer(keras.layers.Layer):
        """Per-tensor asymmetric int8 fake quantization with an EMA range."""

        def __init__(
            self,
            rmin: float = 0.0,
            rmax: float = 1.0,
            decay: float = 0.99,
            fixed: tuple[float, int] | None = None,
            tensors: tuple[str, ...] = (),
            **kwargs: Any,
        ) -> None:
            super().__init__(**kwargs)
            self.decay = float(decay)
            self.fixed = tuple(fixed) if fixed is not None else None
            self.tensors = tuple(tensors)
            self._init = (float(rmin), float(rmax))

        def build(self, input_shape: Any) -> None:
            self.rmin = self.add_weight(
                name="rmin",
                shape=(),
                initializer=keras.initializers.Constant(self._init[0]),
                trainable=False,
            )
            self.rmax = self.add_weight(
                name="rmax",
                shape=(),
                initializer=keras.initializers.Constant(self._init[1]),
                trainable=False,
            )

        def qparams(self, rmin: Any, rmax: Any) -> tuple[Any, Any]:
            """``quant_ref.choose_qparams`` in TensorFlow (float64, as the numpy one)."""
            if self.fixed is not None:
                return tf.constant(self.fixed[0], tf.float64), tf.constant(
                    self.fixed[1], tf.float64
                )
            lo = tf.minimum(tf.cast(rmin, tf.float64), 0.0)
            hi = tf.maximum(tf.cast(rmax, tf.float64), 0.0)
            same = tf.equal(lo, hi)
            scale = tf.cast(tf.cast((hi - lo) / 255.0, tf.float32), tf.float64)
            scale = tf.where(same, tf.constant(1.0, tf.float64), scale)
            zmin = -128.0 - lo / scale
            zmax = 127.0 - hi / scale
            emin = 128.0 + tf.abs(lo / scale)
            emax = 127.0 + tf.abs(hi / scale)
            zp = tf.where(emin < emax, zmin, zmax)
            zp = tf.clip_by_value(tf.sign(zp) * tf.floor(tf.abs(zp) + 0.5), -128.0, 127.0)
            zp = tf.where(same, tf.constant(0.0, tf.float64), zp)
            return scale, zp

        def call(self, x: Any, training: bool | None = None) -> Any:
            if training and self.fixed is None:
                bmin = tf.reduce_min(x)
                bmax = tf.reduce_max(x)
                self.rmin.assign(self.decay * self.rmin + (1.0 - self.decay) * bmin)
                self.rmax.assign(self.decay * self.rmax + (1.0 - self.decay) * bmax)
            scale, zp = self.qparams(self.rmin, self.rmax)
            x64 = tf.cast(x, tf.float64)
            v = x64 / scale
            q = tf.clip_by_value(tf.sign(v) * tf.floor(tf.abs(v) + 0.5) + zp, -128.0, 127.0)
            y = tf.cast((q - zp) * scale, x.dtype)
            lo = tf.cast((-128.0 - zp) * scale, x.dtype)
            hi = tf.cast((127.0 - zp) * scale, x.dtype)
            xc = tf.clip_by_value(x, lo, hi)
            return xc + tf.stop_gradient(y - xc)  # straight-through inside the range

        def get_config(self) -> dict[str, Any]:
            return {
                **super().get_config(),
                "rmin": float(self.rmin.numpy()) if self.built else self._init[0],
                "rmax": float(self.rmax.numpy()) if self.built else self._init[1],
                "decay": self.decay,
                "fixed": self.fixed,
                "tensors": self.tensors,
            }

    def _weight_fq(kind: str, int4: bool) -> Any:
        def fq(k: Any) -> Any:
            def np_fq(a: np.ndarray) -> np.ndarray:
                return fake_quant_weights(kind, a, int4)

            y = tf.numpy_function(np_fq, [k], tf.float32, stateful=False)
            y = tf.ensure_shape(y, k.shape)
            return k + tf.stop_gradient(y - k)

        return fq

    _CLASSES = (ActivationQuantizer, _weight_fq)  # type: ignore[assignment]
    return _CLASSES  # type: ignore[return-value]


_CLASSES: tuple[type, Any] | None = None


def _qat_weight_layer(layer: Any, int4: bool) -> Any:
    """A copy of weight ``layer`` whose forward pass uses fake-quantized weights."""
    import keras

    _, weight_fq = _layers()
    kind = type(layer).__name__
    base = type(layer)
    fq = weight_fq(kind, int4)

    class _Q(base):  # type: ignore[misc, valid-type]
        def call(self, inputs: Any) -> Any:
            k = fq(self.kernel)
            ops = keras.ops
            if kind == "Dense":
                y = ops.matmul(inputs, k)
            elif kind == "Conv2D":
                y = ops.conv(
                    inputs, k, self.strides, self.padding, self.data_format, self.dilation_rate
                )
            else:
                y = ops.depthwise_conv(
                    inputs, k, self.strides, self.padding, self.data_format, self.dilation_rate
                )
            return y + self.bias

    _Q.__name__ = f"QAT{kind}"
    new = _Q.from_config(layer.get_config())
    return new


def _build_qat(float_model: Any, plan: _Plan, gear: str, decay: float) -> Any:
    import keras

    quantizer_cls, _ = _layers()
    fn = _functional(float_model)
    quantizers: dict[str, Any] = {}

    def fq(name: str, x: Any) -> Any:
        if name not in plan.quantized:
            return x
        root = plan.group[name]
        if root not in quantizers:
            members = tuple(sorted(t for t, r in plan.group.items() if r == root))
            lo = min(plan.ranges[t][0] for t in members)
            hi = max(plan.ranges[t][1] for t in members)
            quantizers[root] = quantizer_cls(
                lo, hi, decay, plan.fixed.get(name), members, name=f"fq_{len(quantizers)}"
            )
        return quantizers[root](x)

    tmap: dict[int, Any] = {}
    inputs = []
    for kt in fn.inputs:
        name = kt._keras_history[0].name
        new = keras.Input(shape=kt.shape[1:], name=name)
        inputs.append(new)
        tmap[id(kt)] = fq(name, new)
    for node in _nodes(fn):
        layer = node.operation
        if layer is None or node.is_input:
            continue
        ins = [tmap[id(x)] for x in node.input_tensors]
        kind = type(layer).__name__
        if kind in WEIGHT_KINDS:
            new_layer = _qat_weight_layer(
                layer, gear == "int4" and layer.name not in plan.int8_layers
            )
        else:
            new_layer = type(layer).from_config(layer.get_config())
        y = new_layer(ins[0] if len(ins) == 1 else ins)
        if layer.get_weights():
            new_layer.set_weights(layer.get_weights())
        tmap[id(node.outputs[0])] = fq(layer.name, y)
    return keras.Model(inputs, [tmap[id(t)] for t in fn.outputs], name=f"{float_model.name}_qat")


def _qat_masks(net: Any, pruned: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    """The pruned model's masks for its QAT model: a channel-pruned layer whose bias was
    folded in from a batch norm gets a bias mask too (its pruned channels stay zero)."""
    masks = {k: dict(v) for k, v in (pruned.get("masks") or {}).items()}
    if pruned.get("structure") != "channel":
        return masks
    layers = {layer.name: layer for layer in net.layers}
    for name, m in masks.items():
        layer = layers.get(name)
        if layer is None or "kernel" not in m or "bias" in m:
            continue
        k = m["kernel"]
        if type(layer).__name__ == "DepthwiseConv2D":
            m["bias"] = k.any(axis=(0, 1)).reshape(-1)
        else:
            m["bias"] = k.reshape(-1, k.shape[-1]).any(axis=0)
    return masks


def _hold_masks(masks: Any) -> Any:
    """A callback re-applying ``masks`` after every training step."""
    import keras

    class _Hold(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            apply_masks(self.model, masks)

    return _Hold()


def _inputs_of(data: Any, limit: int = 256) -> np.ndarray:
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        parts, n = [], 0
        for x, _ in data:
            parts.append(np.asarray(x, np.float32))
            n += parts[-1].shape[0]
            if n >= limit:
                break
        return np.concatenate(parts)[:limit]
    return np.asarray(data[0], np.float32)[:limit]


def qat(
    model: Any,
    data: Any,
    gear: str = "int8",
    calibration: Any = None,
    epochs: int = 2,
    validation: Any = None,
    batch_size: int = 32,
    optimizer: Any = None,
    learning_rate: float = 1e-4,
    loss: Any = None,
    ema_decay: float = 0.99,
    callbacks: list[Any] | None = None,
    verbose: Any = "auto",
) -> Any:
    """Builds the QAT model of ``model`` for ``gear`` and trains it ``epochs`` on ``data``.

    ``epochs=0`` returns the QAT model untrained (its ranges from calibration):
    post-training quantization, seen through the fake quantizers.
    """
    if gear not in QAT_GEARS:
        raise ValueError(f"gear must be one of {', '.join(QAT_GEARS)}, got {gear!r}")
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
    if len(getattr(model, "inputs", []) or []) != 1:
        raise ValueError("QAT takes models with one input")
    ds = as_dataset(data, batch_size)
    if calibration is None:
        cal = _inputs_of(ds)
    else:
        from ..calibration_data import prepare_calibration

        cal = prepare_calibration(
            calibration,
            [tuple(-1 if d is None else int(d) for d in model.inputs[0].shape)],
            limit=256,
            input_names=["x"],
        )[0][0]
    float_model = fold_and_split(clone_model(model))
    plan = _plan(float_model, cal)
    net = _build_qat(float_model, plan, gear, ema_decay)
    compile_like(net, model, ds, optimizer, learning_rate, loss)
    # a model gearshift.train.prune returned stays pruned: its kernel and bias masks
    # are held (the folded kernel of a zero weight is zero too), and gs.convert still
    # removes its pruned channels
    pruned = training_marks(model)
    pruned = pruned if pruned is not None and pruned.get("kind") == "prune" else None
    masks = _qat_masks(net, pruned) if pruned else {}
    extra = [_hold_masks(masks)] if masks else []
    if masks:
        apply_masks(net, masks)
    if epochs:
        net.fit(
            ds,
            epochs=epochs,
            validation_data=validation_data(validation),
            callbacks=[*extra, *(callbacks or [])],
            shuffle=False,
            verbose=verbose,
        )
    # tensors of the converted graph with no Keras tensor of their own (inside a
    # decomposed activation such as swish) keep their calibrated range
    keras_names = {layer.name for layer in float_model.layers}
    static = {t: r for t, r in plan.ranges.items() if t in plan.quantized and t not in keras_names}
    marks = {
        "kind": "qat",
        "gear": gear,
        "float_model": float_model,
        "static_ranges": static,
        "pruned": pruned,
        "plan": plan,  # with ema_decay: what gs.train.load rebuilds the model from
        "ema_decay": float(ema_decay),
    }
    object.__setattr__(net, MARKS, marks)
    return net


def export_float(qat_model: Any) -> tuple[Any, dict[str, tuple[float, float]], str]:
    """``(float model, ranges by IR tensor name, gear)`` of a model :func:`qat` returned.

    The float model is the folded one with the QAT weights, each kernel snapped to
    its int8 grid (so the converter's int8 values are the QAT model's exactly).
    """
    marks = getattr(qat_model, MARKS)
    quantizer_cls, _ = _layers()
    float_model = clone_model(marks["float_model"])
    trained = {layer.name: layer for layer in qat_model.layers}
    for layer in float_model.layers:
        src = trained.get(layer.name)
        if src is None or not layer.get_weights():
            continue
        weights = src.get_weights()
        kind = type(layer).__name__
        if kind in WEIGHT_KINDS:
            weights[0] = fake_quant_weights(kind, weights[0], int4=False)
        layer.set_weights(weights)
    if marks.get("pruned"):
        object.__setattr__(float_model, MARKS, marks["pruned"])
    ranges: dict[str, tuple[float, float]] = dict(marks.get("static_ranges", {}))
    for layer in qat_model.layers:
        if isinstance(layer, quantizer_cls):
            r = (float(layer.rmin.numpy()), float(layer.rmax.numpy()))
            for t in layer.tensors:
                ranges[t] = r
    return float_model, ranges, marks["gear"]


def qparams_of(qat_model: Any) -> dict[str, Any]:
    """Each quantized tensor's ``QParams`` as the converter will choose them (tests)."""
    _, ranges, _ = export_float(qat_model)
    return {t: choose_qparams(*r) for t, r in ranges.items()}
