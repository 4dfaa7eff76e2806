"""Writes golden_v1_7.gear, golden_v1_7_sparse.gear and golden_v1_7_io.npz. Run ONCE
(from this folder: ``PYTHONPATH=../../../python python make_golden_v1_7.py``); the two
files are also seeds of the .gear fuzz targets (fuzz/corpus/gear).

Format 1.7 added the ``q8r8`` encoding (an int8 base plus an 8-bit residual),
which compact files give weights under 16,384 values. Two files, kept with
their outputs forever and loaded by tests/python/test_golden.py:

- golden_v1_7.gear: make_golden_versions.py's Keras model with fp32, fp16,
  int8 and int4 gears in compact storage: every weight ``q8r8`` over a dense
  int8 base.
- golden_v1_7_sparse.gear: the model pruned to 60%, fp32 and int8 gears:
  ``q8r8`` residuals over sparse (bitmap/csr/2:4) bases, one byte per stored
  value.

Never regenerate an existing golden file; add a new one for a new version.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from make_golden_versions import SEED, base_model, save_outputs

import gearshift as gs

HERE = Path(__file__).parent
FILES = ("golden_v1_7", "golden_v1_7_sparse")


def main() -> int:
    if any((HERE / f"{f}.gear").exists() for f in FILES) and "--force" not in sys.argv:
        print("golden files exist; golden files are never regenerated", file=sys.stderr)
        return 1
    rng = np.random.default_rng(SEED + 17)
    cal = rng.uniform(-1, 1, (32, 8, 8, 3)).astype(np.float32)
    x = rng.uniform(-1, 1, (3, 8, 8, 3)).astype(np.float32)
    gs.convert(
        base_model(SEED),
        HERE / "golden_v1_7.gear",
        gears=("fp32", "fp16", "int8", "int4"),
        calibration=cal,
        progress=False,
    )
    gs.convert(
        base_model(SEED),
        HERE / "golden_v1_7_sparse.gear",
        gears=("fp32", "int8"),
        calibration=cal,
        prune=gs.Prune(0.6, include_first_last=True),
        progress=False,
    )
    save_outputs(FILES, x, "golden_v1_7_io.npz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
