"""Import a ``.tflite`` model into the IR (and, for an integer model, its int8 gear's numbers).

``tflite_file.read_tflite`` parses and checks the flatbuffer; this module maps
each TFLite operator onto FORMAT.md's ops, in the file's (topological) order:

- float32 models import as they are; float16-weight models' ``DEQUANTIZE``
  of fp16 constants, hybrid models' int8 weights and ``DENSIFY`` of sparse
  constants are folded into float32 constants (a sparse weight keeps its
  zeros, so the writer stores its int8 base sparse and the ``-sparse`` gears
  use it);
- a fully integer model (int8, or uint8 shifted by -128) also yields a
  :class:`~converters.quantize.QuantPlan` holding the file's own activation
  parameters, int8 weights and int32 biases: the int8 gear computes what
  LiteRT computes, and the float gears are rebuilt from the dequantized weights;
- the batch (dimension 0) becomes ``-1``; an op that would mix the batch into
  other dimensions is refused, and so is an input with other unknown dimensions
  (its file shape holds placeholders, usually 1).

Unsupported ops are found before any work: :func:`check_ops` raises one
:class:`UnsupportedOpsError` naming every one with its count.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .ir import Graph, IoSpec, IRError, Node
from .quant_ref import QParams
from .quantize import WEIGHT_AXIS, QuantPlan
from .tflite_file import TensorInfo, TFLiteFile, TFLiteFormatError, read_tflite
from .tflite_ops import HANDLERS as _HANDLERS
from .tflite_ops import fold_ints
from .tflite_quant import file_plan, tensor_qparams

__all__ = [
    "SUPPORTED_TFLITE_OPS",
    "TFLiteFormatError",
    "TFLiteImport",
    "TFLiteImportError",
    "UnsupportedOpsError",
    "check_ops",
    "import_tflite",
    "op_usage",
]

# One handler per op (tflite_ops.HANDLERS), plus DENSIFY, which only ever decodes a constant
# (convert_op folds it). SHAPE and PACK have handlers only to be folded as shape arithmetic
# (a Flatten with a free batch: SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE).
SUPPORTED_TFLITE_OPS = frozenset(_HANDLERS) | {"DENSIFY"}
_FUSED = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
_INT_TYPES = ("int8", "uint8")


class TFLiteImportError(ValueError):
    """The model is valid TFLite but cannot become a gearshift graph (says why and what to do)."""


class UnsupportedOpsError(TFLiteImportError):
    """The model uses ops outside the supported set; ``ops`` maps each to its count."""

    def __init__(self, path: str, ops: dict[str, int]) -> None:
        self.ops = ops
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(ops.items()))
        super().__init__(
            f"{path}: {sum(ops.values())} operator(s) gearshift cannot import: {listed}. "
            f"Supported: {', '.join(sorted(SUPPORTED_TFLITE_OPS))}. Re-export the model "
            "without them (or run that part outside the model)."
        )


@dataclass
class TFLiteImport:
    """What :func:`import_tflite` returns."""

    graph: Graph
    kind: str  # float32, float16, dynamic-range, int8, uint8, mixed
    qplan: QuantPlan | None = None  # the file's own int8 numbers (integer models only)
    notes: list[str] = field(default_factory=list)


def op_usage(source: str | os.PathLike[str] | bytes | TFLiteFile) -> list[tuple[str, int, bool]]:
    """``(op, count, supported)`` per operator kind of the model, in order of first use."""
    tf = source if isinstance(source, TFLiteFile) else read_tflite(source)
    counts = Counter(tf.op_names)
    return [(op, counts[op], op in SUPPORTED_TFLITE_OPS) for op in dict.fromkeys(tf.op_names)]


def check_ops(tf: TFLiteFile) -> None:
    """Raises :class:`UnsupportedOpsError` listing every unsupported op with its count."""
    bad = {op: n for op, n, ok in op_usage(tf) if not ok}
    if bad:
        raise UnsupportedOpsError(tf.path, bad)


def import_tflite(source: str | os.PathLike[str] | bytes | TFLiteFile) -> TFLiteImport:
    """Reads a ``.tflite`` model (or an already parsed one) into the IR; see the module
    docstring."""
    tf = source if isinstance(source, TFLiteFile) else read_tflite(source)
    check_ops(tf)
    try:
        return _Importer(tf).run()
    except IRError as e:
        # The graph built from the file breaks an IR invariant (fuzzing found, e.g.,
        # a tensor with a zero dimension): an inconsistent file, reported as such.
        raise TFLiteImportError(
            f"{tf.path}: the model's tensors are inconsistent ({e}); check that the "
            "file loads in LiteRT and re-export it"
        ) from None


def _short(name: str) -> str:
    """TFLite names a fused tensor by all its source ops, ``;``-joined: keep the first."""
    return name.split(";")[0] or name


def _text(v: Any) -> str:
    """A flatbuffer string (bytes in the object API) as text."""
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v or "")


def _act_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (-1, *shape[1:]) if shape else shape


def _ints(a: Any) -> list[int]:
    return [] if a is None else [int(v) for v in np.asarray(a).ravel()]


def _dequantize(q: np.ndarray, t: TensorInfo) -> np.ndarray:
    s = t.scale.astype(np.float64)
    z = t.zero_point.astype(np.float64)
    if s.size > 1:
        shape = [1] * q.ndim
        shape[t.quantized_dimension] = s.size
        s, z = s.reshape(shape), z.reshape(shape)
    return ((q.astype(np.float64) - z) * s).astype(np.float32)


class _Importer:
    def __init__(self, tf: TFLiteFile) -> None:
        self.tf = tf
        self.g = Graph()
        self.names: dict[int, str] = {}  # TFLite activation tensor -> IR tensor
        self.consts: dict[int, np.ndarray] = {}  # folded constants (float32), by tensor
        self.const_names: dict[int, str] = {}  # constants already in the IR
        self.ints: dict[int, np.ndarray] = {}  # folded integer tensors (shape arithmetic)
        self.qact: dict[str, QParams] = {}  # IR activation -> the file's int8 params
        self.qconst: dict[str, tuple[np.ndarray, TensorInfo]] = {}  # IR const -> raw ints
        self.notes: list[str] = []
        self.densified: list[float] = []  # zero fraction of each DENSIFY-decoded constant
        self.op_index = 0

    # -- tensors --------------------------------------------------------------------
    def info(self, i: int) -> TensorInfo:
        return self.tf.tensors[i]

    def fail(self, msg: str) -> TFLiteImportError:
        op = self.tf.op_names[self.op_index] if self.tf.op_names else "?"
        return TFLiteImportError(f"{self.tf.path}: operator {self.op_index} ({op}): {msg}")

    def is_const(self, i: int) -> bool:
        """A constant in the file or folded here (never an activation ``names`` holds)."""
        return (
            i in self.consts
            or i in self.ints
            or (i not in self.names and self.tf.buffer_bytes(self.info(i)) is not None)
        )

    def raw(self, i: int) -> np.ndarray:
        """A constant's values in its file dtype (op parameters: shapes, axes, ...)."""
        if i in self.ints:
            return self.ints[i]
        v = self.tf.value(self.info(i))
        if v is None:
            raise self.fail(f"input {self.info(i).name!r} must be a constant")
        return v

    def params(self, i: int) -> list[int]:
        """An op parameter tensor (shape, axes, paddings, sizes) as ints, each within int32:
        larger values are no dimension or axis of anything gearshift runs (found by
        fuzzing: a PAD's paddings past int64 reached numpy as an OverflowError)."""
        raw = self.raw(i)
        if np.asarray(raw).dtype.kind not in "iub":
            raise self.fail(
                f"parameter {self.info(i).name!r} is {np.asarray(raw).dtype}, not integers"
            )
        values = _ints(raw)
        if any(not -(2**31) <= v < 2**31 for v in values):
            raise self.fail(
                f"parameter {self.info(i).name!r} holds a value outside the int32 range: "
                f"{[v for v in values if not -(2**31) <= v < 2**31][:3]}"
            )
        return values

    def fconst(self, i: int) -> np.ndarray:
        """A constant as float32 (dequantized when stored as integers or fp16)."""
        if i in self.consts:
            return self.consts[i]
        t = self.info(i)
        v = self.raw(i)
        if t.type_name in ("float32", "float16", "float64"):
            f = v.astype(np.float32)
        elif t.quantized and t.type_name in (*_INT_TYPES, "int32"):
            f = _dequantize(v, t)
        else:
            raise self.fail(f"constant {t.name!r} of type {t.type_name} is not a number tensor")
        self.consts[i] = f
        return f

    def const_name(self, i: int) -> str:
        """The IR constant for TFLite tensor ``i`` (added once)."""
        if i in self.const_names:
            return self.const_names[i]
        t = self.info(i)
        arr = self.fconst(i)
        if arr.ndim == 0:  # a scalar operand broadcasts the same as a [1] constant
            arr = arr.reshape(1)
        name = self.g.add_const(_short(t.name), arr)
        self.const_names[i] = name
        if t.quantized and t.type_name in (*_INT_TYPES, "int32") and t.buffer:
            if not np.all(np.isfinite(t.scale)):
                raise self.fail(f"constant {t.name!r} has a scale that is not finite")
            self.qconst[name] = (self.raw(i), t)
        return name

    def operand(self, i: int) -> str:
        """An op input: an activation's IR name, or a constant added to the IR."""
        if i in self.names:
            return self.names[i]
        if self.is_const(i):
            return self.const_name(i)
        raise self.fail(f"input {self.info(i).name!r} is neither computed before nor a constant")

    def act(self, i: int) -> str:
        if i not in self.names:
            raise self.fail(f"input {self.info(i).name!r} must be computed (not a constant)")
        return self.names[i]

    def new_output(self, i: int) -> str:
        t = self.info(i)
        name = self.g.unique_name(_short(t.name), "tensors")
        self.g.add_tensor(name, _act_shape(t.shape))
        self.names[i] = name
        if t.quantized and t.type_name in _INT_TYPES:
            if t.scale.size != 1 or not (np.isfinite(t.scale[0]) and t.scale[0] > 0):
                raise self.fail(
                    f"activation {t.name!r} needs one finite scale > 0, has {t.scale.tolist()[:4]}"
                )
            self.qact[name] = tensor_qparams(t)
        return name

    def rank(self, i: int) -> int:
        return len(self.info(i).shape)

    # -- nodes ----------------------------------------------------------------------
    def emit(
        self, op: str, inputs: list[str | None], out: int, attrs: dict[str, Any] | None = None
    ) -> Node:
        y = self.new_output(out)
        node = Node(self.g.unique_name(y, "nodes"), op, inputs, [y], dict(attrs or {}))
        return self.g.add_node(node)

    def emit_fused(
        self, op: str, inputs: list[str | None], out: int, opts: Any, attrs: dict[str, Any]
    ) -> None:
        """An op with TFLite's fused activation; TANH becomes its own node."""
        act = _FUSED.get(int(getattr(opts, "fusedActivationFunction", 0) or 0), "?")
        if act in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
            self.emit(op, inputs, out, {**attrs, "activation": act})
            return
        if act != "TANH":
            raise self.fail(f"fused activation {act} is not supported")
        node = self.emit(op, inputs, out, {**attrs, "activation": "NONE"})
        y = node.outputs[0]
        pre = self.g.unique_name(f"{y}/pre_tanh", "tensors")
        self.g.add_tensor(pre, self.g.tensors[y].shape)
        node.outputs = [pre]
        self.g.add_node(Node(self.g.unique_name(f"{y}/tanh", "nodes"), "TANH", [pre], [y]))

    def alias(self, out: int, src: str) -> None:
        """``out`` is the same values as IR tensor ``src`` (identity ops)."""
        self.names[out] = src
        t = self.info(out)
        if src not in self.qact and t.quantized and t.type_name in _INT_TYPES:
            self.qact[src] = tensor_qparams(t)

    # -- the walk ---------------------------------------------------------------------
    def run(self) -> TFLiteImport:
        sg = self.tf.subgraph
        for i in _ints(sg.inputs):
            t = self.info(i)
            if not t.shape:
                raise TFLiteImportError(f"{self.tf.path}: input {t.name!r} is a scalar")
            if t.type_name not in ("float32", *_INT_TYPES):
                raise TFLiteImportError(
                    f"{self.tf.path}: input {t.name!r} is {t.type_name}; gearshift models "
                    "take float32 (or quantized int8/uint8) inputs"
                )
            signature = _ints(sg.tensors[i].shapeSignature)
            if any(d < 0 for d in signature[1:]):
                raise TFLiteImportError(
                    f"{self.tf.path}: input {t.name!r} has unknown dimensions "
                    f"{signature} (shape stored as {list(t.shape)}): gearshift graphs have "
                    "fixed shapes except the batch; re-export the model with a fixed input shape"
                )
            self.new_output(i)
            self.g.inputs.append(self.names[i])
        for k, op in enumerate(sg.operators or []):
            self.op_index = k
            self.convert_op(self.tf.op_names[k], op)
        for i in _ints(sg.outputs):
            if i not in self.names:
                raise TFLiteImportError(
                    f"{self.tf.path}: output {self.info(i).name!r} is a constant, not computed"
                )
            self.g.outputs.append(self.names[i])
        self.rename_outputs()
        self.record_io()
        self.record_signatures()
        if self.densified:
            self.notes.append(
                f"{len(self.densified)} sparse-encoded constant(s) decoded (DENSIFY), "
                f"{np.mean(self.densified):.0%} zeros on average, kept as zeros: int8 weights "
                "with zeros are stored sparse where smaller, and '-sparse' gears run sparse kernels"
            )
        self.g.prune()
        self.g.validate()
        self.check_weighted_layers()
        kind, qplan = self.quant_plan()
        return TFLiteImport(self.g, kind, qplan, self.notes)

    def check_weighted_layers(self) -> None:
        """Refuses a conv/depthwise/dense/transposed-conv node whose constant weights or bias
        do not match its output's channels (a depthwise filter must also be [1, kh, kw, C]):
        the file's shapes contradict each other, and the quantizer and the writer rely on them
        (found by fuzzing: a CONV_2D's op code changed to DEPTHWISE_CONV_2D)."""
        for n in self.g.nodes:
            axis = WEIGHT_AXIS.get(n.op)
            if axis is None or len(n.inputs) < 2 or n.inputs[1] is None:
                continue
            w = self.g.tensors[n.inputs[1]]
            out = self.g.tensors[n.outputs[0]]
            if not w.is_const or not out.shape:
                continue
            channels = out.shape[-1]
            bad = ""
            if len(w.shape) <= axis or w.shape[axis] != channels:
                bad = f"weights {list(w.shape)}"
            elif n.op == "DEPTHWISE_CONV_2D" and (len(w.shape) != 4 or w.shape[0] != 1):
                bad = f"weights {list(w.shape)} (a depthwise filter is [1, kh, kw, C])"
            elif len(n.inputs) > 2 and n.inputs[2] is not None:
                b = self.g.tensors[n.inputs[2]]
                if b.is_const and int(np.prod(b.shape)) != channels:
                    bad = f"bias of {int(np.prod(b.shape))} values"
            if bad:
                raise TFLiteImportError(
                    f"{self.tf.path}: {n.op} {n.name!r}: {bad} for an output of {channels} "
                    "channels: the file's shapes contradict each other (a damaged or "
                    "hand-edited file?)"
                )

    def rename_outputs(self) -> None:
        """Graph outputs carry the TFLite output names (aliases may have hidden them)."""
        for i, cur in zip(_ints(self.tf.subgraph.outputs), list(self.g.outputs)):
            want = _short(self.info(i).name)
            if cur == want or want in self.g.tensors or cur in self.g.inputs:
                continue
            if self.g.outputs.count(cur) > 1:
                continue
            t = self.g.tensors.pop(cur)
            t.name = want
            self.g.tensors[want] = t
            for n in self.g.nodes:
                n.inputs = [want if x == cur else x for x in n.inputs]
                n.outputs = [want if x == cur else x for x in n.outputs]
            self.g.outputs = [want if x == cur else x for x in self.g.outputs]
            if cur in self.qact:
                self.qact[want] = self.qact.pop(cur)

    def record_io(self) -> None:
        """Integer graph inputs/outputs keep the file's interface dtype and parameters
        (FORMAT.md ``io``), so the runtime takes and returns the same arrays as LiteRT."""
        sg = self.tf.subgraph
        for i, name in [
            *zip(_ints(sg.inputs), self.g.inputs),
            *zip(_ints(sg.outputs), self.g.outputs),
        ]:
            t = self.info(i)
            if t.type_name not in _INT_TYPES or t.scale.size != 1:
                continue
            self.g.io[name] = IoSpec(
                "u8" if t.type_name == "uint8" else "i8",
                float(np.float32(t.scale[0])),
                int(t.zero_point[0]),
            )

    def record_signatures(self) -> None:
        """The file's SignatureDefs of the main subgraph, as positions among the graph's
        inputs/outputs (metadata ``gearshift.tflite.signatures``, JSON), so that a
        signature runner over the ``.gear`` takes LiteRT's keyword names."""
        sg = self.tf.subgraph
        ins, outs = _ints(sg.inputs), _ints(sg.outputs)
        sigs: dict[str, Any] = {}
        for d in getattr(self.tf.model, "signatureDefs", None) or []:
            if int(getattr(d, "subgraphIndex", 0) or 0) != 0:
                continue
            try:
                key = _text(d.signatureKey)
                inputs = {_text(t.name): ins.index(int(t.tensorIndex)) for t in d.inputs or []}
                outputs = {_text(t.name): outs.index(int(t.tensorIndex)) for t in d.outputs or []}
            except ValueError:  # names a tensor that is no graph input/output: skip it
                continue
            sigs[key] = {"inputs": inputs, "outputs": outputs}
        if sigs:
            self.g.metadata["gearshift.tflite.signatures"] = json.dumps(sigs, sort_keys=True)

    def convert_op(self, name: str, op: Any) -> None:
        ins, outs = _ints(op.inputs), _ints(op.outputs)
        if not outs:
            raise self.fail("the operator has no output")
        try:
            self._convert_op(name, op, ins, outs)
        except IndexError:
            # The handlers read the operands their op has in TFLite's schema; a file
            # with fewer (fuzzing found them) is refused here rather than crashing.
            raise self.fail(
                f"{len(ins)} input(s) and {len(outs)} output(s) are fewer operands than "
                f"{name} has in TFLite"
            ) from None

    def _convert_op(self, name: str, op: Any, ins: list[int], outs: list[int]) -> None:
        opts = op.builtinOptions
        all_const = all(i < 0 or self.is_const(i) for i in ins)
        if name in ("DEQUANTIZE", "DENSIFY", "QUANTIZE") and all_const:
            self.consts[outs[0]] = self.fconst(ins[0])
            if name == "DENSIFY":
                self.densified.append(float(np.mean(self.consts[outs[0]] == 0)))
            return
        if name == "SHAPE":
            self.ints[outs[0]] = np.asarray(self.info(ins[0]).shape, np.int32)
            return
        if all_const and self.info(outs[0]).type_name in ("int32", "int64"):
            with self._numpy_errors(name):
                self.ints[outs[0]] = fold_ints(self, name, ins, outs[0], opts)
            return
        if all_const and name in _FOLDABLE:
            with self._numpy_errors(name):
                self.fold(name, ins, outs)
            return
        handler = _HANDLERS.get(name)
        if handler is None:  # check_ops guarantees this does not happen
            raise self.fail("unsupported operator")
        handler(self, ins, outs, opts, op)

    @contextlib.contextmanager
    def _numpy_errors(self, name: str) -> Iterator[None]:
        """Constants computed here with numpy (shape arithmetic, reshapes) whose shapes
        or values disagree (fuzzing found them) fail as the file's error, not numpy's."""
        try:
            yield
        except TFLiteImportError:
            raise
        except (ValueError, IndexError, TypeError, ZeroDivisionError) as e:
            raise self.fail(f"cannot compute {name} on the file's constants: {e}") from None

    def fold(self, name: str, ins: list[int], outs: list[int]) -> None:
        """Shape-only ops on constants (weights reshaped/transposed in the file)."""
        x = self.fconst(ins[0])
        shape = self.info(outs[0]).shape
        y = np.transpose(x, self.params(ins[1])) if name == "TRANSPOSE" else x.reshape(shape)
        self.consts[outs[0]] = np.ascontiguousarray(y, np.float32)

    # -- the int8 gear -------------------------------------------------------------------
    def quant_plan(self) -> tuple[str, QuantPlan | None]:
        acts = [t for t in self.g.tensors.values() if not t.is_const]
        have = [t.name for t in acts if t.name in self.qact]
        types = {self.info(i).type_name for i in self.names} | {
            self.info(i).type_name for i in self.consts
        }
        if not have:
            if "float16" in types:
                return "float16", None
            if self.qconst:
                return "dynamic-range", None
            return "float32", None
        if len(have) < len(acts):
            self.notes.append(
                f"{len(acts) - len(have)} of {len(acts)} activations carry no int8 parameters "
                "(a partly quantized model): the int8 gear is calibrated instead"
            )
            return "mixed", None
        uint8 = any(self.info(i).type_name == "uint8" for i in self.names)
        try:
            plan = file_plan(self.g, self.qact, self.qconst, self.notes)
        except ValueError as e:  # QParams' checks: a scale or product that is 0, inf or NaN
            raise TFLiteImportError(
                f"{self.tf.path}: the file's int8 parameters cannot be used ({e}); import the "
                "float model and calibrate instead"
            ) from e
        return ("uint8" if uint8 else "int8"), plan


_FOLDABLE = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE"})
