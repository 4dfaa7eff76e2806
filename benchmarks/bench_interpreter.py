"""The cost of LiteRT's API over gearshift: ``Interpreter.invoke`` beside ``Runtime.run``,
and beside LiteRT's own ``invoke`` on the same ``.tflite``.

For each model (fully-int8 ``.tflite`` files with uint8 input and output, made here
with TensorFlow's converter): open it with ``gearshift.Interpreter`` (the int8 gear,
converted once into the cache) and with LiteRT, then time in alternating rounds, each
round the median of many calls:

- ``rt.run``: ``Runtime.run(x)`` on the same uint8 array (a fresh output each call),
  and ``rt.run(out=)`` writing into a given array;
- ``invoke``: ``Interpreter.invoke()`` alone (inputs already set), and ``set+invoke+get``
  (``set_tensor``, ``invoke``, ``get_tensor``: a LiteRT script's loop);
- LiteRT's ``invoke`` and ``set+invoke+get`` (its default CPU kernels, XNNPACK, 1 thread).

``overhead`` is ``invoke - rt.run(out=)``: what the Interpreter adds over the runtime
for the same work (the target is at most 5 us); ``over core`` is ``invoke`` minus the
extension's own ``run`` call, the floor under both. LiteRT's outputs are compared first.

    python benchmarks/bench_interpreter.py --json OUT.json [--rounds 15] [--models tiny,mnv2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # idle BLAS threads take a core

import numpy as np
from results_doc import cpu_model, litert_version, write_results

import gearshift as gs
from gearshift.bench import table


def _tiny():
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((12, 12, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    return keras.Model(inp, layers.Dense(6)(x))


def _mnv2():
    import keras

    keras.utils.set_random_seed(0)
    return keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None)


MODELS = {"tiny": _tiny, "mnv2": _mnv2}


def make_tflite(model: Any, path: Path) -> Path:
    """``model`` as a fully-int8 .tflite with uint8 input and output."""
    import tensorflow as tf

    shape = tuple(model.inputs[0].shape[1:])
    data = np.random.default_rng(0).uniform(-1, 1, (32, *shape)).astype(np.float32)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([d[None]] for d in data)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.uint8
    path.write_bytes(conv.convert())
    return path


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t) / calls * 1e6


def bench_model(name: str, src: Path, rounds: int, budget_s: float) -> dict[str, Any]:
    from ai_edge_litert.interpreter import Interpreter as LiteRT

    it = gs.Interpreter(model_path=str(src), num_threads=1)
    it.allocate_tensors()
    lt = LiteRT(model_path=str(src), num_threads=1)
    lt.allocate_tensors()
    d, o = it.get_input_details()[0], it.get_output_details()[0]
    ld, lo = lt.get_input_details()[0], lt.get_output_details()[0]
    x = np.random.default_rng(1).integers(0, 256, d["shape"]).astype(np.uint8)
    it.set_tensor(d["index"], x)
    lt.set_tensor(ld["index"], x)
    rt = it.runtime
    out = np.empty(o["shape"], np.uint8)
    core_run = rt._rt.run  # the extension's call: the floor both APIs stand on

    def set_invoke_get(interp: Any, i: int, j: int) -> Callable[[], Any]:
        def f() -> Any:
            interp.set_tensor(i, x)
            interp.invoke()
            return interp.get_tensor(j)

        return f

    cases = {
        "rt.run": lambda: rt.run(x),
        "rt.run(out=)": lambda: rt.run(x, out=out),
        "core run": lambda: core_run([x], [out], True),
        "invoke": it.invoke,
        "set+invoke+get": set_invoke_get(it, d["index"], o["index"]),
        "litert invoke": lt.invoke,
        "litert set+invoke+get": set_invoke_get(lt, ld["index"], lo["index"]),
    }
    ours = cases["set+invoke+get"]()
    ref = cases["litert set+invoke+get"]()
    max_diff = int(np.abs(ours.astype(int) - ref.astype(int)).max())
    # calls per round: about budget_s / rounds / cases seconds each
    t0 = per_call_us(it.invoke, 20)
    calls = max(20, int(budget_s / rounds / len(cases) / (t0 * 1e-6)))
    samples: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(rounds):  # alternating rounds: drift on a noisy VM hits every case
        for k, fn in cases.items():
            samples[k].append(per_call_us(fn, calls))
    med = {k: float(np.median(v)) for k, v in samples.items()}
    return {
        "model": name,
        "file_bytes": src.stat().st_size,
        "gear": it.gear,
        "threads": 1,
        "calls_per_round": calls,
        "rounds": rounds,
        "median_us": med,
        "min_us": {k: float(np.min(v)) for k, v in samples.items()},
        "overhead_us": med["invoke"] - med["rt.run(out=)"],
        "overhead_vs_core_us": med["invoke"] - med["core run"],
        "invoke_vs_litert": med["invoke"] / med["litert invoke"],
        "max_abs_diff_vs_litert_xnnpack": max_diff,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path, required=True, help="where to write the results")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--seconds", type=float, default=20.0, help="time budget per model")
    p.add_argument("--models", default="tiny,mnv2")
    args = p.parse_args(argv)
    names = [m for m in args.models.split(",") if m]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        print(f"error: unknown model(s) {unknown}; choose from {list(MODELS)}", file=sys.stderr)
        return 1
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("GEARSHIFT_CACHE_DIR", os.path.join(tmp, "cache"))
        for name in names:
            src = make_tflite(MODELS[name](), Path(tmp) / f"{name}.tflite")
            results.append(bench_model(name, src, args.rounds, args.seconds))
    keys = ["core run", "rt.run", "rt.run(out=)", "invoke", "set+invoke+get"]
    keys += ["litert invoke", "litert set+invoke+get"]
    rows = [["model (us, median)", *keys, "overhead", "over core", "vs LiteRT"]]
    for r in results:
        rows.append(
            [
                r["model"],
                *(f"{r['median_us'][k]:.1f}" for k in keys),
                f"{r['overhead_us']:+.2f}",
                f"{r['overhead_vs_core_us']:+.2f}",
                f"{r['invoke_vs_litert']:.2f}x",
            ]
        )
    print(f"CPU: {cpu_model()}, 1 thread, {litert_version()}")
    print(table(rows))
    write_results(results, "interpreter-", args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
