"""``gearshift bench --compare`` on real MediaPipe ``.tflite`` models: the harness end to end.

For each model (default: face_detection_short_range and selfie_segmentation,
bundled in the installed ``mediapipe`` wheel; only the files are used): import
it into a ``.gear`` with fp32 and int8 gears (int8 calibrated on 32 synthetic
image-like inputs, as in bench_tflite_models.py), then run the same harness as
``gearshift bench FILE.gear --compare litert,tflite-runtime,onnxruntime``:
every gear and every installed peer on the same inputs and thread count, in
alternating rounds; load time and peak memory (VmHWM) in a fresh process per
runtime; the error of each against LiteRT's outputs on 8 other inputs
(``--validation`` with reference outputs).

    python benchmarks/bench_compare.py --json OUT.json [--html OUT.html]
        [--runs 100] [--threads 1] [--models SUBSTR,...]

Prints each model's table and writes one JSON document per model, as a list.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see bench_tflite_models.py

import numpy as np
from bench_tflite_models import (
    CALIBRATION_SAMPLES,
    EVAL_SAMPLES,
    LiteRT,
    image_like,
    input_range,
    mediapipe_models,
)

import gearshift as gs
from gearshift.bench_compare import run_bench
from gearshift.bench_report import format_results, write_html

DEFAULT_MODELS = ("face_detection_short_range", "selfie_segmentation")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--html", type=Path, help="the HTML report of the first model")
    args = ap.parse_args()
    paths = mediapipe_models()
    if paths is None:
        print("mediapipe is not installed: pip install --no-deps mediapipe==0.10.14")
        return 0
    keep = [s for s in args.models.split(",") if s]
    paths = [p for p in paths if p.stem in keep]
    docs = []
    tmp = Path(tempfile.mkdtemp(prefix="gs-bench-compare-"))
    for path in paths:
        lrt = LiteRT(path, args.threads)
        shape = tuple(int(d) for d in lrt.inp["shape"][1:])
        lo, hi = input_range(path.stem)
        cal = image_like(CALIBRATION_SAMPLES, shape, lo, hi, seed=0)
        xs = image_like(EVAL_SAMPLES, shape, lo, hi, seed=1)
        gear = tmp / f"{path.stem}.gear"
        gs.convert(path, gear, gears=("fp32", "int8"), calibration=cal, progress=False)
        ref = lrt.run_all(xs)[0]  # the first output: what --validation compares
        doc = run_bench(
            str(gear),
            threads=args.threads,
            runs=args.runs,
            warmup=args.warmup,
            compare=("litert", "tflite-runtime", "onnxruntime"),
            validation=(xs, ref),
        )
        doc["model"] = f"mediapipe {path.parent.name}/{path.name}"
        print(f"\n{doc['model']}")
        print(format_results(doc))
        docs.append(doc)
        if args.html and len(docs) == 1:
            write_html(doc, str(args.html))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(docs, indent=1, default=_plain) + "\n")
    print(f"wrote {args.json}")
    return 0


def _plain(v: object) -> object:
    return v.item() if isinstance(v, np.generic) else str(v)


if __name__ == "__main__":
    sys.exit(main())
