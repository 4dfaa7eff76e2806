"""Editing .tflite files in tests through the schema's object API (no hand-made bytes):
load, change the tree, pack again."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gearshift.converters.tflite_file import load_schema


def edit(data: bytes, change: Callable[[Any, Any], None]) -> bytes:
    """``change(schema, model)`` mutates the ``ModelT``; returns the re-packed file."""
    import flatbuffers

    schema = load_schema()
    model = schema.ModelT.InitFromPackedBuf(data, 0)
    change(schema, model)
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def custom_transpose_conv_to_builtin(data: bytes) -> bytes:
    """MediaPipe's ``Convolution2DTransposeBias`` custom op rewritten as the builtin
    TRANSPOSE_CONV with bias (inputs output_shape, weights, x, bias), which LiteRT's builtin
    kernels run: the custom op's definition, made checkable without MediaPipe's resolver."""

    def change(s: Any, m: Any) -> None:
        codes = m.operatorCodes
        custom = [
            i
            for i, c in enumerate(codes)
            if c.customCode in (b"Convolution2DTransposeBias", "Convolution2DTransposeBias")
        ]
        code = s.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.TRANSPOSE_CONV
        code.version = 3
        codes.append(code)
        sg = m.subgraphs[0]
        for op in sg.operators:
            if op.opcodeIndex not in custom:
                continue
            x, w, bias = (int(i) for i in op.inputs)
            out = int(op.outputs[0])
            pad, sw, sh = np.frombuffer(bytes(op.customOptions[:12]), "<i4")
            buf = s.BufferT()
            buf.data = np.asarray(sg.tensors[out].shape, "<i4").view(np.uint8)
            m.buffers.append(buf)
            t = s.TensorT()
            t.shape, t.type, t.buffer = [4], s.TensorType.INT32, len(m.buffers) - 1
            t.name = f"{out}/output_shape"
            sg.tensors.append(t)
            opts = s.TransposeConvOptionsT()
            opts.padding = s.Padding.SAME if pad == 1 else s.Padding.VALID
            opts.strideW, opts.strideH = int(sw), int(sh)
            op.opcodeIndex = len(codes) - 1
            op.inputs = [len(sg.tensors) - 1, w, x, bias]
            op.builtinOptionsType = s.BuiltinOptions.TransposeConvOptions
            op.builtinOptions = opts
            op.customOptions = None

    return edit(data, change)


def tflite_from_fn(
    fn: Callable[..., Any],
    shapes: Any,
    mode: str = "float32",
    representative: Callable[[], Any] | None = None,
    io_type: Any = None,
) -> bytes:
    """A TFLite model of ``fn`` made by TensorFlow's converter: ``mode`` float32, float16
    (fp16 weights), dynamic (int8 weights, float activations) or int8 (full integer, from
    ``representative``; ``io_type`` tf.int8/tf.uint8 for an integer interface)."""
    import tensorflow as tf

    specs = [tf.TensorSpec(s, tf.float32) for s in shapes]
    cf = tf.function(fn, input_signature=specs).get_concrete_function()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([cf])
    if mode != "float32":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        conv.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io_type is not None:
            conv.inference_input_type = conv.inference_output_type = io_type
    return conv.convert()
