"""The x86 time cost of float islands: each model's int8 gear with and without the float
layers that ``bench_accuracy.py`` chose (read from its JSON), timed alternately.

    python benchmarks/bench_islands_latency.py RESULTS.json [--method M] [--json OUT]

Per model: the int8 gear of a file converted without islands and of one with the layers
recorded for method ``M`` (default ``input_percentile+cle+islands``), batch 1, one thread,
the evaluation photographs, median over rounds that alternate the two files. Prints a
table and writes JSON beside the input (``-latency`` suffix).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from bench_accuracy import gs_input_size, photo_sets, to_input
from bench_tflite_models import input_range, mediapipe_models
from results_doc import cpu_model, write_results

import gearshift as gs
from gearshift.bench import table


def _times(rt: gs.Runtime, x: np.ndarray) -> list[float]:
    out = []
    for i in range(x.shape[0]):
        t0 = time.perf_counter()
        rt.run(x[i : i + 1])
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--method", default="input_percentile+cle+islands")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--models", default="", help="comma-separated substrings of model names")
    args = ap.parse_args(argv)
    chosen = json.loads(args.results.read_text())["results"]
    files = {f.stem: f for f in mediapipe_models() or []}
    cal, ev = photo_sets()
    rows = [["model", "float layers", "int8 ms", "int8 + islands ms", "ratio"]]
    results = {}
    wanted = [m for m in args.models.split(",") if m]
    for model, r in chosen.items():
        if wanted and not any(w in model for w in wanted):
            continue
        layers = r["methods"][args.method]["float_layers"]
        path = files[model]
        size = gs_input_size(path)
        lo, hi = input_range(model)
        x_cal, x_ev = to_input(cal, size, lo, hi), to_input(ev, size, lo, hi)
        base = args.method.removesuffix("+heads").split("+islands")[0]
        with tempfile.TemporaryDirectory() as tmp:
            rts = []
            for name, fl in (("plain", None), ("islands", layers or None)):
                out = Path(tmp) / f"{name}.gear"
                gs.convert(
                    path, out, gears=("fp32", "int8"), calibration=x_cal, progress=False,
                    calibration_method=base.removesuffix("+cle"), equalize=base.endswith("+cle"),
                    float_layers=fl,
                )  # fmt: skip
                rt = gs.Runtime(str(out), gear="int8", threads=1)
                _times(rt, x_ev[:4])  # warm-up: plans and packs
                rts.append(rt)
            t: list[list[float]] = [[], []]
            for _ in range(args.rounds):
                for k, rt in enumerate(rts):
                    t[k] += _times(rt, x_ev)
        ms = [float(np.median(v) * 1e3) for v in t]
        results[model] = {"float_layers": layers, "int8_ms": ms[0], "int8_islands_ms": ms[1]}
        rows.append(
            [model, str(len(layers)), f"{ms[0]:.2f}", f"{ms[1]:.2f}", f"{ms[1] / ms[0]:.2f}x"]
        )
        print(rows[-1], flush=True)
    print(f"CPU: {cpu_model()}, batch 1, 1 thread")
    print(table(rows))
    out = args.json or args.results.with_name(args.results.stem + "-latency.json")
    write_results(results, "", out, method=args.method)
    return 0


if __name__ == "__main__":
    sys.exit(main())
