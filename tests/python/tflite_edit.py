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
