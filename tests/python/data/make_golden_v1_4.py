"""Writes golden_v1_4_uint8.gear, its source golden_v1_4_uint8.tflite and
golden_v1_4_uint8_io.npz. Run ONCE.

The first file with an integer interface (format 1.4 ``io``): a small fully-int8
classifier with uint8 input and output, converted from TensorFlow's .tflite, and
LiteRT's outputs (its reference kernels) on a few uint8 frames. The tests read
them without TensorFlow or LiteRT (tests/python/test_golden.py,
tests/python/test_interpreter_gear.py), so they also run on the emulated board.
The .tflite is the same model made again from the same seeds (added after the
first two files; it reproduces their outputs exactly): the board test opens it
with gearshift.Interpreter without TensorFlow.
Never regenerate an existing golden file; add a new one for a new version.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from int8_tflite import classifier, to_tflite  # noqa: E402

import gearshift as gs  # noqa: E402


def main() -> int:
    out = HERE / "golden_v1_4_uint8.gear"
    if out.exists() and "--force" not in sys.argv:
        print(f"{out} exists; golden files are never regenerated", file=sys.stderr)
        return 1
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    src = to_tflite(classifier(seed=20261206), HERE / "golden_v1_4_uint8.tflite", "uint8")
    gs.convert(src, out, gears=("fp32", "int8"), progress=False)
    it = Interpreter(model_path=str(src), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    d, o = it.get_input_details()[0], it.get_output_details()[0]
    x = np.random.default_rng(20261206).integers(0, 256, (4, 1, 12, 12, 3)).astype(np.uint8)
    ys = []
    for frame in x:
        it.set_tensor(d["index"], frame)
        it.invoke()
        ys.append(it.get_tensor(o["index"]))
    np.savez(HERE / "golden_v1_4_uint8_io.npz", x=x[:, 0], y=np.concatenate(ys))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
