"""gearshift demo: train a small CNN on scikit-learn's digits, convert it to
a .gear file, run it through the C++ runtime and compare with Keras.

Run with ``make demo`` (sets everything up). Everything it needs ships in
installed packages: the 8x8 digits images come with scikit-learn.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

OUT = Path(os.environ.get("GEARSHIFT_DEMO_OUT", "out"))


def load_digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]  # N, 8, 8, 1 in [0, 1]
    return train_test_split(x, d.target, test_size=0.25, random_state=0, stratify=d.target)


def build_model():  # -> keras.Model
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1), name="image")
    x = layers.Conv2D(16, 3, padding="same", use_bias=False)(inp)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.DepthwiseConv2D(3, padding="same")(x)
    x = layers.Conv2D(32, 1, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    out = layers.Dense(10, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out, name="digits_cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def median_latency_ms(rt, x: np.ndarray, runs: int = 200) -> float:
    one = x[:1]
    for _ in range(10):
        rt.run(one)
    samples = []
    for i in range(runs):
        rt.run(x[i % len(x)][None])
        samples.append(rt.last_latency_ms)
    return float(np.median(samples))


def main() -> int:
    import gearshift as gs

    OUT.mkdir(parents=True, exist_ok=True)
    x_train, x_test, y_train, y_test = load_digits()
    print(f"digits: {len(x_train)} train / {len(x_test)} test images, 8x8x1")

    model = build_model()
    t0 = time.perf_counter()
    model.fit(x_train, y_train, epochs=25, batch_size=64, verbose=0)
    print(
        f"trained {model.name} ({model.count_params()} parameters) "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    keras_path = OUT / "digits_cnn.keras"
    model.save(keras_path)

    gear_path = OUT / "digits_cnn.gear"
    report = gs.convert(
        model,
        gear_path,
        gears=("fp32", "fp16", "int8", "int4"),
        calibration=x_train[:256],
        validation=(x_test, y_test),
    )
    print(report)

    rt = gs.Runtime(gear_path, threads=1)
    print(
        f"\nloaded {gear_path} ({gear_path.stat().st_size} bytes): gears {rt.gears}, "
        f"inputs {rt.inputs}"
    )

    probs = rt.run(x_test)  # the whole test set as one batch
    ref = model.predict(x_test, verbose=0)
    acc = float((probs.argmax(1) == y_test).mean())
    acc_keras = float((ref.argmax(1) == y_test).mean())
    agree = float((probs.argmax(1) == ref.argmax(1)).mean())
    max_err = float(np.abs(probs - ref).max())

    print("\nfirst five test images:")
    for i in range(5):
        top = np.argsort(probs[i])[::-1][:3]
        tops = ", ".join(f"{k}:{probs[i, k]:.3f}" for k in top)
        print(f"  label {y_test[i]}  predicted {top[0]}  (top-3 {tops})")

    lat = median_latency_ms(rt, x_test)
    t0 = time.perf_counter()
    for i in range(200):
        model(x_test[i % len(x_test)][None], training=False)
    keras_ms = (time.perf_counter() - t0) / 200 * 1e3

    print(
        f"\naccuracy   gearshift fp32 {acc:.4f}   keras {acc_keras:.4f}   "
        f"top-1 agreement {agree:.4f}"
    )
    print(f"max |gearshift - keras| over {len(x_test)} outputs: {max_err:.2e}")
    print(
        f"latency    gearshift fp32 batch 1 median {lat:.3f} ms   "
        f"(keras eager call {keras_ms:.2f} ms, for scale only)"
    )
    print(f"activation arena {rt.arena_bytes} bytes")

    print("\nevery gear of the one file, switched without reloading:")
    for gear in rt.gears:
        rt.gear = gear
        p = rt.run(x_test)
        print(
            f"  {gear:5}  accuracy {float((p.argmax(1) == y_test).mean()):.4f}   "
            f"batch-1 median {median_latency_ms(rt, x_test):.3f} ms   "
            f"reads {report.gear(gear).bytes:,} bytes of weights"
        )
    rt.gear = "fp32"
    ok = agree >= 0.99 and max_err < 1e-3
    print("\ndemo OK" if ok else "\ndemo FAILED: gearshift disagrees with keras")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
