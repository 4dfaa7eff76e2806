"""Time of ``gearshift inspect`` on ``.gear`` files: ``read_gear`` and ``describe``.

``read_gear`` validates the file through the C++ reader (``_core.validate_gear``,
what ``gs.Runtime`` runs at open) and decodes it; ``describe`` is what
``gearshift inspect`` prints (read_gear plus per-entry statistics). Median and
minimum of ``--runs`` after one warm-up, in one process; plus ``gs.Runtime``'s
open (lazy, nothing prepared) for scale.

    python benchmarks/bench_inspect.py FILE.gear [FILE.gear ...] [--runs 7]
        [--label after] [--json OUT]

Run it with another checkout's ``gearshift`` on ``PYTHONPATH`` to compare two
versions of the reader on the same files (``--label`` names the row set).
Prints a table and writes JSON (default
benchmarks/results/<date>-<arch>-inspect-<label>.json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

from results_doc import cpu_model, write_results

import gearshift as gs
from gearshift.describe import describe
from gearshift.gear_format import read_gear


def _times_ms(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    fn()  # warm-up: page cache, imports
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ts), min(ts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--label", default="current")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    rows = []
    for f in args.files:
        row: dict[str, Any] = {"file": str(f), "bytes": f.stat().st_size}
        for key, fn in (
            ("read_gear", lambda f=f: read_gear(f)),
            ("describe", lambda f=f: describe(f)),
            ("runtime_open", lambda f=f: gs.Runtime(f)),
        ):
            med, best = _times_ms(fn, args.runs)
            row[f"{key}_ms"], row[f"{key}_min_ms"] = round(med, 2), round(best, 2)
        rows.append(row)
    print(f"gearshift from {Path(gs.__file__).parent} ({args.label}); {cpu_model()}")
    print(f"{'file':<60} {'bytes':>11} {'read_gear ms':>13} {'inspect ms':>11} {'Runtime ms':>11}")
    for r in rows:
        name = "/".join(Path(r["file"]).parts[-2:])[-60:]
        print(
            f"{name:<60} {r['bytes']:>11,} {r['read_gear_ms']:>13.1f} "
            f"{r['describe_ms']:>11.1f} {r['runtime_open_ms']:>11.1f}"
        )
    default = (
        Path(__file__).parent
        / "results"
        / f"{dt.date.today().isoformat()}-{platform.machine()}-inspect-{args.label}.json"
    )
    write_results(
        rows,
        "",
        args.json or default,
        kind="inspect",
        label=args.label,
        runs=args.runs,
        package=str(Path(gs.__file__).parent),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
