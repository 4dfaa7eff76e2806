"""The ``gearshift`` command line: convert, inspect, run, bench, simulate.

Exit status: 0 on success, 1 on an error (one ``error: ...`` line on stderr,
no traceback), 2 on a usage error (argparse).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gearshift.converters.calibrate import (
    CALIBRATORS,
    DEFAULT_INPUT_PERCENTILE,
    DEFAULT_METHOD,
)
from gearshift.errors import FormatError


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


def _split_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


# -- convert -------------------------------------------------------------------
def _load_calibration(path: str | None) -> Any:
    if path is None:
        return None
    p = Path(path)
    if not p.exists():
        raise CliError(f"calibration file not found: {path}")
    try:
        data = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise CliError(f"cannot read calibration file {path}: {e}") from e
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            keys = list(data.keys())
            if not keys:
                raise CliError(f"calibration file {path} holds no arrays")
            if len(keys) == 1:
                return data[keys[0]]
            return {k: data[k] for k in keys}
    return data


def _load_validation(path: str | None) -> Any:
    """``--validation FILE.npz`` holding arrays ``x`` (inputs) and ``y`` (labels)."""
    if path is None:
        return None
    data = _load_calibration(path)
    if not isinstance(data, dict) or not {"x", "y"} <= set(data):
        raise CliError(f"validation file {path} must be an .npz with arrays 'x' and 'y'")
    return data["x"], data["y"]


def cmd_convert(args: argparse.Namespace) -> int:
    import gearshift as gs

    src = args.src
    if not os.path.exists(src):
        raise CliError(f"no such model: {src}")
    prune = None
    if args.prune is not None:
        prune = gs.Prune(
            sparsity=args.prune,
            method=args.prune_method,
            scope=args.prune_scope,
            include_first_last=args.prune_first_last,
            norm=args.prune_norm,
        )
    report = gs.convert(
        src,
        args.output,
        gears=tuple(_split_list(args.gears)) if args.gears else None,
        calibration=_load_calibration(args.calibration),
        prune=prune,
        storage=args.storage,
        calibration_method=args.calibration_method,
        validation=_load_validation(args.validation),
        float_layers=(
            None
            if not args.float_layers
            else args.float_layers
            if args.float_layers in ("auto", "heads", "heads+auto", "tail")
            else _split_list(args.float_layers)
        ),
        float_budget=args.float_budget,
        bias_correction=args.bias_correction_mode if args.bias_correction else False,
        binary_params=not args.json_params,
        weight_rounding=args.weight_rounding,
        int4_int8_layers=(
            args.int4_int8_layers
            if args.int4_int8_layers in ("first", "depthwise", "auto")
            else _split_list(args.int4_int8_layers)
        ),
        int4_int8_budget=args.int4_int8_budget,
        int8_weight_rounding=args.int8_weight_rounding,
    )
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    print(report)
    print(f"wrote {args.output}")
    return 0


# -- inspect ---------------------------------------------------------------------
def cmd_inspect(args: argparse.Namespace) -> int:
    if str(args.file).lower().endswith(".tflite"):
        from gearshift.describe_tflite import describe_tflite, format_tflite_description

        desc = describe_tflite(args.file)
        print(json.dumps(desc, indent=2) if args.json else format_tflite_description(desc))
        if not desc["importable"]:
            raise CliError(f"gearshift cannot convert {args.file}: {desc['error']}")
        return 0

    from gearshift.describe import describe, format_description

    desc = describe(args.file)
    if args.costs:
        import gearshift as gs

        desc["gear_costs"] = gs.Runtime(args.file, threads=args.threads).gear_costs
    if args.json:
        print(json.dumps(desc, indent=2))
    else:
        print(format_description(desc))
        if args.costs:
            print(format_costs(desc["gear_costs"], args.threads))
    return 0


def _simulated_costs(rt: Any, bench: str | None) -> str:
    """The cost table the simulation decided by: the --bench file's medians, or
    what the shifter's probe measured here (the cost cache)."""
    from gearshift import costs
    from gearshift.bench import dominated_gears

    if bench:
        doc = json.loads(Path(bench).read_text())
        table = {g: v["latency_ms"]["median"] for g, v in doc.get("gears", {}).items()}
        where = f"from {bench}"
    else:
        table = costs.load(rt.path, rt.threads, rt.isa, tuple(rt.gears)) or {}
        where = "measured here"
    dominated = dominated_gears(list(rt.gears), table)
    parts = [
        f"{g} {table[g]:.3g} ms" + (f" (dominated by {dominated[g]})" if g in dominated else "")
        for g in rt.gears
        if g in table
    ]
    return f"cost table ({where}): " + (", ".join(parts) if parts else "none")


def format_costs(costs: dict[str, dict[str, Any]], threads: int) -> str:
    """The cost table of rt.gear_costs, with the gears the shifter skips here."""
    from gearshift.bench import table
    from gearshift.costs import cpu_model

    rows = [("gear", "median ms", "on this machine")]
    for g, c in costs.items():
        note = f"dominated by {c['dominated_by']}: skipped" if "dominated_by" in c else ""
        rows.append((g, f"{c['latency_ms']:.3f}", note))
    return f"\nmeasured costs ({cpu_model()}, {threads} thread(s); cached):\n" + table(rows)


# -- run -------------------------------------------------------------------------
def _load_inputs(path: str) -> Any:
    p = Path(path)
    if not p.exists():
        raise CliError(f"input file not found: {path}")
    try:
        data = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise CliError(f"cannot read input file {path} (expected .npy or .npz): {e}") from e
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            return {k: data[k] for k in data}
    return data


def cmd_run(args: argparse.Namespace) -> int:
    import gearshift as gs

    rt = gs.Runtime(args.file, gear=args.gear, threads=args.threads)
    x = _load_inputs(args.input)
    if isinstance(x, dict) and len(rt.inputs) == 1 and len(x) == 1:
        x = next(iter(x.values()))
    y = rt.run(x)
    outputs = y if isinstance(y, dict) else {rt.outputs[0].name: y}
    if args.output:
        if args.output.endswith(".npz"):
            np.savez(args.output, **outputs)
        elif len(outputs) == 1:
            np.save(args.output, next(iter(outputs.values())))
        else:
            raise CliError("the model has several outputs: give --output a .npz path")
    print(f"gear {rt.gear}: {rt.last_latency_ms:.3f} ms")
    for name, arr in outputs.items():
        flat = arr.reshape(-1)
        head = np.array2string(flat[:8], precision=5, separator=", ")
        print(f"  {name}: shape {tuple(arr.shape)} {head}{' ...' if flat.size > 8 else ''}")
    if args.output:
        print(f"wrote {args.output}")
    return 0


# -- bench -------------------------------------------------------------------------
def _power_source(spec: str) -> Any:
    """``--power``: none, auto (what this machine has), or a sysfs root for a fake tree."""
    if spec == "none":
        return None
    import gearshift as gs

    return gs.power.auto() if spec == "auto" else gs.power.auto(root=spec)


def cmd_bench(args: argparse.Namespace) -> int:
    from gearshift.bench_compare import parse_duration

    if not os.path.isfile(args.file):
        raise CliError(f"no such .gear file: {args.file}")
    gears = None if args.gears in (None, "all") else _split_list(args.gears)
    compare = [] if not args.compare else _split_list(args.compare)
    duration = parse_duration(args.duration) if args.duration else None
    doc = _bench_hosts(args) if args.host else _bench_here(args, gears, compare, duration)
    _write_bench(doc, args)
    return 0


def _bench_hosts(args: argparse.Namespace) -> dict[str, Any]:
    """--host: the same benchmark on each board over SSH, in parallel; one document."""
    from gearshift.remote import RemoteError, bench_fleet, build_dir

    common = ["--threads", str(args.threads), "--runs", str(args.runs)]
    common += ["--warmup", str(args.warmup), "--batch", str(args.batch)]
    common += ["--gears", args.gears] if args.gears else []
    common += ["--profile"] if args.profile else []
    py = list(common)  # gearshift bench on a board with Python takes the rest too
    py += ["--compare", args.compare] if args.compare else []
    py += ["--duration", args.duration] if args.duration else []
    py += ["--power", args.power]
    extra = []  # files the board needs besides the model, copied beside it
    if args.validation:
        extra.append(args.validation)
        py += ["--validation", Path(args.validation).name]
    if args.compare:
        from gearshift.bench_compare import peer_models

        for path, flag in zip(
            peer_models(args.file, args.tflite, args.onnx)[:2], ("--tflite", "--onnx")
        ):
            if path:
                extra.append(path)
                py += [flag, Path(path).name]
    try:
        return bench_fleet(
            args.host, args.file, build_dir(args.board, args.build), py, common, extra
        )
    except RemoteError as e:
        raise CliError(str(e)) from None


def _bench_here(
    args: argparse.Namespace, gears: Any, compare: list[str], duration: float | None
) -> dict[str, Any]:
    from gearshift.bench_compare import load_validation, run_bench

    return run_bench(
        args.file,
        gears=gears,
        threads=args.threads,
        runs=args.runs,
        warmup=args.warmup,
        batch=args.batch,
        power=_power_source(args.power),
        profile=args.profile,
        compare=compare,
        tflite=args.tflite,
        onnx=args.onnx,
        validation=load_validation(args.validation) if args.validation else None,
        duration_s=duration,
    )


def _write_bench(doc: dict[str, Any], args: argparse.Namespace) -> None:
    from gearshift.bench import format_profile
    from gearshift.bench_report import format_results, write_csv

    print(format_results(doc))
    if args.profile:
        print(format_profile(doc))
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.csv:
        write_csv(doc, args.csv)
        print(f"wrote {args.csv}")
    if args.html:
        from gearshift.bench_report import write_html

        write_html(doc, args.html)
        print(f"wrote {args.html}")


def cmd_deploy(args: argparse.Namespace) -> int:
    from gearshift.remote import RemoteError, build_dir, deploy, parse_host

    build = build_dir(args.board, args.build)
    for f in args.files:
        if not os.path.isfile(f):
            raise CliError(f"no such file: {f}")
    if build is None and not args.files:
        raise CliError("nothing to copy: give --board NAME or --build DIR, and/or files")
    for h in args.host:
        try:
            written = deploy(parse_host(h), build, args.files, args.remote_dir)
        except RemoteError as e:
            raise CliError(str(e)) from None
        print(f"{h}: copied {len(written)} file(s) to {posixpath_dir(written)}")
    return 0


def posixpath_dir(paths: list[str]) -> str:
    import posixpath

    return posixpath.commonpath(paths) if paths else "-"


# -- simulate ----------------------------------------------------------------------
def _report_accuracy(path: str | None) -> dict[str, float] | None:
    """Per-gear accuracy from a ``gearshift convert --json`` report."""
    if path is None:
        return None
    try:
        doc = json.loads(Path(path).read_text())
        return {g["name"]: g["accuracy"] for g in doc["gears"] if g.get("accuracy") is not None}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CliError(f"cannot read accuracies from {path} (a convert --json report): {e}") from e


def cmd_simulate(args: argparse.Namespace) -> int:
    import gearshift as gs
    from gearshift.simulate import format_timeline, plot_timeline, simulate, to_json

    if not Path(args.trace).exists():
        raise CliError(f"trace file not found: {args.trace}")
    x = None
    if args.input:
        x = _load_inputs(args.input)
        if isinstance(x, dict) and len(x) == 1:
            x = next(iter(x.values()))
    extra = {}
    if args.bench:
        if not Path(args.bench).exists():
            raise CliError(f"benchmark file not found: {args.bench}")
        extra["benchmark"] = args.bench
    rows = simulate(
        args.file,
        args.trace,
        args.latency_budget_ms,
        x=x,
        accuracy=_report_accuracy(args.report),
        threads=args.threads,
        **extra,
    )
    rt = gs.Runtime(args.file, threads=args.threads)
    gears = rt.gears
    print(format_timeline(rows, gears))
    print(_simulated_costs(rt, args.bench))
    if args.json:
        Path(args.json).write_text(json.dumps(to_json(rows), indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        plot_timeline(rows, gears, args.plot)
        print(f"wrote {args.plot}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import gearshift as gs

    print(json.dumps(gs.runtime_info(), indent=2))
    return 0


# -- boards ------------------------------------------------------------------------
def cmd_boards(args: argparse.Namespace) -> int:
    from gearshift.boards import list_boards, load_board

    if args.name:
        b = load_board(args.name)
        if args.json:
            print(json.dumps(b.to_dict(), indent=2))
            return 0
        for k, v in b.to_dict().items():
            if isinstance(v, list):
                v = (
                    ", ".join(str(x) for x in v)
                    if k != "sources"
                    else "".join(f"\n    {x}" for x in v)
                )
            print(f"{k:24} {'' if v is None else v}")
        return 0
    boards = [load_board(n) for n in list_boards()]
    if args.json:
        print(json.dumps([b.to_dict() for b in boards], indent=2))
        return 0
    rows = [("NAME", "ARCH", "CPU", "ISA", "THREADS", "PYTHON", "CUDA")]
    for b in boards:
        py = b.python or "host"
        rows.append(
            (
                b.name,
                b.arch,
                b.cpu,
                ",".join(b.isa) or "(detected)",
                str(b.threads or "all"),
                py if b.python_supported else f"{py} (<3.9)",
                b.cuda_arch or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


# -- build -----------------------------------------------------------------------
def cmd_build(args: argparse.Namespace) -> int:
    from gearshift.build import build

    build(
        args.board,
        args.output,
        jobs=args.jobs,
        wheel=not args.no_wheel,
        source=args.source,
        python_root=args.python_root,
        sysroot=args.sysroot,
    )
    return 0


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {v}")
    return v


def _sparsity(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"sparsity must be in [0, 1), got {v}")
    return v


def _build_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--board",
        help="with --host: copy gearshift build --board NAME's output (dist-NAME) to the board",
    )
    p.add_argument("--build", metavar="DIR", help="with --host: a gearshift build output to copy")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gearshift",
        description="Convert models to .gear files and run them on small boards.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    c = sub.add_parser("convert", help="convert a Keras model to a .gear file")
    c.add_argument("src", help="model: .keras, .h5, SavedModel folder, or .tflite")
    c.add_argument("-o", "--output", required=True, help="output .gear path")
    c.add_argument(
        "--gears",
        help="comma-separated: fp32,fp16,int8,int4 (default: fp32,fp16, plus int8,int4 with "
        "--calibration or an int8 .tflite)",
    )
    c.add_argument("--calibration", help="representative inputs, .npy or .npz")
    c.add_argument(
        "--calibration-method",
        default=DEFAULT_METHOD,
        choices=list(CALIBRATORS),
        help=f"how int8 ranges are chosen (default: {DEFAULT_METHOD}: the "
        f"{DEFAULT_INPUT_PERCENTILE:g}th percentile of the per-input maxima and the "
        f"{100 - DEFAULT_INPUT_PERCENTILE:g}th of the minima, so that no single input sets a "
        "range; "
        "minmax: the extremes over all inputs; moving_minmax: ai-edge-quantizer's moving "
        "average of per-input extremes; percentile, mse, entropy: from histograms)",
    )
    c.add_argument(
        "--validation", metavar="FILE.npz", help="arrays x and y: report accuracy per gear"
    )
    c.add_argument(
        "--float-layers",
        metavar="auto|heads|heads+auto|tail|NAME,...",
        help="layers the int8/int4 gears compute in float32 (float islands), or auto: the "
        "ones whose int8 error hurts the outputs most, measured on the calibration data; "
        "tail: the heads and every node after a measured cut",
    )
    c.add_argument(
        "--float-budget",
        type=float,
        default=4,
        metavar="N",
        help="--float-layers auto: at most N layers, or (N < 1) that share of the weights; "
        "tail: that many weighted layers besides the heads",
    )
    c.add_argument(
        "--bias-correction",
        action="store_true",
        help="subtract from each layer's int32 bias the mean error the integer gear adds to "
        "its output, measured on the calibration data",
    )
    c.add_argument(
        "--bias-correction-mode",
        choices=["sequential", "weights"],
        default="sequential",
        help="--bias-correction: measure with the gear's own upstream outputs (sequential, "
        "the default) or the weight error alone on float inputs (weights)",
    )
    c.add_argument(
        "--weight-rounding",
        choices=["nearest", "mse", "gptq"],
        default="nearest",
        help="how the int4 gear's weights are rounded: nearest (the q4m view of the int8 "
        "weights, no extra bytes), mse (per-block multiplier search weighted by the inputs' "
        "second moments) or gptq (error compensation across each layer's inputs); mse and "
        "gptq store the int4 weights on their own (one byte a weight)",
    )
    c.add_argument(
        "--int4-int8-layers",
        default="first",
        metavar="first|depthwise|auto|NAME,...",
        help="layers the int4 gear keeps at int8: first (those reading a graph input), "
        "depthwise (and every depthwise layer: no memory cost), auto (and the layers whose "
        "4-bit weights cost the outputs most, measured on the calibration data) or names "
        "added to the first",
    )
    c.add_argument(
        "--int8-weight-rounding",
        choices=["nearest", "gptq"],
        default="nearest",
        help="how the int8 gear's weights are rounded: nearest, or gptq (error compensation "
        "across each layer's inputs on the int8 grid; compact files then keep those weights' "
        "float storage as float32)",
    )
    c.add_argument(
        "--int4-int8-budget",
        type=float,
        default=0.25,
        metavar="N",
        help="--int4-int8-layers auto: at most N layers, or (N < 1) that share of the 4-bit "
        "weights",
    )
    c.add_argument(
        "--json-params",
        action="store_true",
        help="write per-channel quantization parameters as JSON (format 1.5: loads on older "
        "runtimes, larger file) instead of binary (format 1.6)",
    )
    c.add_argument("--prune", type=_sparsity, metavar="SPARSITY")
    c.add_argument("--prune-method", default="magnitude", choices=["magnitude", "2:4", "channel"])
    c.add_argument(
        "--prune-scope",
        choices=["global", "layer"],
        help="one threshold over all layers or the same fraction per layer "
        "(default: global for magnitude, layer for channel)",
    )
    c.add_argument(
        "--prune-first-last", action="store_true", help="also prune the first and last layers"
    )
    c.add_argument(
        "--prune-norm", default="l1", choices=["l1", "l2"], help="channel importance norm"
    )
    c.add_argument("--storage", default="compact", choices=["compact", "exact"])
    c.add_argument("--json", metavar="OUT.json", help="also write the report as JSON")
    c.set_defaults(func=cmd_convert)

    i = sub.add_parser(
        "inspect",
        help="show graph, gears, storage and sizes of a .gear file; for a .tflite, the ops "
        "it needs and whether gearshift supports them",
    )
    i.add_argument("file")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.add_argument(
        "--costs",
        action="store_true",
        help="each gear's latency measured on this machine (cached) and the gears the "
        "shifter skips here because a more precise gear is as fast",
    )
    i.add_argument("--threads", type=_positive_int, default=1, help="threads for --costs")
    i.set_defaults(func=cmd_inspect)

    r = sub.add_parser("run", help="run a .gear file on inputs from a .npy/.npz file")
    r.add_argument("file")
    r.add_argument("--input", required=True, help="X.npy (or .npz by input name)")
    r.add_argument("--gear", help="gear to run (default: the most precise)")
    r.add_argument("--output", help="write outputs to Y.npy (or .npz)")
    r.add_argument("--threads", type=_positive_int, default=1)
    r.set_defaults(func=cmd_run)

    b = sub.add_parser("bench", help="measure latency and memory per gear")
    b.add_argument("file")
    b.add_argument("--gears", default="all", help="comma-separated gears or 'all'")
    b.add_argument("--threads", type=_positive_int, default=1)
    b.add_argument("--runs", type=_positive_int, default=50)
    b.add_argument("--warmup", type=_nonneg_int, default=5)
    b.add_argument("--batch", type=_positive_int, default=1)
    b.add_argument("--json", metavar="OUT.json", help="write results as JSON")
    b.add_argument(
        "--profile",
        action="store_true",
        help="time every node too; print time per op type and the slowest nodes",
    )
    b.add_argument(
        "--power",
        default="auto",
        help="power source for joules per inference: auto (default), none, or a sysfs root",
    )
    b.add_argument(
        "--compare",
        metavar="RUNTIMES",
        help="also run the source model in these runtimes, in alternating rounds: "
        "litert,tflite-runtime,onnxruntime (those not installed are skipped with a note)",
    )
    b.add_argument(
        "--tflite",
        metavar="SRC.tflite",
        help="the model the peers run (default: the .tflite the file was converted from)",
    )
    b.add_argument(
        "--onnx",
        metavar="SRC.onnx",
        help="the model onnxruntime runs (default: the .onnx beside the .tflite)",
    )
    b.add_argument(
        "--validation",
        metavar="XY.npz",
        help="arrays x and y: accuracy per gear and runtime (y labels) or error (y outputs)",
    )
    b.add_argument(
        "--duration",
        metavar="TIME",
        help="run for this long (30s, 10m, 1h) instead of --runs: sustained speed, with a "
        "timeline of latency, temperature and throttling",
    )
    b.add_argument("--csv", metavar="OUT.csv", help="write one row per runtime and gear")
    b.add_argument(
        "--html",
        metavar="OUT.html",
        help="write a self-contained report with plots (needs matplotlib: gearshift[plot])",
    )
    b.add_argument(
        "--host",
        action="append",
        metavar="USER@HOST[:PORT]",
        help="benchmark on this board over SSH instead of here; repeat for a fleet, run in "
        "parallel into one report (needs paramiko: gearshift[remote])",
    )
    _build_args(b)
    b.set_defaults(func=cmd_bench)

    dp = sub.add_parser("deploy", help="copy a board build and files to boards over SSH")
    dp.add_argument("files", nargs="*", help="files to copy too (models, inputs)")
    dp.add_argument(
        "--host", action="append", required=True, metavar="USER@HOST[:PORT]", help="repeatable"
    )
    _build_args(dp)
    dp.add_argument(
        "--remote-dir",
        default="gearshift",
        help="where on the board: under the login's home unless absolute (default: gearshift)",
    )
    dp.set_defaults(func=cmd_deploy)

    sm = sub.add_parser(
        "simulate", help="play a battery/temperature trace against a model, in trace time"
    )
    sm.add_argument("file")
    sm.add_argument("--trace", required=True, help="CSV: time_s,charge_pct,charging,temp_c")
    sm.add_argument("--latency-budget-ms", type=float, help="latency budget per inference")
    sm.add_argument("--input", help="X.npy to run (default: random data of the input shape)")
    sm.add_argument("--report", help="convert --json report: shows each gear's accuracy")
    sm.add_argument("--threads", type=_positive_int, default=1)
    sm.add_argument(
        "--bench",
        metavar="BENCH.json",
        help="gearshift bench --json output: each gear's latency (e.g. measured on the board) "
        "instead of a probe on this machine",
    )
    sm.add_argument("--json", metavar="OUT.json", help="write the timeline as JSON")
    sm.add_argument("--plot", metavar="OUT.png", help="plot charge, temperature, latency, gear")
    sm.set_defaults(func=cmd_simulate)

    n = sub.add_parser("info", help="runtime version and CPU features")
    n.set_defaults(func=cmd_info)

    bd = sub.add_parser("boards", help="list the board profiles, or show one")
    bd.add_argument("name", nargs="?", help="a board profile to show (e.g. rpi5)")
    bd.add_argument("--json", action="store_true", help="machine-readable output")
    bd.set_defaults(func=cmd_boards)

    bu = sub.add_parser("build", help="cross-compile the runtime, tools and wheel for a board")
    bu.add_argument("--board", required=True, help="board profile (see gearshift boards)")
    bu.add_argument("-o", "--output", help="output folder (default: dist-BOARD)")
    bu.add_argument("--jobs", type=_positive_int, help="parallel compile jobs (default: all)")
    bu.add_argument("--no-wheel", action="store_true", help="skip the Python wheel")
    bu.add_argument("--source", help="gearshift source tree (default: the one this runs from)")
    bu.add_argument("--python-root", help="folder with the target Python's headers (usr/include)")
    bu.add_argument(
        "--sysroot",
        metavar="DIR|none",
        help="older glibc to build against (scripts/fetch_sysroot.sh; default: fetched when the "
        "board's oldest OS has an older glibc than the cross compiler's); none: the compiler's own",
    )
    bu.set_defaults(func=cmd_build)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    # TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) is noise here.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # output piped into `head` and the like: stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (CliError, FormatError, ValueError, OSError, ImportError) as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 1
    except Exception as e:  # a bug: still one line, but say how to get the traceback
        if os.environ.get("GEARSHIFT_DEBUG"):
            raise
        print(
            f"error: internal error ({type(e).__name__}): {_one_line(e)} "
            "(set GEARSHIFT_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 1


def _one_line(e: BaseException) -> str:
    text = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
    if isinstance(e, OSError) and e.filename and e.strerror:
        text = f"{e.strerror}: {e.filename}"
    return text or type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
