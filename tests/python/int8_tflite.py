"""Small fully-int8 ``.tflite`` models made with TensorFlow's converter, for the
integer-interface and Interpreter tests (a second or so each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def classifier(n_outputs: int = 1, seed: int = 0):
    """A tiny image classifier (conv, depthwise, pools, dense), its weights drawn from
    ``seed``; with ``n_outputs=2`` a second head (a box-like regression), as detection
    models have.

    It pools with AVERAGE_POOL_2D and a reshape (int8 MEAN has its own test against
    LiteRT's reference kernel in test_tflite_import.py)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inp = keras.Input((12, 12, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(x)
    x = layers.Conv2D(12, 1, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.AveragePooling2D(3)(x)
    x = layers.Flatten()(x)
    outs = [layers.Dense(6, name="scores")(x)]
    if n_outputs == 2:
        outs.append(layers.Dense(4, activation="sigmoid", name="boxes")(x))
    return keras.Model(inp, outs if n_outputs > 1 else outs[0])


def to_tflite(model, path: Path, iface: str | None, seed: int = 0) -> Path:
    """``model`` as a fully-int8 ``.tflite`` whose inputs/outputs are ``iface`` ("int8",
    "uint8", or "float32" for a float interface); ``iface=None`` keeps the model float."""
    import tensorflow as tf

    shape = tuple(model.inputs[0].shape[1:])
    data = np.random.default_rng(seed).uniform(-1, 1, (16, *shape)).astype(np.float32)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if iface is not None:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([d[None]] for d in data)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = conv.inference_output_type = getattr(tf, iface)
    path.write_bytes(conv.convert())
    return path
