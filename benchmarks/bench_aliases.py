"""What RESHAPE aliases save: copies avoided and arena bytes, per model and gear.

Converts MobileNetV2-1.0-224 (Keras, random weights: only the graph matters
here) and the MediaPipe ``.tflite`` models bundled in the installed
``mediapipe`` package (as ``bench_tflite_models.py``) into ``.gear`` files with
an fp32 and an int8 gear, then runs ``build/gearshift-plan-aliases`` (built
with the C++ tests: ``cmake -DGEARSHIFT_BUILD_TESTS=ON``), which builds each
gear's plan at batch 1 with RESHAPE as an alias and again with RESHAPE always
copying, and reports the reshape steps that became aliases and both arena
sizes. Nothing is timed: a skipped copy's time is in the models' latency
benchmarks.

    python benchmarks/bench_aliases.py [--tool build/gearshift-plan-aliases]
        [--models SUBSTR,...] [--json OUT]

Prints a table and writes JSON (default
benchmarks/results/aliases-<date>-<arch>.json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from bench_tflite_models import SKIP, image_like, input_range, mediapipe_models
from results_doc import write_results

import gearshift as gs
from gearshift.bench import table

GEARS = ("fp32", "int8")
CALIBRATION_SAMPLES = 4  # the graph is what matters; ranges only need to exist


def convert_models(tmp: Path, names: list[str] | None) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    if names is None or any("mobilenet" in n for n in names):
        import tensorflow as tf

        keras = tf.keras
        model = keras.applications.MobileNetV2(input_shape=(224, 224, 3), weights=None)
        cal = image_like(CALIBRATION_SAMPLES, (224, 224, 3), -1.0, 1.0, seed=0)
        path = tmp / "mobilenet_v2_1.0_224.gear"
        gs.convert(model, path, gears=GEARS, calibration=cal, progress=False)
        out.append(("mobilenet_v2_1.0_224", path))
    for src in mediapipe_models() or []:
        name = src.stem
        if name in SKIP or (names is not None and not any(n in name for n in names)):
            continue
        from gearshift.converters.litert_runner import interpreter_class

        interp = interpreter_class()(model_path=str(src))
        shape = tuple(int(d) for d in interp.get_input_details()[0]["shape"][1:])
        lo, hi = input_range(name)
        cal = image_like(CALIBRATION_SAMPLES, shape, lo, hi, seed=0)
        path = tmp / f"{name}.gear"
        try:
            gs.convert(src, path, gears=GEARS, calibration=cal, progress=False)
        except Exception as e:  # the importer's refusal: report it, keep going
            print(f"{name}: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        out.append((name, path))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parent.parent
    ap.add_argument("--tool", type=Path, default=root / "build" / "gearshift-plan-aliases")
    ap.add_argument("--models", default=None, help="comma-separated name substrings")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if not args.tool.exists():
        print(f"{args.tool} not found: build it with -DGEARSHIFT_BUILD_TESTS=ON", file=sys.stderr)
        return 2
    names = args.models.split(",") if args.models else None
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as d:
        models = convert_models(Path(d), names)
        for name, path in models:
            lines = subprocess.run(
                [str(args.tool), str(path)], check=True, capture_output=True, text=True
            ).stdout.splitlines()
            for line in lines:
                r = json.loads(line)
                r["model"] = name
                del r["file"]
                r["arena_saved_bytes"] = r["arena_bytes_copy"] - r["arena_bytes_alias"]
                results.append(r)
    rows = [
        [
            r["model"],
            r["gear"],
            str(r["reshape_nodes"]),
            str(r["alias_steps"]),
            f"{r['copy_bytes_skipped'] / 1024:.1f}",
            f"{r['arena_bytes_copy'] / 1024:.1f}",
            f"{r['arena_bytes_alias'] / 1024:.1f}",
            f"{r['arena_saved_bytes'] / 1024:.1f}",
        ]
        for r in results
    ]
    header = ["model", "gear", "reshapes", "aliases", "copy KiB skipped", "arena KiB (copy)"]
    header += ["arena KiB (alias)"]
    print(table([[*header, "saved KiB"], *rows]))
    write_results(results, "aliases-", args.json, batch=1)
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    sys.exit(main())
