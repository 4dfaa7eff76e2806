"""Shared helpers for the end-to-end tests: convert a Keras model, run it
through the C++ runtime, compare with Keras."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    """Max abs error relative to the reference output's scale."""
    scale = max(float(np.abs(ref).max()), 1e-6)
    return float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max()) / scale


def convert_and_run(model, x: np.ndarray, path: Path, threads: int = 1) -> np.ndarray:
    import gearshift as gs

    gs.convert(model, path, gears=("fp32",), calibration=x)
    rt = gs.Runtime(path, threads=threads)
    return rt.run(x)


def keras_out(model, x: np.ndarray) -> np.ndarray:
    y = model(x, training=False)
    return np.asarray(y)
