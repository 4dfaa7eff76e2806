"""``gearshift.convert``: the host-side entry point, imported lazily.

``import gearshift`` must work on a board without TensorFlow, so this module
only holds the argument types and a thin function that imports the real
pipeline (``gearshift.converters.convert``) on first call.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Union

if TYPE_CHECKING:
    import numpy as np

    from .report import ConvertReport

__all__ = ["PRUNE_METHODS", "Prune", "convert"]

PRUNE_METHODS = ("magnitude", "2:4", "channel")

Calibration = Union["np.ndarray", Iterable["np.ndarray"], Callable[[], Any], None]


@dataclass(frozen=True)
class Prune:
    """How to prune the weights before the gears are made.

    Args:
        sparsity: fraction of weights set to zero, in [0, 1). For ``"2:4"`` it
            must be 0.5 (two of every four consecutive weights).
        method: ``"magnitude"`` (smallest weights anywhere in a tensor),
            ``"2:4"`` (structured, two zeros in every group of four along the
            input axis) or ``"channel"`` (whole output channels).
    """

    sparsity: float = 0.5
    method: str = "magnitude"

    def __post_init__(self) -> None:
        s = self.sparsity
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s):
            raise ValueError(f"Prune.sparsity must be a number in [0, 1), got {s!r}")
        if not 0.0 <= float(s) < 1.0:
            raise ValueError(f"Prune.sparsity must be in [0, 1), got {s}")
        if self.method not in PRUNE_METHODS:
            raise ValueError(
                f"Prune.method must be one of {', '.join(PRUNE_METHODS)}, got {self.method!r}"
            )
        if self.method == "2:4" and float(s) != 0.5:
            raise ValueError(f'Prune(method="2:4") means sparsity 0.5, got {s}')


def convert(
    model: Any,
    path: str | os.PathLike[str],
    gears: Sequence[str] | str = ("fp32",),
    calibration: Calibration = None,
    prune: Prune | None = None,
    storage: str = "compact",
    progress: bool = True,
) -> ConvertReport:
    """Converts a Keras model (object or file) into a ``.gear`` file.

    See ``gearshift.converters.convert.convert`` for the details; this wrapper
    exists so that TensorFlow is imported only when a conversion runs.
    """
    from .converters.convert import convert as _convert

    return _convert(
        model,
        path,
        gears=gears,
        calibration=calibration,
        prune=prune,
        storage=storage,
        progress=progress,
    )
