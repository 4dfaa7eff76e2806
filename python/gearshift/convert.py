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

__all__ = ["PRUNE_METHODS", "PRUNE_NORMS", "PRUNE_SCOPES", "Prune", "convert"]

PRUNE_METHODS = ("magnitude", "2:4", "channel")
PRUNE_SCOPES = ("global", "layer")
PRUNE_NORMS = ("l1", "l2")

# an array, an iterable/generator of arrays or dicts, a tf.data.Dataset, a callable
# returning one of them, or gearshift.calibration.from_images(...)
Calibration = Union["np.ndarray", Iterable[Any], Callable[[], Any], None]


@dataclass(frozen=True)
class Prune:
    """How to prune the weights before the gears are made.

    Args:
        sparsity: fraction of weights set to zero, in [0, 1). For ``"2:4"`` it
            must be 0.5 (two of every four consecutive weights). For
            ``"channel"`` it is the fraction of output channels removed.
        method: ``"magnitude"`` (smallest weights anywhere in a tensor),
            ``"2:4"`` (structured, two zeros in every group of four along the
            input axis) or ``"channel"`` (whole output channels).
        scope: ``"global"`` (one threshold over all pruned layers) or
            ``"layer"`` (the same fraction in every layer, or every group of
            channel-tied layers). ``None`` picks the usual choice per method:
            global for magnitude, per layer for channel (filter norms of
            layers with different fan-in are not comparable without
            normalising, and a global channel ranking can empty a layer).
            2:4 is per group of four by definition and ignores it.
        include_first_last: also prune the first and last prunable layers
            (those next to the graph inputs and outputs), which are the most
            sensitive and the smallest, so they are kept by default.
        norm: ``"l1"`` or ``"l2"``, the filter norm that ranks channels.
    """

    sparsity: float = 0.5
    method: str = "magnitude"
    scope: str | None = None
    include_first_last: bool = False
    norm: str = "l1"

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
        if self.scope not in (None, *PRUNE_SCOPES):
            raise ValueError(
                f"Prune.scope must be None or one of {', '.join(PRUNE_SCOPES)}, got {self.scope!r}"
            )
        if not isinstance(self.include_first_last, bool):
            raise ValueError(
                f"Prune.include_first_last must be a bool, got {self.include_first_last!r}"
            )
        if self.norm not in PRUNE_NORMS:
            raise ValueError(
                f"Prune.norm must be one of {', '.join(PRUNE_NORMS)}, got {self.norm!r}"
            )

    @property
    def effective_scope(self) -> str:
        """``scope``, or the method's default when it is None."""
        if self.scope is not None:
            return self.scope
        return "layer" if self.method == "channel" else "global"


def convert(
    model: Any,
    path: str | os.PathLike[str],
    gears: Sequence[str] | str | None = None,
    calibration: Calibration = None,
    prune: Prune | None = None,
    storage: str = "compact",
    progress: bool = True,
    calibration_method: str = "input_percentile",
    validation: Any = None,
    equalize: bool = False,
    float_layers: Sequence[str] | str | None = None,
    float_budget: float = 4,
    float_metric: Any = None,
    bias_correction: bool | str = False,
    binary_params: bool = True,
    weight_rounding: str = "nearest",
    int4_int8_layers: Sequence[str] | str = "first",
    int4_int8_budget: float = 0.25,
    int8_weight_rounding: str = "nearest",
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
        calibration_method=calibration_method,
        validation=validation,
        equalize=equalize,
        float_layers=float_layers,
        float_budget=float_budget,
        float_metric=float_metric,
        bias_correction=bias_correction,
        binary_params=binary_params,
        weight_rounding=weight_rounding,
        int4_int8_layers=int4_int8_layers,
        int4_int8_budget=int4_int8_budget,
        int8_weight_rounding=int8_weight_rounding,
    )
