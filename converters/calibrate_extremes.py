"""Per-input extremes of every activation tensor, and the lone-input check.

One calibration pass records, for each tensor and each calibration input
(sample, axis 0 of every activation), that input's minimum and maximum. The
robust range statistics (:class:`calibrate.MovingMinMax`,
:class:`calibrate.InputPercentile`) are functions of these sequences, the
histogram calibrators take their bin range from them, and
:func:`lone_input_outliers` finds an input that alone stretches a tensor's
range far beyond what every other input gives (a blank or corrupt frame among
photographs): :func:`warn_lone_inputs` names it in a ``UserWarning``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "LONE_INPUT_MIN_INPUTS",
    "LONE_INPUT_RATIO",
    "Extremes",
    "LoneInput",
    "lone_input_outliers",
    "warn_lone_inputs",
]

# An input is reported when the tensor's int8 range (0 included) with it is
# more than this many times as wide as without it: it costs every other input
# two bits of resolution.
LONE_INPUT_RATIO = 4.0
# Below this many inputs "the rest" says too little to call one input odd.
LONE_INPUT_MIN_INPUTS = 8


class Extremes:
    """Collects each input's (min, max) per tensor, in input order."""

    def __init__(self) -> None:
        self._mins: dict[str, list[np.ndarray]] = {}
        self._maxs: dict[str, list[np.ndarray]] = {}

    def observe(self, name: str, batch: np.ndarray) -> None:
        """``batch``: one tensor's values for a batch of inputs (axis 0); NaN/inf ignored."""
        a = np.asarray(batch, dtype=np.float32)
        a = a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(-1, 1)
        if a.size:
            # NaN and inf propagate into min/max: finite extremes mean none occurred
            lo, hi = a.min(axis=1), a.max(axis=1)
            if np.isfinite(lo).all() and np.isfinite(hi).all():
                self._mins.setdefault(name, []).append(lo)
                self._maxs.setdefault(name, []).append(hi)
                return
        finite = np.isfinite(a)
        keep = finite.any(axis=1)  # an input with no finite value has no extremes
        if not keep.all():
            a, finite = a[keep], finite[keep]
        if not a.size:
            return
        lo = np.where(finite, a, np.inf).min(axis=1)
        hi = np.where(finite, a, -np.inf).max(axis=1)
        self._mins.setdefault(name, []).append(lo)
        self._maxs.setdefault(name, []).append(hi)

    def names(self) -> list[str]:
        return list(self._mins)

    def get(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(mins, maxs)``: one value per input that reached this tensor, in order."""
        return np.concatenate(self._mins[name]), np.concatenate(self._maxs[name])


@dataclass(frozen=True)
class LoneInput:
    """One input that alone widens a tensor's range ``ratio`` times."""

    tensor: str
    index: int  # position of the input in the calibration data
    ratio: float
    with_it: tuple[float, float]
    without_it: tuple[float, float]
    inputs: int


def _width(lo: float, hi: float) -> float:
    return max(hi, 0.0) - min(lo, 0.0)


def lone_input_outliers(
    ext: Extremes, ratio: float = LONE_INPUT_RATIO, min_inputs: int = LONE_INPUT_MIN_INPUTS
) -> list[LoneInput]:
    """Per tensor, the input (if any) whose removal shrinks its range more than ``ratio``×.

    The candidates are the inputs holding the lowest minimum and the highest
    maximum; a tensor whose other inputs are all constant zero is skipped
    (nothing to compare with). Sorted by ratio, largest first.
    """
    found = []
    for name in ext.names():
        mins, maxs = ext.get(name)
        n = mins.size
        if n < min_inputs:
            continue
        full = _width(float(mins.min()), float(maxs.max()))
        best: LoneInput | None = None
        for i in {int(np.argmin(mins)), int(np.argmax(maxs))}:
            rest = np.arange(n) != i
            lo, hi = float(mins[rest].min()), float(maxs[rest].max())
            w = _width(lo, hi)
            if w <= 0.0 or full <= ratio * w:
                continue
            r = full / w
            if best is None or r > best.ratio:
                with_it = (min(lo, float(mins[i])), max(hi, float(maxs[i])))
                best = LoneInput(name, i, r, with_it, (lo, hi), n)
        if best is not None:
            found.append(best)
    return sorted(found, key=lambda o: -o.ratio)


def _fmt(r: tuple[float, float]) -> str:
    return f"[{r[0]:.4g}, {r[1]:.4g}]"


def warn_lone_inputs(outliers: Sequence[LoneInput], method: str, stacklevel: int = 3) -> None:
    """One ``UserWarning`` per offending input, naming its worst tensor and the count."""
    by_input: dict[int, list[LoneInput]] = {}
    for o in outliers:
        by_input.setdefault(o.index, []).append(o)
    for index, group in sorted(by_input.items()):
        worst = group[0]  # sorted by ratio
        more = f" and {len(group) - 1} other tensor(s)" if len(group) > 1 else ""
        follows = (
            "the 'minmax' method uses that range as it is"
            if method == "minmax"
            else f"the {method!r} method does not let one input set the range"
        )
        warnings.warn(
            f"calibration input {index} alone sets the range of tensor {worst.tensor!r}"
            f"{more}: {_fmt(worst.with_it)} with it, {_fmt(worst.without_it)} from the other "
            f"{worst.inputs - 1} inputs ({worst.ratio:.1f}x as wide); {follows}. Check that "
            "input (a blank, corrupt or differently scaled sample?) or remove it from the "
            "calibration data.",
            UserWarning,
            stacklevel=stacklevel,
        )
