"""gs.Cascade with fake runtimes: escalates exactly the examples whose cheap
answer's confidence (top-1 probability or margin) is below the threshold."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gearshift as gs
from gearshift.cascade import confidence


class FakeClassifier:
    """x[:, 0] is the cheap gear's top-1 probability over 3 classes; fp32 is sure."""

    gears = ("fp32", "fp16", "int8")

    def __init__(self) -> None:
        self.gear = "fp32"
        self.calls: list[tuple[str, int]] = []

    def run(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        self.calls.append((self.gear, len(x)))
        p = x[:, 0]
        if self.gear == "fp32":
            return np.tile([0.0, 1.0, 0.0], (len(x), 1)).astype(np.float32)
        if self.gear == "fp16":
            q = np.minimum(p + 0.05, 1.0)  # a little surer than int8
            return np.stack([q, 1 - q, 0 * q], axis=1).astype(np.float32)
        return np.stack([p, (1 - p) / 2, (1 - p) / 2], axis=1).astype(np.float32)


def test_escalates_exactly_below_the_threshold() -> None:
    rt = FakeClassifier()
    c = gs.Cascade(rt, gears=("int8", "fp32"), confidence=0.875)
    x = np.array([[0.9375], [0.87], [0.875], [0.5]], dtype=np.float32)  # 0.875: exact, kept
    y = c.run(x)
    np.testing.assert_array_equal(y.argmax(axis=1), [0, 1, 0, 1])  # rows 1 and 3 re-run
    assert rt.calls == [("int8", 4), ("fp32", 2)]
    assert c.escalation_rate == 0.5
    c.run(np.array([[0.99]], dtype=np.float32))
    assert rt.calls[-1] == ("int8", 1)  # confident: no fp32 run
    assert c.escalation_rate == pytest.approx(2 / 5)
    assert c.runs_per_gear == {"int8": 5, "fp32": 2}


def test_margin_measure_and_logits() -> None:
    probs = np.array([[0.6, 0.3, 0.1], [0.45, 0.44, 0.11]])
    np.testing.assert_allclose(confidence(probs, "margin"), [0.3, 0.01])
    logits = np.log(probs)
    np.testing.assert_allclose(confidence(logits, "probability"), [0.6, 0.45])
    rt = FakeClassifier()
    c = gs.Cascade(rt, gears=("int8", "fp32"), confidence=0.5, measure="margin")
    # int8 margins: p - (1-p)/2 -> 0.85 and 0.4
    c.run(np.array([[0.9], [0.6]], dtype=np.float32))
    assert rt.calls == [("int8", 2), ("fp32", 1)]


def test_three_stages_rerun_only_what_stays_unsure() -> None:
    rt = FakeClassifier()
    c = gs.Cascade(rt, gears=("int8", "fp16", "fp32"), confidence=0.9)
    c.run(np.array([[0.95], [0.87], [0.5]], dtype=np.float32))
    assert rt.calls == [("int8", 3), ("fp16", 2), ("fp32", 1)]  # 0.87 + 0.05 passes at fp16
    assert c.escalation_rate == pytest.approx(2 / 3)


def test_bad_arguments() -> None:
    rt = FakeClassifier()
    with pytest.raises(ValueError, match="not in the runtime"):
        gs.Cascade(rt, gears=("int4", "fp32"))
    with pytest.raises(ValueError, match="at least two"):
        gs.Cascade(rt, gears=("fp32",))
    with pytest.raises(ValueError, match="confidence"):
        gs.Cascade(rt, confidence=1.5)
    with pytest.raises(ValueError, match="measure"):
        gs.Cascade(rt, measure="entropy")
    assert gs.Cascade(rt).escalation_rate == 0.0


def test_int8_softmax_output_is_read_as_probabilities() -> None:
    # a softmax output quantized in 1/256 steps: rows sum to 1 only approximately
    p = np.array([[0.96875, 0.01171875, 0.0078125] + [0.00390625] * 7], np.float32)
    assert abs(float(p.sum()) - 1.0) > 1e-3
    assert confidence(p)[0] == pytest.approx(0.96875 / float(p.sum()), rel=1e-6)


def test_picks_the_measured_fastest_gear_and_reports_its_speedup(tmp_path) -> None:
    """On a real file: the cheap gear comes from this machine's cost table (here
    seeded: int4 slower than int8), and speedup weighs each gear's measured cost
    by the share of inputs that ran in it."""
    from test_costs import four_gears

    from gearshift import costs

    rt = gs.Runtime(four_gears(tmp_path / "m.gear"))
    costs.store(rt.path, rt.threads, rt.isa, {"fp32": 4.0, "fp16": 3.9, "int8": 1.0, "int4": 1.2})
    cascade = gs.Cascade(rt, confidence=0.0)  # never escalates
    assert cascade.gears == ("int8", "fp32") and cascade.speedup is None
    cascade.run(np.zeros((4, 16), np.float32))
    assert cascade.speedup == pytest.approx(4.0)  # every input in int8 alone
    cascade = gs.Cascade(rt, confidence=1.0)  # escalates everything
    cascade.run(np.zeros((4, 16), np.float32))
    assert cascade.speedup == pytest.approx(4.0 / 5.0)  # int8 then fp32: slower than fp32
    costs.store(rt.path, rt.threads, rt.isa, {"fp32": 1.0, "fp16": 1.1, "int8": 1.2, "int4": 1.3})
    with pytest.raises(ValueError, match="no gear of this file runs faster than fp32"):
        gs.Cascade(rt)
