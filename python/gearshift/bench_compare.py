"""The benchmark harness behind ``gearshift bench``: gears and peer runtimes side by side.

:func:`run_bench` loads every contestant (each chosen gear of the ``.gear``
file in gearshift, and the model's source ``.tflite``/``.onnx`` in each
installed peer) on the same inputs with the same thread count, then times
them in alternating rounds (a block of runs each, round after round), so that
whatever else the machine does falls on all of them alike. Load time and
peak memory come from a fresh child process per contestant
(:mod:`gearshift.bench_child`); accuracy or output error from
``validation=(x, y)``; with ``duration_s`` the rounds go on for that long and
a timeline (latency per contestant, temperature, throttling, CPU clock) is
sampled along the way.

The result is the versioned document of docs/BENCH.md (schema file
``gearshift/schemas/bench.schema.json``): ``results`` holds one object per
runtime and gear; ``gears`` the gearshift ones by gear name, as older
readers (``gearshift simulate --bench``) expect.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import subprocess
import sys
import time
import warnings
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gearshift.bench import dominated_gears, percentiles, random_inputs
from gearshift.peers import PEERS, Contestant, make_contestant, peer_unavailable
from gearshift.progress import Progress

SCHEMA_VERSION = 1
SCHEMA_ID = "gearshift-bench"
HISTOGRAM_BINS = 40
PROFILE_RUNS = 2000  # per-node times kept from at most this many runs per gear (memory)
TIMELINE_POINTS = 300  # a --duration run samples about this many points, whatever its length

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*$")
_UNIT_S = {"ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """``30s``, ``10m``, ``1h``, ``1.5m`` or a plain number of seconds -> seconds (> 0)."""
    m = _DURATION.match(str(text))
    if not m or float(m.group(1)) <= 0:
        raise ValueError(
            f"expected a duration such as 30s, 10m or 1h (a number > 0 and a unit s, m or h), "
            f"got {text!r}"
        )
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def schema_path() -> Path:
    """The JSON Schema of the document :func:`run_bench` returns."""
    return Path(__file__).parent / "schemas" / "bench.schema.json"


def load_schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


# -- sources -------------------------------------------------------------------------
def gear_metadata(path: str) -> dict[str, str]:
    from gearshift.gear_format import read_gear

    return dict(read_gear(path, verify_checksums=False).manifest.get("metadata", {}))


def peer_models(
    path: str, tflite: str | None, onnx: str | None
) -> tuple[str | None, str | None, list[str]]:
    """The ``.tflite`` and ``.onnx`` the peers run, and notes on how they were found.

    ``tflite`` wins; else the source the file remembers from its conversion
    (metadata ``gearshift.source_tflite``, see docs/FORMAT.md), if that file
    still exists. ``onnx`` wins; else ``SRC.onnx`` beside the ``.tflite``.
    """
    notes: list[str] = []
    for given, kind in ((tflite, ".tflite"), (onnx, ".onnx")):
        if given is not None and not os.path.isfile(given):
            raise FileNotFoundError(f"no such {kind} model: {given}")
    if tflite is None:
        remembered = gear_metadata(path).get("gearshift.source_tflite")
        if remembered and os.path.isfile(remembered):
            tflite = remembered
            notes.append(f"peers run {remembered} (the source {path} was converted from)")
        elif remembered:
            notes.append(f"{path} was converted from {remembered}, which no longer exists")
    if onnx is None and tflite is not None:
        beside = os.path.splitext(tflite)[0] + ".onnx"
        onnx = beside if os.path.isfile(beside) else None
    return tflite, onnx, notes


# -- validation ----------------------------------------------------------------------
def load_validation(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``x`` (inputs, batch first) and ``y`` (labels, or reference outputs) from an .npz."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such validation file: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not {"x", "y"} <= set(data.keys()):
                raise ValueError(
                    f"validation file {path} must hold arrays 'x' and 'y', found {sorted(data)}"
                )
            x, y = data["x"], data["y"]
    except (OSError, ValueError, AttributeError) as e:
        if isinstance(e, ValueError) and "must hold" in str(e):
            raise
        raise ValueError(f"cannot read validation file {path} (expected an .npz): {e}") from e
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"validation file {path}: x and y need the same number (> 0) of samples, "
            f"got {len(x)} and {len(y)}"
        )
    return x.astype(np.float32), y


def is_labels(y: np.ndarray) -> bool:
    """Class labels (one whole number per sample, or one-hot rows) rather than
    reference outputs."""
    if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
        return y.dtype.kind in "iub" or bool(np.all(np.mod(y, 1) == 0))
    onehot = y.ndim == 2 and np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)
    return bool(onehot)


def score(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """``accuracy`` against labels (argmax of the outputs; one output unit: > 0.5),
    else the error against reference outputs: ``max_abs_error``,
    ``mean_abs_error`` and ``max_rel_error`` (max |d| / max |reference|)."""
    pred = np.asarray(pred, dtype=np.float64)
    if is_labels(y):
        labels = y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1)
        flat = pred.reshape(len(pred), -1)
        guess = flat.argmax(axis=1) if flat.shape[1] > 1 else (flat[:, 0] > 0.5).astype(int)
        return {"accuracy": float(np.mean(guess == labels.astype(np.int64)))}
    ref = np.asarray(y, dtype=np.float64)
    if ref.size != pred.size:
        raise ValueError(
            f"validation y: expected labels (one per sample) or reference outputs of shape "
            f"{tuple(pred.shape)}, got shape {tuple(y.shape)}"
        )
    d = np.abs(pred.reshape(ref.shape) - ref)
    top = float(np.abs(ref).max())
    return {
        "max_abs_error": float(d.max()),
        "mean_abs_error": float(d.mean()),
        "max_rel_error": float(d.max()) / top if top > 0 else float(d.max()),
    }


def validate(c: Contestant, x: np.ndarray, batch: int) -> np.ndarray:
    """The first output of ``c`` for every sample of ``x``, ``batch`` at a time."""
    parts = [c.predict([x[i : i + batch]])[0] for i in range(0, len(x), batch)]
    return np.concatenate(parts)


# -- machine state over time ---------------------------------------------------------
def cpu_mhz(root: str = "/sys") -> float | None:
    """cpu0's current clock, MHz, where cpufreq is readable (a VM usually has none)."""
    try:
        with open(f"{root}/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq") as f:
            return int(f.read().strip()) / 1e3
    except (OSError, ValueError):
        return None


def read_quietly(source: Any) -> dict[str, Any]:
    """Temperature and throttling now; a missing or unreadable file is simply unknown."""
    if source is None:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return source.read().to_dict()


# -- memory and load time in fresh processes ----------------------------------------
def probe_in_child(spec: dict[str, Any], timeout_s: float = 300.0) -> dict[str, Any]:
    """:mod:`gearshift.bench_child` in a fresh interpreter; an ``error`` key if it failed."""
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    # the child imports this very gearshift, wherever it was imported from
    pkg_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([pkg_root, *filter(None, [env.get("PYTHONPATH")])])
    try:
        p = subprocess.run(
            [sys.executable, "-m", "gearshift.bench_child", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"the probe took over {timeout_s:.0f} s"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = (p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1]
        return {"error": f"the probe process failed: {tail}"}
    return json.loads(lines[-1])


# -- timing --------------------------------------------------------------------------
def time_rounds(
    contestants: Sequence[Contestant],
    runs: int,
    warmup: int,
    block: int,
    duration_s: float | None = None,
    power: Any = None,
    thermal: Any = None,
    profile: bool = False,
) -> dict[str, Any]:
    """Times every contestant in alternating rounds of ``block`` runs each.

    Without ``duration_s``: until each has ``runs`` samples. With it: round
    after round until that many seconds have passed, sampling a timeline point
    (each contestant's median over the interval, temperature, throttling, CPU
    clock) about every ``duration_s / TIMELINE_POINTS`` seconds. ``power`` is
    read before and after each block: each contestant's watts are the mean of
    the readings around its own blocks.
    """
    for _ in range(warmup):
        for c in contestants:
            c.run()
    # 8 bytes a sample: a --duration 1h run of a 50 us model keeps 72M of them
    samples: dict[str, array] = {c.key: array("d") for c in contestants}
    watts: dict[str, list[float]] = {c.key: [] for c in contestants}
    nodes: dict[str, list[list[tuple[str, str, float]]]] = {c.key: [] for c in contestants}
    # gearshift's own clock (rt.last_latency_ms: the runtime, not the Python call):
    # what the shifter measures, so what its cost table is refreshed from
    inner: dict[str, array] = {c.key: array("d") for c in contestants if c.runtime == "gearshift"}
    timeline: list[dict[str, Any]] = []
    interval = (duration_s or 0) / TIMELINE_POINTS
    start = time.perf_counter()
    mark = start
    window: dict[str, list[float]] = {c.key: [] for c in contestants}

    def power_now() -> float | None:
        return read_quietly(power).get("power_w") if power is not None else None

    total = math.ceil(duration_s) if duration_s else runs
    with Progress(total, "benchmarking") as bar:
        done = 0
        while True:
            for c in contestants:
                n = block if duration_s else min(block, runs - len(samples[c.key]))
                before = power_now()
                for _ in range(n):
                    t0 = time.perf_counter()
                    c.run()
                    ms = (time.perf_counter() - t0) * 1e3
                    samples[c.key].append(ms)
                    window[c.key].append(ms)
                    if c.key in inner:
                        inner[c.key].append(c.rt.last_latency_ms)  # type: ignore[attr-defined]
                    if profile and c.runtime == "gearshift" and len(nodes[c.key]) < PROFILE_RUNS:
                        nodes[c.key].append(c.rt.last_profile)  # type: ignore[attr-defined]
                after = power_now()
                watts[c.key].extend(w for w in (before, after) if w is not None)
            now = time.perf_counter()
            if duration_s:
                if now - mark >= interval or now - start >= duration_s:
                    state = read_quietly(thermal)
                    timeline.append(
                        {
                            "t_s": now - start,
                            "latency_ms": {k: float(np.median(v)) for k, v in window.items() if v},
                            "temp_c": state.get("temp_c"),
                            "throttled": state.get("throttled"),
                            "cpu_mhz": cpu_mhz(),
                        }
                    )
                    window = {k: [] for k in window}
                    mark = now
                bar.update(int(now - start) - done)
                done = int(now - start)
                if now - start >= duration_s:
                    break
            else:
                n_done = min(len(s) for s in samples.values())
                bar.update(n_done - done)
                done = n_done
                if n_done >= runs:
                    break
    return {
        "samples": {k: np.asarray(v) for k, v in samples.items()},
        "watts": watts,
        "nodes": nodes,
        "inner": {k: np.asarray(v) for k, v in inner.items()},
        "timeline": timeline,
    }


class _Call(Contestant):
    """Any callable as a contestant (the benchmarks/ scripts time their own calls)."""

    def __init__(self, key: str, fn: Callable[[], Any]) -> None:
        self.runtime, self.gear, self._fn = key, "", fn

    @property
    def key(self) -> str:
        return self.runtime

    def run(self) -> None:
        self._fn()


def time_interleaved(
    fns: dict[str, Callable[[], Any]], runs: int, warmup: int
) -> dict[str, list[float]]:
    """Times each callable ``runs`` times, round robin (one run each per round),
    after ``warmup`` rounds: milliseconds by name."""
    calls = [_Call(k, fn) for k, fn in fns.items()]
    return {k: v.tolist() for k, v in time_rounds(calls, runs, warmup, block=1)["samples"].items()}


def histogram(samples: Sequence[float], bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
    """Counts over ``bins`` log-spaced bins from the fastest to the slowest sample
    (latencies have a long tail: equal-width bins would put nearly all of them in
    the first). Small enough to keep in the JSON of a long run; the report's
    histogram is drawn from it."""
    a = np.asarray(samples, dtype=np.float64)
    lo = max(float(a.min()), 1e-9)
    hi = max(float(a.max()), lo * (1 + 1e-6))
    counts, _ = np.histogram(np.clip(a, lo, hi), bins=np.geomspace(lo, hi, bins + 1))
    return {"min_ms": lo, "max_ms": hi, "spacing": "log", "counts": [int(c) for c in counts]}


# -- the whole run -------------------------------------------------------------------
def run_bench(
    path: str,
    gears: Sequence[str] | None = None,
    threads: int = 1,
    runs: int = 50,
    warmup: int = 5,
    batch: int = 1,
    power: Any = None,
    profile: bool = False,
    compare: Sequence[str] = (),
    tflite: str | None = None,
    onnx: str | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    duration_s: float | None = None,
    memory: bool = True,
    thermal: Any = None,
    block: int | None = None,
) -> dict[str, Any]:
    """Benchmarks the gears of ``path`` and, with ``compare``, the peers on its source model.

    Returns the document of docs/BENCH.md. ``memory=False`` skips the child
    processes (no ``load_ms``/``peak_rss_bytes``: null). ``thermal``: a
    ``gearshift.power`` source read for the timeline (default ``power``, else
    ``gearshift.power.auto()``).
    """
    from gearshift import costs
    from gearshift.describe import describe
    from gearshift.runtime import Runtime

    path = os.fspath(path)
    rt = Runtime(path, threads=threads)
    chosen = list(rt.gears) if not gears else list(gears)
    unknown = [g for g in chosen if g not in rt.gears]
    if unknown:
        raise ValueError(f"unknown gear(s) {unknown}; {path} carries {list(rt.gears)}")
    bad = [p for p in compare if p not in PEERS]
    if bad:
        raise ValueError(f"unknown runtime(s) {bad} for --compare; expected some of {list(PEERS)}")
    xs = random_inputs(rt, batch)
    in_names = [s.name for s in rt.inputs]
    out_names = [s.name for s in rt.outputs]
    if validation is not None and len(rt.inputs) != 1:
        raise ValueError(
            f"--validation needs a one-input model; {path} has {len(rt.inputs)} inputs"
        )
    file_bytes = os.path.getsize(path)
    weight_bytes = {g["name"]: g["weight_bytes"] for g in describe(path)["gears"]}

    skipped: list[dict[str, str]] = []
    notes: list[str] = []
    peer_files: dict[str, str] = {}
    if compare:
        tfl, onx, notes = peer_models(path, tflite, onnx)
        for peer in compare:
            why = peer_unavailable(peer, tfl, onx)
            if why:
                skipped.append({"runtime": peer, "reason": why})
            else:
                peer_files[peer] = onx if peer == "onnxruntime" else tfl  # type: ignore[assignment]

    contestants: list[Contestant] = []
    for g in chosen:
        contestants.append(make_contestant("gearshift", path, g, threads, xs, in_names, out_names))
    for peer, model in peer_files.items():
        try:
            contestants.append(make_contestant(peer, model, None, threads, xs, in_names, out_names))
        except Exception as e:  # a peer that cannot load this model is a note, not an error
            why = f"cannot run {model}: {type(e).__name__}: {e}"
            skipped.append({"runtime": peer, "reason": why})
    for c in contestants:
        if c.runtime == "gearshift":
            c.rt.profiling = profile  # type: ignore[attr-defined]
    if thermal is None:
        from gearshift import power as power_mod

        thermal = power if power is not None else power_mod.auto()

    if block is None:  # short blocks alternate often; a few runs each keep power reads rare
        block = 1 if power is None else max(1, min(10, runs // 10))
    timed = time_rounds(contestants, runs, warmup, block, duration_s, power, thermal, profile)

    results: list[dict[str, Any]] = []
    for c in contestants:
        s = timed["samples"][c.key]
        lat = percentiles(s)
        r: dict[str, Any] = {
            "runtime": c.runtime,
            "gear": c.gear,
            "threads": threads,
            "host": "local",
            "model": os.fspath(c.model_path),
            "latency_ms": lat,
            "runs": len(s),
            "load_ms": None,
            "peak_rss_bytes": None,
            "file_bytes": os.path.getsize(c.model_path),
            **c.memory(),
            "histogram_ms": histogram(s),
        }
        if c.runtime == "gearshift":
            r["weight_bytes"] = weight_bytes.get(c.gear)
            r["runtime_latency_ms"] = percentiles(timed["inner"][c.key])
        w = timed["watts"][c.key]
        if w:
            r["power_w"] = float(np.mean(w))
            r["joules_per_inference"] = r["power_w"] * lat["median"] / 1e3
        if profile and c.runtime == "gearshift":
            from gearshift.bench import summarize_profile

            r["profile"] = summarize_profile(timed["nodes"][c.key], lat["median"])
        results.append(r)

    if validation is not None:
        x, y = validation
        # gearshift takes any batch where the model's batch axis is free; peers one at a time
        chunk = 64 if rt.inputs[0].shape[:1] == (-1,) else 1
        for c, r in zip(contestants, results):
            r.update(score(validate(c, x, chunk if c.runtime == "gearshift" else 1), y))

    if memory:
        with Progress(len(contestants), "load time and memory") as bar:
            for c, r in zip(contestants, results):
                spec = {
                    "runtime": c.runtime,
                    "model": c.model_path,
                    "gear": c.gear,
                    "threads": threads,
                    "shapes": [list(x.shape) for x in xs],
                    "input_names": in_names,
                    "output_names": out_names,
                }
                got = probe_in_child(spec)
                if "error" in got:
                    r["memory_error"] = got["error"]
                else:
                    for k in ("load_ms", "import_ms", "peak_rss_bytes", "base_rss_bytes"):
                        r[k] = got.get(k)
                bar.update()

    gs_results = {r["gear"]: r for r in results if r["runtime"] == "gearshift"}
    order = [g for g in rt.gears if g in gs_results]  # precision order
    top = gs_results[order[0]]  # the most precise gear benchmarked
    for r in results:
        if r["runtime"] != "gearshift":
            base = gs_results.get(r["gear"], top)
            r["ratio_to_gearshift"] = r["latency_ms"]["median"] / base["latency_ms"]["median"]
            r["ratio_base_gear"] = base["gear"]

    medians = {g: gs_results[g]["runtime_latency_ms"]["median"] for g in order}
    joules = {
        g: gs_results[g]["joules_per_inference"]
        for g in order
        if "joules_per_inference" in gs_results[g]
    }
    costs.store(rt.path, rt.threads, rt.isa, medians, joules)  # the shifter's cost table
    for g, by in dominated_gears(order, medians).items():
        gs_results[g]["dominated_by"] = by

    doc: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "tool": f"gearshift {_version()} (python)",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "file": path,
        "file_bytes": file_bytes,
        "batch": batch,
        "threads": threads,
        "warmup": warmup,
        "duration_s": duration_s,
        "machine": machine(),
        "results": results,
        "skipped": skipped,
        "notes": notes,
        "gears": {g: gs_results[g] for g in order},
    }
    if validation is not None:
        kind = "labels" if "accuracy" in results[0] else "reference outputs"
        doc["validation"] = {"samples": len(validation[0]), "kind": kind}
    if duration_s:
        doc["timeline"] = timed["timeline"]
    return doc


def machine() -> dict[str, Any]:
    from gearshift.costs import cpu_model

    return {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
    }


def _version() -> str:
    import gearshift

    return gearshift.__version__
