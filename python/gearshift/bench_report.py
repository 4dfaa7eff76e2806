"""What ``gearshift bench`` writes: the table, CSV, and a self-contained HTML report.

Everything here reads the benchmark document alone (docs/BENCH.md), so a JSON
written on one machine (or merged from several) can be turned into a report
on another. The HTML report's plots need matplotlib (``pip install
gearshift[plot]``); they are embedded as PNG, so the file stands alone.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from gearshift.bench import table

# One row of the CSV per result; nested values flattened (latency_ms.median...).
CSV_COLUMNS = (
    "runtime",
    "gear",
    "host",
    "threads",
    "runs",
    "latency_ms.min",
    "latency_ms.median",
    "latency_ms.p90",
    "latency_ms.p99",
    "latency_ms.mean",
    "ratio_to_gearshift",
    "ratio_base_gear",
    "load_ms",
    "peak_rss_bytes",
    "base_rss_bytes",
    "arena_bytes",
    "prepared_bytes",
    "file_bytes",
    "weight_bytes",
    "power_w",
    "joules_per_inference",
    "accuracy",
    "max_abs_error",
    "mean_abs_error",
    "max_rel_error",
    "dominated_by",
    "model",
)


def _get(r: dict[str, Any], column: str) -> Any:
    v: Any = r
    for part in column.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    return v


def label(r: dict[str, Any]) -> str:
    host = "" if r.get("host", "local") == "local" else f"@{r['host']}"
    return f"{r['runtime']} {r['gear']}{host}"


# -- the table -----------------------------------------------------------------------
def format_results(doc: dict[str, Any]) -> str:
    """The printed report: one row per runtime and gear, then the notes."""
    results = doc["results"]
    has_acc = any("accuracy" in r for r in results)
    has_err = any("max_rel_error" in r for r in results)
    has_j = any("joules_per_inference" in r for r in results)
    has_ratio = any("ratio_to_gearshift" in r for r in results)
    head = [
        "runtime",
        "gear",
        "median ms",
        "p90 ms",
        "p99 ms",
        *(["x gearshift"] if has_ratio else []),
        "load ms",
        "peak RSS MiB",
        "runtime KiB",
        "file KiB",
        *(["accuracy"] if has_acc else []),
        *(["max rel err"] if has_err else []),
        *(["mJ / inference"] if has_j else []),
    ]
    rows: list[Sequence[str]] = [head]

    def num(v: Any, fmt: str, scale: float = 1.0) -> str:
        return "-" if v is None else format(v * scale, fmt)

    for r in results:
        lat = r["latency_ms"]
        own = [r.get("arena_bytes"), r.get("prepared_bytes")]
        own_kib = None if all(v is None for v in own) else sum(v or 0 for v in own) / 1024
        ratio = r.get("ratio_to_gearshift")
        rows.append(
            (
                r["runtime"] + ("" if r.get("host", "local") == "local" else f"@{r['host']}"),
                r["gear"],
                f"{lat['median']:.3f}",
                f"{lat['p90']:.3f}",
                f"{lat['p99']:.3f}",
                *(
                    [f"{ratio:.2f}x ({r['ratio_base_gear']})" if ratio is not None else "-"]
                    if has_ratio
                    else []
                ),
                num(r.get("load_ms"), ".1f"),
                num(r.get("peak_rss_bytes"), ".1f", 1 / 2**20),
                num(own_kib, ".1f"),
                num(r.get("file_bytes"), ".1f", 1 / 1024),
                *([num(r.get("accuracy"), ".4f")] if has_acc else []),
                *([num(r.get("max_rel_error"), ".2e")] if has_err else []),
                *([num(r.get("joules_per_inference"), ".3f", 1e3)] if has_j else []),
            )
        )
    m = doc.get("machine", {})
    what = f"{doc['duration_s']:.0f} s" if doc.get("duration_s") else f"{results[0]['runs']} runs"
    tools = {h.get("tool", "") for h in doc.get("hosts", {}).values()} or {doc.get("tool", "")}
    cpp = {t for t in tools if t.endswith("(c++)")}
    how = "one gear after another (gearshift-bench)" if cpp == tools else "alternating rounds"
    out = [
        f"{doc['file']}  ({doc['file_bytes'] / 1024:.1f} KiB, batch {doc['batch']}, "
        f"{doc['threads']} thread(s), {what}, {how})",
        f"on {m.get('cpu', '?')} ({m.get('processor', '?')}, {m.get('cpus', '?')} cpus)",
        table(rows),
    ]
    notes = []
    if has_ratio:
        notes.append(
            "x gearshift: the runtime's median over gearshift's median in the gear named "
            "(the same precision, else gearshift's most precise gear); above 1 = slower"
        )
    if cpp != tools:
        notes.append(
            "load ms: model load to the end of the first inference, and peak RSS: VmHWM, "
            "each in a fresh process per row (Python and numpy included: "
            "see base_rss_bytes in the JSON)"
        )
    if cpp:
        notes.append(
            "gearshift-bench: every gear in one process; load ms from switching to the gear "
            "(the first: opening the file) to its first inference's end, peak RSS: VmHWM "
            "after the gear (the gears before it included)"
        )
    notes.append("runtime KiB: the runtime's own arena and prepared weights, where it says")
    for r in results:
        if "dominated_by" in r:
            notes.append(
                f"{r['gear']}: dominated by {r['dominated_by']} on this machine (not 5% faster "
                "than a more precise gear); the shifter skips it"
            )
        if "memory_error" in r:
            notes.append(f"{label(r)}: no load time or memory ({r['memory_error']})")
    for s in doc.get("skipped", []):
        where = f"@{s['host']}" if s.get("host") else ""
        notes.append(f"{s['runtime']}{where}: skipped, {s['reason']}")
    notes.extend(doc.get("notes", []))
    if doc.get("timeline"):
        notes.append(timeline_summary(doc))
    return "\n".join(out + [f"  {n}" for n in notes])


def timeline_summary(doc: dict[str, Any]) -> str:
    """Sustained vs first-minute speed: each contestant's median in the first and last
    tenth of a --duration run, and the hottest temperature read."""
    tl = doc["timeline"]
    n = max(1, len(tl) // 10)
    parts = []
    for key in tl[0]["latency_ms"]:
        first = [p["latency_ms"][key] for p in tl[:n] if key in p["latency_ms"]]
        last = [p["latency_ms"][key] for p in tl[-n:] if key in p["latency_ms"]]
        if first and last:
            parts.append(
                f"{key.replace(':', ' ')} {np.median(first):.3f} -> {np.median(last):.3f} ms"
            )
    temps = [p["temp_c"] for p in tl if p.get("temp_c") is not None]
    heat = f"; hottest {max(temps):.1f} °C" if temps else "; no thermal sensor readable"
    throttled = any(p.get("throttled") for p in tl)
    return (
        f"over {doc['duration_s']:.0f} s (first tenth -> last tenth): "
        + ", ".join(parts)
        + heat
        + ("; throttled at times" if throttled else "")
    )


# -- CSV -----------------------------------------------------------------------------
def write_csv(doc: dict[str, Any], path: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for r in doc["results"]:
            w.writerow(["" if (v := _get(r, c)) is None else v for c in CSV_COLUMNS])


# -- plots ---------------------------------------------------------------------------
def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "the HTML report's plots need matplotlib: pip install 'gearshift[plot]' "
            "(or pip install matplotlib)"
        ) from None
    return plt


def _colors(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One colour per runtime (gears of one runtime share it; markers tell them apart)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    runtimes = list(dict.fromkeys(f"{r['runtime']}@{r.get('host', 'local')}" for r in results))
    return {k: cmap(i % 10) for i, k in enumerate(runtimes)}


def _color(colors: dict[str, Any], r: dict[str, Any]) -> Any:
    return colors[f"{r['runtime']}@{r.get('host', 'local')}"]


_GEAR_MARKERS = {"fp32": "o", "fp16": "s", "int8": "^", "int4": "D"}


def pareto_front(points: Sequence[tuple[float, float]], higher_is_better: bool) -> list[int]:
    """Indices of the points no other point beats on both latency (lower) and the
    quality axis, sorted by latency: the choices worth making."""
    front = []
    for i, (x, y) in enumerate(points):
        beaten = any(
            (x2 <= x and (y2 >= y if higher_is_better else y2 <= y)) and (x2, y2) != (x, y)
            for j, (x2, y2) in enumerate(points)
            if j != i
        )
        if not beaten:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def plot_pareto(doc: dict[str, Any], plt: Any) -> Any:
    """Latency against accuracy (or output error, or size), marker area by size."""
    results = doc["results"]
    if any(r.get("accuracy") is not None for r in results):
        ykey, ylabel, higher = "accuracy", "accuracy (validation set)", True
    elif any(r.get("max_rel_error") is not None for r in results):
        ykey, ylabel, higher = (
            "max_rel_error",
            "max relative error vs reference (lower is better)",
            False,
        )
    else:
        ykey, ylabel, higher = "size_kib", "size KiB (weights of the gear / model file)", False
    pts, kept = [], []
    for r in results:
        size = (r.get("weight_bytes") or r.get("file_bytes") or 0) / 1024
        y = size if ykey == "size_kib" else r.get(ykey)
        if y is None:
            continue
        pts.append((r["latency_ms"]["median"], float(y)))
        kept.append((r, size))
    colors = _colors(results)
    fig, ax = plt.subplots(figsize=(9, 5.4))
    biggest = max((s for _, s in kept), default=1.0) or 1.0
    for (x, y), (r, size) in zip(pts, kept):
        ax.scatter(
            x,
            y,
            s=60 + 540 * (size / biggest),
            color=_color(colors, r),
            marker=_GEAR_MARKERS.get(r["gear"].split("-")[0], "P"),
            alpha=0.75,
            edgecolor="black",
            zorder=3,
            label=f"{label(r)}: {x:.3g} ms, {size:.0f} KiB",
        )
    front = pareto_front(pts, higher)
    if len(front) > 1:
        fx, fy = zip(*(pts[i] for i in front))
        ax.plot(fx, fy, "--", color="grey", zorder=2, label="Pareto front", drawstyle="steps-post")
    # the legend outside the axes: labels never hide points, whatever the layout
    legend = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, borderaxespad=0)
    # legend_handles: matplotlib 3.7+; legendHandles before
    for handle in getattr(legend, "legend_handles", None) or legend.legendHandles:
        if hasattr(handle, "set_sizes"):
            handle.set_sizes([60])
    ax.set_xlabel("median latency, ms (lower is better)")
    ax.set_ylabel(ylabel)
    if ykey == "max_rel_error" and all(y > 0 for _, y in pts):
        ax.set_yscale("log")
    xs = [p[0] for p in pts]
    if xs and max(xs) / max(min(xs), 1e-12) > 20:
        ax.set_xscale("log")
    ax.margins(x=0.25, y=0.2)
    ax.grid(True, alpha=0.3)
    ax.set_title("latency, quality and size per runtime and gear (marker area: size)")
    fig.tight_layout()
    return fig


def plot_histogram(doc: dict[str, Any], plt: Any) -> Any:
    """Each result's latency distribution, one row each on a shared axis."""
    results = [r for r in doc["results"] if r.get("histogram_ms")]
    colors = _colors(doc["results"])
    fig, axes = plt.subplots(
        len(results), 1, sharex=True, figsize=(8, 0.9 + 1.1 * len(results)), squeeze=False
    )
    lo = min(r["histogram_ms"]["min_ms"] for r in results)
    hi = max(r["histogram_ms"]["max_ms"] for r in results)
    right = min(hi, 2 * max(r["latency_ms"]["p99"] for r in results))
    log = right / max(lo, 1e-12) > 20
    for ax, r in zip(axes[:, 0], results):
        h = r["histogram_ms"]
        space = np.geomspace if h.get("spacing") == "log" else np.linspace
        edges = space(h["min_ms"], h["max_ms"], len(h["counts"]) + 1)
        ax.stairs(h["counts"], edges, fill=True, color=_color(colors, r), alpha=0.75)
        ax.axvline(r["latency_ms"]["median"], color="black", lw=1)
        ax.set_ylabel(label(r), rotation=0, ha="right", va="center", fontsize=8)
        ax.set_yticks([])
        ax.grid(True, axis="x", alpha=0.3)
        if h["max_ms"] > right:
            ax.text(0.99, 0.8, f"slowest {h['max_ms']:.3g} ms", transform=ax.transAxes,
                    ha="right", fontsize=8, color="grey")  # fmt: skip
    ax = axes[-1, 0]
    if log:
        ax.set_xscale("log")
    # a few stalls far out would squeeze every distribution into one bar: cut at 2 x p99
    ax.set_xlim(lo * (0.9 if log else 1.0), right)
    ax.set_xlabel("latency per inference, ms (black line: median)")
    axes[0, 0].set_title("latency distribution")
    fig.tight_layout()
    return fig


def plot_timeline(doc: dict[str, Any], plt: Any) -> Any:
    """Latency per contestant over a --duration run; temperature and throttling below."""
    tl = doc["timeline"]
    t = np.array([p["t_s"] for p in tl])
    unit, scale = ("min", 60.0) if t[-1] > 180 else ("s", 1.0)
    fig, (ax, ax2) = plt.subplots(
        2, 1, sharex=True, figsize=(8, 5.5), gridspec_kw={"height_ratios": [2, 1]}
    )
    colors = _colors(doc["results"])
    by_key = {f"{r['runtime']}:{r['gear']}": r for r in doc["results"]}
    for key in tl[0]["latency_ms"]:
        y = [p["latency_ms"].get(key, np.nan) for p in tl]
        r = by_key.get(key)
        color = _color(colors, r) if r else None
        dashed = r is not None and r["runtime"] == "gearshift" and r["gear"] != tl_first(doc)
        ax.plot(
            t / scale, y, "--" if dashed else "-", color=color, lw=1.2, label=key.replace(":", " ")
        )
    ax.set_ylabel("median latency per interval, ms")
    ax.legend(fontsize=8, ncol=2, loc="best")
    ax.grid(True, alpha=0.3)
    ax.set_title(f"sustained speed over {doc['duration_s']:.0f} s")
    temps = np.array([np.nan if p.get("temp_c") is None else p["temp_c"] for p in tl])
    if np.isfinite(temps).any():
        ax2.plot(t / scale, temps, color="tab:red", lw=1.2)
        ax2.set_ylabel("temperature °C", color="tab:red")
    else:
        ax2.text(
            0.5, 0.5, "no thermal sensor readable on this machine", ha="center",
            va="center", transform=ax2.transAxes, color="grey",
        )  # fmt: skip
        ax2.set_yticks([])
    throttled = [bool(p.get("throttled")) for p in tl]
    for i, th in enumerate(throttled):
        if th:
            end = t[i + 1] if i + 1 < len(t) else t[i]
            ax2.axvspan(t[i] / scale, end / scale, color="orange", alpha=0.3, lw=0)
    mhz = [p.get("cpu_mhz") for p in tl]
    if any(v is not None for v in mhz):
        ax3 = ax2.twinx()
        ax3.plot(t / scale, [np.nan if v is None else v for v in mhz], color="tab:blue", lw=0.8)
        ax3.set_ylabel("cpu0 MHz", color="tab:blue")
    known = any(p.get("throttled") is not None for p in tl)
    ax2.set_xlabel(f"time ({unit})" + ("; orange: throttled" if known else ""))
    ax2.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def tl_first(doc: dict[str, Any]) -> str:
    """gearshift's most precise gear in the document (drawn solid; the others dashed)."""
    return next((r["gear"] for r in doc["results"] if r["runtime"] == "gearshift"), "")


def figures(doc: dict[str, Any]) -> dict[str, Any]:
    """The report's figures by name (matplotlib Figure objects)."""
    plt = _pyplot()
    figs = {"pareto": plot_pareto(doc, plt)}
    if any(r.get("histogram_ms") for r in doc["results"]):  # gearshift-bench writes none
        figs["histogram"] = plot_histogram(doc, plt)
    if doc.get("timeline"):
        figs["timeline"] = plot_timeline(doc, plt)
    return figs


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def render_pngs(doc: dict[str, Any]) -> dict[str, bytes]:
    return {name: _png(fig) for name, fig in figures(doc).items()}


# -- HTML ----------------------------------------------------------------------------
_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 70em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; } td:first-child, td:nth-child(2) { text-align: left; }
.note { color: #555; font-size: 0.9em; } img { max-width: 100%; margin: 1em 0; }
"""


def write_html(doc: dict[str, Any], path: str) -> None:
    """The self-contained report: the table, the notes and the plots as inline PNG."""
    pngs = render_pngs(doc)
    text = format_results(doc).splitlines()
    # the title lines head the page and the notes follow the table; the table
    # itself is built from the document, not from the aligned text
    notes = [ln.strip() for ln in text[2:] if ln.startswith("  ")]
    cols = (
        *("runtime", "gear", "host", "median ms", "p90 ms", "p99 ms", "x gearshift"),
        *("load ms", "peak RSS MiB", "runtime KiB", "file KiB", "accuracy", "max rel err"),
        "mJ / inference",
    )
    body = []
    for r in doc["results"]:
        own = [r.get("arena_bytes"), r.get("prepared_bytes")]
        own_kib = None if all(v is None for v in own) else sum(v or 0 for v in own) / 1024
        ratio = r.get("ratio_to_gearshift")
        cells = [
            r["runtime"],
            r["gear"],
            r.get("host", "local"),
            f"{r['latency_ms']['median']:.3f}",
            f"{r['latency_ms']['p90']:.3f}",
            f"{r['latency_ms']['p99']:.3f}",
            "" if ratio is None else f"{ratio:.2f}x ({r['ratio_base_gear']})",
            _fmt(r.get("load_ms"), ".1f"),
            _fmt(r.get("peak_rss_bytes"), ".1f", 1 / 2**20),
            _fmt(own_kib, ".1f"),
            _fmt(r.get("file_bytes"), ".1f", 1 / 1024),
            _fmt(r.get("accuracy"), ".4f"),
            _fmt(r.get("max_rel_error"), ".2e"),
            _fmt(r.get("joules_per_inference"), ".3f", 1e3),
        ]
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    imgs = "".join(
        f'<h2>{html.escape(name)}</h2><img alt="{html.escape(name)}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'
        for name, png in pngs.items()
    )
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>gearshift bench: {html.escape(doc["file"])}</title>
<style>{_CSS}</style></head><body>
<h1>gearshift bench: {html.escape(doc["file"])}</h1>
<p>{html.escape(text[0])}<br>{html.escape(text[1])}<br>{html.escape(doc.get("created", ""))}</p>
<table><tr>{"".join(f"<th>{c}</th>" for c in cols)}</tr>
{"".join(body)}</table>
<ul class="note">{"".join(f"<li>{html.escape(n)}</li>" for n in notes)}</ul>
{imgs}
</body></html>
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)


def _fmt(v: Any, fmt: str, scale: float = 1.0) -> str:
    return "" if v is None else format(v * scale, fmt)
