"""Bytes of a ``.gear`` file by part, JSON parameters (format 1.5) against binary (1.6).

For each model: convert it (the writer's default, format 1.6: per-channel
scales, zero points and activation parameters in the PARAMS section), rewrite
the same file with those values as JSON arrays (``repack(..., binary=False)``:
what 1.5 wrote) and report, for both forms, the file size, the manifest, the
PARAMS section and the tensor data, and the time to open the file in the C++
runtime (``gs.Runtime``, int8 gear prepared) and in the pure-Python reader
(``read_gear``), median of ``--runs``. Both forms must give bit-identical int8
outputs (checked).

Models: the MobileNetV2-style digits model of ``bench_train.py --model
mobilenet`` (untrained: sizes do not depend on training; calibrated on random
images), with an int8 gear only and with fp32 + int8, and the MediaPipe
``.tflite`` models bundled in the ``mediapipe`` package with fp32 + int8 gears
as bench_tflite_models.py converts them (``--models SUBSTR,...`` picks some;
the default is two).

    python benchmarks/bench_file_size.py [--runs 5] [--models face_detection,palm]
        [--json OUT]

Prints a table and writes JSON (default
benchmarks/results/<date>-<arch>-file-size.json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from bench_tflite_models import image_like, input_range, mediapipe_models
from results_doc import cpu_model, write_results

import gearshift as gs
from gearshift.converters.write_gear import repack
from gearshift.gear_format import SECTION_MANIFEST, SECTION_PARAMS, read_gear

DEFAULT_MODELS = "face_detection_short_range,palm_detection_lite"


def parts(path: Path) -> dict[str, int]:
    gf = read_gear(path)
    size = {s.kind: s.size for s in gf.sections}
    return {
        "file": path.stat().st_size,
        "manifest": size.get(SECTION_MANIFEST, 0),
        "params": size.get(SECTION_PARAMS, 0),
        "data": sum(s.size for s in gf.sections if s.kind == 2),
        "minor": gf.version[1],
    }


def open_ms(path: Path, runs: int) -> dict[str, float]:
    cpp, py = [], []
    for _ in range(runs):
        t = time.perf_counter()
        gs.Runtime(str(path), gear="int8", threads=1)
        cpp.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        read_gear(path)
        py.append((time.perf_counter() - t) * 1e3)
    return {"cpp_open_ms": statistics.median(cpp), "python_read_ms": statistics.median(py)}


def _arrays(y: Any) -> list[np.ndarray]:
    if isinstance(y, dict):
        return list(y.values())
    return list(y) if isinstance(y, (list, tuple)) else [y]


def measure(name: str, binary: Path, x: np.ndarray, runs: int) -> dict[str, Any]:
    json_form = binary.with_name(binary.stem + "-json.gear")
    repack(binary, json_form, binary=False)
    ya = gs.Runtime(str(binary), gear="int8").run(x)
    yb = gs.Runtime(str(json_form), gear="int8").run(x)
    for a, b in zip(_arrays(ya), _arrays(yb)):
        if not np.array_equal(a, b):
            raise SystemExit(f"{name}: the two forms give different int8 outputs")
    row: dict[str, Any] = {"model": name}
    for form, path in (("json", json_form), ("binary", binary)):
        row[form] = {**parts(path), **open_ms(path, runs)}
    return row


def mobilenet_file(tmp: Path, gears: tuple[str, ...]) -> tuple[Path, np.ndarray]:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_train import mobilenet, params

    model = mobilenet()
    rng = np.random.default_rng(0)
    cal = rng.uniform(0, 1, (32, 28, 28, 1)).astype(np.float32)
    out = tmp / f"mobilenet-{'-'.join(gears)}.gear"
    gs.convert(model, out, gears=gears, calibration=cal, progress=False)
    print(f"mobilenet: {params(model)} trainable weights")
    return out, cal[:4]


def tflite_file(src: Path, tmp: Path) -> tuple[Path, np.ndarray]:
    """``src`` converted as bench_tflite_models.py converts it (compact storage, fp32 and
    int8 gears, 32 image-like calibration samples in the model's input range)."""
    from bench_tflite_models import CALIBRATION_SAMPLES, GEARS, LiteRT

    shape = tuple(int(d) for d in LiteRT(src, 1).inp["shape"][1:])
    lo, hi = input_range(src.stem)
    cal = image_like(CALIBRATION_SAMPLES, shape, lo, hi, seed=0)
    out = tmp / f"{src.stem}.gear"
    gs.convert(src, out, gears=GEARS, calibration=cal, progress=False)
    return out, image_like(2, shape, lo, hi, seed=1)


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'model':32s} {'form':6s} {'ver':>4s} {'file B':>10s} {'manifest B':>11s} "
        f"{'params B':>9s} {'data B':>10s} {'C++ open ms':>11s} {'py read ms':>10s}"
    )
    print(head)
    for r in rows:
        for form in ("json", "binary"):
            p = r[form]
            print(
                f"{r['model'][:32]:32s} {form:6s} {'1.' + str(p['minor']):>4s} {p['file']:>10d} "
                f"{p['manifest']:>11d} {p['params']:>9d} {p['data']:>10d} "
                f"{p['cpp_open_ms']:>11.2f} {p['python_read_ms']:>10.2f}"
            )
    print(f"CPU: {cpu_model()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="opens per file and form (median)")
    ap.add_argument("--models", default=DEFAULT_MODELS, help="MediaPipe model name substrings")
    ap.add_argument("--no-mobilenet", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not args.no_mobilenet:
            for gears in (("int8",), ("fp32", "int8")):
                path, x = mobilenet_file(tmp, gears)
                rows.append(measure(f"mobilenet {'+'.join(gears)}", path, x, args.runs))
        wanted = [m for m in args.models.split(",") if m]
        found = mediapipe_models() or []
        if wanted and not found:
            print("mediapipe is not installed: its models are skipped", file=sys.stderr)
        for src in found:
            if any(w in src.stem for w in wanted):
                path, x = tflite_file(src, tmp)
                rows.append(measure(src.stem, path, x, args.runs))
    print_table(rows)
    default = (
        Path(__file__).parent
        / "results"
        / (f"{dt.date.today().isoformat()}-{platform.machine()}-file-size.json")
    )
    write_results(rows, "", args.json or default, kind="file-size")
    return 0


if __name__ == "__main__":
    sys.exit(main())
