"""The runtimes ``gearshift bench --compare`` times side by side, behind one interface.

A :class:`Contestant` is one model in one runtime (and, for gearshift, one
gear), loaded and ready: ``run()`` is the timed call on inputs fixed at
construction, ``predict(xs)`` returns outputs for other inputs (validation).
Every runtime gets the same float32 inputs; a peer whose model takes int8 or
uint8 inputs gets them quantized with its own parameters (and its outputs
dequantized), so that the same numbers go in everywhere.

Peers: ``litert`` (ai-edge-litert), ``tflite-runtime`` and ``onnxruntime``.
A peer that is not installed, or has no model to run, is skipped with a note
(:func:`peer_unavailable`), never an error.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

PEERS = ("litert", "tflite-runtime", "onnxruntime")
# The module each peer needs, and what to install to get it.
_PEER_MODULES = {
    "litert": ("ai_edge_litert.interpreter", "ai-edge-litert"),
    "tflite-runtime": ("tflite_runtime.interpreter", "tflite-runtime"),
    "onnxruntime": ("onnxruntime", "onnxruntime"),
}

# Test hook: extra milliseconds slept inside every timed call (and the first
# inference) of a runtime or one gear of it, e.g. "gearshift:int8=5,litert=2".
# Lets the tests check that a slower contestant shows up as slower in every
# number and plot of the report without depending on real speed differences.
SLOWDOWN_ENV = "GEARSHIFT_BENCH_SLOWDOWN_MS"


def slowdown_ms(runtime: str, gear: str) -> float:
    spec = os.environ.get(SLOWDOWN_ENV, "")
    delay = 0.0
    for part in spec.split(","):
        key, _, value = part.partition("=")
        if key.strip() in (runtime, f"{runtime}:{gear}") and value.strip():
            delay += float(value)
    return delay


def _sleep_ms(ms: float) -> None:
    if ms > 0:
        time.sleep(ms / 1e3)


def _module_installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a missing parent package
        return False


def peer_unavailable(peer: str, tflite: str | None, onnx: str | None) -> str | None:
    """Why ``peer`` cannot run here (a note for the report), or None when it can."""
    if peer not in _PEER_MODULES:
        raise ValueError(f"unknown runtime {peer!r} for --compare; expected some of {PEERS}")
    module, package = _PEER_MODULES[peer]
    if not _module_installed(module):
        return f"not installed (pip install {package})"
    if peer == "onnxruntime":
        if onnx is None:
            return "no .onnx model: pass --onnx SRC.onnx (or put SRC.onnx beside the .tflite)"
    elif tflite is None:
        return (
            "no .tflite model: pass --tflite SRC.tflite (a .gear converted from a .tflite "
            "remembers its source)"
        )
    return None


def source_precision(tensors: Sequence[dict[str, Any]]) -> str:
    """The precision name a peer's model computes in, for the report's ``gear`` column:
    int8 when its tensors are quantized int8/uint8, fp16 when it stores float16
    weights, else fp32."""
    dtypes = {np.dtype(t["dtype"]) for t in tensors}
    if dtypes & {np.dtype(np.int8), np.dtype(np.uint8)}:
        return "int8"
    if np.dtype(np.float16) in dtypes:
        return "fp16"
    return "fp32"


class Contestant:
    """One model in one runtime, loaded, with fixed inputs for the timed call."""

    runtime = ""
    gear = ""
    model_path = ""

    def run(self) -> None:
        raise NotImplementedError

    def predict(self, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Outputs (float32, in the reference output order) for one batch of inputs."""
        raise NotImplementedError

    def memory(self) -> dict[str, int | None]:
        """The runtime's own account of its memory, where it gives one."""
        return {"arena_bytes": None, "prepared_bytes": None}

    @property
    def key(self) -> str:
        return f"{self.runtime}:{self.gear}"


class GearshiftContestant(Contestant):
    runtime = "gearshift"

    def __init__(self, path: str, gear: str, threads: int, xs: Sequence[np.ndarray]) -> None:
        from gearshift.runtime import Runtime

        self.model_path = path
        self.rt = Runtime(path, gear=gear, threads=threads)
        self.gear = self.rt.gear
        self.names = [s.name for s in self.rt.outputs]
        # an integer interface takes its integers, as the peers are fed (_quantize)
        native = [
            x
            if np.dtype(spec.dtype).kind == "f"
            else _quantize(
                x, {"dtype": spec.dtype, "quantization": self.rt.quantization(spec.name)}
            )
            for spec, x in zip(self.rt.inputs, xs)
        ]
        self._x: Any = native[0] if len(native) == 1 else native
        self._delay = slowdown_ms(self.runtime, self.gear)
        _sleep_ms(self._delay)  # the first inference, as run() would
        y = self.rt.run(self._x)
        # run into arrays made once, as a latency-minded caller would
        self._out = [y] if isinstance(y, np.ndarray) else [y[n] for n in self.names]

    def run(self) -> None:
        _sleep_ms(self._delay)
        self.rt.run(self._x, out=self._out[0] if len(self._out) == 1 else self._out)

    def predict(self, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        y = self.rt.run(xs[0] if len(xs) == 1 else list(xs))
        return [y] if isinstance(y, np.ndarray) else [y[n] for n in self.names]

    def memory(self) -> dict[str, int | None]:
        return {"arena_bytes": self.rt.arena_bytes, "prepared_bytes": self.rt.prepared_bytes}


def _quantize(x: np.ndarray, d: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(d["dtype"])
    if dtype.kind == "f":
        return x.astype(dtype)
    scale, zp = d["quantization"]
    info = np.iinfo(dtype)
    q = np.floor(x.astype(np.float64) / (scale or 1.0) + 0.5) + zp
    return np.clip(q, info.min, info.max).astype(dtype)


def _dequantize(y: np.ndarray, d: dict[str, Any]) -> np.ndarray:
    if np.dtype(d["dtype"]).kind == "f":
        return y.astype(np.float32)
    scale, zp = d["quantization"]
    return ((y.astype(np.float32) - zp) * (scale or 1.0)).astype(np.float32)


def _match(ours: Sequence[str], theirs: Sequence[str]) -> list[int]:
    """For each of ``ours``, the index in ``theirs``: by name where all names
    match, else by position (converters may rename tensors)."""
    if sorted(ours) == sorted(theirs):
        return [list(theirs).index(n) for n in ours]
    if len(ours) != len(theirs):
        raise ValueError(f"the models differ: {len(ours)} tensors here, {len(theirs)} in the peer")
    return list(range(len(ours)))


class TFLiteContestant(Contestant):
    """LiteRT (ai-edge-litert) or tflite-runtime: the same Interpreter API."""

    def __init__(
        self,
        runtime: str,
        path: str,
        threads: int,
        xs: Sequence[np.ndarray],
        input_names: Sequence[str],
        output_names: Sequence[str],
    ) -> None:
        if runtime == "litert":
            from ai_edge_litert.interpreter import Interpreter
        else:
            from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
        self.runtime = runtime
        self.model_path = path
        self.it = Interpreter(model_path=os.fspath(path), num_threads=threads)
        ins = self.it.get_input_details()
        self._in = [ins[i] for i in _match(input_names, [d["name"] for d in ins])]
        for d, x in zip(self._in, xs):
            if tuple(d["shape"]) != x.shape:
                self.it.resize_tensor_input(d["index"], list(x.shape))
        self.it.allocate_tensors()
        self._shapes = [x.shape for x in xs]
        outs = self.it.get_output_details()
        self._out = [outs[i] for i in _match(output_names, [d["name"] for d in outs])]
        self.gear = source_precision(self.it.get_tensor_details())
        self._delay = slowdown_ms(runtime, self.gear)
        self._xs = [_quantize(x, d) for x, d in zip(xs, self._in)]
        self.run()

    def run(self) -> None:
        _sleep_ms(self._delay)
        for d, x in zip(self._in, self._xs):
            self.it.set_tensor(d["index"], x)
        self.it.invoke()
        for d in self._out:
            self.it.get_tensor(d["index"])

    def predict(self, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        # may resize the inputs: called after the timed runs, never between them
        shapes = [x.shape for x in xs]
        if shapes != self._shapes:  # another batch size than the timed one
            for d, shape in zip(self._in, shapes):
                self.it.resize_tensor_input(d["index"], list(shape))
            self.it.allocate_tensors()
            self._shapes = shapes
        for d, x in zip(self._in, xs):
            self.it.set_tensor(d["index"], _quantize(x, d))
        self.it.invoke()
        return [_dequantize(self.it.get_tensor(d["index"]), d) for d in self._out]


class OnnxContestant(Contestant):
    runtime = "onnxruntime"

    def __init__(
        self,
        path: str,
        threads: int,
        xs: Sequence[np.ndarray],
        input_names: Sequence[str],
        output_names: Sequence[str],
    ) -> None:
        import onnxruntime as ort

        self.model_path = path
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(
            os.fspath(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        ins = self.sess.get_inputs()
        self._in = [ins[i].name for i in _match(input_names, [d.name for d in ins])]
        outs = self.sess.get_outputs()
        self._out = [outs[i].name for i in _match(output_names, [d.name for d in outs])]
        types = {d.type for d in (*ins, *outs)}
        self.gear = "int8" if any("int8" in t for t in types) else "fp32"
        self._delay = slowdown_ms(self.runtime, self.gear)
        self._feed = dict(zip(self._in, xs))
        self.run()

    def run(self) -> None:
        _sleep_ms(self._delay)
        self.sess.run(self._out, self._feed)

    def predict(self, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        ys = self.sess.run(self._out, dict(zip(self._in, xs)))
        return [np.asarray(y, dtype=np.float32) for y in ys]


def make_contestant(
    runtime: str,
    model: str,
    gear: str | None,
    threads: int,
    xs: Sequence[np.ndarray],
    input_names: Sequence[str],
    output_names: Sequence[str],
) -> Contestant:
    """Loads ``model`` in ``runtime`` (and, for gearshift, ``gear``) and runs it once."""
    if runtime == "gearshift":
        return GearshiftContestant(model, gear or "", threads, xs)
    if runtime in ("litert", "tflite-runtime"):
        return TFLiteContestant(runtime, model, threads, xs, input_names, output_names)
    if runtime == "onnxruntime":
        return OnnxContestant(model, threads, xs, input_names, output_names)
    raise ValueError(f"unknown runtime {runtime!r}; expected gearshift or one of {PEERS}")
