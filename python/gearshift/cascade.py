"""Input-adaptive cascade: the cheap gear first, a precise one only where it is unsure.

    cascade = gs.Cascade(rt, gears=("int8", "fp32"), confidence=0.9)
    y = cascade.run(x)            # int8's answer where it is confident, else fp32's
    cascade.escalation_rate       # fraction of inputs re-run in a more precise gear
    cascade.speedup               # fp32's latency / the cascade's, from measured costs

Confidence of one example is its top-1 probability (``measure="probability"``)
or the margin between the top two (``measure="margin"``), computed on the
classifier's output: used as probabilities when every row is non-negative and
sums to 1, else passed through a softmax first (logits). With a batch, only
the rows below the threshold are re-run. With more than two gears, each
stage re-runs the rows still below the threshold in the next gear; the last
gear's answer is final.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Cascade"]


def _probabilities(y: np.ndarray) -> np.ndarray:
    """Rows of ``y`` as probabilities: already (a softmax output) or via softmax (logits).

    An int8 gear's softmax output is quantized in steps of 1/256, so its rows
    sum to 1 only within about ``classes / 512``: allow ``classes / 256``.
    """
    y = np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)
    tol = max(1e-3, y.shape[1] / 256)
    sums = y.sum(axis=1, keepdims=True)
    if np.all(y >= 0) and np.all(y <= 1) and np.all(np.abs(sums - 1.0) <= tol):
        return y / sums
    e = np.exp(y - y.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def confidence(y: np.ndarray, measure: str = "probability") -> np.ndarray:
    """Per example (rows of ``y``): top-1 probability, or top-1 minus top-2."""
    p = _probabilities(y)
    if measure == "probability":
        return p.max(axis=1)
    if p.shape[1] < 2:
        return np.ones(p.shape[0])
    top2 = np.sort(p, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


class Cascade:
    """Runs ``gears`` from cheap to precise, escalating only unconfident inputs.

    Args:
        runtime: a :class:`gearshift.Runtime` (or anything with ``gears``, a
            settable ``gear`` and ``run(x)``) whose model has one output,
            class scores with the batch first.
        gears: the gears to try, cheapest first; None: the gear measured
            fastest on this machine (``runtime.gear_costs``), then the most
            precise one (``("int8", "fp32")`` for a runtime-like object
            without a cost table).
        confidence: escalate an example whose confidence is below this.
        measure: ``"probability"`` (top-1) or ``"margin"`` (top-1 minus top-2).
    """

    def __init__(
        self,
        runtime: Any,
        gears: Sequence[str] | None = None,
        confidence: float = 0.9,
        measure: str = "probability",
    ) -> None:
        # The runtime's measured costs, read once (gear_costs hashes the file).
        self.runtime = runtime
        self._costs: dict[str, dict[str, Any]] | None = None
        if gears is None:
            gears = _auto_gears(runtime, self._gear_costs())
        gears = tuple(gears)
        if len(gears) < 2:
            raise ValueError(f"a cascade needs at least two gears, got {gears}")
        missing = [g for g in gears if g not in tuple(runtime.gears)]
        if missing:
            raise ValueError(
                f"gear(s) {missing} not in the runtime; it carries {tuple(runtime.gears)}"
            )
        if not 0.0 <= confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {confidence!r}")
        if measure not in ("probability", "margin"):
            raise ValueError(f"measure must be 'probability' or 'margin', got {measure!r}")
        self.runtime = runtime
        self.gears = gears
        self.confidence = float(confidence)
        self.measure = measure
        self.inputs = 0  # examples seen
        self.escalated = 0  # examples re-run in at least one more precise gear
        self.runs_per_gear = {g: 0 for g in gears}  # examples run in each gear

    @property
    def speedup(self) -> float | None:
        """The last gear's latency over the cascade's expected latency per input
        (each gear's measured cost on this machine, ``runtime.gear_costs``, read
        once per cascade,
        weighted by the share of inputs that ran in it): above 1 the cascade
        saves time, below 1 it costs time. None before any run, or without a
        cost table (a runtime other than gearshift.Runtime)."""
        costs = self._gear_costs()
        if not self.inputs or costs is None:
            return None
        per_input = sum(
            n / self.inputs * costs[g]["latency_ms"] for g, n in self.runs_per_gear.items()
        )
        return costs[self.gears[-1]]["latency_ms"] / per_input if per_input > 0 else None

    def _gear_costs(self) -> dict[str, dict[str, Any]] | None:
        if self._costs is None and hasattr(self.runtime, "gear_costs"):
            self._costs = self.runtime.gear_costs
        return self._costs

    @property
    def escalation_rate(self) -> float:
        """Fraction of inputs re-run in a more precise gear (0.0 before any run)."""
        return self.escalated / self.inputs if self.inputs else 0.0

    def reset(self) -> None:
        self.inputs = self.escalated = 0
        self.runs_per_gear = {g: 0 for g in self.gears}

    def _run(self, gear: str, x: np.ndarray) -> np.ndarray:
        self.runtime.gear = gear
        y = self.runtime.run(x)
        if isinstance(y, dict):
            raise ValueError("a cascade needs a model with one output (class scores)")
        self.runs_per_gear[gear] += len(x)
        return np.asarray(y)

    def _confidence(self, y: np.ndarray) -> np.ndarray:
        """Per-row confidence of the real scores: an int8/uint8 output (a model with an
        integer interface) is dequantized first, so its integers are not taken as logits."""
        if y.dtype.kind in "iu" and hasattr(self.runtime, "quantization"):
            scale, zero_point = self.runtime.quantization(self.runtime.outputs[0].name)
            if scale > 0:
                y = (y.astype(np.float64) - zero_point) * scale
        return confidence(y, self.measure)

    def run(self, x: np.ndarray) -> np.ndarray:
        """The answer for ``x`` (batch first): cheap where confident, else escalated."""
        x = np.asarray(x)
        y = self._run(self.gears[0], x).copy()
        n = len(x)
        self.inputs += n
        pending = np.flatnonzero(self._confidence(y) < self.confidence)
        if len(pending):
            self.escalated += len(pending)
        for gear in self.gears[1:]:
            if not len(pending):
                break
            yy = self._run(gear, np.ascontiguousarray(x[pending]))
            y[pending] = yy
            still = self._confidence(yy) < self.confidence
            pending = pending[still]
        return y

    __call__ = run

    def __repr__(self) -> str:
        return (
            f"Cascade(gears={self.gears}, confidence={self.confidence:g}, "
            f"measure={self.measure!r}, escalation_rate={self.escalation_rate:.3f})"
        )


def _auto_gears(runtime: Any, costs: dict[str, dict[str, Any]] | None) -> tuple[str, str]:
    """The fastest gear measured on this machine, then the most precise one."""
    if costs is None:  # a runtime-like object without a cost table
        return ("int8", "fp32")
    precise = next(iter(runtime.gears))
    fastest = min(costs, key=lambda g: costs[g]["latency_ms"])
    if fastest == precise:
        measured = ", ".join(f"{g} {c['latency_ms']:.3g} ms" for g, c in costs.items())
        raise ValueError(
            f"no gear of this file runs faster than {precise} on this machine ({measured}): "
            "a cascade would only add time"
        )
    return (fastest, precise)
