"""The JSON every benchmark writes: date, machine, versions, then its own results.

Imported by the scripts in this folder (run as ``python benchmarks/NAME.py``,
so this folder is on ``sys.path``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import gearshift as gs


def cpu_model() -> str:
    """The CPU's model name as the OS reports it (every published number names it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def litert_version() -> str:
    """``ai-edge-litert X.Y.Z``, or ``unknown`` when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"ai-edge-litert {version('ai-edge-litert')}"
    except PackageNotFoundError:
        return "unknown"


def write_results(results: Any, prefix: str, out: Path | None = None, **extra: Any) -> Path:
    """Writes ``{date, machine, gearshift, runtime_info, **extra, results}`` as JSON.

    Default path: ``benchmarks/results/<prefix><date>-<arch>.json``.
    """
    doc = {
        "date": dt.date.today().isoformat(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpu_model": cpu_model(),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
        },
        "gearshift": gs.__version__,
        "runtime_info": gs.runtime_info(),
        **extra,
        "results": results,
    }
    path = out or Path(__file__).parent / "results" / (
        f"{prefix}{doc['date']}-{platform.machine()}.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {path}")
    return path
