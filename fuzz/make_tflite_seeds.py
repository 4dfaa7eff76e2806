"""Writes the seed corpus of fuzz_tflite_importer.py: one tiny image classifier
(conv, depthwise, pools, dense; tests/python/int8_tflite.py) as float32, float16,
dynamic-range and fully-int8 (int8 and uint8 interface) ``.tflite`` files, plus a
model with ADD, CONCATENATION, PAD, MEAN and SOFTMAX. Needs TensorFlow; the files
are committed under fuzz/corpus/tflite, so this runs only to refresh them:

    PYTHONPATH=python:. python fuzz/make_tflite_seeds.py fuzz/corpus/tflite
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))


def _ops_model():
    import keras
    from keras import layers

    keras.utils.set_random_seed(1)
    inp = keras.Input((6, 6, 4), name="x")
    a = layers.Conv2D(4, 1)(inp)
    b = layers.Add()([a, inp])
    c = layers.Concatenate()([b, inp])
    d = layers.ZeroPadding2D(1)(c)
    e = layers.GlobalAveragePooling2D()(d)
    out = layers.Softmax()(layers.Dense(5)(e))
    return keras.Model(inp, out)


def main(out_dir: str) -> None:
    import tensorflow as tf
    from int8_tflite import classifier, to_tflite

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = classifier(n_outputs=2)
    to_tflite(model, out / "classifier_f32.tflite", None)
    to_tflite(model, out / "classifier_int8.tflite", "int8")
    to_tflite(model, out / "classifier_uint8.tflite", "uint8")
    for name in ("f16", "dynamic"):  # float16 weights; int8 weights, float activations
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if name == "f16":
            conv.target_spec.supported_types = [tf.float16]
        (out / f"classifier_{name}.tflite").write_bytes(conv.convert())
    ops = _ops_model()
    to_tflite(ops, out / "ops_f32.tflite", None)
    to_tflite(ops, out / "ops_int8.tflite", "int8", seed=2)
    for p in sorted(out.glob("*.tflite")):
        print(f"{p}: {p.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus/tflite")
