"""Calibration speed: the C++ runtime against the numpy reference interpreter.

For each MediaPipe model bundled in the installed ``mediapipe`` package, imports
the ``.tflite`` and calibrates its activation ranges on N inputs (default 96,
in the converter's batches of 32) with the default method, once with the
activations computed by the graph's fp32 gear on the C++ runtime
(``Runtime(keep_tensors=True)``) and once by the numpy reference interpreter;
prints the seconds of each, their ratio and how far the ranges differ
(largest difference relative to the range's width). Inputs are smooth random
images in the model's input range: the time does not depend on the pixels.

    python benchmarks/bench_calibration.py [--models a,b] [--inputs 96] [--json OUT]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's BLAS threads busy-wait

import numpy as np
from bench_tflite_models import SKIP, input_range, mediapipe_models
from results_doc import cpu_model, write_results

from gearshift.bench import table
from gearshift.converters.calibrate import calibrate
from gearshift.converters.convert import CALIBRATION_BATCH
from gearshift.converters.import_tflite import import_tflite

DEFAULT_MODELS = "face_detection_short_range,face_landmark,pose_detection,hand_landmark_lite"


def smooth_images(n: int, shape: tuple[int, ...], lo: float, hi: float) -> np.ndarray:
    """n images of low-frequency colour noise in [lo, hi]."""
    rng = np.random.default_rng(0)
    h, w, c = shape
    coarse = rng.uniform(0, 1, size=(n, 4, 4, c))
    ys = np.linspace(0, 3, h).astype(int)
    xs = np.linspace(0, 3, w).astype(int)
    img = coarse[:, ys][:, :, xs]
    return (lo + (hi - lo) * img).astype(np.float32)


def run(models: list[str], inputs: int) -> list[dict[str, Any]]:
    files = {p.stem: p for p in mediapipe_models() or []}
    results = []
    for name in models:
        if name in SKIP or name not in files:
            print(f"{name}: skipped ({SKIP.get(name, 'not installed')})")
            continue
        g = import_tflite(str(files[name])).graph
        x = smooth_images(inputs, g.tensors[g.inputs[0]].shape[1:], *input_range(name))
        batches = [
            {g.inputs[0]: x[i : i + CALIBRATION_BATCH]} for i in range(0, inputs, CALIBRATION_BATCH)
        ]
        row: dict[str, Any] = {"model": name, "inputs": inputs}
        ranges = {}
        for engine in ("runtime", "reference"):
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # lone-input notes
                ranges[engine] = calibrate(g, batches, progress=False, engine=engine)
            row[f"{engine}_s"] = time.perf_counter() - t
        a, b = ranges["runtime"], ranges["reference"]
        row["speedup"] = row["reference_s"] / row["runtime_s"]
        row["max_range_diff"] = max(
            abs(a[k][i] - b[k][i]) / max(b[k][1] - b[k][0], 1e-12) for k in b for i in (0, 1)
        )
        results.append(row)
        print(
            f"{name}: runtime {row['runtime_s']:.2f} s, reference {row['reference_s']:.2f} s",
            flush=True,
        )
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=DEFAULT_MODELS)
    ap.add_argument("--inputs", type=int, default=96)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if mediapipe_models() is None:
        raise SystemExit("error: needs the mediapipe package (for its .tflite files)")
    results = run(args.models.split(","), args.inputs)
    print(f"\nCPU: {cpu_model()}")
    print(
        table(
            [["model", "runtime s", "reference s", "speed-up", "max range diff / width"]]
            + [
                [
                    r["model"],
                    f"{r['runtime_s']:.2f}",
                    f"{r['reference_s']:.2f}",
                    f"{r['speedup']:.1f}x",
                    f"{r['max_range_diff']:.1e}",
                ]
                for r in results
            ]
        )
    )
    if args.json:
        write_results(results, "", args.json, inputs=args.inputs)


if __name__ == "__main__":
    main()
