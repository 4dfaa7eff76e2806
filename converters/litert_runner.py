"""Running a ``.tflite`` model on whichever reference interpreter is installed.

ai-edge-litert (LiteRT), then tflite-runtime, then TensorFlow's ``tf.lite``.
Used as the oracle for imported models: ``convert`` measures each gear's error
against it, and the tests compare against it. Inputs and outputs are float32:
an integer input is quantized with the model's own parameters, an integer
output dequantized, so a caller never handles quantized values.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = ["interpreter_class", "run_tflite"]


def interpreter_class() -> Any | None:
    """The first importable ``Interpreter`` class, or None."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]

        return Interpreter
    except ImportError:
        pass
    try:
        import tensorflow as tf

        return tf.lite.Interpreter
    except ImportError:
        return None


def _to_input(x: np.ndarray, d: dict[str, Any]) -> np.ndarray:
    if d["dtype"] == np.float32:
        return x.astype(np.float32)
    scale, zp = d["quantization"]
    info = np.iinfo(d["dtype"])
    q = np.floor(np.abs(x.astype(np.float64) / scale) + 0.5) * np.sign(x) + zp
    return np.clip(q, info.min, info.max).astype(d["dtype"])


def _from_output(y: np.ndarray, d: dict[str, Any]) -> np.ndarray:
    if d["dtype"] == np.float32:
        return y.astype(np.float32)
    scale, zp = d["quantization"]
    return ((y.astype(np.float64) - zp) * scale).astype(np.float32)


def run_tflite(
    model: str | os.PathLike[str] | bytes, xs: list[np.ndarray], **interpreter_args: Any
) -> list[np.ndarray]:
    """Runs ``model`` on float32 inputs (batch first), one sample at a time (TFLite models
    usually fix the batch at 1); returns the float32 outputs in the model's order."""
    cls = interpreter_class()
    if cls is None:
        raise ImportError("no TFLite interpreter: pip install ai-edge-litert")
    if isinstance(model, (bytes, bytearray)):
        it = cls(model_content=bytes(model), **interpreter_args)
    else:
        it = cls(model_path=os.fspath(model), **interpreter_args)
    it.allocate_tensors()
    ins, outs = it.get_input_details(), it.get_output_details()
    if len(ins) != len(xs):
        raise ValueError(f"the model has {len(ins)} inputs, got {len(xs)} arrays")
    parts: list[list[np.ndarray]] = []
    for k in range(xs[0].shape[0]):
        for d, x in zip(ins, xs):
            it.set_tensor(d["index"], _to_input(x[k : k + 1].reshape(d["shape"]), d))
        it.invoke()
        parts.append([_from_output(it.get_tensor(d["index"]), d) for d in outs])
    return [np.concatenate(col) for col in zip(*parts)]
