"""gearshift beside LiteRT, in the same run, on the same inputs.

For each model: convert Keras -> .gear (gearshift) and Keras -> .tflite
(TensorFlow's converter), run both interpreters at batch 1 with the same
thread count in alternating rounds, and report latency percentiles, the
gearshift/LiteRT ratio, file sizes and the max difference between the two
outputs. ``gearshift bench FILE.gear --compare litert`` does the same for any
converted model (docs/BENCH.md).

    python benchmarks/bench_vs_litert.py [--runs 200] [--threads 1] [--json OUT]

Prints a table and writes JSON (default benchmarks/results/<date>-<arch>.json).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# numpy's OpenBLAS starts worker threads that busy-wait; on a small machine
# they take a core from the runtimes being timed (both alike, but unevenly:
# measured 11 ms vs 6.7 ms for the same 1-thread run). Nothing here uses BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from results_doc import write_results

import gearshift as gs
from gearshift.bench import percentiles, table
from gearshift.bench_compare import time_interleaved


def models():  # name -> (keras model, input batch of 1)
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inp)
    x = layers.DepthwiseConv2D(3, padding="same")(x)
    x = layers.Conv2D(32, 1, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(10, activation="softmax")(x)
    yield "digits_cnn_8x8", keras.Model(inp, out), (1, 8, 8, 1)
    mnv2 = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None)
    randomize_batchnorm(mnv2)
    yield "mobilenet_v2_0.35_96", mnv2, (1, 96, 96, 3)


def randomize_batchnorm(model) -> None:
    """Non-trivial BN statistics: with Keras' initial ones a randomly initialised
    MobileNetV2 gives a constant output, which would hide any difference."""
    from keras import layers

    rng = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, g.shape).astype(np.float32),
                    rng.normal(0, 0.2, b.shape).astype(np.float32),
                    rng.normal(0, 0.2, m.shape).astype(np.float32),
                    rng.uniform(0.5, 1.5, v.shape).astype(np.float32),
                ]
            )


def litert_interpreter(tflite_bytes: bytes, threads: int):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            return None, "none"
        return Interpreter(model_content=tflite_bytes, num_threads=threads), "tflite-runtime"
    return Interpreter(model_content=tflite_bytes, num_threads=threads), "ai-edge-litert"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import tensorflow as tf

    results = []
    tmp = Path(tempfile.mkdtemp(prefix="gs-bench-"))
    for name, model, shape in models():
        x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
        gear_path = tmp / f"{name}.gear"
        gs.convert(model, gear_path, gears=("fp32",), calibration=x)
        rt = gs.Runtime(gear_path, threads=args.threads)
        out = np.empty(rt.run(x).shape, np.float32)
        # time the full Python call, as a user sees it (kernels + binding)
        fns = {"gearshift": lambda rt=rt, x=x, out=out: rt.run(x, out=out)}
        y_gs = rt.run(x)

        with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its signatures
            tfl = tf.lite.TFLiteConverter.from_keras_model(model).convert()
        interp, lrt_name = litert_interpreter(tfl, args.threads)
        row = {
            "model": name,
            "threads": args.threads,
            "gear_bytes": gear_path.stat().st_size,
            "tflite_bytes": len(tfl),
            "arena_bytes": rt.arena_bytes,
        }
        if interp is not None:
            interp.allocate_tensors()
            inp = interp.get_input_details()[0]["index"]
            outp = interp.get_output_details()[0]["index"]

            def run_litert(interp=interp, inp=inp, outp=outp, x=x):
                interp.set_tensor(inp, x)
                interp.invoke()
                return interp.get_tensor(outp)

            fns["litert"] = run_litert
            y_lrt = run_litert()
            row["litert"] = lrt_name
            row["max_abs_diff_vs_litert"] = float(np.abs(y_gs - y_lrt).max())
        # both in alternating rounds, so that machine noise falls on both alike
        samples = time_interleaved(fns, args.runs, args.warmup)
        row["gearshift_fp32_ms"] = percentiles(samples["gearshift"])
        if "litert" in samples:
            row["litert_fp32_ms"] = percentiles(samples["litert"])
            row["ratio_median"] = (
                row["gearshift_fp32_ms"]["median"] / row["litert_fp32_ms"]["median"]
            )
        results.append(row)

    rows = [("model", "gear KiB", "tflite KiB", "gearshift ms", "LiteRT ms", "ratio", "max |diff|")]
    for r in results:
        rows.append(
            (
                r["model"],
                f"{r['gear_bytes'] / 1024:.1f}",
                f"{r['tflite_bytes'] / 1024:.1f}",
                f"{r['gearshift_fp32_ms']['median']:.3f}",
                f"{r['litert_fp32_ms']['median']:.3f}" if "litert_fp32_ms" in r else "n/a",
                f"{r['ratio_median']:.2f}x" if "ratio_median" in r else "n/a",
                f"{r['max_abs_diff_vs_litert']:.1e}" if "max_abs_diff_vs_litert" in r else "n/a",
            )
        )
    print(
        f"fp32, batch 1, {args.threads} thread(s), median of {args.runs} runs "
        f"on {platform.machine()} ({os.cpu_count()} cpus); ratio = gearshift / LiteRT"
    )
    print(table(rows))

    write_results(results, "", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
