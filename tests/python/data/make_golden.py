"""Writes golden_v1_0.gear and golden_v1_0_io.npz. Run ONCE per format version.

The golden file is loaded by tests forever (tests/python/test_golden.py): a
reader change that cannot read a file written by an older writer fails there.
Never regenerate an existing golden file; add a new one for a new version.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from keras import layers

import gearshift as gs

HERE = Path(__file__).parent


def main() -> int:
    out = HERE / "golden_v1_0.gear"
    if out.exists() and "--force" not in sys.argv:
        print(f"{out} exists; golden files are never regenerated", file=sys.stderr)
        return 1
    rng = np.random.default_rng(20261125)
    inp = keras.Input((6, 6, 2), name="image")
    x = layers.ZeroPadding2D(1)(inp)
    x = layers.Conv2D(4, 3, strides=2, activation="relu6")(x)
    y = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=1)(x)
    x = layers.Add()([x, y])
    x = layers.AveragePooling2D(2, padding="same")(x)
    x = layers.Concatenate()([x, layers.Activation("hard_swish")(x)])
    x = layers.Flatten()(x)
    x = layers.Dense(5, activation="tanh")(x)
    x = layers.Dense(3, activation="softmax", name="probs")(x)
    model = keras.Model(inp, x)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in ws])
    xin = rng.uniform(-1, 1, (2, 6, 6, 2)).astype(np.float32)
    gs.convert(model, out, calibration=xin)
    np.savez(HERE / "golden_v1_0_io.npz", x=xin, y=np.asarray(model(xin)))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
