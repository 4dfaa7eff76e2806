"""What pruning did, layer by layer: the record :func:`apply_pruning` returns.

Kept apart from the pruning code so that the conversion report can hold and
print it without knowing how the weights were chosen. Counts are of weight
elements (biases excluded: they are never pruned, only dropped with their
channel), so ``sparsity`` is comparable across methods: the fraction of the
layer's original weights that are now zero or gone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["LayerPrune", "PruneReport"]


@dataclass
class LayerPrune:
    """One CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED node.

    ``method`` is what was applied to this layer ("magnitude", "2:4",
    "channel", or "dense" when it was left alone); ``note`` says why a layer
    was left dense or only partly pruned.
    """

    name: str
    op: str
    method: str
    weights_before: int
    weights_after: int
    nonzero_before: int
    nonzero_after: int
    channels_before: int = 0
    channels_removed: int = 0
    note: str = ""

    @property
    def sparsity(self) -> float:
        """Fraction of the original weights that are now zero or removed."""
        if self.weights_before == 0:
            return 0.0
        return 1.0 - self.nonzero_after / self.weights_before


@dataclass
class PruneReport:
    """Per-layer records plus totals; ``format()`` (and ``str()``) is a table."""

    method: str
    sparsity: float
    scope: str
    layers: list[LayerPrune] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def weights_before(self) -> int:
        return sum(r.weights_before for r in self.layers)

    @property
    def weights_after(self) -> int:
        return sum(r.weights_after for r in self.layers)

    @property
    def nonzero_before(self) -> int:
        return sum(r.nonzero_before for r in self.layers)

    @property
    def nonzero_after(self) -> int:
        return sum(r.nonzero_after for r in self.layers)

    @property
    def achieved_sparsity(self) -> float:
        """Over every layer in the table, including the ones left dense."""
        before = self.weights_before
        return 1.0 - self.nonzero_after / before if before else 0.0

    @property
    def channels_removed(self) -> int:
        return sum(r.channels_removed for r in self.layers)

    def layer(self, name: str) -> LayerPrune:
        for r in self.layers:
            if r.name == name:
                return r
        raise KeyError(f"no layer {name!r} in the pruning report")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable, with the totals and each layer's sparsity."""
        return {
            "method": self.method,
            "sparsity": self.sparsity,
            "scope": self.scope,
            "achieved_sparsity": self.achieved_sparsity,
            "weights_before": self.weights_before,
            "weights_after": self.weights_after,
            "nonzero_before": self.nonzero_before,
            "nonzero_after": self.nonzero_after,
            "channels_removed": self.channels_removed,
            "layers": [{**asdict(r), "sparsity": r.sparsity} for r in self.layers],
            "notes": list(self.notes),
        }

    def format(self) -> str:
        """A fixed-width table, one row per layer, totals last, then the notes."""
        head = ("layer", "op", "method", "weights", "after", "nonzero", "sparsity", "ch.removed")
        rows = [
            (
                r.name,
                r.op,
                r.method,
                str(r.weights_before),
                str(r.weights_after),
                str(r.nonzero_after),
                f"{100 * r.sparsity:.1f}%",
                f"{r.channels_removed}/{r.channels_before}" if r.channels_before else "-",
            )
            for r in self.layers
        ]
        total = (
            "total",
            "",
            self.method,
            str(self.weights_before),
            str(self.weights_after),
            str(self.nonzero_after),
            f"{100 * self.achieved_sparsity:.1f}%",
            str(self.channels_removed),
        )
        widths = [max(len(row[i]) for row in [head, *rows, total]) for i in range(len(head))]

        def line(row: tuple[str, ...]) -> str:
            cells = [
                c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
            ]
            return "  ".join(cells).rstrip()

        title = (
            f"pruning: {self.method}, sparsity {self.sparsity:g} requested, "
            f"{100 * self.achieved_sparsity:.1f}% achieved ({self.scope})"
        )
        out = [title, line(head), *(line(r) for r in rows), line(total)]
        notes = [f"  {r.name}: {r.note}" for r in self.layers if r.note] + [
            f"  {n}" for n in self.notes
        ]
        if notes:
            out += ["notes:", *notes]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.format()
