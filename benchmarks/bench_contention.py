#!/usr/bin/env python3
"""gearshift beside LiteRT when other processes compete for the cores.

On a board the runtime rarely has the CPU to itself: a camera pipeline, a UI
or a second model run beside it. This benchmark times MobileNetV2 1.0/224
(fp32 and int8 gears, LiteRT fp32 and int8 from the same Keras model; the
models of ``bench_int8.py``, cached there) at each thread count, first with
the machine as it is and then with ``--hogs`` busy-looping processes started
beside it, in alternating rounds, and prints the median and p90 latency of
each runtime, its ratio to LiteRT, and how much each slows down under the
competing load.

    python benchmarks/bench_contention.py --threads 1,2 --hogs 1 --json out.json

Latency, not throughput: a thread pool that hands each worker a fixed share
waits for a worker the OS has not scheduled, so its median under contention
can be several times its idle one. The load average before the run is
recorded: on a shared machine "as it is" is not idle.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's threads spin otherwise

import numpy as np  # noqa: E402
from bench_int8 import LiteRT, convert_case, source_revision, time_rounds  # noqa: E402


def _hog(stop: Any) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100000):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF


def _stats(v: list[float]) -> dict[str, float]:
    a = np.asarray(v)
    return {"median_ms": float(np.median(a)), "p90_ms": float(np.percentile(a, 90))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--hogs", type=int, default=1, help="busy processes for the loaded rows")
    ap.add_argument("--runs", type=int, default=30, help="rounds per row")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--case", default="mnv2-1.0", help="a model case of bench_int8.py")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import gearshift as gs

    files = convert_case(args.case)
    x = files.x
    load_before = os.getloadavg()
    results: list[dict[str, Any]] = []
    for threads in [int(t) for t in args.threads.split(",")]:
        rts = {g: gs.Runtime(str(files.gear), gear=g, threads=threads) for g in ("fp32", "int8")}
        lite = {
            "fp32": LiteRT(files.tflite_fp32, threads),
            "int8": LiteRT(files.tflite_int8, threads),
        }
        fns = {
            "gearshift fp32": rts["fp32"].run,
            "gearshift int8": rts["int8"].run,
            "LiteRT fp32": lite["fp32"].run,
            "LiteRT int8": lite["int8"].run,
        }
        for hogs in (0, args.hogs) if args.hogs > 0 else (0,):
            stop = mp.Event()
            procs = [mp.Process(target=_hog, args=(stop,), daemon=True) for _ in range(hogs)]
            for p in procs:
                p.start()
            time.sleep(0.2 if hogs else 0)
            try:
                calls = {k: (lambda f=f: f(x)) for k, f in fns.items()}
                samples, rounds = time_rounds(calls, args.runs, args.warmup, 1e9, args.runs)
            finally:
                stop.set()
                for p in procs:
                    p.join()
            row = {"threads": threads, "hogs": hogs, "rounds": rounds}
            row.update({k: _stats(v) for k, v in samples.items()})
            results.append(row)
    cpu = platform.processor() or platform.machine()
    print(
        f"{args.case}, batch 1, median / p90 ms of alternating rounds on {cpu} ({os.cpu_count()}"
        f" cpus, load average {load_before[0]:.1f} before the run); hogs = busy processes beside it"
    )
    head = (
        f"{'thr':>3} {'hogs':>4}  "
        + "  ".join(f"{k:>16}" for k in fns)
        + "   gs/LiteRT fp32   gs/LiteRT int8"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        cells = "  ".join(f"{r[k]['median_ms']:7.2f} / {r[k]['p90_ms']:6.2f}" for k in fns)
        rf = r["gearshift fp32"]["median_ms"] / r["LiteRT fp32"]["median_ms"]
        ri = r["gearshift int8"]["median_ms"] / r["LiteRT int8"]["median_ms"]
        print(f"{r['threads']:>3} {r['hogs']:>4}  {cells}   {rf:13.2f}x   {ri:13.2f}x")
    by = {(r["threads"], r["hogs"]): r for r in results}
    if args.hogs > 0:
        print("slowdown with the hogs (median loaded / median as is):")
        for threads in sorted({r["threads"] for r in results}):
            a, b = by[(threads, 0)], by[(threads, args.hogs)]
            print(
                f"  {threads} thread(s): "
                + ", ".join(f"{k} {b[k]['median_ms'] / a[k]['median_ms']:.2f}x" for k in fns)
            )
    if args.json:
        record = {
            "case": args.case,
            "cpu": cpu,
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "gearshift": source_revision(),
            "runtime_info": gs.runtime_info(),
            "results": results,
        }
        args.json.write_text(json.dumps(record, indent=1, default=str))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
