"""Soak: many inferences on a small model while another thread switches gears.

A small CNN (conv, depthwise, pooling, dense on 8x8x1 inputs, untrained: its
weights only have to be fixed) is converted with the gears fp32, fp16, int8 and
int4 (or ``--model`` names a ``.gear`` file). The Runtime prepares every gear
(``prepare="all"``), then the main thread runs ``--inferences`` inferences on one
fixed input into one preallocated output while a second thread switches gear
every ``--switch-ms`` milliseconds (round robin). Checked and reported:

- errors: a run that raises, or whose output equals none of the gears' outputs
  computed before the soak (a run completes in the gear it started with, so its
  output must be exactly one of them, bit for bit);
- resident memory (VmRSS) after the warm-up, at the end and its maximum, sampled
  every ``--sample-every`` inferences; the growth is end minus start;
- inferences per second and gear switches made.

    python benchmarks/bench_soak.py [--inferences 1000000] [--switch-ms 1] [--json OUT]

Default 100,000 inferences (a quick run); the JSON goes to
benchmarks/results/soak-<date>-<arch>.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from results_doc import cpu_model, write_results

import gearshift as gs
from gearshift.bench import table

GEARS = ("fp32", "fp16", "int8", "int4")


def rss_mib() -> float:
    """This process's resident memory (VmRSS), in MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_model(path: Path) -> None:
    """The soak model: small, but with every kind of layer a gear changes."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inp)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = layers.Conv2D(24, 1, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    out = layers.Dense(10, activation="softmax")(x)
    calib = np.random.default_rng(1).uniform(0, 1, (64, 8, 8, 1)).astype(np.float32)
    gs.convert(keras.Model(inp, out), path, gears=list(GEARS), calibration=calib, progress=False)


def soak(path: Path, inferences: int, switch_ms: float, sample_every: int) -> dict[str, Any]:
    rt = gs.Runtime(path, prepare="all")
    gears = rt.gears
    spec = rt.inputs[0]
    shape = (1, *spec.shape[1:]) if spec.shape[0] < 0 else spec.shape
    x = np.random.default_rng(2).uniform(0, 1, shape).astype(np.float32)
    # Each gear's output before the soak: a run's output must be exactly one of them.
    reference: dict[bytes, str] = {}
    for g in gears:
        rt.gear = g
        for _ in range(200):  # warm-up: plans, arenas, lazy allocations
            rt.run(x, io="float")
        key = np.ascontiguousarray(rt.run(x, io="float")).tobytes()
        reference[key] = f"{reference[key]}={g}" if key in reference else g  # equal outputs
    out = np.empty_like(rt.run(x, io="float"))
    start_rss = rss_mib()

    stop = threading.Event()
    switches = [0]
    switch_errors: list[str] = []

    def switcher() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                rt.gear = gears[i % len(gears)]
                switches[0] += 1
            except Exception as e:  # counted and reported, never hidden
                switch_errors.append(repr(e))
            time.sleep(switch_ms / 1000)

    thread = threading.Thread(target=switcher, daemon=True)
    errors: list[str] = []
    per_gear = dict.fromkeys(reference.values(), 0)
    samples = [(0, start_rss)]
    thread.start()
    t0 = time.perf_counter()
    for i in range(1, inferences + 1):
        try:
            rt.run(x, out=out, io="float")
            g = reference.get(out.tobytes())
            if g is None:
                errors.append(f"inference {i}: output matches no gear")
            else:
                per_gear[g] += 1
        except Exception as e:
            errors.append(f"inference {i}: {e!r}")
        if i % sample_every == 0:
            samples.append((i, rss_mib()))
    seconds = time.perf_counter() - t0
    stop.set()
    thread.join()
    end_rss = rss_mib()
    samples.append((inferences, end_rss))
    return {
        "model": str(path.name),
        "gears": list(gears),
        "isa": rt.isa,
        "inferences": inferences,
        "seconds": round(seconds, 2),
        "inferences_per_s": round(inferences / seconds, 1),
        "switch_ms": switch_ms,
        "switches": switches[0],
        "runs_per_gear": per_gear,
        "errors": len(errors) + len(switch_errors),
        "first_errors": (errors + switch_errors)[:10],
        "rss_mib": {
            "start": round(start_rss, 2),
            "end": round(end_rss, 2),
            "max": round(max(r for _, r in samples), 2),
            "growth": round(end_rss - start_rss, 2),
        },
        "rss_samples": [[i, round(r, 2)] for i, r in samples],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inferences", type=int, default=100_000)
    ap.add_argument("--switch-ms", type=float, default=1.0, help="gear switch period")
    ap.add_argument("--sample-every", type=int, default=10_000, help="RSS sample period")
    ap.add_argument("--model", type=Path, help="a .gear file instead of the built-in CNN")
    ap.add_argument("--json", type=Path, help="output JSON (default benchmarks/results/)")
    ap.add_argument("--make-model", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = ap.parse_args()
    if args.make_model:
        make_model(args.make_model)
        return 0
    if args.inferences < 1 or args.sample_every < 1 or args.switch_ms <= 0:
        ap.error("--inferences and --sample-every must be >= 1, --switch-ms > 0")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.model
        if path is None:
            # Converted in a child process, so that TensorFlow's memory is not part of
            # the resident memory measured here.
            path = Path(tmp) / "soak_cnn.gear"
            subprocess.run([sys.executable, __file__, "--make-model", str(path)], check=True)
        r = soak(path, args.inferences, args.switch_ms, args.sample_every)
    rss = r["rss_mib"]
    print(f"soak on {cpu_model()}, {r['model']} ({', '.join(r['gears'])}, isa {r['isa']})")
    print(
        table([
            ["inferences", "inf/s", "switches", "errors", "RSS start", "RSS end", "RSS max",
             "growth"],
            [r["inferences"], r["inferences_per_s"], r["switches"], r["errors"],
              f"{rss['start']:.1f} MiB", f"{rss['end']:.1f} MiB", f"{rss['max']:.1f} MiB",
              f"{rss['growth']:+.2f} MiB"],
        ])
    )  # fmt: skip
    for e in r["first_errors"]:
        print("error:", e)
    write_results(r, "soak-", args.json)
    return 1 if r["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
