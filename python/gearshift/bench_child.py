"""One runtime's load time and peak memory, measured in a fresh process.

``gearshift bench`` starts ``python -m gearshift.bench_child SPEC_JSON`` once
per runtime (and gear): a process that has loaded nothing else, so that its
peak resident set (``VmHWM`` in ``/proc/self/status``) is that runtime's
alone, plus the Python interpreter and numpy it needs anyway (reported as
``base_rss_bytes``, measured after the imports, before the model loads). The
parent's own ``ru_maxrss`` would count every runtime it has ever loaded.

Prints one JSON line: ``load_ms`` (model load to the end of the first
inference), ``import_ms``, ``peak_rss_bytes``, ``base_rss_bytes``, the
runtime's own ``arena_bytes``/``prepared_bytes`` where it reports them, and
``gear`` (the precision the runtime ran); or ``{"error": ...}`` and exit 1.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any


def proc_status_bytes(field: str) -> int | None:
    """``VmHWM``/``VmRSS`` of this process from /proc (Linux), in bytes; None elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_bytes() -> int:
    """This process's peak resident set: VmHWM, else ru_maxrss (macOS: bytes, else KiB)."""
    hwm = proc_status_bytes("VmHWM")
    if hwm is not None:
        return hwm
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def probe(spec: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    import numpy as np

    from gearshift.peers import make_contestant

    rng = np.random.default_rng(int(spec.get("seed", 0)))
    xs = [rng.standard_normal(tuple(s)).astype(np.float32) for s in spec["shapes"]]
    if spec["runtime"] == "litert":  # the peer's own import is part of its start-up cost
        import ai_edge_litert.interpreter  # noqa: F401
    elif spec["runtime"] == "tflite-runtime":
        import tflite_runtime.interpreter  # noqa: F401
    elif spec["runtime"] == "onnxruntime":
        import onnxruntime  # noqa: F401
    base = proc_status_bytes("VmRSS")
    t1 = time.perf_counter()
    c = make_contestant(
        spec["runtime"],
        spec["model"],
        spec.get("gear"),
        int(spec["threads"]),
        xs,
        spec.get("input_names", []),
        spec.get("output_names", []),
    )  # loads and runs once
    t2 = time.perf_counter()
    for _ in range(int(spec.get("runs", 2))):  # reach the steady state's footprint
        c.run()
    return {
        "runtime": c.runtime,
        "gear": c.gear,
        "load_ms": (t2 - t1) * 1e3,
        "import_ms": (t1 - t0) * 1e3,
        "peak_rss_bytes": peak_rss_bytes(),
        "base_rss_bytes": base,
        **c.memory(),
    }


def main(argv: list[str]) -> int:
    try:
        print(json.dumps(probe(json.loads(argv[1]))))
        return 0
    except Exception as e:  # reported by the parent as this runtime's memory_error
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
