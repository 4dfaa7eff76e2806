"""The int4 gear beside int8 and fp32: prepared memory and latency, same run.

The int4 gear keeps its convolution and dense weights 4-bit in memory (signed
nibbles plus one multiplier byte per q4m block of 32 weights) and rebuilds
int8 tiles per call, so it should need about half the int8 gear's prepared
memory at about the int8 gear's speed. Cases: keras.applications.MobileNetV2
0.35 and 1.0 at 224x224x3 (random weights, batch-norm statistics from data,
as in bench_int8.py), converted once to one ``.gear`` with fp32, int8 and
int4 (cached in build-bench/int4). For each gear: ``prepared_bytes`` after
the first run (weights the gear derived plus its kernels' packs; the file's
own int8 values are mapped, not counted), and the median of timed runs in
alternating rounds.

    python benchmarks/bench_int4.py [--cases mnv2-0.35,mnv2-1.0] [--runs 30]
        [--threads 1] [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see bench_int8.py

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
CACHE = HERE.parent / "build-bench" / "int4"
GEARS = ("fp32", "int8", "int4")


def convert(name: str) -> tuple[Path, np.ndarray]:
    from bench_int8 import _converter_fingerprint, make_case

    d = CACHE / f"{name}-{_converter_fingerprint()}"
    gear, xfile = d / "model.gear", d / "x.npy"
    if gear.exists() and xfile.exists():
        return gear, np.load(xfile)
    import gearshift as gs

    model, cal, x = make_case(name, 0)
    d.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):
        gs.convert(model, gear, gears=GEARS, calibration=cal, progress=False)
    np.save(xfile, x)
    return gear, x


def measure(path: Path, x: np.ndarray, runs: int, threads: int) -> dict[str, dict[str, float]]:
    import gearshift as gs

    rts = {g: gs.Runtime(path, gear=g, threads=threads) for g in GEARS}
    for rt in rts.values():
        rt.run(x)  # prepares
    times: dict[str, list[float]] = {g: [] for g in GEARS}
    for r in range(runs):
        order = GEARS[r % len(GEARS) :] + GEARS[: r % len(GEARS)]  # rotate the start
        for g in order:
            t = time.perf_counter()
            rts[g].run(x)
            times[g].append((time.perf_counter() - t) * 1e3)
    return {
        g: {"prepared_bytes": float(rts[g].prepared_bytes), "median_ms": float(np.median(times[g]))}
        for g in GEARS
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="mnv2-0.35,mnv2-1.0")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from results_doc import cpu_model, write_results

    import gearshift as gs

    results = []
    for name in args.cases.split(","):
        path, x = convert(name)
        m = measure(path, x, args.runs, args.threads)
        results.append({"case": name, "threads": args.threads, "runs": args.runs, "gears": m})
    sel = gs.runtime_info()["isa_selected"]
    print(
        f"batch 1, {args.threads} thread(s), median of {args.runs} alternating rounds on "
        f"{cpu_model()}; q8_gemm={sel['q8_gemm']}"
    )
    rows = [("case", "gear", "prepared MiB", "vs int8", "median ms", "vs int8 ")]
    for r in results:
        i8 = r["gears"]["int8"]
        for g in GEARS:
            v = r["gears"][g]
            rows.append(
                (
                    r["case"],
                    g,
                    f"{v['prepared_bytes'] / 2**20:.3f}",
                    f"{v['prepared_bytes'] / i8['prepared_bytes']:.2f}x",
                    f"{v['median_ms']:.3f}",
                    f"{v['median_ms'] / i8['median_ms']:.2f}x",
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for k, row in enumerate(rows):
        print(
            "  ".join(
                c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))
            )
        )
        if k == 0:
            print("  ".join("-" * w for w in widths))
    import platform

    write_results(
        results,
        "",
        args.json
        or HERE / "results" / f"{time.strftime('%Y-%m-%d')}-{platform.machine()}-int4.json",
        cpu_model=cpu_model(),
        isa_selected=sel,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
