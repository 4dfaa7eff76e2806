"""Writes golden_v1_1.gear, golden_v1_2.gear, golden_v1_3.gear, golden_v1_5.gear,
golden_v1_6.gear and golden_versions_io.npz. Run ONCE.

One small file per format minor that 1.0 (make_golden.py) and 1.4
(make_golden_v1_4.py) leave uncovered, each marked with that minor, loaded by
tests/python/test_golden.py with known outputs forever:

- 1.6: a Keras model with fp32, fp16, int8 and int4 gears as the writer of
  format 1.6 writes it: per-channel scales and activation parameters in the
  PARAMS section.
- 1.1: the same file with those parameters as JSON arrays
  (``write_gear.repack(binary=False)``, the form every writer before 1.6
  wrote; the TENSOR_DATA bytes are copied unchanged), so both forms must give
  the same outputs bit for bit.
- 1.2: the model pruned, with an ``int8-sparse`` gear (bitmap/csr/2:4 storage).
- 1.3: a model with 1.3 ops (LEAKY_RELU, SUB, MAXIMUM) and an int8 gear.
- 1.5: the model with a float island (the last dense layer) in its int8 gear.

The 1.1, 1.2, 1.3 and 1.5 files are written in the JSON form by today's
writer, which marks each with the lowest minor that expresses it (the header
says so; the test checks it): these are the files older writers produced, and
older readers read them. The outputs saved are the runtime's at the time of
writing, per file and gear; the test also checks the int8 gears against the
numpy oracle (converters/gear_reference.py).
Never regenerate an existing golden file; add a new one for a new version.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from keras import layers

import gearshift as gs
from gearshift.converters.write_gear import repack

HERE = Path(__file__).parent
SEED = 20261206
FILES = ("golden_v1_1", "golden_v1_2", "golden_v1_3", "golden_v1_5", "golden_v1_6")


def base_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu6")(inp)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(16, 1, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(12, activation="relu", name="hidden")(x)
    x = layers.Dense(5, name="logits")(x)
    return keras.Model(inp, x)


def ops13_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same")(inp)
    x = layers.LeakyReLU(negative_slope=0.1)(x)
    y = layers.Conv2D(8, 1)(x)
    x = layers.Maximum()([layers.Subtract()([x, y]), y])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(5, name="logits")(x)
    return keras.Model(inp, x)


def main() -> int:
    if any((HERE / f"{f}.gear").exists() for f in FILES) and "--force" not in sys.argv:
        print("golden files exist; golden files are never regenerated", file=sys.stderr)
        return 1
    rng = np.random.default_rng(SEED)
    cal = rng.uniform(-1, 1, (32, 8, 8, 3)).astype(np.float32)
    x = rng.uniform(-1, 1, (3, 8, 8, 3)).astype(np.float32)
    model = base_model(SEED)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        v16 = HERE / "golden_v1_6.gear"
        gs.convert(
            model, v16, gears=("fp32", "fp16", "int8", "int4"), calibration=cal, progress=False
        )
        repack(v16, HERE / "golden_v1_1.gear", binary=False)
        sparse = tmp / "sparse.gear"
        gs.convert(
            base_model(SEED),
            sparse,
            gears=("fp32", "int8", "int8-sparse"),
            calibration=cal,
            prune=gs.Prune(0.6, include_first_last=True),
            progress=False,
        )
        repack(sparse, HERE / "golden_v1_2.gear", binary=False)
        ops13 = tmp / "ops13.gear"
        gs.convert(
            ops13_model(SEED), ops13, gears=("fp32", "int8"), calibration=cal, progress=False
        )
        repack(ops13, HERE / "golden_v1_3.gear", binary=False)
        islands = tmp / "islands.gear"
        gs.convert(
            base_model(SEED),
            islands,
            gears=("fp32", "int8"),
            calibration=cal,
            float_layers=["logits"],
            progress=False,
        )
        repack(islands, HERE / "golden_v1_5.gear", binary=False)
    save_outputs(FILES, x, "golden_versions_io.npz")
    return 0


def save_outputs(files: tuple[str, ...], x: np.ndarray, npz: str) -> None:
    """Every gear's outputs of each ``<file>.gear`` on ``x``, saved with ``x`` in ``npz``
    (keys ``x`` and ``<file>/<gear>``): what test_golden.py compares against forever."""
    out: dict[str, np.ndarray] = {"x": x}
    for f in files:
        rt = gs.Runtime(HERE / f"{f}.gear")
        for g in rt.gears:
            rt.gear = g
            out[f"{f}/{g}"] = rt.run(x)
    np.savez(HERE / npz, **out)
    for f in files:
        print(f"wrote {f}.gear ({(HERE / f'{f}.gear').stat().st_size} bytes)")


if __name__ == "__main__":
    sys.exit(main())
