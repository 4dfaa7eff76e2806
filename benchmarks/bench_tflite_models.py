"""gearshift beside LiteRT on the real MediaPipe ``.tflite`` models.

The models are the ones bundled in the installed ``mediapipe`` package
(``mediapipe/modules/*/*.tflite``; only the files are used, the package is
never imported). For each: import the ``.tflite`` into a ``.gear`` with an fp32
and an int8 gear (default ``compact`` storage; the same again in ``exact``
storage for its size and fp32 fidelity), then at batch 1 with the same thread
count time LiteRT (fp32, its default delegate: XNNPACK), the gearshift fp32
gear and the gearshift int8 gear, interleaved run by run so that load from
other processes falls on all three alike. Reports median and p90 latency, the
gearshift/LiteRT ratios, file sizes and the max relative difference of each
gear against LiteRT on the same inputs.

Inputs (calibration and evaluation alike) are synthetic, image-like: smooth
random colour fields (bilinearly upsampled noise at three scales plus a little
pixel noise) in [0, 1], mapped to the range MediaPipe's own graph feeds the
model (``output_tensor_float_range`` in its ``.pbtxt``: [-1, 1] for the face
and pose detectors, [0, 1] for the rest). 32 samples calibrate the int8 gear;
8 other samples measure the differences; the first of those is timed.

    python benchmarks/bench_tflite_models.py [--runs 30] [--threads 1]
        [--models SUBSTR,...] [--no-exact] [--json OUT]

Needs ``pip install --no-deps mediapipe==0.10.14`` (for its model files only).
Prints a table and writes JSON (default
benchmarks/results/<date>-<arch>-tflite.json).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# numpy's OpenBLAS starts worker threads that busy-wait; on a small machine
# they take a core from the runtimes being timed (both alike, but unevenly:
# measured 11 ms vs 6.7 ms for the same 1-thread run). Nothing here uses BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from results_doc import cpu_model, litert_version, write_results

import gearshift as gs
from gearshift.bench import percentiles, table
from gearshift.bench_compare import time_interleaved

# Uses custom ops (landmark refinement) that the importer refuses by design.
SKIP = {"face_landmark_with_attention": "custom ops, refused by the importer"}
# Input range per model, from MediaPipe's graphs (ImageToTensorCalculator
# output_tensor_float_range): face_detection.pbtxt and pose_detection_cpu.pbtxt
# use [-1, 1]; the landmark, palm, recrop, iris and segmentation graphs [0, 1].
SIGNED_INPUT_PREFIXES = ("face_detection", "pose_detection")
CALIBRATION_SAMPLES = 32
EVAL_SAMPLES = 8
GEARS = ("fp32", "int8")
DEGENERATE = 1e-6  # outputs with max |y_LiteRT| below this are left out of the worst case


def mediapipe_models() -> list[Path] | None:
    """The bundled ``.tflite`` files, or None when mediapipe is not installed."""
    spec = importlib.util.find_spec("mediapipe")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    files: list[Path] = []
    for root in spec.submodule_search_locations:
        files.extend(Path(root).glob("modules/*/*.tflite"))
    return sorted(files, key=lambda p: p.stem)


def input_range(name: str) -> tuple[float, float]:
    return (-1.0, 1.0) if name.startswith(SIGNED_INPUT_PREFIXES) else (0.0, 1.0)


def _upsample(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear upsampling of (n, gh, gw, c) to (n, h, w, c), corners aligned."""
    _, gh, gw, _ = a.shape
    ys, xs = np.linspace(0, gh - 1, h), np.linspace(0, gw - 1, w)
    y0 = np.minimum(ys.astype(int), gh - 2)
    x0 = np.minimum(xs.astype(int), gw - 2)
    fy, fx = (ys - y0)[None, :, None, None], (xs - x0)[None, None, :, None]
    top = a[:, y0][:, :, x0] * (1 - fx) + a[:, y0][:, :, x0 + 1] * fx
    bot = a[:, y0 + 1][:, :, x0] * (1 - fx) + a[:, y0 + 1][:, :, x0 + 1] * fx
    return top * (1 - fy) + bot * fy


def image_like(n: int, shape: tuple[int, ...], lo: float, hi: float, seed: int) -> np.ndarray:
    """``n`` smooth random NHWC images in [lo, hi] (see the module docstring)."""
    h, w, c = shape
    rng = np.random.default_rng(seed)
    img = np.zeros((n, h, w, c))
    for grid, weight in ((3, 0.5), (8, 0.3), (24, 0.2)):
        img += weight * _upsample(rng.uniform(0, 1, (n, grid, grid, c)), h, w)
    img += rng.normal(0, 0.02, img.shape)
    img = np.clip(img, 0.0, 1.0)
    return (lo + (hi - lo) * img).astype(np.float32)


def compare(ys: list[np.ndarray], refs: list[np.ndarray], names: list[str]) -> dict[str, Any]:
    """Per output: ``max|y - ref|``, its ratio to ``max|ref|`` and ``mean|y - ref|``; plus
    the worst ratio over the outputs whose ``max|ref|`` is at least ``DEGENERATE``
    (a ratio to a near-zero output, e.g. a presence score of 1e-30, says nothing)."""
    per: dict[str, dict[str, float]] = {}
    for n, y, r in zip(names, ys, refs):
        d, top = np.abs(y - r), float(np.abs(r).max())
        per[n] = {
            "max_abs_ref": top,
            "max_abs_diff": float(d.max()),
            "max_rel_diff": float(d.max()) / top if top > 0 else None,
            "mean_abs_diff": float(d.mean()),
        }
    kept = {n: v["max_rel_diff"] for n, v in per.items() if v["max_abs_ref"] >= DEGENERATE}
    worst = max(kept, key=kept.__getitem__) if kept else None
    return {
        "max_rel_diff": kept[worst] if worst else None,
        "worst_output": worst,
        "near_zero_outputs": sorted(set(per) - set(kept)),
        "per_output": per,
    }


class LiteRT:
    def __init__(self, path: Path, threads: int) -> None:
        from gearshift.converters.litert_runner import interpreter_class

        Interpreter = interpreter_class()  # ai-edge-litert first
        if Interpreter is None:
            raise ImportError("no TFLite interpreter: pip install ai-edge-litert")
        self.it = Interpreter(model_path=os.fspath(path), num_threads=threads)
        self.it.allocate_tensors()
        self.inp = self.it.get_input_details()[0]
        self.outs = self.it.get_output_details()

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        self.it.set_tensor(self.inp["index"], x)
        self.it.invoke()
        return [self.it.get_tensor(d["index"]) for d in self.outs]

    def run_all(self, xs: np.ndarray) -> list[np.ndarray]:
        parts = [self.run(xs[k : k + 1]) for k in range(len(xs))]
        return [np.concatenate(col) for col in zip(*parts)]


class Gear:
    """One gear of a .gear file, outputs in LiteRT's order (matched by name)."""

    def __init__(self, path: Path, gear: str, threads: int, names: list[str]) -> None:
        self.rt = gs.Runtime(path, gear=gear, threads=threads)
        specs = {s.name: s for s in self.rt.outputs}
        if sorted(specs) != sorted(names):
            raise ValueError(f"output names differ: gear {sorted(specs)} vs LiteRT {names}")
        self.names = [s.name for s in self.rt.outputs]
        self.order = [self.names.index(n) for n in names]
        self.out: list[np.ndarray] | None = None

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        y = self.rt.run(x)
        ys = [y] if isinstance(y, np.ndarray) else [y[n] for n in self.names]
        return [ys[i] for i in self.order]

    def run_into(self, x: np.ndarray) -> None:
        """``run`` into arrays made once (the runtime's order), as a latency-minded caller would."""
        if self.out is None:
            y = self.rt.run(x)
            self.out = [y] if isinstance(y, np.ndarray) else [y[n] for n in self.names]
        self.rt.run(x, out=self.out[0] if len(self.out) == 1 else self.out)

    def run_all(self, xs: np.ndarray) -> list[np.ndarray]:
        parts = [self.run(xs[k : k + 1]) for k in range(len(xs))]
        return [np.concatenate(col) for col in zip(*parts)]


def bench_model(path: Path, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    name = path.stem
    lrt = LiteRT(path, args.threads)
    shape = tuple(int(d) for d in lrt.inp["shape"][1:])
    lo, hi = input_range(name)
    cal = image_like(CALIBRATION_SAMPLES, shape, lo, hi, seed=0)
    xs = image_like(EVAL_SAMPLES, shape, lo, hi, seed=1)
    row: dict[str, Any] = {
        "model": name,
        "source": f"{path.parent.name}/{path.name}",
        "input_shape": [1, *shape],
        "input_range": [lo, hi],
        "threads": args.threads,
        "tflite_bytes": path.stat().st_size,
    }
    files = {}
    for storage in ("compact", "exact") if args.exact else ("compact",):
        out = tmp / f"{name}-{storage}.gear"
        t0 = time.perf_counter()
        try:
            rep = gs.convert(
                path, out, gears=GEARS, calibration=cal, storage=storage, progress=False
            )
        except Exception as e:  # report the importer's refusal, keep going
            row["error"] = f"{storage}: {type(e).__name__}: {e}"
            return row
        files[storage] = out
        row[f"{storage}_gear_bytes"] = out.stat().st_size
        row[f"{storage}_convert_s"] = time.perf_counter() - t0
        row[f"{storage}_report_max_rel_error"] = {g.name: g.max_rel_error for g in rep.gears}

    try:
        measure(row, lrt, files, xs, args)
    except Exception as e:  # a runtime failure on one model should not end the run
        row["error"] = f"runtime: {type(e).__name__}: {e}"
    return row


def measure(
    row: dict[str, Any], lrt: LiteRT, files: dict[str, Path], xs: np.ndarray, args: Any
) -> None:
    names = [d["name"] for d in lrt.outs]
    row["outputs"] = names
    refs = lrt.run_all(xs)
    gears = {g: Gear(files["compact"], g, args.threads, names) for g in GEARS}
    for g, r in gears.items():
        row[f"{g}_vs_litert"] = compare(r.run_all(xs), refs, names)
    if "exact" in files:
        exact = Gear(files["exact"], "fp32", args.threads, names)
        row["exact_fp32_vs_litert"] = compare(exact.run_all(xs), refs, names)

    x = xs[:1]
    fns = {"litert_fp32": lambda: lrt.run(x)}
    for g, r in gears.items():
        r.run_into(x)
        fns[f"gearshift_{g}"] = lambda r=r: r.run_into(x)
    for k, s in time_interleaved(fns, args.runs, args.warmup).items():
        row[f"{k}_ms"] = percentiles(s)
    base = row["litert_fp32_ms"]["median"]
    for g in GEARS:
        row[f"ratio_{g}_median"] = row[f"gearshift_{g}_ms"]["median"] / base
    row["arena_bytes"] = gears["fp32"].rt.arena_bytes


def print_table(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    def ms(r: dict[str, Any], k: str) -> str:
        return f"{r[k]['median']:.2f} / {r[k]['p90']:.2f}"

    def rel(r: dict[str, Any], k: str) -> str:
        v = r.get(k, {}).get("max_rel_diff")
        return "-" if v is None else f"{v:.1e}"

    rows = [
        (
            "model",
            "tflite KiB",
            "gear KiB (exact)" if args.exact else "gear KiB",
            "LiteRT fp32 ms",
            "gs fp32 ms",
            "fp32 ratio",
            "gs int8 ms",
            "int8 ratio",
            "fp32 rel diff (exact)" if args.exact else "fp32 rel diff",
            "int8 rel diff",
        )
    ]
    notes = []
    for r in results:
        if "error" in r or "skipped" in r:
            notes.append(f"{r['model']}: {r.get('error') or 'skipped, ' + r['skipped']}")
            continue
        exact_kib = f" ({r['exact_gear_bytes'] / 1024:.0f})" if "exact_gear_bytes" in r else ""
        exact_rel = f" ({rel(r, 'exact_fp32_vs_litert')})" if "exact_fp32_vs_litert" in r else ""
        rows.append(
            (
                r["model"],
                f"{r['tflite_bytes'] / 1024:.0f}",
                f"{r['compact_gear_bytes'] / 1024:.0f}{exact_kib}",
                ms(r, "litert_fp32_ms"),
                ms(r, "gearshift_fp32_ms"),
                f"{r['ratio_fp32_median']:.2f}x",
                ms(r, "gearshift_int8_ms"),
                f"{r['ratio_int8_median']:.2f}x",
                rel(r, "fp32_vs_litert") + exact_rel,
                rel(r, "int8_vs_litert"),
            )
        )
        near_zero = r["fp32_vs_litert"]["near_zero_outputs"]
        if near_zero:
            notes.append(
                f"{r['model']}: output(s) {', '.join(near_zero)} below {DEGENERATE:g} on these "
                "inputs, left out of the rel diff (see the JSON)"
            )
    print(
        f"\nbatch 1, {args.threads} thread(s), median / p90 ms of {args.runs} interleaved runs on "
        f"{cpu_model()} ({platform.machine()}, {os.cpu_count()} cpus); "
        "ratio = gearshift / LiteRT fp32 (XNNPACK) median.\n"
        "gear KiB: compact storage (the default, the one timed), exact in parentheses. "
        "rel diff = max |y - y_LiteRT| / max |y_LiteRT|,\nworst output, over "
        f"{EVAL_SAMPLES} image-like inputs; fp32 of the compact file (weights int8 + 4-bit "
        "residual), of the exact file in parentheses."
    )
    print(table(rows))
    for n in notes:
        print(f"  {n}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", help="comma-separated substrings of model names to keep")
    ap.add_argument(
        "--no-exact", dest="exact", action="store_false", help="skip the exact-storage conversion"
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    paths = mediapipe_models()
    if paths is None:
        print(
            "mediapipe is not installed; its model files are what this benchmarks:\n"
            "    pip install --no-deps mediapipe==0.10.14"
        )
        return 0
    if args.models:
        keep = [s.strip() for s in args.models.split(",") if s.strip()]
        paths = [p for p in paths if any(s in p.stem for s in keep)]
    if not paths:
        print("no model matches --models")
        return 1

    results = []
    tmp = Path(tempfile.mkdtemp(prefix="gs-bench-tflite-"))
    t_start = time.perf_counter()
    for path in paths:
        if path.stem in SKIP:
            results.append(
                {
                    "model": path.stem,
                    "tflite_bytes": path.stat().st_size,
                    "skipped": SKIP[path.stem],
                }
            )
            print(f"{path.stem}: skipped ({SKIP[path.stem]})", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        row = bench_model(path, args, tmp)
        results.append(row)
        status = row.get("error", "ok")
        print(f"{path.stem}: {status} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    print_table(results, args)
    print(f"total {time.perf_counter() - t_start:.0f} s")

    write_results(
        results,
        "",
        args.json
        or Path(__file__).parent
        / "results"
        / f"{time.strftime('%Y-%m-%d')}-{platform.machine()}-tflite.json",
        models_from=f"mediapipe {_mediapipe_version()} (bundled .tflite files)",
        litert=litert_version(),
        inputs=(
            "synthetic image-like: smooth random colour fields (bilinear upsampled uniform noise "
            "at grids 3, 8, 24 weighted 0.5/0.3/0.2, plus N(0, 0.02) pixel noise, clipped to "
            "[0, 1]) mapped to the model's MediaPipe input range; "
            f"{CALIBRATION_SAMPLES} calibrate (seed 0), {EVAL_SAMPLES} evaluate (seed 1), "
            "the first evaluation input is timed"
        ),
        timing=(
            f"batch 1, {args.threads} thread(s), {args.warmup} warm-up + {args.runs} runs, "
            "LiteRT / gearshift fp32 / gearshift int8 interleaved per run; full Python calls "
            "(LiteRT: set_tensor + invoke + get_tensor; gearshift: run(x, out=...))"
        ),
    )
    return 0


def _mediapipe_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mediapipe")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
