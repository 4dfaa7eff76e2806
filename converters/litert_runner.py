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

from .quant_ref import round_half_away

__all__ = ["LiteRTCrashed", "interpreter_class", "run_tflite", "run_tflite_isolated"]


class LiteRTCrashed(RuntimeError):
    """The interpreter process died or failed on the model (LiteRT aborts on some inputs)."""


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
    q = round_half_away(x.astype(np.float64) / scale) + zp
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


def run_tflite_isolated(
    model: str | os.PathLike[str], xs: list[np.ndarray], timeout: float = 600.0
) -> list[np.ndarray]:
    """:func:`run_tflite` in a child process: LiteRT aborts the whole process on some
    inputs (an int8 ``DIV`` by its zero point, a failed check in a reference kernel), and
    a conversion must report that, not die with it. Raises :class:`LiteRTCrashed`."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gearshift-litert-") as tmp:
        src, dst = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        np.savez(src, *xs)
        cmd = [
            sys.executable,
            "-m",
            "gearshift.converters.litert_runner",
            os.fspath(model),
            src,
            dst,
        ]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise LiteRTCrashed(f"LiteRT did not finish within {timeout:.0f} s") from None
        if r.returncode != 0 or not os.path.exists(dst):
            tail = (r.stderr or "").strip().splitlines()[-1:] or [f"exit status {r.returncode}"]
            raise LiteRTCrashed(f"LiteRT failed on the model: {tail[0]}")
        with np.load(dst) as out:
            return [out[f"arr_{i}"] for i in range(len(out.files))]


def _main(argv: list[str]) -> int:
    model, src, dst = argv
    with np.load(src) as data:
        xs = [data[f"arr_{i}"] for i in range(len(data.files))]
    np.savez(dst, *run_tflite(model, xs))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(_main(sys.argv[1:]))
