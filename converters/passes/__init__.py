"""Graph passes: each takes an IR graph, edits it in place, returns a PassResult.

The default pipeline (:data:`DEFAULT_PIPELINE`) runs them in the order that
lets each see the most: identities first (so a Dropout between a convolution
and its BatchNormalization does not block folding), then batch-norm folding
(which needs the producer's activation still unfused), then activation fusion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..ir import Graph

if TYPE_CHECKING:
    from ..quant_ref import QParams

__all__ = ["DEFAULT_PIPELINE", "PassResult", "run_passes"]


@dataclass
class PassResult:
    """What one pass changed: a count and one line per change, for the report."""

    name: str
    changes: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.changes)

    def __str__(self) -> str:
        return f"{self.name}: {self.count} change(s)"


PassFn = Callable[[Graph], PassResult]


def _pipeline(qact: Mapping[str, QParams] | None = None) -> list[PassFn]:
    from .drop_noops import drop_noops
    from .fold_batchnorm import fold_batchnorm
    from .fuse_activation import fuse_activation

    def fuse(graph: Graph) -> PassResult:
        return fuse_activation(graph, qact)

    return [drop_noops, fold_batchnorm, fuse]


def run_passes(
    graph: Graph,
    passes: list[PassFn] | None = None,
    qact: Mapping[str, QParams] | None = None,
) -> list[PassResult]:
    """Runs ``passes`` (default: the standard pipeline) in place, validating after each.

    ``qact``: an imported integer model's int8 parameters per activation tensor,
    which the default pipeline keeps exact (``fuse_activation``).
    """
    results = []
    for p in passes if passes is not None else _pipeline(qact):
        results.append(p(graph))
        graph.validate()
    return results


DEFAULT_PIPELINE = ("drop_noops", "fold_batchnorm", "fuse_activation")
