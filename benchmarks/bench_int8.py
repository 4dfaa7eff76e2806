"""The int8 gear beside LiteRT int8 (and both fp32s), in the same run.

Issue 11 ("make the integer gears the fast gears") is measured here. Cases, all
batch 1:

* single layers, from MobileNetV2: ``conv1x1_56x56x24-144`` (expand 1x1 +
  ReLU6), ``dw3x3_56x56x144`` (depthwise 3x3, stride 1, same + ReLU6),
  ``conv3x3s2_112x112x3-32`` (the stem: 3x3 stride 2 + ReLU6, from a 112x112x3
  input), ``block_56x56x24_t6`` (one inverted-residual block: expand 1x1 to
  144 + BN + ReLU6, depthwise 3x3 + BN + ReLU6, project 1x1 to 24 + BN,
  residual add);
* whole models: ``mnv2-0.35`` and ``mnv2-1.0``, keras.applications.MobileNetV2
  at 224x224x3, ``weights=None``, logits out.

Random weights; every batch norm gets its moving mean and variance from one
training-mode pass (momentum 0) over the calibration batch, so activations
have unit scale as in a trained network and int8 ranges are realistic (Keras's
initial statistics let a random MobileNetV2's activations shrink layer by
layer). Calibration: 32 smooth random images (16 for the single layers) in the
input range of the layer; the timed input is another one.

Each case is converted once (cached, see ``--cache``) to

* one ``.gear`` with the ``fp32`` and ``int8`` gears (``gs.convert``);
* an fp32 ``.tflite`` and a full-integer int8 ``.tflite`` with float input and
  output (TensorFlow's converter, ``TFLITE_BUILTINS_INT8``, the same
  calibration images),

then, for each thread count, gearshift fp32, gearshift int8, LiteRT fp32 and
LiteRT int8 (its default XNNPACK delegate) are timed in alternating rounds:
each round runs every one of the four once, the starting one rotating from
round to round, so that load from other processes falls on all four alike.
Full Python calls are timed (gearshift: ``run(x, out=...)``; LiteRT:
``set_tensor`` + ``invoke`` + ``get_tensor``).

    python benchmarks/bench_int8.py [--threads 1,2] [--runs 50] [--quick]
        [--cases SUBSTR,...] [--budget-s 40] [--cache DIR] [--json OUT]

``--quick``: 10 runs, the single layers and mnv2-0.35 only. Prints a table and
writes JSON (default benchmarks/results/<date>-<arch>-int8.json) with the CPU
model and the ISA path gearshift selected.

``make_mobilenet_v2``, ``make_layer_case`` and ``convert_case`` can be
imported by other scripts (``sys.path`` must hold this folder).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# numpy's OpenBLAS starts worker threads that busy-wait; on a small machine
# they take a core from the runtimes being timed (both alike, but unevenly:
# measured 11 ms vs 6.7 ms for the same 1-thread run). Nothing here uses BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = HERE.parent / "build-bench" / "int8"
GEARS = ("fp32", "int8")
# the names of the four timed variants, in the table's order
VARIANTS = ("gs_fp32", "gs_int8", "litert_fp32", "litert_int8")
CACHE_FORMAT = 2  # bump when what a cache entry holds changes


# ---- inputs and models ---------------------------------------------------------------


def smooth_images(n: int, h: int, w: int, c: int, lo: float, hi: float, seed: int) -> np.ndarray:
    """``n`` smooth random NHWC 'images' in [lo, hi]: noise at three scales,
    bilinearly upsampled (neighbouring pixels correlate, as in photographs and
    feature maps), plus a little pixel noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((n, h, w, c))
    for grid, weight in ((3, 0.5), (8, 0.3), (24, 0.2)):
        g = min(grid, h, w)
        img += weight * _upsample(rng.uniform(0, 1, (n, g, g, c)), h, w)
    img += rng.normal(0, 0.02, img.shape)
    img = np.clip(img, 0.0, 1.0)
    return (lo + (hi - lo) * img).astype(np.float32)


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


def calibrate_batchnorm(model: Any, calib: np.ndarray) -> None:
    """Sets every BatchNormalization's moving mean and variance to the statistics
    of ``calib`` (one training-mode pass with momentum 0)."""
    import keras

    bns = [lyr for lyr in model.layers if isinstance(lyr, keras.layers.BatchNormalization)]
    for lyr in bns:
        lyr.momentum = 0.0
    if bns:
        model(calib, training=True)


def make_mobilenet_v2(
    alpha: float = 1.0, seed: int = 0, size: int = 224, calib: int = 32
) -> tuple[Any, np.ndarray, np.ndarray]:
    """keras.applications.MobileNetV2(alpha, size x size x 3, weights=None), logits
    out, random weights (``seed``), batch-norm statistics set from ``calib``
    smooth random images in [-1, 1]. Returns ``(model, calibration, x)``, ``x``
    one further image (1, size, size, 3)."""
    import keras

    keras.utils.set_random_seed(seed)
    # logits out: with random weights a softmax is flat and would hide differences
    model = keras.applications.MobileNetV2(
        input_shape=(size, size, 3),
        alpha=alpha,
        weights=None,
        classes=1000,
        classifier_activation=None,
    )
    cal = smooth_images(calib, size, size, 3, -1.0, 1.0, seed=seed + 1)
    x = smooth_images(1, size, size, 3, -1.0, 1.0, seed=seed + 2)
    calibrate_batchnorm(model, cal)
    return model, cal, x


# name -> (input h, w, c, input range, builder(inp) -> output)
def _conv1x1(inp: Any) -> Any:
    from keras import layers

    return layers.ReLU(6.0)(layers.Conv2D(144, 1)(inp))


def _dw3x3(inp: Any) -> Any:
    from keras import layers

    return layers.ReLU(6.0)(layers.DepthwiseConv2D(3, padding="same")(inp))


def _conv3x3s2(inp: Any) -> Any:
    from keras import layers

    return layers.ReLU(6.0)(layers.Conv2D(32, 3, strides=2, padding="same")(inp))


def _block(inp: Any, t: int = 6) -> Any:
    """MobileNetV2's inverted residual, stride 1, as keras.applications builds it."""
    from keras import layers

    c = inp.shape[-1]
    x = layers.Conv2D(t * c, 1, use_bias=False)(inp)
    x = layers.BatchNormalization(epsilon=1e-3)(x)
    x = layers.ReLU(6.0)(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(epsilon=1e-3)(x)
    x = layers.ReLU(6.0)(x)
    x = layers.Conv2D(c, 1, use_bias=False)(x)
    x = layers.BatchNormalization(epsilon=1e-3)(x)
    return layers.Add()([inp, x])


LAYER_CASES: dict[str, tuple[tuple[int, int, int], tuple[float, float], Callable[[Any], Any]]] = {
    # the input of an expand 1x1 is a block's linear output: signed
    "conv1x1_56x56x24-144": ((56, 56, 24), (-3.0, 3.0), _conv1x1),
    # the input of a depthwise is a ReLU6 output
    "dw3x3_56x56x144": ((56, 56, 144), (0.0, 6.0), _dw3x3),
    # the stem sees the image in [-1, 1]
    "conv3x3s2_112x112x3-32": ((112, 112, 3), (-1.0, 1.0), _conv3x3s2),
    "block_56x56x24_t6": ((56, 56, 24), (-3.0, 3.0), _block),
}
MODEL_CASES = {"mnv2-0.35": 0.35, "mnv2-1.0": 1.0}


def make_layer_case(
    name: str, seed: int = 0, calib: int = 16
) -> tuple[Any, np.ndarray, np.ndarray]:
    """One of ``LAYER_CASES`` as a Keras model with random weights; batch norms
    (the block's) calibrated from the data. Returns ``(model, calibration, x)``."""
    import keras

    (h, w, c), (lo, hi), build = LAYER_CASES[name]
    keras.utils.set_random_seed(seed)
    inp = keras.Input((h, w, c))
    model = keras.Model(inp, build(inp), name=name.replace("-", "_"))
    cal = smooth_images(calib, h, w, c, lo, hi, seed=seed + 1)
    x = smooth_images(1, h, w, c, lo, hi, seed=seed + 2)
    calibrate_batchnorm(model, cal)
    return model, cal, x


def make_case(name: str, seed: int = 0) -> tuple[Any, np.ndarray, np.ndarray]:
    if name in MODEL_CASES:
        return make_mobilenet_v2(MODEL_CASES[name], seed=seed)
    return make_layer_case(name, seed=seed)


# ---- conversion (cached) -------------------------------------------------------------


def _converter_fingerprint() -> str:
    """A hash of the installed converters' Python sources and the versions that
    shape the files, so a cache entry is remade when the converters change."""
    import tensorflow as tf

    import gearshift as gs
    import gearshift.converters as conv

    h = hashlib.sha256(f"{CACHE_FORMAT} {gs.__version__} {tf.__version__}".encode())
    for root in (Path(conv.__file__).parent, Path(gs.__file__).parent):
        for p in sorted(root.rglob("*.py")):
            h.update(p.name.encode())
            h.update(p.read_bytes())
    h.update(Path(__file__).read_bytes())  # the model recipes
    return h.hexdigest()[:16]


@dataclass
class CaseFiles:
    name: str
    gear: Path
    tflite_fp32: Path
    tflite_int8: Path
    x: np.ndarray
    info: dict[str, Any]


def convert_case(name: str, cache: Path = DEFAULT_CACHE, seed: int = 0) -> CaseFiles:
    """Builds case ``name`` and converts it to .gear (fp32, int8), fp32 .tflite and
    int8 .tflite, or reuses the files of an earlier call with the same arguments
    and the same converters (``cache/<name>-s<seed>-<fingerprint>/``)."""
    d = cache / f"{name}-s{seed}-{_converter_fingerprint()}"
    files = CaseFiles(
        name,
        d / "model.gear",
        d / "model.tflite",
        d / "model_int8.tflite",
        np.empty(0, np.float32),
        {},
    )
    if (d / "case.json").exists():
        files.x = np.load(d / "x.npy")
        files.info = json.loads((d / "case.json").read_text())
        files.info["cached"] = True
        return files

    import tensorflow as tf

    import gearshift as gs

    t0 = time.perf_counter()
    model, cal, x = make_case(name, seed)
    d.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its signatures
        files.tflite_fp32.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())

        def rep():
            for i in range(len(cal)):
                yield [cal[i : i + 1]]

        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        files.tflite_int8.write_bytes(conv.convert())
    # minmax, as TFLite's converter calibrates LiteRT's int8 model: the same
    # ranges, so the int8 outputs are comparable value for value.
    report = gs.convert(
        model,
        files.gear,
        gears=GEARS,
        calibration=cal,
        calibration_method="minmax",
        progress=False,
    )
    y_keras = np.asarray(model(x, training=False))
    np.save(d / "x.npy", x)
    np.save(d / "y_keras.npy", y_keras)
    info = {
        "case": name,
        "seed": seed,
        "params": int(model.count_params()),
        "input_shape": list(x.shape),
        "calibration_samples": len(cal),
        "files": {
            p.name: p.stat().st_size for p in (files.gear, files.tflite_fp32, files.tflite_int8)
        },
        "report_max_rel_error": {g.name: g.max_rel_error for g in report.gears},
        "y_keras_std": float(y_keras.std()),
        "convert_s": time.perf_counter() - t0,
        "tensorflow": tf.__version__,
    }
    (d / "case.json").write_text(json.dumps(info, indent=2) + "\n")
    files.x = x
    files.info = {**info, "cached": False}
    return files


# ---- timing --------------------------------------------------------------------------


class LiteRT:
    def __init__(self, path: Path, threads: int) -> None:
        from gearshift.converters.litert_runner import interpreter_class

        Interpreter = interpreter_class()  # ai-edge-litert first
        if Interpreter is None:
            raise ImportError("no TFLite interpreter: pip install ai-edge-litert")
        self.it = Interpreter(model_path=os.fspath(path), num_threads=threads)
        self.it.allocate_tensors()
        self.inp = self.it.get_input_details()[0]["index"]
        self.out = self.it.get_output_details()[0]["index"]

    def run(self, x: np.ndarray) -> np.ndarray:
        self.it.set_tensor(self.inp, x)
        self.it.invoke()
        return self.it.get_tensor(self.out)


def time_rounds(
    fns: dict[str, Callable[[], Any]], runs: int, warmup: int, budget_s: float, min_runs: int
) -> tuple[dict[str, list[float]], int]:
    """Times every callable once per round, the first of a round rotating; ``runs``
    rounds, fewer (not under ``min_runs``) when the warm-up says they would take
    more than ``budget_s``. Returns the samples (ms) and the rounds made."""
    keys = list(fns)
    t0 = time.perf_counter()
    for _ in range(warmup):
        for k in keys:
            fns[k]()
    per_round = (time.perf_counter() - t0) / max(warmup, 1)
    rounds = max(min_runs, min(runs, int(budget_s / max(per_round, 1e-9))))
    samples: dict[str, list[float]] = {k: [] for k in keys}
    for r in range(rounds):
        for i in range(len(keys)):
            k = keys[(r + i) % len(keys)]
            t = time.perf_counter()
            fns[k]()
            samples[k].append((time.perf_counter() - t) * 1e3)
    return samples, rounds


def time_blocks(
    fns: dict[str, Callable[[], Any]], runs: int, warmup: int, blocks: int = 6
) -> tuple[dict[str, list[float]], int]:
    """Times each callable in contiguous blocks (``warmup`` untimed runs, then
    ``runs // blocks`` timed ones), the order of the callables rotating from block
    to block. With several threads on a small machine, alternating single runs
    let one runtime's spinning workers slow the next runtime's run; blocks keep
    each runtime's pool to itself. Returns the samples (ms) and the runs per callable."""
    keys = list(fns)
    per_block = max(1, runs // blocks)
    samples: dict[str, list[float]] = {k: [] for k in keys}
    for b in range(blocks):
        for i in range(len(keys)):
            k = keys[(b + i) % len(keys)]
            for _ in range(warmup):
                fns[k]()
            for _ in range(per_block):
                t = time.perf_counter()
                fns[k]()
                samples[k].append((time.perf_counter() - t) * 1e3)
    return samples, per_block * blocks


def rel_diff(y: np.ndarray, ref: np.ndarray) -> float:
    top = float(np.abs(ref).max())
    return float(np.abs(y - ref).max()) / top if top > 0 else float("nan")


def bench_case(files: CaseFiles, threads: int, args: argparse.Namespace) -> dict[str, Any]:
    import gearshift as gs
    from gearshift.bench import percentiles

    x = files.x
    gears = {g: gs.Runtime(files.gear, gear=g, threads=threads) for g in GEARS}
    outs = {g: rt.run(x) for g, rt in gears.items()}  # prepares the gear; the out= buffers
    lrt = {
        "fp32": LiteRT(files.tflite_fp32, threads),
        "int8": LiteRT(files.tflite_int8, threads),
    }
    y_lrt = {g: lrt[g].run(x).copy() for g in GEARS}
    fns: dict[str, Callable[[], Any]] = {
        "gs_fp32": lambda: gears["fp32"].run(x, out=outs["fp32"]),
        "gs_int8": lambda: gears["int8"].run(x, out=outs["int8"]),
        "litert_fp32": lambda: lrt["fp32"].run(x),
        "litert_int8": lambda: lrt["int8"].run(x),
    }
    if args.schedule == "blocks":
        samples, rounds = time_blocks(fns, args.runs, args.warmup)
    else:
        samples, rounds = time_rounds(fns, args.runs, args.warmup, args.budget_s, args.min_runs)
    row: dict[str, Any] = {
        "case": files.name,
        "threads": threads,
        "runs": rounds,
        "schedule": args.schedule,
    }
    for k in VARIANTS:
        row[f"{k}_ms"] = percentiles(samples[k])
    med = {k: row[f"{k}_ms"]["median"] for k in VARIANTS}
    row["ratio_gs_int8_vs_litert_int8"] = med["gs_int8"] / med["litert_int8"]
    row["ratio_gs_int8_vs_gs_fp32"] = med["gs_int8"] / med["gs_fp32"]
    row["ratio_gs_fp32_vs_litert_fp32"] = med["gs_fp32"] / med["litert_fp32"]
    row["ratio_litert_int8_vs_litert_fp32"] = med["litert_int8"] / med["litert_fp32"]
    # sanity: each gear against LiteRT's file of the same precision (same input)
    row["rel_diff_gs_fp32_vs_litert_fp32"] = rel_diff(gears["fp32"].run(x), y_lrt["fp32"])
    row["rel_diff_gs_int8_vs_litert_int8"] = rel_diff(gears["int8"].run(x), y_lrt["int8"])
    row["rel_diff_litert_int8_vs_litert_fp32"] = rel_diff(y_lrt["int8"], y_lrt["fp32"])
    row["arena_bytes"] = {g: rt.arena_bytes for g, rt in gears.items()}
    return row


# ---- report --------------------------------------------------------------------------


def source_revision() -> dict[str, Any]:
    """The git HEAD (and whether runtime_cpp/ has uncommitted changes) of the
    checkout the measured gearshift was installed from, where that is a checkout
    (an editable install); else of the checkout holding this script."""
    import gearshift as gs

    out: dict[str, Any] = {"gearshift_module": str(Path(gs.__file__).parent)}
    for where, d in (("installed", Path(gs.__file__).parent), ("script", HERE)):
        try:
            head = subprocess.run(
                ["git", "-C", str(d), "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(d), "status", "--porcelain", "--", ":/runtime_cpp"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            continue
        out.update(git_head=head, runtime_cpp_dirty=bool(dirty), git_of=where)
        break
    return out


def print_table(results: list[dict[str, Any]], header: str) -> None:
    from gearshift.bench import table

    rows = [
        (
            "case",
            "thr",
            "runs",
            "gs fp32 ms",
            "gs int8 ms",
            "LiteRT fp32 ms",
            "LiteRT int8 ms",
            "gs int8 / LiteRT int8",
            "gs int8 / gs fp32",
            "int8 rel diff",
        )
    ]
    for r in results:
        if "error" in r:
            rows.append(
                (
                    r["case"],
                    str(r.get("threads", "-")),
                    "-",
                    r["error"][:60],
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                )
            )
            continue
        rows.append(
            (
                r["case"],
                str(r["threads"]),
                str(r["runs"]),
                *(f"{r[f'{k}_ms']['median']:.3f}" for k in VARIANTS),
                f"{r['ratio_gs_int8_vs_litert_int8']:.2f}x",
                f"{r['ratio_gs_int8_vs_gs_fp32']:.2f}x",
                f"{r['rel_diff_gs_int8_vs_litert_int8']:.1e}",
            )
        )
    print(header)
    print(table(rows))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--runs", type=int, default=50, help="rounds per case and thread count")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--min-runs", type=int, default=10)
    ap.add_argument(
        "--budget-s",
        type=float,
        default=40.0,
        help="fewer rounds (not under --min-runs) where --runs would take longer",
    )
    ap.add_argument(
        "--quick", action="store_true", help="10 runs; the single layers and mnv2-0.35 only"
    )
    ap.add_argument("--cases", help="comma-separated substrings of case names to keep")
    ap.add_argument(
        "--schedule",
        choices=("rounds", "blocks"),
        default="rounds",
        help="rounds: one run of each runtime per round, alternating (the default); blocks: "
        "each runtime in contiguous blocks, the order rotating (fairer to thread pools on a "
        "machine with few cores)",
    )
    ap.add_argument(
        "--cache",
        type=Path,
        default=DEFAULT_CACHE,
        help=f"converted models (default {DEFAULT_CACHE})",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    cases = [*LAYER_CASES, *MODEL_CASES]
    if args.quick:
        args.runs = min(args.runs, 10)
        args.min_runs = min(args.min_runs, args.runs)
        cases = [c for c in cases if c != "mnv2-1.0"]
    if args.cases:
        keep = [s.strip() for s in args.cases.split(",") if s.strip()]
        cases = [c for c in cases if any(s in c for s in keep)]
    if not cases:
        print("no case matches --cases")
        return 1

    from results_doc import cpu_model, litert_version, write_results

    import gearshift as gs

    info = gs.runtime_info()
    cpu = cpu_model()
    isa = info.get("isa_selected")
    isa_text = ", ".join(f"{k}={v}" for k, v in isa.items()) if isinstance(isa, dict) else str(isa)
    print(
        f"CPU: {cpu} ({platform.machine()}, {os.cpu_count()} cpus); gearshift "
        f"{gs.__version__}, ISA selected: {isa_text} "
        f"(detected {', '.join(info.get('isa_detected', ()))})",
        file=sys.stderr,
    )
    t_start = time.perf_counter()
    results: list[dict[str, Any]] = []
    case_info: dict[str, Any] = {}
    for name in cases:
        t0 = time.perf_counter()
        try:
            files = convert_case(name, args.cache, args.seed)
        except Exception as e:  # keep going with the other cases
            results.append({"case": name, "error": f"convert: {type(e).__name__}: {e}"})
            print(f"{name}: convert failed: {e}", file=sys.stderr)
            continue
        case_info[name] = files.info
        dt = time.perf_counter() - t0
        src = "cached" if files.info.get("cached") else f"converted in {dt:.0f} s"
        for t in threads:
            t1 = time.perf_counter()
            try:
                row = bench_case(files, t, args)
            except Exception as e:
                row = {"case": name, "threads": t, "error": f"run: {type(e).__name__}: {e}"}
            results.append(row)
            print(
                f"{name} threads={t}: {row.get('error', 'ok')} ({src}; "
                f"timed in {time.perf_counter() - t1:.0f} s)",
                file=sys.stderr,
            )
    header = (
        "\nbatch 1, median ms of "
        + ("alternating rounds (runs = rounds)" if args.schedule == "rounds" else "blocks")
        + f" on {cpu} "
        f"({platform.machine()}, {os.cpu_count()} cpus), gearshift {gs.__version__} ISA "
        f"{isa_text}, LiteRT {litert_version()} (XNNPACK).\nint8 rel diff = max|y_gs_int8 - "
        "y_LiteRT_int8| / max|y_LiteRT_int8| on the timed input."
    )
    print_table(results, header)
    print(f"total {time.perf_counter() - t_start:.0f} s")

    write_results(
        results,
        "",
        args.json
        or HERE / "results" / f"{time.strftime('%Y-%m-%d')}-{platform.machine()}-int8.json",
        cpu_model=cpu,
        isa_selected=isa,
        source=source_revision(),
        litert=litert_version(),
        cases=case_info,
        timing=(
            f"batch 1, threads {threads}, {args.warmup} warm-up rounds, up to {args.runs} rounds "
            f"(at least {args.min_runs}, fewer where they would take over {args.budget_s} s); "
            "each round runs gearshift fp32, gearshift int8, LiteRT fp32, LiteRT int8 once, the "
            "first rotating; full Python calls (gearshift: run(x, out=...); LiteRT: set_tensor "
            "+ invoke + get_tensor, default XNNPACK delegate)"
            if args.schedule == "rounds"
            else f"batch 1, threads {threads}, 6 blocks per runtime of {args.runs // 6} timed "
            f"runs after {args.warmup} warm-up runs, the runtimes' order rotating per block; "
            "full Python calls as in rounds"
        ),
        models=(
            "random weights (seed), batch norms set from one training-mode pass (momentum 0) "
            "over the calibration images; MobileNetV2: keras.applications, 224x224x3, "
            "weights=None, logits out, 32 smooth random calibration images in [-1, 1]; single "
            "layers: 16 smooth random calibration inputs in the layer's input range"
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
