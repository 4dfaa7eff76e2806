"""int8-sparse vs int8 latency on a dense-layer-heavy model (format 1.2 sparse gears).

An MLP x[N, 512] -> FC 1024 (RELU) -> FC 1024 (RELU) -> FC 10 is pruned
(the smallest |w| zeroed) at 50% and 90%, written with the ``int8`` and
``int8-sparse`` gears (same bytes; the sparse gear runs the dense layers on the
sparse reference kernels, the int8 gear on this CPU's best int8 GEMM), and each
gear is timed through ``gs.Runtime``. A measurement, not a test: it prints one
line per (sparsity, batch).

    .venv/bin/python benchmarks/bench_sparse.py [--reps 200] [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import gearshift as gs
from gearshift.converters import write_gear as wg
from gearshift.converters.calibrate import calibrate
from gearshift.converters.ir import Graph, Node
from gearshift.converters.quantize import quantize_graph


def mlp(zeros: float, seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    g = Graph()
    g.add_tensor("x", (-1, 512))
    dims = [512, 1024, 1024, 10]
    prev = "x"
    for i in range(3):
        w = rng.normal(size=(dims[i + 1], dims[i])).astype(np.float32) / np.sqrt(dims[i])
        flat = w.ravel()
        flat[np.argsort(np.abs(flat), kind="stable")[: round(zeros * flat.size)]] = 0.0
        wt = g.add_const(f"fc{i}/w", w)
        bt = g.add_const(f"fc{i}/b", rng.normal(size=dims[i + 1]).astype(np.float32) * 0.1)
        out = f"h{i}"
        g.add_tensor(out, (-1, dims[i + 1]))
        act = "RELU" if i < 2 else "NONE"
        g.add_node(Node(f"fc{i}", "FULLY_CONNECTED", [prev, wt, bt], [out], {"activation": act}))
        prev = out
    g.inputs, g.outputs = ["x"], [prev]
    g.validate(format_only=True)
    return g


def timed(rt: gs.Runtime, x: np.ndarray, reps: int) -> float:
    rt.run(x)  # plan and warm up
    t0 = time.perf_counter()
    for _ in range(reps):
        rt.run(x)
    return (time.perf_counter() - t0) / reps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as d:
        for zeros in (0.5, 0.9):
            g = mlp(zeros)
            calib = rng.normal(size=(64, 512)).astype(np.float32)
            plan = quantize_graph(g, calibrate(g, [calib], progress=False))
            path = Path(d) / f"mlp{int(zeros * 100)}.gear"
            wg.write_gear(g, path, ("int8", "int8-sparse"), qplan=plan)
            for batch in (1, 16):
                x = rng.normal(size=(batch, 512)).astype(np.float32)
                ms = {
                    gear: timed(gs.Runtime(path, gear=gear, threads=args.threads), x, args.reps)
                    for gear in ("int8", "int8-sparse")
                }
                print(
                    f"{zeros:.0%} zeros, batch {batch:2d}, {args.threads} thread(s): "
                    f"int8 {ms['int8']:.3f} ms, int8-sparse {ms['int8-sparse']:.3f} ms "
                    f"(sparse/dense {ms['int8-sparse'] / ms['int8']:.2f}x)"
                )


if __name__ == "__main__":
    main()
