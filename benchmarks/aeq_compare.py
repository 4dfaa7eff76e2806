"""Google's AI Edge Quantizer (AEQ) beside ``gs.convert``, for ``bench_accuracy.py``.

AEQ (``ai_edge_quantizer``) pins ``ai-edge-litert`` and wants packages the project does
not use (``litert-lm-builder``, ``immutabledict``), so, as TFMOT, it lives in a folder of
its own that ``scripts/aeq_env.sh`` (``make aeq-env``) fills with
``pip install --no-deps --target``; :func:`find` appends that folder to ``sys.path``
(after the venv's own packages, so LiteRT, numpy and absl stay the venv's) only when the
comparison runs. Without it the benchmark skips the AEQ rows and says why.

:func:`quantize` is AEQ's static int8 recipe (``static_wi8_ai8``: int8 weights per
channel, int8 activations, calibrated by AEQ's own statistic), calibrated on the same
images in the same order as ``gs.convert``; the result is an int8 ``.tflite`` that LiteRT
runs on float inputs. MediaPipe's files store their weights as float16 constants (some
sparse) behind ``DEQUANTIZE`` (and ``DENSIFY``) ops, which AEQ would quantize as
activations (asymmetric "weights" LiteRT's int8 kernels reject), name their ops in the
operator code's deprecated byte only (AEQ reads the other one, which says ADD), and
carry no signature, which AEQ needs: :func:`float_model` writes the same graph with
those constants as float32 (the fp16 values widened exactly, as LiteRT computes them,
those ops removed), both operator code fields set, and a signature over its inputs and
outputs by name.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from optional_env import add_folder

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DIR = REPO / "build-aeq" / "site-packages"
ENV_VAR = "GEARSHIFT_AEQ_PATH"
HOW_TO = (
    "run `make aeq-env` (or `bash scripts/aeq_env.sh DIR` and pass --aeq-path DIR or set "
    f"{ENV_VAR}=DIR)"
)
SIGNATURE = "serving_default"


def find(path: str | os.PathLike[str] | None = None) -> tuple[Any, Any] | str:
    """``(quantizer, recipe)`` modules of AEQ, or why they are not importable and how to
    fix it. ``path`` (else ``$GEARSHIFT_AEQ_PATH``, else ``build-aeq/site-packages``) is
    appended to ``sys.path`` when it exists; a copy installed in the venv is found
    without it."""
    problem = add_folder(path, ENV_VAR, DEFAULT_DIR, "--aeq-path", HOW_TO)
    if problem is not None:
        return problem
    try:
        from ai_edge_quantizer import quantizer, recipe
    except ImportError as e:
        return f"AI Edge Quantizer not importable ({e}); {HOW_TO}"
    return quantizer, recipe


def _constant_values(src: Path, tensors: list[int]) -> dict[int, np.ndarray]:
    """The values LiteRT computes for ``tensors`` (outputs of ops on constants only) in
    one run of ``src`` on zeros."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(  # without XNNPACK, which would fold the constants away itself
        model_path=os.fspath(src),
        experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    it.invoke()
    return {i: np.array(it.get_tensor(i)) for i in tensors}


def float_model(src: Path, dst: Path) -> list[str]:
    """``src`` written to ``dst`` with its constants behind ``DEQUANTIZE``/``DENSIFY`` ops
    as float32 (those ops removed), both operator code fields set, and a
    ``serving_default`` signature over its first subgraph's inputs and outputs (keyed by
    tensor name) when it has none; the input names, in order."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils as fb

    model = fb.read_model(os.fspath(src))
    sub = model.subgraphs[0]
    for c in model.operatorCodes:  # older files name the op in the deprecated byte only,
        c.builtinCode = max(c.builtinCode, c.deprecatedBuiltinCode)  # which AEQ ignores
    codes = [c.builtinCode for c in model.operatorCodes]
    folds = (schema.BuiltinOperator.DEQUANTIZE, schema.BuiltinOperator.DENSIFY)
    const = {i for i, t in enumerate(sub.tensors) if model.buffers[t.buffer].data is not None}
    folded = []  # DENSIFY/DEQUANTIZE of constants (fp16, sparse): computed once by LiteRT
    for k, op in enumerate(sub.operators):
        if codes[op.opcodeIndex] in folds and all(i in const for i in op.inputs if i >= 0):
            folded.append(k)
            const.update(op.outputs)
    if folded:
        values = _constant_values(src, [sub.operators[k].outputs[0] for k in folded])
        for k in folded:
            out = sub.operators[k].outputs[0]
            buf = schema.BufferT()
            buf.data = np.ascontiguousarray(values[out], "<f4").view(np.uint8).ravel()
            model.buffers.append(buf)
            sub.tensors[out].buffer = len(model.buffers) - 1
            sub.tensors[out].sparsity = None
        drop = set(folded)
        sub.operators = [op for k, op in enumerate(sub.operators) if k not in drop]

    def name(i: int) -> str:
        n = sub.tensors[i].name
        return n.decode() if isinstance(n, bytes) else str(n)

    inputs = [name(i) for i in sub.inputs]
    if not model.signatureDefs:
        sig = schema.SignatureDefT()
        sig.signatureKey = SIGNATURE
        sig.subgraphIndex = 0
        sig.inputs, sig.outputs = [], []
        for ids, out in ((sub.inputs, sig.inputs), (sub.outputs, sig.outputs)):
            for i in ids:
                m = schema.TensorMapT()
                m.name, m.tensorIndex = name(i), int(i)
                out.append(m)
        model.signatureDefs = [sig]
    fb.write_model(model, os.fspath(dst))
    return inputs


def quantize(src: Path, calibration: np.ndarray, out: Path, aeq: tuple[Any, Any]) -> dict[str, Any]:
    """AEQ's static int8 model of ``src``, calibrated on ``calibration`` (batch first, one
    sample per step, in order), written to ``out``; its seconds and bytes."""
    quantizer, recipe = aeq
    signed = out.with_suffix(".float.tflite")
    inputs = float_model(src, signed)
    t0 = time.perf_counter()
    qt = quantizer.Quantizer(os.fspath(signed))
    qt.load_quantization_recipe(recipe.static_wi8_ai8())
    data = [{inputs[0]: calibration[i : i + 1]} for i in range(calibration.shape[0])]
    result = qt.quantize(qt.calibrate({SIGNATURE: data}))
    result.export_model(os.fspath(out), overwrite=True)
    return {"convert_seconds": time.perf_counter() - t0, "file_bytes": out.stat().st_size}
