"""``ConvertReport``: what ``gearshift.convert`` produced, for people and for scripts.

``str(report)`` prints aligned tables (gears, then layers, then passes);
``report.to_dict()`` gives the same content as plain JSON-serialisable values.
numpy only; no TensorFlow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ConvertReport", "GearReport", "LayerRow", "PassReport"]


@dataclass
class GearReport:
    """One gear: its stored bytes and its error against the source model.

    ``max_abs_error`` is ``max |y_gear - y_source|`` over the calibration
    samples; ``max_rel_error`` divides that by ``max |y_source|`` (so it does
    not explode on outputs near zero); ``mean_abs_error`` is the mean of
    ``|y_gear - y_source|``. ``accuracy`` is top-1 accuracy on the
    ``validation`` data when labels were given. ``bytes`` counts the storage
    the gear reads (a payload shared with other gears counts for each).
    ``error_backend`` says what ran the file: ``"runtime"`` (the C++ runtime)
    or ``"reference"`` (the numpy oracle, used when the extension is not built).
    """

    name: str
    compute: str
    bytes: int
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    samples: int = 0
    error_backend: str | None = None
    mean_abs_error: float | None = None
    accuracy: float | None = None
    notes: list[str] = field(default_factory=list)  # e.g. layers kept at a higher precision


@dataclass
class LayerRow:
    """One node of the written graph."""

    name: str
    op: str
    output_shape: tuple[int, ...]
    params: int
    bytes: int
    activation: str = "NONE"


@dataclass
class PassReport:
    name: str
    changes: list[str] = field(default_factory=list)


@dataclass
class ConvertReport:
    """The result of one conversion."""

    path: str
    file_bytes: int
    source: str
    gears: list[GearReport] = field(default_factory=list)
    layers: list[LayerRow] = field(default_factory=list)
    passes: list[PassReport] = field(default_factory=list)
    inputs: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    outputs: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    storage: str = "compact"
    seconds: float = 0.0
    calibration: str = ""  # method and sample count, e.g. "minmax on 256 samples"
    source_accuracy: float | None = None  # the source model's, on the validation data
    pruning: list[str] = field(default_factory=list)  # the pruning report's lines
    import_notes: list[str] = field(default_factory=list)  # what the importer changed or kept
    skipped_gears: list[str] = field(default_factory=list)  # default gears left out, and why
    # layers the integer gears compute in float32 (float islands, FORMAT.md 1.5)
    float_layers: list[str] = field(default_factory=list)
    # layers whose weights the int4 gear keeps at int8 (``int4_int8_layers``), graph order
    int4_int8_layers: list[str] = field(default_factory=list)

    @property
    def params(self) -> int:
        return sum(r.params for r in self.layers)

    def gear(self, name: str) -> GearReport:
        for g in self.gears:
            if g.name == name:
                return g
        raise KeyError(f"no gear {name!r} in the report; gears: {[g.name for g in self.gears]}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["inputs"] = [{"name": n, "shape": list(s)} for n, s in self.inputs]
        d["outputs"] = [{"name": n, "shape": list(s)} for n, s in self.outputs]
        for row in d["layers"]:
            row["output_shape"] = list(row["output_shape"])
        d["params"] = self.params
        return d

    # -- text ---------------------------------------------------------------------------
    def __str__(self) -> str:
        def shape(s: tuple[int, ...]) -> str:
            return "(" + ", ".join("N" if d == -1 else str(d) for d in s) + ")"

        lines = [
            f"gearshift conversion: {self.source} -> {self.path}",
            f"  file {_bytes(self.file_bytes)}, {self.params:,} parameters, "
            f"{len(self.layers)} nodes, storage={self.storage}, {self.seconds:.1f} s",
            *([f"  calibration: {self.calibration}"] if self.calibration else []),
            *[f"  import: {note}" for note in self.import_notes],
            *[f"  skipped: {note}" for note in self.skipped_gears],
            *(
                [f"  source model accuracy: {self.source_accuracy:.4f}"]
                if self.source_accuracy is not None
                else []
            ),
            "  inputs:  " + ", ".join(f"{n} {shape(s)}" for n, s in self.inputs),
            "  outputs: " + ", ".join(f"{n} {shape(s)}" for n, s in self.outputs),
            "",
        ]
        rows = [
            [
                g.name,
                g.compute,
                _bytes(g.bytes),
                _num(g.max_abs_error),
                _num(g.mean_abs_error),
                _num(g.max_rel_error),
                "-" if g.accuracy is None else f"{g.accuracy:.4f}",
                str(g.samples),
                g.error_backend or "-",
            ]
            for g in self.gears
        ]
        lines += _table(
            [
                "gear",
                "compute",
                "bytes",
                "max abs err",
                "mean abs err",
                "max rel err",
                "accuracy",
                "samples",
                "measured by",
            ],
            rows,
            right={2, 3, 4, 5, 6, 7},
        )
        lines += [f"  {g.name}: {note}" for g in self.gears for note in g.notes]
        lines.append("")
        rows = [
            [
                r.name,
                r.op if r.activation == "NONE" else f"{r.op}+{r.activation}",
                shape(r.output_shape),
                f"{r.params:,}",
                _bytes(r.bytes) if r.bytes else "-",
            ]
            for r in self.layers
        ]
        lines += _table(["layer", "op", "output", "params", "bytes"], rows, right={3, 4})
        if self.pruning:
            lines.append("")
            lines += self.pruning
        if self.passes:
            lines.append("")
            lines.append("passes:")
            for p in self.passes:
                lines.append(f"  {p.name}: {len(p.changes)} change(s)")
        return "\n".join(lines)

    __repr__ = __str__


def _bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.2f} MiB"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def fmt(cells: list[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return ("  " + "  ".join(parts)).rstrip()

    sep = "  " + "  ".join("-" * w for w in widths)
    return [fmt(header), sep, *(fmt(r) for r in rows)]
