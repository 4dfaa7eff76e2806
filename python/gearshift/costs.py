"""Each gear's measured cost on this machine: what the shifter decides by.

``Runtime.gear_costs`` measures every gear of a file once (a short probe on
random inputs of the model's input shapes: one warm-up run, then ``runs``
timed runs, the median kept) and caches the table in a user cache folder, per
file content, CPU, thread count, ISA path and gearshift version, so the next
process on the same board starts with it. The shifter seeds its predictions
from the cache, and a shifter's own probe refreshes it.

The folder: ``$GEARSHIFT_CACHE_DIR``, else ``$XDG_CACHE_HOME/gearshift``, else
``~/.cache/gearshift``. A cache file that cannot be read or does not match its
key is ignored with a warning and measured again; nothing in it is trusted
beyond finite positive latencies for gears the file carries.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import tempfile
import warnings
from pathlib import Path
from typing import Any

FORMAT = 1


def cache_dir() -> Path:
    env = os.environ.get("GEARSHIFT_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "gearshift"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the platform's processor string."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_key(path: str, threads: int, isa: str) -> dict[str, Any]:
    from . import __version__

    return {
        "format": FORMAT,
        "file_sha256": _file_digest(path),
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "threads": int(threads),
        "isa": isa,
        "gearshift": __version__,
    }


def _cache_file(key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return cache_dir() / f"costs-{digest}.json"


def _read(key: dict[str, Any], warn: bool = True) -> dict[str, Any] | None:
    """The cache document for ``key``, or None (missing; damaged or not matching its
    key: with a warning)."""
    file = _cache_file(key)
    if not file.exists():
        return None
    try:
        doc = json.loads(file.read_text())
        if not isinstance(doc, dict) or doc.get("key") != key:
            raise ValueError("its key does not match this file, CPU and thread count")
        if not isinstance(doc.get("latency_ms"), dict):
            raise ValueError("it has no latency_ms table")
        return doc
    except (OSError, ValueError) as e:
        if warn:
            warnings.warn(
                f"gearshift: ignoring the cost cache {file} ({e}); measuring again",
                RuntimeWarning,
                stacklevel=4,
            )
        return None


def _positive(doc: dict[str, Any] | None, field: str, gears: tuple[str, ...]) -> dict[str, float]:
    """The finite positive numbers of ``doc[field]`` for ``gears``; nothing else is trusted."""
    values = doc.get(field) if doc else None
    if not isinstance(values, dict):
        return {}
    return {
        g: float(v)
        for g, v in values.items()
        if g in gears and isinstance(v, (int, float)) and math.isfinite(v) and v > 0
    }


def load(path: str, threads: int, isa: str, gears: tuple[str, ...]) -> dict[str, float] | None:
    """The cached latency (ms) per gear, or None when nothing valid is cached."""
    return _positive(_read(cache_key(path, threads, isa)), "latency_ms", gears) or None


def _write(
    key: dict[str, Any],
    old: dict[str, Any] | None,
    latency_ms: dict[str, float],
    joules_per_inference: dict[str, float] | None,
) -> None:
    """Merges the new values into ``old`` (a document for ``key``, or None) and
    writes it atomically; a cache that cannot be written is skipped."""
    file = _cache_file(key)
    merged = dict(old.get("latency_ms", {})) if old else {}
    joules = dict(old.get("joules_per_inference", {})) if old else {}
    merged.update({g: float(ms) for g, ms in latency_ms.items() if ms > 0})
    joules.update({g: float(j) for g, j in (joules_per_inference or {}).items() if j > 0})
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".costs-", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(
                {"key": key, "latency_ms": merged, "joules_per_inference": joules}, f, indent=1
            )
        os.replace(tmp, file)
    except OSError as e:
        warnings.warn(
            f"gearshift: cannot write the cost cache in {file.parent} ({e})",
            RuntimeWarning,
            stacklevel=3,
        )


def store(
    path: str,
    threads: int,
    isa: str,
    latency_ms: dict[str, float],
    joules_per_inference: dict[str, float] | None = None,
) -> None:
    """Writes (merges) the table atomically; a cache that cannot be written is skipped."""
    key = cache_key(path, threads, isa)
    _write(key, _read(key, warn=False), latency_ms, joules_per_inference)


def measure(rt: Any, x: Any = None, runs: int = 5) -> dict[str, float]:
    """Median latency (ms) of each gear of ``rt`` on ``x`` (default: random inputs)."""
    from .bench import random_inputs

    if x is None:
        xs = random_inputs(rt, 1)
        x = xs[0] if len(xs) == 1 else xs
    start = rt.gear
    out: dict[str, float] = {}
    try:
        for g in rt.gears:
            rt.gear = g
            rt.run(x)  # warm-up: prepares the gear
            samples = []
            for _ in range(max(1, runs)):
                rt.run(x)
                samples.append(float(rt.last_latency_ms))
            samples.sort()
            out[g] = samples[len(samples) // 2]
    finally:
        rt.gear = start
    return out


def gear_costs(rt: Any, runs: int = 5) -> dict[str, dict[str, Any]]:
    """``Runtime.gear_costs``: per gear ``latency_ms``, ``joules_per_inference`` where
    ``gearshift bench`` measured watts, and, where a more precise gear is at most 5%
    slower, ``dominated_by`` (the shifter never takes that gear here)."""
    from .bench import dominated_gears

    gears = tuple(rt.gears)
    key = cache_key(rt.path, rt.threads, rt.isa)  # hashes the file: once per call
    doc = _read(key)
    cached = _positive(doc, "latency_ms", gears)
    if any(g not in cached for g in gears):
        cached = {**cached, **measure(rt, runs=runs)}
        _write(key, doc, cached, None)
    dominated = dominated_gears(list(gears), cached)
    joules = _positive(doc, "joules_per_inference", gears)
    table: dict[str, dict[str, Any]] = {}
    for g in rt.gears:
        table[g] = {"latency_ms": cached[g]}
        if g in joules:
            table[g]["joules_per_inference"] = joules[g]
        if g in dominated:
            table[g]["dominated_by"] = dominated[g]
    return table
